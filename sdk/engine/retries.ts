import { toMs, type Duration } from '../core/duration.ts';
import type { StepConcurrency, StepThrottle } from './flow.ts';

export interface BackoffOptions {
  /** Delay before the first retry. Default `'1s'`. */
  initial?: Duration;
  /** Each further retry waits this many times longer. Default 2. */
  factor?: number;
  /** Cap on one delay. Default `'10m'`. */
  max?: Duration;
}

/** Options per step; `retries` and `backoff` override the endpoint's options of the same name. */
export interface StepOptions {
  /** Retries after the first attempt. Default: the endpoint's `retries` (4). */
  retries?: number;
  backoff?: BackoffOptions;
  /**
   * At most `limit` calls of steps with this `key` run their function at once, across every run of
   * every endpoint of the deployment (a downstream API's quota: `{ key: 'openai', limit: 5 }`). A
   * call over it waits inline while it can, else the run suspends queued until a slot frees.
   */
  concurrency?: StepConcurrency;
  /**
   * At most `limit` calls of steps with this `key` start per `period` (plus `burst` at once),
   * deployment-wide, in the order they asked: a call waits for its turn inline when it is near,
   * else the run suspends until then.
   */
  throttle?: StepThrottle;
}

export interface ResolvedBackoff {
  initial: number;
  factor: number;
  max: number;
}

/** How an attempt retries and waits, resolved once per endpoint (see `resolveOptions`). */
export interface RetryPolicy {
  retries: number;
  backoff: ResolvedBackoff;
  /** Longest single delay waited inline. */
  inlineDelayMax: number;
  /** Total inline waiting one invocation may spend. */
  inlineBudget: number;
}

export function resolveBackoff(base: ResolvedBackoff, options?: BackoffOptions): ResolvedBackoff {
  return {
    initial: options?.initial === undefined ? base.initial : toMs(options.initial, 'backoff.initial'),
    factor: options?.factor ?? base.factor,
    max: options?.max === undefined ? base.max : toMs(options.max, 'backoff.max'),
  };
}

/** Delay before attempt `failures + 1`: exponential, capped, with "equal jitter" (half fixed, half random). */
export function backoffDelay(backoff: ResolvedBackoff, failures: number, random = Math.random): number {
  const exponential = Math.min(backoff.max, backoff.initial * backoff.factor ** Math.max(0, failures - 1));
  return Math.round(exponential / 2 + random() * (exponential / 2));
}
