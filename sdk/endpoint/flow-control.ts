/**
 * An endpoint's flow control (`durable({ concurrency, throttle, rateLimit })`, docs/flow-control.md):
 * what a new request must pass before the handler runs (rate limits, then throttles, then
 * concurrency slots), and the slots every later attempt of its run takes again.
 */
import type { Duration } from '../core/duration.ts';
import { ConcurrencyLimitedError, FlowKeyError, RateLimitedError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import type { FlowRef, LimitedBy, RunRecord } from '../core/records.ts';
import type { Attempt } from '../engine/attempt.ts';
import { checkLimit, gcra, MAX_CONCURRENCY_LIMIT, takeSlot, takeTurn, type HeldSlot } from '../engine/flow.ts';
import type { HttpEvent } from './api-gateway.ts';

/**
 * The key of a request: a tenant, a user, a source IP. Written as a method so that a function of a
 * narrower event (`(event: APIGatewayProxyEventV2) => …`) is accepted too.
 */
export type FlowKey = { key(event: HttpEvent): string }['key'];

export interface ConcurrencyLimit {
  /** At most this many attempts of runs with the same key execute at once. */
  limit: number;
  /** Default: one key for the whole endpoint. */
  key?: FlowKey;
  /**
   * Over the limit, once the request waited inline (`inlineDelayMax`) without a slot: `'queue'` (the
   * default: 303, the run starts when a slot frees, oldest first) or `'reject'` (429 with Retry-After).
   */
  onLimit?: 'queue' | 'reject';
}

export interface ThrottleLimit {
  /** Runs started per `period`, one every `period / limit`… */
  limit: number;
  period: Duration;
  /** …and this many more at once after a quiet spell. Default 0. */
  burst?: number;
  key?: FlowKey;
}

export interface RateLimit {
  /** Requests per `period`: `limit` at once, then one every `period / limit`; the rest get 429. */
  limit: number;
  period: Duration;
  key?: FlowKey;
}

export interface FlowOptions {
  concurrency?: ConcurrencyLimit | ConcurrencyLimit[];
  throttle?: ThrottleLimit | ThrottleLimit[];
  rateLimit?: RateLimit | RateLimit[];
}

/** An endpoint's limits, checked once (`resolveOptions`). `scope` is added per endpoint name. */
export interface EndpointLimits {
  concurrency: { index: number; limit: number; key?: FlowKey; onLimit: 'queue' | 'reject' }[];
  throttle: { index: number; limit: number; periodMs: number; burst: number; key?: FlowKey }[];
  rateLimit: { index: number; limit: number; periodMs: number; key?: FlowKey }[];
}

/** The key of a limit without a `key` function: the endpoint as a whole. */
export const ENDPOINT_KEY = '*';
const MAX_KEY_LENGTH = 1_024;

const list = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

export function resolveLimits(options: FlowOptions): EndpointLimits {
  return {
    concurrency: list(options.concurrency).map((limit, index) => {
      checkLimit(`durable(): concurrency[${index}]`, limit?.limit, { max: MAX_CONCURRENCY_LIMIT });
      if (limit.onLimit !== undefined && limit.onLimit !== 'queue' && limit.onLimit !== 'reject') {
        throw new TypeError(`durable(): concurrency[${index}].onLimit must be 'queue' or 'reject', got ${JSON.stringify(limit.onLimit)}.`);
      }
      return { index, limit: limit.limit, key: checkKeyFn(limit.key, `concurrency[${index}]`), onLimit: limit.onLimit ?? 'queue' };
    }),
    throttle: list(options.throttle).map((limit, index) => {
      const { periodMs } = checkLimit(`durable(): throttle[${index}]`, limit?.limit, { period: limit?.period ?? ('' as Duration), burst: limit.burst });
      return { index, limit: limit.limit, periodMs: periodMs!, burst: limit.burst ?? 0, key: checkKeyFn(limit.key, `throttle[${index}]`) };
    }),
    rateLimit: list(options.rateLimit).map((limit, index) => {
      const { periodMs } = checkLimit(`durable(): rateLimit[${index}]`, limit?.limit, { period: limit?.period ?? ('' as Duration) });
      return { index, limit: limit.limit, periodMs: periodMs!, key: checkKeyFn(limit.key, `rateLimit[${index}]`) };
    }),
  };
}

function checkKeyFn(key: unknown, where: string): FlowKey | undefined {
  if (key !== undefined && typeof key !== 'function') throw new TypeError(`durable(): ${where}.key must be a function of the request returning a string.`);
  return key as FlowKey | undefined;
}

export function hasLimits(limits: EndpointLimits): boolean {
  return limits.concurrency.length + limits.throttle.length + limits.rateLimit.length > 0;
}

/** The keys of one request, per limit, computed once from the event as the client sent it. */
export interface RequestKeys {
  concurrency: string[];
  throttle: string[];
  rateLimit: string[];
}

/** Calls the limits' key functions; a function that throws or returns no string makes the request a 400. */
export function requestKeys(limits: EndpointLimits, event: HttpEvent, endpoint: string): RequestKeys {
  const keyOf = (limit: { key?: FlowKey }, where: string): string => {
    if (!limit.key) return ENDPOINT_KEY;
    let key: unknown;
    try {
      key = limit.key(event);
    } catch (error) {
      throw new FlowKeyError(`${endpoint}: the ${where} key of this request could not be computed (${(error as Error)?.message ?? error}); check the request.`, { cause: error });
    }
    if (typeof key !== 'string' || key.length === 0) throw new FlowKeyError(`${endpoint}: the ${where} key of this request is not a non-empty string (${JSON.stringify(key)}); check the request.`);
    // Kept on the run item and on flow items: a key is an identifier, not a payload.
    if (key.length > MAX_KEY_LENGTH) throw new FlowKeyError(`${endpoint}: the ${where} key of this request is ${key.length} characters long; keys are at most ${MAX_KEY_LENGTH} (hash a longer one).`);
    return key;
  };
  return {
    concurrency: limits.concurrency.map((limit) => keyOf(limit, 'concurrency')),
    throttle: limits.throttle.map((limit) => keyOf(limit, 'throttle')),
    rateLimit: limits.rateLimit.map((limit) => keyOf(limit, 'rate limit')),
  };
}

/** The key of an endpoint's n-th limit of a kind: the endpoint's name, with `[n]` from the second on. */
export function endpointRef(endpoint: string, kind: FlowRef['kind'], index: number, key: string): FlowRef {
  return { scope: index === 0 ? endpoint : `${endpoint}[${index}]`, kind, key };
}

/**
 * A new request's admission, before the handler runs: each rate limit (over it: 429, counted, no
 * run), each throttle (its turn: inline when near, else the run is queued until then), each
 * concurrency limit (a slot: inline up to `inlineDelayMax`, else queued, or 429 with
 * `onLimit: 'reject'`). Slots taken go to `held` as they are taken, for the endpoint to give back.
 * Throws what the caller answers: `RateLimitedError`, `ConcurrencyLimitedError` (429),
 * `RequestTooLargeError` (a request that would be queued but cannot be kept), or the attempt's
 * `SuspendSignal` (queued: the 303).
 */
export async function admitRequest(attempt: Attempt, limits: EndpointLimits, keys: RequestKeys, held: HeldSlot[]): Promise<void> {
  const { journal } = attempt.init;
  const refuseLarge = () => {
    const tooLarge = attempt.requestTooLarge();
    if (tooLarge) throw tooLarge;
  };
  for (const limit of limits.rateLimit) {
    const ref = endpointRef(attempt.endpoint, 'rateLimit', limit.index, keys.rateLimit[limit.index]!);
    const now = attempt.clock.now();
    const grant = await journal.reserveStart({ ref, ...gcra(limit.limit, limit.periodMs), now, lossy: true, limit: limit.limit, periodMs: limit.periodMs, ttl: attempt.ttl });
    if (grant.ok) continue;
    const retryAfterMs = grant.retryAt - now;
    await reject(attempt, ref, limit.limit, retryAfterMs);
    throw new RateLimitedError(
      `${attempt.endpoint} allows ${limit.limit} requests per ${limit.periodMs / 1_000} s${ref.key === ENDPOINT_KEY ? '' : ` for ${JSON.stringify(ref.key)}`}; retry after ${Math.ceil(retryAfterMs / 1_000)} s.`,
      { retryAfterMs, scope: ref.scope, key: ref.key },
    );
  }
  for (const limit of limits.throttle) {
    const ref = endpointRef(attempt.endpoint, 'throttle', limit.index, keys.throttle[limit.index]!);
    await takeTurn(attempt, { waitId: 'throttle', ref, limit: limit.limit, periodMs: limit.periodMs, burst: limit.burst, beforeQueueing: refuseLarge });
  }
  for (const limit of limits.concurrency) {
    const ref = endpointRef(attempt.endpoint, 'concurrency', limit.index, keys.concurrency[limit.index]!);
    let refused: ConcurrencyLimitedError | undefined;
    try {
      held.push(
        await takeSlot(attempt, {
          waitId: 'concurrency',
          ref,
          holder: attempt.runId,
          limit: limit.limit,
          queued: false,
          inline: true,
          beforeQueueing: () => {
            if (limit.onLimit === 'reject') {
              const retryAfterMs = attempt.init.policy.inlineDelayMax;
              throw (refused = new ConcurrencyLimitedError(
                `${attempt.endpoint} runs at most ${limit.limit} requests at once${ref.key === ENDPOINT_KEY ? '' : ` for ${JSON.stringify(ref.key)}`}, and no slot freed within ${retryAfterMs / 1_000} s; retry later.`,
                { retryAfterMs, scope: ref.scope, key: ref.key },
              ));
            }
            refuseLarge();
          },
        }),
      );
    } catch (error) {
      if (refused && error === refused) await reject(attempt, ref, limit.limit, refused.retryAfterMs);
      throw error;
    }
  }
}

/**
 * The slots a later attempt of a run takes again, with the keys its request had (kept on the run):
 * a run holds its slots only while an attempt executes. No inline wait: nobody is waiting on a
 * resume, and a slot freed goes to the oldest queued run anyway.
 */
export async function readmitRun(attempt: Attempt, limits: EndpointLimits, run: Pick<RunRecord, 'limitedBy'>, keys: string[], held: HeldSlot[]): Promise<void> {
  for (const limit of limits.concurrency) {
    const ref = endpointRef(attempt.endpoint, 'concurrency', limit.index, keys[limit.index] ?? ENDPOINT_KEY);
    const queued = run.limitedBy !== undefined && sameRef(run.limitedBy, ref);
    held.push(await takeSlot(attempt, { waitId: 'concurrency', ref, holder: attempt.runId, limit: limit.limit, queued, inline: false }));
  }
}

function sameRef(limitedBy: LimitedBy, ref: FlowRef): boolean {
  return limitedBy.stepId === undefined && limitedBy.kind === ref.kind && limitedBy.scope === ref.scope && limitedBy.key === ref.key;
}

/** Every refused request is logged and counted on its key (the dashboard shows the counts). */
async function reject(attempt: Attempt, ref: FlowRef, limit: number, retryAfterMs: number): Promise<void> {
  log('warn', 'request rejected by flow control', { endpoint: attempt.endpoint, kind: ref.kind, scope: ref.scope, key: ref.key, limit, retryAfterMs: Math.round(retryAfterMs) });
  try {
    await attempt.init.journal.countRejection(ref, attempt.clock.now(), attempt.ttl);
  } catch (error) {
    log('error', 'counting a rejected request failed', { endpoint: attempt.endpoint, scope: ref.scope, key: ref.key, error: (error as Error).message });
  }
}
