/**
 * Flow control inside an attempt (docs/flow-control.md): taking a concurrency slot (waiting inline
 * while the attempt may, else queueing the run), booking a throttle's turn (GCRA), giving a slot
 * back (to the oldest queued run, which is woken), and the limits of `step.run`. The journal keeps
 * the state (`FlowStore`); the one decision to wait inline or suspend stays `waitOrSuspend`'s.
 */
import { toMs, type Duration } from '../core/duration.ts';
import { log } from '../core/log.ts';
import type { FlowRef, LimitedBy, QueueEntry, StepRecord } from '../core/records.ts';
import type { Attempt } from './attempt.ts';

/** `step.run`'s `concurrency`: at most `limit` calls of steps with this key run at once, in every run of every endpoint of the deployment. */
export interface StepConcurrency {
  key: string;
  limit: number;
}

/** `step.run`'s `throttle`: at most `limit` calls of steps with this key start per `period` (plus `burst` at once), deployment-wide. */
export interface StepThrottle {
  key: string;
  limit: number;
  period: Duration;
  /** Starts allowed at once on top of `limit` after a quiet spell. Default 0. */
  burst?: number;
}

/** A slot this attempt holds: given back when its holder is done. */
export interface HeldSlot {
  ref: FlowRef;
  holder: string;
  expiresAt: number;
}

/** A queue entry a suspending attempt adds once its run is stored, so that a wake-up finds the run released. */
export interface SlotWait {
  entry: QueueEntry;
  limit: number;
}

/** What an attempt needs from its endpoint for flow control. */
export interface FlowRuntime {
  /** Resumes the run of a queued entry that was handed a slot. */
  wake: (entry: QueueEntry) => Promise<void>;
}

/** How long a slot handed to a queued run is kept for it: its resume must arrive by then. */
export const SLOT_RESERVE_MS = 60_000;
/** A queued run is due (for the sweep) no sooner than this after it queued. */
const MIN_QUEUE_WAKE_MS = 1_000;
/** When no live holder tells when a slot comes back at the latest (every slot reserved for woken runs). */
const QUEUE_WAKE_WITHOUT_HOLDERS_MS = SLOT_RESERVE_MS;
const FIRST_POLL_MS = 50;
const MAX_POLL_MS = 400;
/** DynamoDB items stop at 400 KB, and the holders of a key share one. */
export const MAX_CONCURRENCY_LIMIT = 1_000;

/** GCRA's parameters for `limit` per `period`, `burst` more at once: one start every `period / limit`. */
export function gcra(limit: number, periodMs: number, burst = 0): { intervalMs: number; toleranceMs: number } {
  const intervalMs = periodMs / limit;
  return { intervalMs, toleranceMs: (limit + burst - 1) * intervalMs };
}

/** Checks a limit's numbers once, with a message that says where it is. */
export function checkLimit(where: string, limit: number, options: { period?: Duration; burst?: number; max?: number } = {}): { periodMs?: number } {
  if (!Number.isInteger(limit) || limit < 1 || limit > (options.max ?? Number.MAX_SAFE_INTEGER)) {
    throw new TypeError(`${where}: limit must be a whole number from 1${options.max ? ` to ${options.max}` : ''}, got ${JSON.stringify(limit)}.`);
  }
  if (options.burst !== undefined && (!Number.isInteger(options.burst) || options.burst < 0)) {
    throw new TypeError(`${where}: burst must be a whole number >= 0, got ${JSON.stringify(options.burst)}.`);
  }
  if (options.period === undefined) return {};
  const periodMs = toMs(options.period, `${where} period`);
  if (periodMs <= 0) throw new TypeError(`${where}: period must be longer than 0.`);
  return { periodMs };
}

