// Drives exports-gateway's /data-exports REST API with Rebilly's official JavaScript SDK
// (npm `rebilly-js-sdk`, pinned in package-lock.json) and prints one JSON object of what it
// observed on stdout. Exits 1 when the SDK saw anything unexpected (the JSON is printed
// anyway, with `failures`), 2 on bad usage.
//
//   EXPORTS_GATEWAY_API_KEY=... node rebilly-sdk-check.mjs --base-url http://127.0.0.1:PORT \
//       --organization ORG [--existing-id ID] [--timeout-seconds 30]
//
// --existing-id: an export the caller made beforehand; the SDK's item for it is printed as
// `existing`, for the caller to compare with the service's raw JSON (members the SDK does
// not know must pass through unchanged).
//
// The SDK has data exports only in its experimental API (RebillyExperimentalAPI), whose base
// URL is `${urls.live}/experimental[/organizations/${organizationId}]`; files (downloads) are
// in the main API (RebillyAPI), at `${urls.live}[/organizations/${organizationId}]/files/...`.
// Both are pointed at the local server through `urls` (live and sandbox alike).

import { readFile } from 'node:fs/promises';

import { RebillyAPI, RebillyExperimentalAPI, RebillyErrors } from 'rebilly-js-sdk';

function usage(message) {
    process.stderr.write(`rebilly-sdk-check: ${message}\n`);
    process.exit(2);
}

function parseArgs(argv) {
    const args = { timeoutSeconds: 30 };
    for (let i = 0; i < argv.length; i += 2) {
        const [name, value] = [argv[i], argv[i + 1]];
        if (value === undefined) usage(`missing value for ${name}`);
        if (name === '--base-url') args.baseUrl = value.replace(/\/+$/, '');
        else if (name === '--organization') args.organization = value;
        else if (name === '--existing-id') args.existingId = value;
        else if (name === '--timeout-seconds') args.timeoutSeconds = Number(value);
        else usage(`unknown argument ${name}`);
    }
    if (!args.baseUrl) usage('--base-url is required');
    if (!args.organization) usage('--organization is required');
    args.apiKey = process.env.EXPORTS_GATEWAY_API_KEY;
    if (!args.apiKey) usage('EXPORTS_GATEWAY_API_KEY is not set');
    return args;
}

const args = parseArgs(process.argv.slice(2));
const failures = [];
const requests = [];
const observed = { sdkVersion: null, requests, failures };

// A failed check is recorded as {check, message}; `check` names the few checks that the pytest
// side asserts in tests of their own (null for the rest).
function check(condition, message, detail, name = null) {
    if (!condition) {
        const text = detail === undefined ? message : `${message}: ${JSON.stringify(detail)}`;
        failures.push({ check: name, message: text });
    }
    return condition;
}

function headerOf(headers, name) {
    if (!headers) return undefined;
    if (typeof headers.get === 'function') {
        const value = headers.get(name);
        if (value !== undefined && value !== null) return String(value);
    }
    const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
    return key === undefined ? undefined : String(headers[key]);
}

// Record what the SDK really sends and gets back (method, URL, headers of note, status).
function record(api, label) {
    api.addRequestInterceptor({
        thenDelegate: (config) => {
            const query = new URLSearchParams(
                Object.entries(config.params || {}).map(([k, v]) => [k, String(v)]),
            ).toString();
            const url = `${config.baseURL}/${config.url}`.replace(/([^:])\/\/+/g, '$1/');
            requests.push({
                client: label,
                method: config.method.toUpperCase(),
                url: query ? `${url}?${query}` : url,
                apiKeyHeader: headerOf(config.headers, 'REB-APIKEY') === args.apiKey,
                consumer: headerOf(config.headers, 'REB-API-CONSUMER') ?? null,
                contentType: null,
                body: config.data === undefined ? null : config.data,
                status: null,
            });
            config.metadata = { index: requests.length - 1 };
            return config;
        },
        catchDelegate: (error) => Promise.reject(error),
    });
    const settle = (config, status, headers) => {
        const index = config?.metadata?.index;
        if (index === undefined) return;
        requests[index].status = status;
        // axios sets Content-Type after the request interceptors ran: read it from what was sent.
        if (requests[index].body !== null) {
            requests[index].contentType = headerOf(config.headers, 'Content-Type') ?? null;
        }
        requests[index].responseContentType = headerOf(headers, 'content-type') ?? null;
    };
    api.addResponseInterceptor({
        thenDelegate: (response) => {
            settle(response.config, response.status, response.headers);
            return response;
        },
        catchDelegate: (error) => {
            settle(error.config, error.response?.status ?? null, error.response?.headers);
            return Promise.reject(error);
        },
    });
    return api;
}

