// Runs the GraphQL-over-HTTP audit suite of npm `graphql-http` (pinned in package-lock.json)
// against a GraphQL endpoint and prints its results as one JSON array on stdout:
// [{ id, name, status, reason?, responseStatus?, responseContentType? }, ...].
// Exits 0 when it ran (the caller judges the results), 2 on bad usage, 1 if the suite threw.
//
//   EXPORTS_GATEWAY_API_KEY=... node graphql-http-audit.mjs --url http://127.0.0.1:PORT/graphql
//
// The audits send no credentials, and every operation here needs one (else a 401): the key,
// when given, is added as the `REB-APIKEY` header to each request through a fetch wrapper.

import { auditServer } from 'graphql-http';

function usage(message) {
    process.stderr.write(`graphql-http-audit: ${message}\n`);
    process.exit(2);
}

const argv = process.argv.slice(2);
if (argv.length !== 2 || argv[0] !== '--url') usage('usage: --url URL');
const url = argv[1];
const apiKey = process.env.EXPORTS_GATEWAY_API_KEY;

async function fetchWithKey(input, init = {}) {
    const headers = new Headers(init.headers ?? {});
    if (apiKey) headers.set('REB-APIKEY', apiKey);
    return fetch(input, { ...init, headers });
}

try {
    const results = await auditServer({ url, fetchFn: fetchWithKey });
    const out = [];
    for (const result of results) {
        const entry = { id: result.id, name: result.name, status: result.status };
        if (result.status !== 'ok') {
            entry.reason = result.reason;
            entry.responseStatus = result.response?.status ?? null;
            entry.responseContentType = result.response?.headers?.get('content-type') ?? null;
        }
        out.push(entry);
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
} catch (error) {
    process.stderr.write(`graphql-http-audit: the audit suite failed: ${error?.stack ?? error}\n`);
    process.exit(1);
}