export interface SlotWanted {
  /** What the wait is called in logs and in the suspension: a step id, or the endpoint's gate. */
  waitId: string;
  ref: FlowRef;
  holder: string;
  limit: number;
  /** The holder is queued on this key already (a queued run or step being resumed). */
  queued: boolean;
  /** Whether to wait inline for a slot at all (up to `inlineDelayMax`), or queue at once. */
  inline: boolean;
  stepId?: string;
  /**
   * Called instead of queueing when no slot came inline: it may throw to refuse (a 429), or record
   * what the run's journal should say of the wait (a step's `queued` record).
   */
  beforeQueueing?: (limitedBy: LimitedBy) => void;
}

/**
 * Takes a slot of `ref` for the attempt: at once, or after waiting inline (polling) while the
 * attempt may wait, else the run suspends queued (status `queued`, due for the sweep when the
 * earliest live holding expires) and is woken (`slot`) when a holder hands it a slot.
 */
export async function takeSlot(attempt: Attempt, wanted: SlotWanted): Promise<HeldSlot> {
  const { journal, policy } = attempt.init;
  const { clock } = attempt;
  const started = clock.now();
  let poll = FIRST_POLL_MS;
  for (;;) {
    const expiresAt = attempt.leaseExpiresAt;
    const grant = await journal.acquireSlot({ ref: wanted.ref, holder: wanted.holder, limit: wanted.limit, expiresAt, now: clock.now(), queued: wanted.queued, ttl: attempt.ttl });
    if (grant.acquired) return { ref: wanted.ref, holder: wanted.holder, expiresAt };
    const now = clock.now();
    const limitedBy: LimitedBy = { ...wanted.ref, limit: wanted.limit, ...(wanted.stepId === undefined ? {} : { stepId: wanted.stepId }), since: new Date(now).toISOString() };
    // A slot freed while runs are queued goes to the oldest of them, never to one waiting inline.
    const inlineMax = wanted.inline && grant.queued <= 0 ? policy.inlineDelayMax - (now - started) : 0;
    await attempt.waitOrSuspend(wanted.waitId, now + poll, 'slot', {
      inlineMax,
      wakeAt: Math.max(now + MIN_QUEUE_WAKE_MS, grant.freesBy ?? now + QUEUE_WAKE_WITHOUT_HOLDERS_MS),
      limitedBy,
      suspending: () => {
        wanted.beforeQueueing?.(limitedBy);
        attempt.queueOn({
          entry: {
            ref: wanted.ref,
            holder: wanted.holder,
            runId: attempt.runId,
            endpoint: attempt.endpoint,
            functionName: attempt.functionName,
            attempt: attempt.attempt,
            queuedAt: new Date(now).toISOString(),
            ttl: attempt.ttl,
          },
          limit: wanted.limit,
        });
        log('info', 'run queued for a concurrency slot', { endpoint: attempt.endpoint, runId: attempt.runId, stepId: wanted.stepId, scope: wanted.ref.scope, key: wanted.ref.key, limit: wanted.limit });
      },
    });
    poll = Math.min(MAX_POLL_MS, poll * 2);
  }
}

export interface TurnWanted {
  waitId: string;
  ref: FlowRef;
  limit: number;
  periodMs: number;
  burst: number;
  stepId?: string;
  /** Called when the run suspends until its turn: what the journal should say of the wait. */
  beforeQueueing?: (limitedBy: LimitedBy, at: number) => void;
}

/**
 * Books the next start of a throttle (GCRA) and waits for it: inline when it is near, else the run
 * suspends queued until then (a timer resumes it: `throttle`). Turns are booked in arrival order,
 * so the throttle is first in, first out.
 */
