/**
 * `Idempotency-Key` (DESIGN.md, HTTP protocol 5): the same key from the same caller on the same
 * endpoint attaches to the run it started (its stored response once it has ended, else the 303 to
 * its results) instead of starting another.
 */
import { createHash } from 'node:crypto';
import { IDEMPOTENCY_KEY_HEADER } from '../core/contract.ts';
import { IdempotencyKeyInvalidError, IdempotencyKeyReusedError, RequestInProgressError } from '../core/errors.ts';
import type { HttpResponse, RequestSnapshot } from '../core/http.ts';
import { TERMINAL_STATUSES, type IdempotencyClaim } from '../core/records.ts';
import { signToken } from '../core/token.ts';
import type { Journal } from '../journal/journal.ts';
import { apiBaseUrl, resultUrl, retryAfterSeconds, seeOther } from './answers.ts';
import { header, type HttpEvent } from './api-gateway.ts';
import type { ResolvedOptions } from './options.ts';

// Lambda may overrun getRemainingTimeInMillis slightly; a claim outlives its request by this much.
const CLAIM_GRACE_MS = 5_000;
// No Lambda invocation lasts longer than this.
const MAX_LAMBDA_MS = 15 * 60_000;

/** The request's claim of its key: released if the request does not become a run. */
export interface KeyClaim {
  key: string;
  caller: string;
}

/** The claim a request makes, or undefined when it carries no `Idempotency-Key`. */
export function keyClaimOf(event: HttpEvent): KeyClaim | undefined {
  const key = header(event.headers, IDEMPOTENCY_KEY_HEADER);
  return key === undefined ? undefined : { key, caller: callerOf(event) };
}

/**
 * Ties the key to the new run `runId`. If another request holds it, the answer for that run:
 * its stored response once it has ended, else the 303 to its results. Throws the idempotency
 * errors (400, 409, 422 in `answers.ts`).
 */
export async function claimKey(
  options: ResolvedOptions,
  { key, caller }: KeyClaim,
  endpoint: string,
  runId: string,
  request: RequestSnapshot,
  remainingMs: number,
): Promise<HttpResponse | undefined> {
  if (!/^[\x21-\x7e]{1,255}$/.test(key)) throw new IdempotencyKeyInvalidError();
  const journal = options.journal();
  const fingerprint = createHash('sha256').update(`${request.method}\n${request.path}\n${request.rawQuery}\n${request.body ?? ''}`).digest('base64url');
  const now = options.clock().now();
  const claim: IdempotencyClaim = { endpoint, caller, key, runId, fingerprint, claimedAt: new Date(now).toISOString(), ttl: Math.floor((now + options.retention) / 1_000) };
  let result = await journal.claimIdempotencyKey(claim);
  if (result.claimed) return undefined;
  let run = await journal.getRun(result.holder.runId);
  // A claim whose request died before its first step (so it never became a run, nor freed the
  // key), or one past its TTL that DynamoDB has not deleted yet, is taken over.
  const stale = !run && Date.parse(result.holder.claimedAt) < now - Math.max(remainingMs, MAX_LAMBDA_MS) - CLAIM_GRACE_MS;
  if (stale || result.holder.ttl * 1_000 < now) {
    result = await journal.claimIdempotencyKey(claim, result.holder.runId);
    if (result.claimed) return undefined;
    run = await journal.getRun(result.holder.runId);
  }
  if (result.holder.fingerprint !== fingerprint) throw new IdempotencyKeyReusedError(endpoint);
  // The first request is still before its first step: nothing to attach to yet.
  if (!run) throw new RequestInProgressError();
  if (TERMINAL_STATUSES.includes(run.status) && run.response) return run.response;
  const token = signToken(await options.secret(), run.runId, new Date(now + options.tokenTtl));
  const url = resultUrl(options.resultsBaseUrl ?? apiBaseUrl(request), run.runId, token);
  return seeOther(run.runId, url, retryAfterSeconds(run.wakeAt ? Date.parse(run.wakeAt) : undefined, run.status === 'waiting', now));
}

/** A claimed key whose request ended without becoming a run is free again. */
export async function releaseKey(journal: Journal, claim: KeyClaim, endpoint: string, runId: string): Promise<void> {
  await journal.releaseIdempotencyKey({ endpoint, ...claim, runId });
}

/** Who is calling, as a short hash: their credentials and what the authorizer said about them. */
function callerOf(event: HttpEvent): string {
  const authorizer = (event.requestContext as { authorizer?: unknown }).authorizer ?? null;
  return createHash('sha256')
    .update(`${header(event.headers, 'authorization') ?? ''}\n${JSON.stringify(authorizer)}`)
    .digest('base64url')
    .slice(0, 22);
}
