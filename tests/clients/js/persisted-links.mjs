// Drives exports-gateway's /graphql with the persisted-query links of the real client
// libraries (pinned in package-lock.json): Apollo Client's PersistedQueryLink (POST, GET for
// hashed queries, and with a legacy `Accept: application/json`) and urql's persistedExchange
// (GET within the URL limit, and POST). For each variant it runs one query twice, each time
// with a fresh client (an empty cache, as a new page load), and prints one JSON object on
// stdout: { variant: { runs: [{ data, error, requests: [{ method, hasQuery, hash, status,
// messages }] }] } }. Exits 0 when it ran (the caller judges), 2 on bad usage.
//
//   EXPORTS_GATEWAY_API_KEY=... node persisted-links.mjs --url http://127.0.0.1:PORT/graphql

import { createHash, randomBytes } from 'node:crypto';

import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { Client, fetchExchange, gql as urqlGql } from '@urql/core';
import { persistedExchange } from '@urql/exchange-persisted';

const argv = process.argv.slice(2);
if (argv.length !== 2 || argv[0] !== '--url') {
    process.stderr.write('persisted-links: usage: --url URL\n');
    process.exit(2);
}
const url = argv[1];
const apiKey = process.env.EXPORTS_GATEWAY_API_KEY ?? '';

/** A fetch that adds the key and records what each request carried and what came back. */
function recordingFetch(log, extraHeaders = {}) {
    return async (input, init = {}) => {
        const headers = new Headers(init.headers ?? {});
        headers.set('REB-APIKEY', apiKey);
        for (const [name, value] of Object.entries(extraHeaders)) headers.set(name, value);
        const method = (init.method ?? 'GET').toUpperCase();
        let fields = {};
        if (method === 'GET') {
            const params = new URL(String(input)).searchParams;
            fields = {
                query: params.get('query'),
                extensions: params.get('extensions') ? JSON.parse(params.get('extensions')) : null,
            };
        } else {
            fields = JSON.parse(init.body);
        }
        const response = await fetch(input, { ...init, headers });
        const text = await response.clone().text();
        let messages = [];
        try {
            messages = (JSON.parse(text).errors ?? []).map((e) => e.message);
        } catch {
            messages = [`unparsable: ${text.slice(0, 200)}`];
        }
        log.push({
            method,
            hasQuery: typeof fields.query === 'string' && fields.query.length > 0,
            hash: fields.extensions?.persistedQuery?.sha256Hash ?? null,
            status: response.status,
            contentType: response.headers.get('content-type'),
            messages,
        });
        return response;
    };
}

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

function apolloVariant({ useGETForHashedQueries = false, accept = null } = {}) {
    return async (document, log) => {
        const extra = accept ? { accept } : {};
        const http = new HttpLink({ uri: url, fetch: recordingFetch(log, extra) });
        const link = ApolloLink.from([
            new PersistedQueryLink({ sha256, useGETForHashedQueries }),
            http,
        ]);
        const client = new ApolloClient({ link, cache: new InMemoryCache() });
        const result = await client.query({ query: gql(document), fetchPolicy: 'network-only' });
        return result.data;
    };
}

function urqlVariant({ preferGetForPersistedQueries = 'within-url-limit' } = {}) {
    return async (document, log) => {
        const client = new Client({
            url,
            fetch: recordingFetch(log),
            exchanges: [persistedExchange({ preferGetForPersistedQueries }), fetchExchange],
        });
        const result = await client
            .query(urqlGql(document), {}, { requestPolicy: 'network-only' })
            .toPromise();
        if (result.error) throw result.error;
        return result.data;
    };
}

const variants = {
    'apollo-post': apolloVariant(),
    'apollo-get': apolloVariant({ useGETForHashedQueries: true }),
    'apollo-legacy-json': apolloVariant({ accept: 'application/json' }),
    'urql-get': urqlVariant(),
    'urql-post': urqlVariant({ preferGetForPersistedQueries: false }),
};

const out = {};
for (const [name, run] of Object.entries(variants)) {
    // A document no earlier variant (or earlier test run) has registered.
    const operation = `${name.replace(/-/g, '_')}_${randomBytes(6).toString('hex')}`;
    const document = `query ${operation} { viewer { organizationId permissions } }`;
    const runs = [];
    for (let attempt = 0; attempt < 2; attempt += 1) {
        const requests = [];
        let data = null;
        let error = null;
        try {
            data = await run(document, requests);
        } catch (e) {
            error = String(e?.message ?? e);
        }
        runs.push({ data, error, requests });
    }
    out[name] = { runs };
}
process.stdout.write(JSON.stringify(out) + '\n');