function sdkOptions(organizationId) {
    return {
        apiKey: args.apiKey,
        // The SDK picks `live` unless sandbox is true; both point at the local server.
        urls: { live: args.baseUrl, sandbox: args.baseUrl },
        sandbox: false,
        organizationId,
        timeout: 10_000,
    };
}

// Data exports as a Rebilly customer would call them: scoped to their organization.
const experimental = record(RebillyExperimentalAPI(sdkOptions(args.organization)), 'experimental+org');
// The same API without an organization id (the key's own organization).
const experimentalPlain = record(RebillyExperimentalAPI(sdkOptions(null)), 'experimental');
// Files live in the main API; the service serves downloads at /files/{id}/download.
const mainApi = record(RebillyAPI(sdkOptions(null)), 'main');

// A problem body as JSON, also when the SDK asked for an ArrayBuffer (files.download does).
function bodyOf(data) {
    if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
        const text = Buffer.from(data).toString('utf8');
        try {
            return JSON.parse(text);
        } catch {
            return text;
        }
    }
    return data ?? null;
}

function errorSummary(error) {
    return {
        name: error?.name ?? null,
        isRebillyError: error instanceof RebillyErrors.RebillyError,
        status: error?.status ?? null,
        message: error?.message ?? null,
        invalidFields: error?.invalidFields ?? null,
        body: bodyOf(error?.response?.data),
    };
}

async function expectError(promise) {
    try {
        const member = await promise;
        return { resolved: true, status: member?.response?.status ?? null, fields: member?.fields ?? null };
    } catch (error) {
        return errorSummary(error);
    }
}

