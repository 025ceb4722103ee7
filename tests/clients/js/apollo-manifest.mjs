// Apollo's trusted-documents tooling, for real: `--generate OUT` writes the manifest of
// apollo-manifest/*.graphql with @apollo/generate-persisted-query-manifest; `--url URL
// --manifest PATH` runs those operations through Apollo Client with a PersistedQueryLink whose
// ids come from that manifest (@apollo/persisted-query-lists), as an app shipping trusted
// documents does, and prints { results: {name: data}, requests: [...] } as JSON.
// Exits 0 when it ran (the caller judges), 2 on bad usage.

import { readFile, writeFile } from 'node:fs/promises';

import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { generatePersistedQueryManifest } from '@apollo/generate-persisted-query-manifest';
import { generatePersistedQueryIdsFromManifest } from '@apollo/persisted-query-lists';

const argv = process.argv.slice(2);
function usage() {
    process.stderr.write('apollo-manifest: usage: --generate OUT | --url URL --manifest PATH\n');
    process.exit(2);
}

if (argv[0] === '--generate' && argv.length === 2) {
    const manifest = await generatePersistedQueryManifest(
        { documents: ['apollo-manifest/*.graphql'] },
        undefined,
    );
    await writeFile(argv[1], JSON.stringify(manifest, null, 2) + '\n');
    process.exit(0);
}
if (argv.length !== 4 || argv[0] !== '--url' || argv[2] !== '--manifest') usage();
const [, url, , manifestPath] = argv;
const apiKey = process.env.EXPORTS_GATEWAY_API_KEY ?? '';
const requests = [];

async function recordingFetch(input, init = {}) {
    const headers = new Headers(init.headers ?? {});
    headers.set('REB-APIKEY', apiKey);
    const body = init.body ? JSON.parse(init.body) : {};
    const response = await fetch(input, { ...init, headers });
    requests.push({
        method: (init.method ?? 'GET').toUpperCase(),
        hasQuery: typeof body.query === 'string',
        hash: body.extensions?.persistedQuery?.sha256Hash ?? null,
        status: response.status,
    });
    return response;
}

const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
const link = ApolloLink.from([
    new PersistedQueryLink(
        generatePersistedQueryIdsFromManifest({ loadManifest: () => manifest }),
    ),
    new HttpLink({ uri: url, fetch: recordingFetch }),
]);
const client = new ApolloClient({ link, cache: new InMemoryCache() });
const load = async (file) => gql(await readFile(`apollo-manifest/${file}`, 'utf8'));

const results = {};
try {
    results.ManifestViewer = (await client.query({ query: await load('viewer.graphql') })).data;
    const input = { name: 'Apollo manifest', resource: 'CUSTOMERS', format: 'CSV' };
    results.ManifestCreate = (
        await client.mutate({ mutation: await load('create.graphql'), variables: { input } })
    ).data;
} catch (error) {
    results.error = String(error?.message ?? error);
}
process.stdout.write(JSON.stringify({ results, requests, ids: manifest.operations.map((o) => o.id) }) + '\n');
