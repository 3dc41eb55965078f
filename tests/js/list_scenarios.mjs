// Lists every scenario through Runloop's TypeScript SDK, auto-paginating, and prints
// one JSON line on stdout:
//
//   {"ids": [...], "pages": N, "page_queries": [{...}, ...], "http": [{...}, ...],
//    "transport": "http2" | "http1", "sdk": "1.32.0"}
//
// `pages` counts the page requests the paginator made (first page included),
// `page_queries` the query of each, `http` every HTTP attempt (retries included)
// with its method, path and status.
//
// Environment: RUNLOOP_BASE_URL and RUNLOOP_API_KEY (read by the SDK itself, as a
// user's script would), optional RUNLOOP_MAX_RETRIES (the SDK's default otherwise).
// The client keeps its default transport: no custom fetch, no http agent. The
// counters wrap the client's own methods, above the transport.
//
// On failure: a one-line message on stderr, the same JSON with "error" on stdout, exit 1.
import { Runloop } from '@runloop/api-client';
import { VERSION } from '@runloop/api-client/version';

const LIMIT = 7;

function fail(message) {
  process.stderr.write(`list_scenarios: ${message}\n`);
  process.exit(1);
}

if (!process.env.RUNLOOP_BASE_URL) fail('RUNLOOP_BASE_URL is not set');
if (!process.env.RUNLOOP_API_KEY) fail('RUNLOOP_API_KEY is not set');

const options = {};
if (process.env.RUNLOOP_MAX_RETRIES) {
  options.maxRetries = Number.parseInt(process.env.RUNLOOP_MAX_RETRIES, 10);
}
const client = new Runloop(options);

const report = {
  ids: [],
  pages: 0,
  page_queries: [],
  http: [],
  // the HTTP/2 adapter (lib/h2-transport) has close(); node-fetch has not
  transport: typeof client.fetch?.close === 'function' ? 'http2' : 'http1',
  sdk: VERSION,
};

// Every page of a list goes through requestAPIList (core.js: AbstractPage.getNextPage).
const requestAPIList = client.requestAPIList.bind(client);
client.requestAPIList = (Page, opts) => {
  report.pages += 1;
  report.page_queries.push({ ...(opts?.query ?? {}) });
  return requestAPIList(Page, opts);
};

// Every HTTP attempt, retries included, goes through fetchWithTimeout (core.js: makeRequest).
const fetchWithTimeout = client.fetchWithTimeout.bind(client);
client.fetchWithTimeout = async (url, init, ms, controller) => {
  const entry = { method: init?.method ?? 'GET', url: String(url) };
  report.http.push(entry);
  try {
    const response = await fetchWithTimeout(url, init, ms, controller);
    entry.status = response.status;
    if (response.status >= 400) {
      try {
        entry.body = (await response.clone().text()).slice(0, 2000);
      } catch {
        // body unreadable: the status says enough
      }
    }
    return response;
  } catch (err) {
    entry.error = String(err?.cause ?? err);
    throw err;
  }
};

let exitCode = 0;
try {
  for await (const scenario of client.scenarios.list({ limit: LIMIT })) {
    report.ids.push(scenario.id);
  }
} catch (err) {
  exitCode = 1;
  const status = err?.status ? ` (HTTP ${err.status})` : '';
  report.error = `${err?.name ?? 'Error'}${status}: ${err?.message ?? err}`;
  process.stderr.write(`list_scenarios: ${report.error}\n`);
}
// No `await client.fetch.close()`: in 1.32.0 it waits for a 'close' event of an H2 session
// the pool has unref'd, so Node may exit first with code 13 (unsettled top-level await).
// Idle sessions are unref'd anyway, and process.exit ends them.
process.stdout.write(`${JSON.stringify(report)}\n`);
process.exit(exitCode);
