// A typed exports-gateway client: create an export, follow it to completion, download its file.
//
//   EXPORTS_GATEWAY_API_KEY=... node dist/src/main.js --url http://127.0.0.1:8000 --out export.csv
//
// Every operation below is a graphql(`...`) document typed by GraphQL Codegen from
// ../../schema.graphql. The client sends only each document's hash (urql's persistedExchange
// with enforcePersistedQueries, the hash being the one Codegen wrote into
// gql/persisted-documents.json), so it works against a server that runs trusted documents
// only (GRAPHQL_TRUSTED_DOCUMENTS=that file, GRAPHQL_TRUSTED_DOCUMENTS_ONLY=true).
// Prints one JSON line describing what it did; exits 1 on failure, 2 on bad usage.

import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

import { Client, fetchExchange } from '@urql/core';
import type { AnyVariables, DocumentInput, TypedDocumentNode } from '@urql/core';
import { persistedExchange } from '@urql/exchange-persisted';

import { graphql } from '../gql/gql.js';

const CreateExport = graphql(`
    mutation CreateExport($input: CreateDataExportInput!) {
        createDataExport(input: $input) {
            __typename
            ... on DataExport {
                id
                status
            }
            ... on Error {
                code
                message
            }
        }
    }
`);

const FollowExport = graphql(`
    query FollowExport($id: ID!) {
        dataExport(id: $id) {
            id
            status
            recordCount
            file {
                name
                size
                sha256
                contentType
                downloadUrl(ttlSeconds: 600)
            }
        }
    }
`);

const POLL_MS = 200;
const TIMEOUT_MS = 60_000;

/** The hash Codegen's client preset embeds in each document (`__meta__.hash`). */
function documentHash(_query: string, document: DocumentInput<unknown, AnyVariables>): string {
    const meta = (document as { __meta__?: { hash?: string } }).__meta__;
    if (!meta?.hash) throw new Error('a document without a persisted hash: run `npm run codegen`');
    return meta.hash;
}

async function run<Data, Variables extends AnyVariables>(
    client: Client,
    kind: 'query' | 'mutation',
    document: TypedDocumentNode<Data, Variables>,
    variables: Variables,
): Promise<Data> {
    const result =
        kind === 'query'
            ? await client.query(document, variables, { requestPolicy: 'network-only' }).toPromise()
            : await client.mutation(document, variables).toPromise();
    if (result.error) throw result.error;
    if (!result.data) throw new Error('no data');
    return result.data;
}

async function main(): Promise<void> {
    const { values } = parseArgs({
        options: {
            url: { type: 'string' },
            out: { type: 'string' },
            format: { type: 'string', default: 'CSV' },
        },
    });
    const apiKey = process.env.EXPORTS_GATEWAY_API_KEY;
    if (!values.url || !values.out || !apiKey) {
        process.stderr.write('usage: EXPORTS_GATEWAY_API_KEY=... main.js --url URL --out FILE\n');
        process.exit(2);
    }
    const client = new Client({
        url: `${values.url}/graphql`,
        fetchOptions: { headers: { 'REB-APIKEY': apiKey } },
        exchanges: [
            persistedExchange({
                enforcePersistedQueries: true, // never send a document's text
                enableForMutation: true,
                generateHash: async (query, document) => documentHash(query, document),
            }),
            fetchExchange,
        ],
    });

    const created = await run(client, 'mutation', CreateExport, {
        input: { name: 'TypeScript example', resource: 'CUSTOMERS', format: values.format as 'CSV' },
    });
    const result = created.createDataExport;
    if (result.__typename !== 'DataExport') {
        throw new Error(`createDataExport: ${JSON.stringify(result)}`);
    }

    const deadline = Date.now() + TIMEOUT_MS;
    const seen: string[] = [result.status];
    for (;;) {
        const { dataExport } = await run(client, 'query', FollowExport, { id: result.id });
        if (!dataExport) throw new Error(`export ${result.id} disappeared`);
        if (seen.at(-1) !== dataExport.status) seen.push(dataExport.status);
        if (dataExport.status === 'COMPLETED' && dataExport.file) {
            const file = dataExport.file;
            const response = await fetch(file.downloadUrl);
            if (!response.ok) throw new Error(`download: HTTP ${response.status}`);
            const bytes = Buffer.from(await response.arrayBuffer());
            await writeFile(values.out, bytes);
            const sha256 = createHash('sha256').update(bytes).digest('hex');
            process.stdout.write(
                JSON.stringify({
                    id: dataExport.id,
                    statuses: seen,
                    recordCount: dataExport.recordCount,
                    file: file.name,
                    contentType: file.contentType,
                    bytes: bytes.length,
                    sha256Matches: sha256 === file.sha256 && bytes.length === file.size,
                    out: values.out,
                }) + '\n',
            );
            return;
        }
        if (dataExport.status === 'FAILED') {
            throw new Error(`export ${result.id} ended ${dataExport.status}`);
        }
        if (Date.now() > deadline) throw new Error(`export ${result.id} still ${dataExport.status}`);
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
}

main().catch((error: unknown) => {
    process.stderr.write(`example failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
});
