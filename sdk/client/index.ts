/**
 * `durable-endpoints/client`: `durableFetch`, a `fetch` that returns a durable endpoint's final
 * response, whether it answered directly or sent the caller to its results URL (303, or 202 when
 * asked with `Prefer: respond-async`); and `durableStream` (./stream.ts), a durable endpoint's event stream.
 *
 * ES modules that import only each other and use no Node APIs, so they run in browsers and Node 18+
 * and can be served to a page as they are once their types are stripped.
 */

import { IDEMPOTENCY_KEY_HEADER, isNetworkError, newKey, RUN_ID_HEADER, SAFE_METHODS, SEND_RETRIES, sendWithRetries, sleep } from './shared.ts';

// The protocol's names, as in sdk/core/contract.ts; not imported, so that the client's modules stand alone.
const RESULTS_PATH = /\/runs\/[0-9A-Z]{26}$/;
const PREFER_HEADER = 'prefer';

/**
 * - `retrying`: the endpoint answered 303 (or 202): a step failed and waits for a retry (or the run sleeps or
 *   waits for an event), and the run goes on without the caller. At most once per call.
 * - `running`: the client starts a poll of the results URL (`poll` counts them); the results
 *   route holds each poll until the run ends or its long-poll (20 s by default) runs out.
 * - `completed`: the call ends with the endpoint's own response, whatever its status.
 * - `failed`: the call ends with the results of a failed run: `500 { runId, status: "failed", error }`.
 *   (A run whose endpoint maps failures with `onFailure` reports `completed` with that response.)
 */
export type DurableStatus = 'retrying' | 'running' | 'completed' | 'failed';

export interface DurableStatusEvent {
  status: DurableStatus;
  /** The run's id, once known (on a browser's cross-origin call only if CORS exposes `x-durable-run-id`). */
  runId?: string;
  /** Where the result is served; `durableFetch(resultUrl)` resumes waiting, e.g. after a page reload. */
  resultUrl?: string;
  /** `retrying`: seconds the client waits (the server's `Retry-After`) before its first poll. */
  retryAfter?: number;
  /** `running`: 1 for the first poll of the results URL, 2 for the next, and so on. */
  poll?: number;
  /** `failed`: the run's error. */
  error?: { name: string; message: string };
}

/**
 * - `'respond-async'`: durableFetch sends `Prefer: respond-async`, so the endpoint and the results
 *   route answer a run that goes on with `202 Accepted` (same `Location`, `Retry-After` and JSON
 *   body) instead of 303, which a browser hands to the page instead of following it. durableFetch
 *   then polls itself: it reports every status, waits what `Retry-After` says and has no redirect
 *   limit, in any `fetch`. `Prefer` is not a CORS-safelisted header: an endpoint on another origin
 *   needs CORS that allows it (the construct's `cors` option does).
 * - `'client'`: durableFetch asks `fetch` for redirects as they are (`redirect: 'manual'`) and
 *   follows the run's 303s itself: it reports every status, waits what `Retry-After` says, polls
 *   with no redirect limit, and needs no CORS on a results URL of another origin. Needs a `fetch`
 *   that shows redirect responses: Node, Deno, Bun, Cloudflare Workers.
 * - `'fetch'`: `fetch` follows the 303s. Browsers need it: for `redirect: 'manual'` they answer an
 *   opaque response with no status, `Location` or body. Same-origin results URLs need nothing;
 *   another origin needs CORS on the results route. Browsers follow at most 20 redirects (about
 *   400 s of waiting on 20 s long-polls) and ignore `Retry-After`; `retrying` is reported only once
 *   the final response arrives (`response.redirected`).
 *
 * Default: `'respond-async'` where there is a `document` or a `WorkerGlobalScope` (browsers), else `'client'`.
 */
export type RedirectHandling = 'respond-async' | 'client' | 'fetch';