function linksOf(fields) {
    return Object.fromEntries((fields._links || []).map((link) => [link.rel, link.href]));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main_() {
    const manifest = new URL('./node_modules/rebilly-js-sdk/package.json', import.meta.url);
    observed.sdkVersion = JSON.parse(await readFile(manifest, 'utf8')).version;

    // 1. List, with limit/offset: the SDK reads Pagination-* into total/limit/offset.
    const before = await experimental.dataExports.getAll({ limit: 1, offset: 0, sort: '-createdTime' });
    observed.listBefore = {
        total: before.total,
        limit: before.limit,
        offset: before.offset,
        count: before.items.length,
        status: before.response.status,
    };
    check(Number.isInteger(before.total), 'list total is a number', before.total);

    if (args.existingId) {
        const existing = await experimental.dataExports.get({ id: args.existingId });
        observed.existing = existing.fields;
    }

    // 2. Create: a transactions CSV export with fields and a date range. A daily schedule that
    // starts tomorrow keeps it `pending`, so the update below (PUT) is allowed (spec: 409 while
    // queued or processing); the update then drops the schedule and the worker runs it at once.
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z');
    const createData = {
        name: 'SDK transactions',
        resource: 'transactions',
        format: 'csv',
        fields: ['id', 'amount', 'currency', 'billingAddress/country', 'processedTime'],
        dateRange: { start: '2000-01-01T00:00:00Z', end: 'tomorrow' },
        arguments: { sort: '-amount' },
        emailNotification: [],
        recurring: { instruction: 'FREQ=DAILY', start: tomorrow },
    };
    const created = await experimental.dataExports.queue({ data: createData });
    const id = created.fields.id;
    observed.createdRequest = createData;
    observed.created = { status: created.response.status, location: created.response.headers.location ?? null, item: created.fields };
    check(created.response.status === 201, 'create answers 201', created.response.status);
    check(typeof id === 'string' && id.length > 0, 'created export has an id', id);
    check(created.fields.status === 'pending', 'created export is pending', created.fields.status);

    // 3. The total grows by one; a page past the first reports its offset and limit.
    const after = await experimental.dataExports.getAll({ limit: 1, offset: 0, sort: '-createdTime' });
    const page = await experimentalPlain.dataExports.getAll({ limit: 2, offset: 1 });
    observed.listAfter = {
        total: after.total,
        limit: after.limit,
        offset: after.offset,
        firstId: after.items[0]?.fields.id ?? null,
    };
    observed.pageTwo = { total: page.total, limit: page.limit, offset: page.offset, count: page.items.length };
    check(after.total === before.total + 1, 'list total grows by one', [before.total, after.total]);
    check(after.items[0]?.fields.id === id, 'newest first lists the new export', after.items[0]?.fields.id);

    // 4. Get by id, plain and with expand=user.
    const got = await experimental.dataExports.get({ id });
    const expanded = await experimental.dataExports.get({ id, expand: 'user' });
    observed.got = {
        status: got.response.status,
        pagination: {
            total: got.response.headers['pagination-total'] ?? null,
            limit: got.response.headers['pagination-limit'] ?? null,
            offset: got.response.headers['pagination-offset'] ?? null,
        },
        item: got.fields,
    };
    observed.expandedUser = expanded.fields._embedded?.user ?? null;
    check(JSON.stringify(got.fields) === JSON.stringify(created.fields), 'get returns what create returned');
    check(expanded.fields._embedded?.user?.id === created.fields.userId, 'expand=user embeds the user');

    // 5. Update: the SDK's update is a PUT of a full body. First what callers typically send
    // back: the item they read, changed (spec: read-only members are ignored, not errors).
    const readBack = { ...got.fields, name: 'SDK transactions (read back)' };
    const putReadBack = await expectError(experimental.dataExports.update({ id, data: readBack }));
    observed.updateReadBack = { sentMembers: Object.keys(readBack), ...putReadBack };
    check(
        putReadBack.resolved === true && putReadBack.status === 200,
        'update with the item read back (read-only members included) answers 200',
        putReadBack,
        'update-read-back',
    );
    // Then the writable members alone: a new name, and no schedule, so it runs now.
    const writable = ['name', 'resource', 'format', 'arguments', 'dateRange', 'emailNotification', 'fields'];
    const updateData = {
        ...Object.fromEntries(writable.map((member) => [member, got.fields[member]])),
        name: 'SDK transactions (renamed)',
        recurring: null,
    };
    const updated = await experimental.dataExports.update({ id, data: updateData });
    observed.updateRequest = updateData;
    observed.updated = { status: updated.response.status, item: updated.fields };
    check(updated.response.status === 200, 'update answers 200', updated.response.status);
    check(updated.fields.name === 'SDK transactions (renamed)', 'update changed the name', updated.fields.name);

    // 6. The in-process worker completes it; poll with get.
    const deadline = Date.now() + args.timeoutSeconds * 1000;
    const seen = [];
    let current = updated;
    while (!['completed', 'failed'].includes(current.fields.status) && Date.now() < deadline) {
        await sleep(150);
        current = await experimental.dataExports.get({ id });
        if (seen[seen.length - 1] !== current.fields.status) seen.push(current.fields.status);
    }
    const completed = current.fields;
    observed.statusesSeen = seen;
    observed.completed = completed;
    check(completed.status === 'completed', 'the export completes', completed.status);

    // 7. The file as the SDK exposes it: fileId, _links download/signedLink, expand=file.
    const withFile = await experimental.dataExports.get({ id, expand: 'user,file' });
    const links = linksOf(completed);
    const file = withFile.fields._embedded?.file ?? null;
    observed.file = { fileId: completed.fileId, links, embedded: file };
    check(typeof completed.fileId === 'string', 'completed export has a fileId', completed.fileId);
    check(typeof links.download === 'string' && typeof links.signedLink === 'string', 'download and signedLink links', links);
    check(file?.id === completed.fileId, 'expand=file embeds the file', file);

    // The bytes: through the SDK's files.download (main API), and the signed link with no credentials.
    const downloaded = await mainApi.files.download({ id: completed.fileId });
    const text = Buffer.from(downloaded.data).toString('utf8');
    observed.download = {
        status: downloaded.response.status,
        contentType: downloaded.response.headers['content-type'] ?? null,
        bytes: Buffer.byteLength(text),
        header: text.split('\r\n')[0].split('\n')[0],
        lines: text.split('\n').filter((line) => line !== '').length,
    };
    check(downloaded.response.status === 200, 'files.download answers 200', downloaded.response.status);
    const signed = await fetch(links.signedLink);
    const signedText = await signed.text();
    observed.signedLink = { status: signed.status, sameBytes: signedText === text };
    check(signed.status === 200 && signedText === text, 'the signed link serves the same bytes', signed.status);
    // Files through an organization-scoped main API (the SDK then prefixes /organizations/ORG).
    const mainOrg = record(RebillyAPI(sdkOptions(args.organization)), 'main+org');
    const scoped = await expectError(mainOrg.files.download({ id: completed.fileId }));
    observed.orgScopedDownload = { ...scoped, fields: undefined };
    check(
        scoped.resolved === true && scoped.status === 200,
        'files.download with organizationId answers 200',
        observed.orgScopedDownload,
        'org-scoped-download',
    );

    // 8. Create with the caller's own id: the SDK GETs it (must 404), then PUTs it (201).
    const ownId = `sdk-own-${id.slice(-8).toLowerCase()}`;
    const own = await experimental.dataExports.queue({
        id: ownId,
        data: { name: 'SDK own id', resource: 'customers', format: 'json' },
    });
    observed.ownId = { status: own.response.status, id: own.fields.id };
    check(own.response.status === 201 && own.fields.id === ownId, 'create with own id', observed.ownId);
    observed.ownIdAgain = await expectError(
        experimental.dataExports.queue({ id: ownId, data: { name: 'again', resource: 'customers', format: 'json' } }),
    );
    check(observed.ownIdAgain.name === 'RebillyConflictError', 'the SDK refuses an existing own id', observed.ownIdAgain);
    await experimental.dataExports.delete({ id: ownId });

    // 9. Delete, then get is the SDK's not-found error.
    const deleted = await experimental.dataExports.delete({ id });
    observed.deleted = { status: deleted.response.status };
    check(deleted.response.status === 204, 'delete answers 204', deleted.response.status);
    observed.afterDelete = await expectError(experimental.dataExports.get({ id }));
    check(observed.afterDelete.name === 'RebillyNotFoundError', 'get after delete is RebillyNotFoundError', observed.afterDelete);
    observed.deleteAgain = await expectError(experimental.dataExports.delete({ id }));
    check(observed.deleteAgain.name === 'RebillyNotFoundError', 'delete again is RebillyNotFoundError', observed.deleteAgain);

    // 10. An invalid create: the SDK surfaces the 422 problem.
    observed.invalid = await expectError(
        experimental.dataExports.queue({
            data: { name: 'Bad', resource: 'transactions', format: 'csv', fields: ['id', 'noSuchField'] },
        }),
    );
    check(observed.invalid.name === 'RebillyValidationError', 'invalid create is RebillyValidationError', observed.invalid);
    check(observed.invalid.status === 422, 'invalid create is a 422', observed.invalid.status);
}

try {
    await main_();
} catch (error) {
    failures.push({ check: null, message: `unexpected error: ${JSON.stringify(errorSummary(error))}` });
    observed.stack = error?.stack ?? String(error);
}
process.stdout.write(`${JSON.stringify(observed)}\n`);
process.exitCode = failures.length === 0 ? 0 : 1;
