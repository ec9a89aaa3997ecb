/**
 * `Idempotency-Key` (DESIGN.md, HTTP protocol 5): the same key from the same caller on the same
 * endpoint attaches to the run it started (its stored response once it has ended, else the 303 to
 * its results) instead of starting another.
 */
import { createHash, createHmac } from 'node:crypto';
import { IDEMPOTENCY_KEY_HEADER } from '../core/contract.ts';
import { IdempotencyKeyInvalidError, IdempotencyKeyReusedError, RequestInProgressError } from '../core/errors.ts';
import type { HttpResponse, RequestSnapshot } from '../core/http.ts';
import { TERMINAL_STATUSES, type IdempotencyClaim } from '../core/records.ts';
import { signToken } from '../core/token.ts';
import type { Journal } from '../journal/journal.ts';
import { isPointer } from '../payloads/offload.ts';
import { apiBaseUrl, prefersRespondAsync, resultUrl, retryAfterOfRun, runContinues } from './answers.ts';
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
export async function keyClaimOf(options: ResolvedOptions, event: HttpEvent): Promise<KeyClaim | undefined> {
  const key = header(event.headers, IDEMPOTENCY_KEY_HEADER);
  if (key === undefined) return undefined;
  const scope = options.idempotencyScope?.(event) ?? principalOf(event) ?? credentialsOf(event);
  // Keyed: a bare hash of a Basic-auth header or a session cookie would be cracked offline by
  // anyone who reads the journal.
  const caller = createHmac('sha256', await options.secret()).update(scope).digest('base64url').slice(0, 22);
  return { key, caller };
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
  const claim: IdempotencyClaim = {
    endpoint,
    caller,
    key,
    runId,
    fingerprint,
    claimedAt: new Date(now).toISOString(),
    expiresAt: now + remainingMs + CLAIM_GRACE_MS,
    ttl: Math.floor((now + options.retention) / 1_000),
  };
  let result = await journal.claimIdempotencyKey(claim);
  if (result.claimed) return undefined;
  let run = await journal.getRun(result.holder.runId);
  // A claim whose request died before its first step (so it never became a run, nor freed the
  // key) is taken over once its request's Lambda deadline has passed; so is one past its TTL that
  // DynamoDB has not deleted yet. (Claims from before `expiresAt` wait out the longest Lambda.)
  const expiresAt = result.holder.expiresAt ?? Date.parse(result.holder.claimedAt) + MAX_LAMBDA_MS + CLAIM_GRACE_MS;
  const stale = !run && expiresAt < now;
  if (stale || result.holder.ttl * 1_000 < now) {
    result = await journal.claimIdempotencyKey(claim, result.holder.runId);
    if (result.claimed) return undefined;
    run = await journal.getRun(result.holder.runId);
  }
  if (result.holder.fingerprint !== fingerprint) throw new IdempotencyKeyReusedError(endpoint);
  // The first request is still before its first step: nothing to attach to yet.
  if (!run) throw new RequestInProgressError();
  // A response kept in the blob store is the results route's to serve (it may be too large to return here).
  if (TERMINAL_STATUSES.includes(run.status) && run.response && !isPointer(run.response.body)) return run.response;
  const token = signToken(await options.secret(), run.runId, new Date(now + options.tokenTtl));
  const url = resultUrl(options.resultsBaseUrl ?? apiBaseUrl(request), run.runId, token);
  return runContinues(run.runId, url, retryAfterOfRun(run, now), prefersRespondAsync(request.headers), TERMINAL_STATUSES.includes(run.status) ? run.status : undefined);
}

/** A claimed key whose request ended without becoming a run is free again. */
export async function releaseKey(journal: Journal, claim: KeyClaim, endpoint: string, runId: string): Promise<void> {
  await journal.releaseIdempotencyKey({ endpoint, ...claim, runId });
}

interface AuthorizedContext {
  authorizer?: {
    jwt?: { claims?: Record<string, unknown> };
    claims?: Record<string, unknown>;
    iam?: { userArn?: string };
    principalId?: string;
    lambda?: unknown;
  } | null;
  identity?: { userArn?: string | null; apiKeyId?: string | null } | null;
}

/**
 * The principal API Gateway authenticated, when there is one: it stays the same across a client's
 * retries even when its credentials change (a SigV4 signature differs on every request).
 */
export function principalOf(event: HttpEvent): string | undefined {
  const context = event.requestContext as AuthorizedContext;
  const { authorizer, identity } = context;
  // JWT authorizers (HTTP API) and Cognito user pools (REST): the issuer and the subject.
  const claims = authorizer?.jwt?.claims ?? authorizer?.claims;
  if (claims && typeof claims.sub === 'string') return `jwt ${String(claims.iss ?? '')} ${claims.sub}`;
  const iamCaller = authorizer?.iam?.userArn ?? identity?.userArn;
  if (iamCaller) return `iam ${iamCaller}`;
  // Lambda authorizers: the principal a REST one returns, the context an HTTP API one returns.
  if (typeof authorizer?.principalId === 'string') return `lambda ${authorizer.principalId}`;
  if (authorizer?.lambda !== undefined) return `lambda ${stableJson(authorizer.lambda)}`;
  if (identity?.apiKeyId) return `api-key ${identity.apiKeyId}`;
  return undefined;
}

/** Without a principal: the credentials the request carries (none, for a public endpoint: one key space). */
function credentialsOf(event: HttpEvent): string {
  const cookies = (event as { cookies?: string[] }).cookies?.join('; ') ?? header(event.headers, 'cookie') ?? '';
  return `credentials ${header(event.headers, 'authorization') ?? ''}\n${header(event.headers, 'x-api-key') ?? ''}\n${cookies}`;
}

function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
}