export interface DurableFetchInit extends RequestInit {
  /** Called as the call progresses; see {@link DurableStatus}. An error it throws rejects the call. */
  onStatus?: (event: DurableStatusEvent) => void;
  /**
   * Send an `Idempotency-Key` (a random UUID, unless the request already has one) with a non-GET,
   * non-HEAD request, and send the request again with the same key, up to twice, if it fails with
   * a network error. Servers that honour the key attach the repeat to the same run.
   */
  idempotent?: boolean;
  /** Who follows the run's redirects; see {@link RedirectHandling}. `init.redirect` is ignored. */
  redirects?: RedirectHandling;
  /** The `fetch` to send requests with. Default: `globalThis.fetch`. */
  fetch?: (request: Request) => Promise<Response>;
}

/** Network errors and gateway errors (502, 503, 504 without a run id) on a poll are retried this often. */
const POLL_RETRIES = 3;
// What fetch drops when a 303 turns a request into a GET (Fetch standard, "HTTP-redirect fetch").
const BODY_HEADERS = ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location'];

/**
 * `fetch`, for durable endpoints: resolves with the endpoint's final response once the run ends,
 * following the 303 to the results URL and polling past long-poll timeouts. The run id is on the
 * response's `x-durable-run-id` header. Rejects as `fetch` does: on a network error, or with the
 * signal's reason when `init.signal` aborts (the run itself goes on).
 */
export async function durableFetch(input: RequestInfo | URL, init: DurableFetchInit = {}): Promise<Response> {
  const { onStatus, idempotent = false, redirects = defaultRedirects(), fetch: send = (request) => globalThis.fetch(request), ...requestInit } = init;
  const report = (event: DurableStatusEvent) => onStatus?.(event);

  const redirect = redirects === 'client' ? 'manual' : 'follow';
  let request = new Request(input, { ...requestInit, redirect });
  const keyed = idempotent && !SAFE_METHODS.has(request.method);
  const respondAsync = redirects === 'respond-async' && !/(^|,)\s*respond-async\s*(;|,|$)/i.test(request.headers.get(PREFER_HEADER) ?? '');
  if ((keyed && !request.headers.has(IDEMPOTENCY_KEY_HEADER)) || respondAsync) {
    const headers = new Headers(request.headers);
    if (keyed && !headers.has(IDEMPOTENCY_KEY_HEADER)) headers.set(IDEMPOTENCY_KEY_HEADER, newKey());
    if (respondAsync) headers.append(PREFER_HEADER, 'respond-async');
    request = new Request(request, { headers });
  }
  const signal = request.signal;

  let response = await sendWithRetries(request, keyed ? SEND_RETRIES : 0, send);

  if (redirects === 'fetch') {
    if (response.redirected && RESULTS_PATH.test(new URL(response.url).pathname)) {
      report({ status: 'retrying', runId: response.headers.get(RUN_ID_HEADER) ?? undefined, resultUrl: response.url });
    }
    return settle(response, onStatus);
  }

  if (response.type === 'opaqueredirect') {
    throw new TypeError(
      `durableFetch: ${request.method} ${request.url} was redirected, but this fetch hides redirect responses ` +
        '(browsers do, for redirect: "manual"), so the run cannot be followed. Use redirects: "fetch" here.',
    );
  }
  let next = await runRedirect(response, request.url);
  if (!next) return settle(response, onStatus);
  report({ status: 'retrying', ...next });

  for (let poll = 1; ; poll++) {
    await sleep(next.retryAfter * 1_000, signal);
    report({ status: 'running', runId: next.runId, resultUrl: next.resultUrl, poll });
    // Per URL: a response too large for a Lambda comes from a URL of another origin (S3).
    const headers = followHeaders(request, next.resultUrl);
    response = await pollResult(new Request(next.resultUrl, { method: 'GET', headers, redirect, credentials: request.credentials, signal }), send);
    const again = await runRedirect(response, next.resultUrl);
    if (!again) return settle(response, onStatus);
    next = again;
  }
}

