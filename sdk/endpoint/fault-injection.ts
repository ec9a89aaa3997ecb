/**
 * Dev-only fault injection (DESIGN.md): `x-durable-inject-failure: <stepId>:<times>[:<retryAfter>]`
 * makes that step fail on its first attempts; `<times>@<chunks>` makes them fail mid-stream. The engine only knows a `FaultInjector` hook; this is
 * the source the dev server (and `DURABLE_DEV=1`) plugs in. Anywhere else the header is ignored.
 */
import { INJECT_FAILURE_HEADER } from '../core/contract.ts';
import { toMs } from '../core/duration.ts';
import { RetryAfterError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import type { FaultInjector } from '../engine/attempt.ts';
import type { FaultSource } from './deployment.ts';

export interface InjectedFailure {
  times: number;
  retryAfterMs?: number;
  /** Fail mid-stream: after the step attempt streamed this many chunks (`<times>@<chunks>`). */
  afterChunks?: number;
}

/**
 * `<stepId>:<times>[:<retryAfter>]`, comma-separated; step ids may contain ':' themselves.
 * `<times>@<chunks>` fails each of those attempts after it streamed that many chunks. Empty unless `enabled`.
 */
export function parseInjectedFailures(value: string | undefined, enabled: boolean, where: string): Map<string, InjectedFailure> {
  const injected = new Map<string, InjectedFailure>();
  if (!value) return injected;
  if (!enabled) {
    log('warn', `${INJECT_FAILURE_HEADER} ignored: fault injection works only under the dev server`, { where });
    return injected;
  }
  for (const spec of value.split(',')) {
    const parts = spec.trim().split(':');
    let retryAfterMs: number | undefined;
    if (parts.length >= 3 && /^\d+(\.\d+)?(ms|s|m|h|d)$/.test(parts[parts.length - 1]!)) retryAfterMs = toMs(parts.pop()!);
    const [timesText = '', chunksText] = parts.pop()!.split('@');
    const times = Number(timesText);
    const afterChunks = chunksText === undefined ? undefined : Number(chunksText);
    const stepId = parts.join(':');
    if (!stepId || !Number.isInteger(times) || times < 0 || (afterChunks !== undefined && !(Number.isInteger(afterChunks) && afterChunks >= 0))) {
      log('warn', `${INJECT_FAILURE_HEADER} ignored: expected <stepId>:<times>[@<chunks>][:<retryAfter>]`, { where, spec });
      continue;
    }
    injected.set(stepId, { times, retryAfterMs, ...(afterChunks === undefined ? {} : { afterChunks }) });
  }
  return injected;
}

/** Fails each named step on its first `times` attempts: with a `RetryAfterError` when a delay is given, as a rate-limited API would. */
export function injectFailures(failures: ReadonlyMap<string, InjectedFailure>): FaultInjector | undefined {
  if (failures.size === 0) return undefined;
  return (stepId, attempt) => {
    const injected = failures.get(stepId);
    if (!injected || attempt > injected.times) return undefined;
    const message = `Injected failure ${attempt} of ${injected.times} (${INJECT_FAILURE_HEADER})`;
    const error = injected.retryAfterMs === undefined ? new Error(message) : new RetryAfterError(message, injected.retryAfterMs);
    return injected.afterChunks === undefined ? error : { error, afterChunks: injected.afterChunks };
  };
}

/** The dev server's fault source: `x-durable-inject-failure` on the journaled request. */
export const headerFaults: FaultSource = (request, where) => injectFailures(parseInjectedFailures(request.headers[INJECT_FAILURE_HEADER], true, where));
