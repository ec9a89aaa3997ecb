import type { Duration } from '../core/duration.ts';
import { toMs } from '../core/duration.ts';
import type { EventWaiter, ReceivedEvent } from '../core/records.ts';
import { deserialize } from '../core/serialization.ts';
import type { Attempt } from './attempt.ts';
import { SuspendSignal } from './outcome.ts';

/** What `step.waitForEvent` resolves to. */
export interface DurableEvent<T = unknown> {
  name: string;
  id: string;
  data: T;
  receivedAt: string;
}

export interface WaitForEventOptions {
  /** The event name, e.g. `'order/approved'`. */
  event: string;
  /** Dotted paths into the event and the values they must equal, e.g. `{ 'data.orderId': orderId }`. */
  match?: Record<string, unknown>;
  /** How long to wait before resolving to null. */
  timeout: Duration;
}

/** Events received this long before a waiter registers still resolve it (and are kept that long). */
export const EVENT_LOOKBACK_MS = 5 * 60_000;

/** Whether every dotted path of `match` in the event equals its value (JSON equality). */
export function eventMatches(event: Pick<ReceivedEvent, 'name' | 'id' | 'data'>, match: Record<string, unknown>): boolean {
  return Object.entries(match).every(([path, expected]) => {
    let value: unknown = event;
    for (const part of path.split('.')) value = value === null || typeof value !== 'object' ? undefined : (value as Record<string, unknown>)[part];
    return JSON.stringify(value) === JSON.stringify(expected);
  });
}

/**
 * `step.waitForEvent`: registers a waiter (with its step, in one write), takes a matching event
 * received within the look-back window, else suspends until an event resumes the run or the
 * timeout does. The waiter's step is completed exactly once, by the event route or the timeout.
 */
export function waitForEvent<T = unknown>(attempt: Attempt, id: string, options: WaitForEventOptions): Promise<DurableEvent<T> | null> {
  if (typeof options?.event !== 'string' || options.event.length === 0) {
    throw new TypeError(`${attempt.describe()}: step.waitForEvent('${id}', { event, match, timeout }) needs an event name.`);
  }
  const timeoutMs = toMs(options.timeout, 'waitForEvent timeout');
  const match = options.match ?? {};
  const took = (event: DurableEvent<T> | null) => {
    if (event) attempt.eventsTaken.add(`${event.name}/${event.id}`);
    return event;
  };
  return attempt.enter(id, async ({ stepId, seq, concurrent, record }) => {
    if (record?.status === 'completed') return took(deserialize(record.output) as DurableEvent<T> | null);
    const { journal, fence, functionName } = attempt.init;
    const { ttl } = attempt;
    const now = attempt.clock.now();
    const timeoutAt = record?.wakeAt ? Date.parse(record.wakeAt) : now + timeoutMs;
    const waiter: EventWaiter = {
      name: options.event,
      match,
      runId: attempt.runId,
      stepId,
      seq: record?.seq ?? seq,
      attempt: attempt.attempt,
      endpoint: attempt.endpoint,
      functionName,
      timeoutAt: new Date(timeoutAt).toISOString(),
      ttl,
    };
    if (record?.status === 'waiting') {
      if (now >= timeoutAt) {
        // Timed out, unless an event got there first: the conditional write decides.
        const { step } = await journal.resolveWaiting(waiter, 'null');
        return took(deserialize(step?.output) as DurableEvent<T> | null);
      }
    } else {
      attempt.ensureRunItem();
      await journal.registerWaiter(
        waiter,
        { id: stepId, seq: waiter.seq, status: 'waiting', attempts: 1, startedAt: attempt.isoNow(), wakeAt: waiter.timeoutAt, event: options.event, ...(concurrent ? { concurrent: true } : {}) },
        fence,
      );
      // An event that came shortly before the waiter existed still counts, unless an earlier wait
      // of this run already took it.
      const already = eventsTaken(attempt);
      for (const event of await journal.recentEvents(options.event, new Date(attempt.clock.now() - EVENT_LOOKBACK_MS))) {
        if (!eventMatches(event, match) || already.has(`${event.name}/${event.id}`)) continue;
        const { step } = await journal.resolveWaiting(waiter, JSON.stringify(event));
        if (step?.status === 'completed') return took(deserialize(step.output) as DurableEvent<T> | null);
      }
    }
    attempt.waitingOn.push(waiter);
    attempt.suspend(timeoutAt, 'timeout');
    throw new SuspendSignal(attempt.runId, stepId);
  });
}

/** Events that completed this run's earlier waits and this attempt's (as `name/id`): one event completes one wait per run. */
function eventsTaken(attempt: Attempt): Set<string> {
  const all = new Set(attempt.eventsTaken);
  for (const record of attempt.journaledSteps()) {
    if (record.event === undefined || record.status !== 'completed' || record.output === undefined) continue;
    const event = deserialize(record.output) as DurableEvent | null;
    if (event) all.add(`${event.name}/${event.id}`);
  }
  return all;
}