interface RunRedirect {
  runId: string;
  resultUrl: string;
  retryAfter: number;
}

/**
 * The run's 303 or 202 (from the endpoint or the results route), or undefined for any other
 * response. A 202 is the run's only with its JSON body (`runId`, `resultUrl`): an endpoint may
 * answer 202 itself, and across origins its headers are hidden unless CORS exposes them.
 */
async function runRedirect(response: Response, base: string): Promise<RunRedirect | undefined> {
  if (response.status !== 303 && response.status !== 202) return undefined;
  const body = await jsonBody(response);
  const runId = response.status === 303 ? response.headers.get(RUN_ID_HEADER) : typeof body?.runId === 'string' && typeof body.resultUrl === 'string' ? body.runId : null;
  if (!runId) return undefined;
  // The JSON body carries the same URL, for a proxy that drops Location (or CORS that hides it).
  const location = response.headers.get('location') ?? body?.resultUrl;
  if (typeof location !== 'string') return undefined;
  await response.body?.cancel();
  return { runId, resultUrl: new URL(location, response.url || base).href, retryAfter: parseRetryAfter(response.headers.get('retry-after')) };
}

async function settle(response: Response, onStatus: DurableFetchInit['onStatus']): Promise<Response> {
  if (!onStatus) return response;
  const failed = response.status === 500 ? await jsonBody(response) : undefined;
  if (failed?.status === 'failed' && typeof failed.runId === 'string') {
    onStatus({ status: 'failed', runId: failed.runId, error: failed.error as DurableStatusEvent['error'] });
  } else {
    onStatus({ status: 'completed', runId: response.headers.get(RUN_ID_HEADER) ?? undefined });
  }
  return response;
}


/** One poll of the results URL. It is a GET, so network and gateway errors are retried. */
async function pollResult(request: Request, send: (request: Request) => Promise<Response>): Promise<Response> {
  for (let failures = 0; ; failures++) {
    const last = failures >= POLL_RETRIES;
    try {
      const response = await send(request.clone());
      // A stored response replayed by the results route carries the run id; the gateway's own errors do not.
      const gatewayError = [502, 503, 504].includes(response.status) && !response.headers.has(RUN_ID_HEADER);
      if (!gatewayError || last) return response;
      await response.body?.cancel();
    } catch (error) {
      if (last || !isNetworkError(error, request.signal)) throw error;
    }
    await sleep(1_000 * 2 ** failures, request.signal);
  }
}

/** The request's headers as fetch would send them after a 303: no body headers, no credentials across origins. */
function followHeaders(request: Request, to: string): Headers {
  const headers = new Headers(request.headers);
  for (const name of BODY_HEADERS) headers.delete(name);
  if (new URL(request.url).origin !== new URL(to).origin) headers.delete('authorization');
  return headers;
}

/** `Retry-After` in seconds: delta-seconds or an HTTP date; 1 s when absent or unreadable. */
function parseRetryAfter(value: string | null): number {
  if (value !== null && /^\s*\d+\s*$/.test(value)) return Number(value);
  const date = value === null ? NaN : Date.parse(value);
  return Number.isNaN(date) ? 1 : Math.max(0, (date - Date.now()) / 1_000);
}

async function jsonBody(response: Response): Promise<Record<string, unknown> | undefined> {
  if (!/json/i.test(response.headers.get('content-type') ?? '')) return undefined;
  try {
    const body: unknown = await response.clone().json();
    return typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}




function defaultRedirects(): RedirectHandling {
  const scope = globalThis as { document?: unknown; WorkerGlobalScope?: unknown };
  return scope.document !== undefined || scope.WorkerGlobalScope !== undefined ? 'respond-async' : 'client';
}

export { durableStream, type DurableStream, type DurableStreamInit, type StreamEvent, type StreamedChunk } from './stream.ts';