export async function takeTurn(attempt: Attempt, wanted: TurnWanted): Promise<void> {
  const { clock } = attempt;
  const now = clock.now();
  const grant = await attempt.init.journal.reserveStart({
    ref: wanted.ref,
    ...gcra(wanted.limit, wanted.periodMs, wanted.burst),
    now,
    lossy: false,
    limit: wanted.limit,
    periodMs: wanted.periodMs,
    ttl: attempt.ttl,
  });
  if (!grant.ok || grant.at <= clock.now()) return;
  const limitedBy: LimitedBy = { ...wanted.ref, limit: wanted.limit, ...(wanted.stepId === undefined ? {} : { stepId: wanted.stepId }), since: new Date(now).toISOString() };
  await attempt.waitOrSuspend(wanted.waitId, grant.at, 'throttle', {
    limitedBy,
    suspending: () => {
      wanted.beforeQueueing?.(limitedBy, grant.at);
      log('info', 'run queued for its throttle turn', { endpoint: attempt.endpoint, runId: attempt.runId, stepId: wanted.stepId, scope: wanted.ref.scope, key: wanted.ref.key, at: new Date(grant.at).toISOString() });
    },
  });
}

/**
 * Gives a slot back; if a queued run gets it, wakes that run. Never throws: a slot that cannot be
 * given back comes back when its holding expires, and a lost wake-up is the sweep's.
 */
export async function releaseSlot(attempt: Attempt, slot: HeldSlot): Promise<void> {
  const { journal, flow } = attempt.init;
  const fields = { endpoint: attempt.endpoint, runId: attempt.runId, scope: slot.ref.scope, key: slot.ref.key };
  try {
    const handed = await journal.releaseSlot({ ...slot, now: attempt.clock.now(), reserveMs: SLOT_RESERVE_MS, ttl: attempt.ttl });
    if (!handed) return;
    log('info', 'slot handed to a queued run', { ...fields, to: handed.runId });
    await flow.wake(handed);
  } catch (error) {
    log('error', 'giving a concurrency slot back failed; it comes back when its holding expires', { ...fields, error: (error as Error).message });
  }
}

/** The step-level limits of one call of a step's function. */
export interface StepLimits {
  concurrency?: StepConcurrency;
  throttle?: StepThrottle;
}

/** The flow key of a step limit: shared by every run and endpoint of the deployment. */
export function stepRef(kind: 'concurrency' | 'throttle', key: string): FlowRef {
  return { scope: 'step', kind, key };
}

/**
 * Before a call of a limited step's function: the throttle's turn (unless the run was resumed for
 * the turn it had booked), then a concurrency slot, held until the call ends. `queue` journals the
 * step as queued when the run must suspend for either.
 */
export async function beforeStepCall(
  attempt: Attempt,
  stepId: string,
  limits: StepLimits,
  prior: { record: StepRecord | undefined; first: boolean },
  queue: (limitedBy: LimitedBy, retryAt?: number) => void,
): Promise<HeldSlot | undefined> {
  const where = attempt.describe(stepId);
  const booked = prior.first && prior.record?.status === 'queued' ? prior.record.limitedBy : undefined;
  if (limits.throttle && booked?.kind !== 'throttle') {
    const { key, limit, period, burst = 0 } = limits.throttle;
    const { periodMs } = checkLimit(`${where}: throttle`, limit, { period, burst });
    await takeTurn(attempt, { waitId: stepId, ref: stepRef('throttle', checkKey(where, key)), limit, periodMs: periodMs!, burst, stepId, beforeQueueing: queue });
  }
  if (!limits.concurrency) return undefined;
  const { key, limit } = limits.concurrency;
  checkLimit(`${where}: concurrency`, limit, { max: MAX_CONCURRENCY_LIMIT });
  return takeSlot(attempt, {
    waitId: stepId,
    ref: stepRef('concurrency', checkKey(where, key)),
    holder: `${attempt.runId}#${stepId}`,
    limit,
    queued: booked?.kind === 'concurrency',
    inline: true,
    stepId,
    beforeQueueing: (limitedBy) => queue(limitedBy),
  });
}

function checkKey(where: string, key: unknown): string {
  if (typeof key !== 'string' || key.length === 0) throw new TypeError(`${where}: a step limit needs a key (a non-empty string such as 'openai'), got ${JSON.stringify(key)}.`);
  return key;
}
