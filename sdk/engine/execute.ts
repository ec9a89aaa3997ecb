/**
 * Running a step's function: attempts and retries (inline or by suspending), flow-control limits
 * around each call, serialization of the result, and the step's journal record at each turn.
 */
import { NonRetriableError, RetryAfterError, SerializationError, serializeError } from '../core/errors.ts';
import { log, logs } from '../core/log.ts';
import type { StepRecord } from '../core/records.ts';
import { deserialize, serialize } from '../core/serialization.ts';
import type { Attempt } from './attempt.ts';
import { beforeStepCall } from './flow.ts';
import type { Claim } from './order.ts';
import { SuspendSignal } from './outcome.ts';
import { inStep, type StepChunks } from './stream.ts';
import { ITEM_PAYLOAD_BYTES, large } from '../payloads/offload.ts';
import { backoffDelay, resolveBackoff, type ResolvedBackoff, type StepOptions } from './retries.ts';

export async function executeStep<T>(attempt: Attempt, { stepId, seq, concurrent, record: prior }: Claim, fn: () => T | Promise<T>, options: StepOptions | undefined): Promise<Awaited<T>> {
  const { policy } = attempt.init;
  const retries = options?.retries ?? policy.retries;
  const backoff = options?.backoff ? resolveBackoff(policy.backoff, options.backoff) : policy.backoff;
  const base = { id: stepId, seq: prior?.seq ?? seq, startedAt: prior?.startedAt ?? attempt.isoNow(), ...(concurrent || prior?.concurrent ? { concurrent: true } : {}) };
  // Woken before this step's own retry time (another step's timer, a hand-off, an event): its
  // delay still holds, a rate limit in particular; so does the turn a throttle booked for it.
  const retryAt = (prior?.status === 'retrying' || prior?.status === 'queued') && prior.retryAt ? Date.parse(prior.retryAt) : 0;
  if (retryAt > Math.max(attempt.clock.now(), attempt.init.dueAt)) {
    await attempt.waitOrSuspend(stepId, retryAt, prior?.status === 'queued' ? 'throttle' : 'retry', { limitedBy: prior?.limitedBy });
  }
  try {
    return await runAttempts(attempt, stepId, base, prior?.attempts ?? 0, retries, backoff, fn, { record: prior, limits: options });
  } finally {
    attempt.executing.delete(stepId);
  }
}

async function runAttempts<T>(
attempt: Attempt,
  stepId: string,
  base: Omit<StepRecord, 'status' | 'attempts'>,
  attemptsSoFar: number,
  retries: number,
  backoff: ResolvedBackoff,
  fn: () => T | Promise<T>,
  flow: { record: StepRecord | undefined; limits: StepOptions | undefined },
): Promise<Awaited<T>> {
  let attempts = attemptsSoFar;
  const limited = flow.limits?.concurrency !== undefined || flow.limits?.throttle !== undefined;
  for (let call = 0; ; call++) {
    if (attempt.isHandedOff) throw new SuspendSignal(attempt.runId, stepId);
    // A limited call waits for its throttle's turn and a slot (held while the function runs, not
    // while it waits for a retry); if it must wait longer than the run may inline, the step is
    // journaled queued and the run suspends.
    const slot = limited
      ? await beforeStepCall(attempt, stepId, flow.limits!, { record: flow.record, first: call === 0 }, (limitedBy, at) =>
          attempt.journalStep({ ...base, status: 'queued', attempts, limitedBy, ...(at === undefined ? {} : { retryAt: new Date(at).toISOString() }) }),
        )
      : undefined;
    attempts++;
    attempt.executing.set(stepId, { record: base, attempts, retries, prior: flow.record });
    let value: Awaited<T>;
    const began = performance.now();
    const fields = () => ({ endpoint: attempt.endpoint, runId: attempt.runId, stepId, attempts, durationMs: Math.round(performance.now() - began) });
    const injected = attempt.init.faults?.(stepId, attempts);
    const chunks = attempt.stream.begin(stepId, base.seq, attempts, injected && !(injected instanceof Error) ? { error: injected.error, after: injected.afterChunks } : undefined);
    // What streamed chunks say of the step, for each of its records from here on.
    const streamed = (completed?: StepChunks) => attempt.stream.fields(stepId, flow.record, completed);
    try {
      if (injected instanceof Error) throw injected;
      value = await inStep(chunks, fn);
      // Injected mid-stream, and the function streamed fewer chunks than that: it fails as it returns.
      if (chunks.doom) throw chunks.doom.error;
    } catch (error) {
      attempt.stream.rollback(chunks);
      if (slot) attempt.release(slot);
      if (error instanceof SuspendSignal) throw error;
      if (error instanceof NonRetriableError || attempts > retries) {
        attempt.journalStep({ ...base, status: 'failed', attempts, error: serializeError(error), endedAt: attempt.isoNow(), ...streamed() });
        log('warn', 'step failed', { ...fields(), error: `${(error as Error)?.name}: ${(error as Error)?.message}` });
        throw error;
      }
      const delay = error instanceof RetryAfterError ? error.delayMs : backoffDelay(backoff, attempts);
      const retryAt = attempt.clock.now() + delay;
      await attempt.waitOrSuspend(stepId, retryAt, 'retry', {
        waiting: () => log('info', 'step retrying inline', { ...fields(), delayMs: delay, error: (error as Error)?.message }),
        suspending: () => {
          attempt.journalStep({ ...base, status: 'retrying', attempts, error: serializeError(error), retryAt: new Date(retryAt).toISOString(), ...streamed() });
          log('info', 'step retrying later', { ...fields(), delayMs: delay, error: (error as Error)?.message });
        },
      });
      continue;
    }
    if (slot) attempt.release(slot);
    let output: string | undefined;
    let exact: boolean;
    try {
      ({ text: output, exact } = serialize(value, () => attempt.describe(stepId)));
      if (output !== undefined && output.length > attempt.maxOutputBytes / 3 && Buffer.byteLength(output) > attempt.maxOutputBytes) {
        throw new SerializationError(
          `${attempt.describe(stepId)} returned ${Buffer.byteLength(output)} bytes of JSON; the journal keeps at most ${attempt.maxOutputBytes}. ` +
            'Store large data elsewhere (for example S3) and return a reference.',
        );
      }
      // The chunks stay on the step's item, with the result unless the result goes to the blob store.
      const kept = output === undefined || chunks.bytes === 0 ? 0 : Buffer.byteLength(output);
      if (chunks.bytes > 0 && (attempt.init.blobs && large(output) ? 0 : kept) + chunks.bytes > ITEM_PAYLOAD_BYTES) {
        throw new SerializationError(
          `${attempt.describe(stepId)} returned ${kept} bytes of JSON and streamed ${chunks.bytes}; its item keeps at most ${ITEM_PAYLOAD_BYTES} of both. ` +
            'Store large data elsewhere (for example S3) and return a reference.',
        );
      }
    } catch (error) {
      attempt.stream.rollback(chunks);
      attempt.journalStep({ ...base, status: 'failed', attempts, error: serializeError(error), endedAt: attempt.isoNow(), ...streamed() });
      throw error;
    }
    attempt.journalStep({ ...base, status: 'completed', attempts, output, endedAt: attempt.isoNow(), ...streamed(chunks) });
    if (logs('debug')) log('debug', 'step completed', fields());
    // A replay returns the journaled form; when JSON would change the value, return that form now
    // too, so the first attempt and every replay see the same thing.
    return (exact ? value : deserialize(output)) as Awaited<T>;
  }
}
