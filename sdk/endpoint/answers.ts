/**
 * The answers of the HTTP protocol (DESIGN.md) in one place: 303 (or 202) to the results URL with
 * `Retry-After`, the failed-run JSON, the `x-durable-run-id` header, and the HTTP answer for each
 * error a caller can see.
 */
import { PREFER_HEADER, PREFERENCE_APPLIED_HEADER, RUN_ID_HEADER } from '../core/contract.ts';
import {
  DurableError,
  FlowKeyError,
  FlowLimitError,
  IdempotencyKeyInvalidError,
  IdempotencyKeyReusedError,
  JournalError,
  RequestInProgressError,
  RequestTooLargeError,
  type SerializedError,
} from '../core/errors.ts';
import { corsHeaders, type ResolvedCors } from '../core/cors.ts';
import type { HttpResponse, RequestSnapshot } from '../core/http.ts';
import type { RunRecord, RunStatus } from '../core/records.ts';

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

/**
 * The answer of a run that continues asynchronously: 303 to its results URL, or, for a request
 * that says `Prefer: respond-async` (RFC 7240), 202 with the same headers and body. Browsers follow
 * a 303 without showing it to the page (and at most 20 times); a 202 is the page's to act on.
 */
export function runContinues(runId: string, resultUrl: string, retryAfter: number, respondAsync: boolean, status: RunStatus = 'running'): HttpResponse {
  const headers: Record<string, string> = { location: resultUrl, 'retry-after': String(retryAfter), [RUN_ID_HEADER]: runId, vary: 'Prefer' };
  if (respondAsync) headers[PREFERENCE_APPLIED_HEADER] = 'respond-async';
  return json(respondAsync ? 202 : 303, { runId, status, resultUrl }, headers);
}

/** Whether the request's `Prefer` header (lower-case names, as in a snapshot) asks for `respond-async`. */
export function prefersRespondAsync(headers: Record<string, string | undefined>): boolean {
  const prefer = headers[PREFER_HEADER];
  if (!prefer) return false;
  return prefer.split(',').some((preference) => preference.split(';')[0]!.trim().toLowerCase() === 'respond-async');
}

/**
 * When to look again, in seconds. A run waiting for an event may finish any moment (its wake time
 * is only the timeout), so its callers come back at once and long-poll; other runs have nothing to
 * show before their wake time.
 */
export function retryAfterSeconds(wakeAt: number | undefined, waitingForEvent: boolean, now = Date.now()): number {
  if (waitingForEvent || wakeAt === undefined) return 1;
  return Math.max(1, Math.ceil((wakeAt - now) / 1_000));
}

/**
 * When to look again at a run that has not ended: at once for a run that may go on any moment (it
 * waits for an event, or for a concurrency slot, whose wake time is only the sweep's backstop),
 * else at its wake time.
 */
export function retryAfterOfRun(run: Pick<RunRecord, 'status' | 'wakeAt' | 'limitedBy'>, now = Date.now()): number {
  const anyMoment = run.status === 'waiting' || (run.status === 'queued' && run.limitedBy?.kind === 'concurrency');
  return retryAfterSeconds(run.wakeAt ? Date.parse(run.wakeAt) : undefined, anyMoment, now);
}

/**
 * The answer with the CORS headers for a request from `origin` (none when CORS is off or the
 * origin is not allowed). Answers that are not an API Gateway response object are left as they are.
 */
export function withCors<T>(response: T, cors: ResolvedCors | undefined, origin: string | undefined): T {
  const answer = response as Partial<HttpResponse> | null;
  if (!cors || typeof answer !== 'object' || answer === null || typeof answer.statusCode !== 'number') return response;
  const { vary, ...headers } = corsHeaders(cors, origin);
  const current = answer.headers ?? {};
  const merged: Record<string, string> = { ...current, ...headers };
  if (vary) merged.vary = current.vary ? `${current.vary}, ${vary}` : vary;
  return { ...answer, headers: merged } as T;
}

export function failedRunResponse(runId: string, error: SerializedError): HttpResponse {
  return json(500, { runId, status: 'failed', error: { name: error.name, message: error.message } }, { [RUN_ID_HEADER]: runId });
}

/**
 * Origin plus stage prefix of the API the request came through, so the results URL is on the same
 * API (a browser follows a same-origin 303 by itself). Custom-domain base paths need `resultsBaseUrl`.
 */
export function apiBaseUrl(snapshot: Pick<RequestSnapshot, 'format' | 'headers' | 'requestContext' | 'path'>): string {
  const context = snapshot.requestContext as { domainName?: string; stage?: string; path?: string };
  const host = context.domainName ?? snapshot.headers.host ?? 'localhost';
  const proto = snapshot.headers['x-forwarded-proto'] ?? (/^(localhost|127\.|\[::1\])/.test(host) ? 'http' : 'https');
  let prefix = '';
  if (snapshot.format === '2.0') {
    if (context.stage && context.stage !== '$default') prefix = `/${context.stage}`;
  } else if (context.path && context.path.endsWith(snapshot.path)) {
    prefix = context.path.slice(0, context.path.length - snapshot.path.length);
  }
  return `${proto}://${host}${prefix}`;
}

export function resultUrl(base: string, runId: string, token: string): string {
  return `${base.replace(/\/+$/, '')}/runs/${runId}?token=${encodeURIComponent(token)}`;
}


type Headers = Record<string, string> | ((error: never) => Record<string, string>);

const STATUS_OF: [new (...args: never[]) => DurableError, number, Headers?][] = [
  [IdempotencyKeyInvalidError, 400],
  [FlowKeyError, 400],
  [RequestTooLargeError, 413],
  [IdempotencyKeyReusedError, 422],
  [RequestInProgressError, 409, { 'retry-after': '1' }],
  [FlowLimitError, 429, (error: FlowLimitError) => ({ 'retry-after': String(Math.max(1, Math.ceil(error.retryAfterMs / 1_000))) })],
  [JournalError, 503],
];

/** The answer a caller gets for one of the kit's errors, or undefined for any other error. */
export function errorAnswer(error: unknown, runId?: string): HttpResponse | undefined {
  for (const [type, status, headers] of STATUS_OF) {
    if (!(error instanceof type)) continue;
    const body = { error: { name: error.name, message: error.message } };
    return json(status, runId === undefined ? body : { runId, status: 'error', ...body }, typeof headers === 'function' ? headers(error as never) : headers);
  }
  return undefined;
}
