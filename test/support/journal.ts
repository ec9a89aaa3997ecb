/** The journal's adapters, and records to store in them, for the journal's own tests. */
import type { RequestSnapshot } from '../../sdk/core/http.ts';
import { ulid } from '../../sdk/core/ids.ts';
import type { EventWaiter, IdempotencyClaim, ReceivedEvent, RunRecord, StepRecord } from '../../sdk/core/records.ts';
import type { Journal, JournalWrite } from '../../sdk/journal/journal.ts';
import { MemoryJournal } from '../../sdk/journal/memory.ts';
import { createTestJournal } from './fixture.ts';

/**
 * Every adapter, each with a fresh, empty journal per `create()`. `expiresOnTime`: whether items are
 * gone as soon as their `ttl` has passed; DynamoDB's TTL deletes them up to two days later, and
 * DynamoDB Local never does.
 */
export const journalAdapters = [
  { name: 'DynamoJournal on DynamoDB Local', create: (): Promise<Journal> => createTestJournal(), expiresOnTime: false },
  { name: 'MemoryJournal', create: async (): Promise<Journal> => new MemoryJournal(), expiresOnTime: true },
];

export const minuteAgo = (): number => Date.now() - 60_000;
export const inAMinute = (): number => Date.now() + 60_000;

// Records below are valid, with a `ttl` an hour ahead, and can be overridden field by field.

/** Epoch seconds, as `ttl` takes them. */
export const ttlIn = (seconds: number): number => Math.floor(Date.now() / 1_000) + seconds;

export function runRecord(overrides: Partial<RunRecord> = {}): RunRecord {
  const now = new Date().toISOString();
  return { runId: ulid(), endpoint: 'POST /orders', functionName: 'orders', status: 'running', attempt: 1, createdAt: now, updatedAt: now, ttl: ttlIn(3_600), ...overrides };
}

export function requestSnapshot(): RequestSnapshot {
  return {
    format: '2.0',
    method: 'POST',
    path: '/orders',
    rawQuery: 'dryRun=1',
    headers: { 'content-type': 'application/json' },
    body: '{"sku":"A-1"}',
    isBase64Encoded: false,
    routeKey: 'POST /orders',
    requestContext: { requestId: 'r-1' },
  };
}

export function stepRecord(seq: number, overrides: Partial<StepRecord> = {}): StepRecord {
  return { id: `step-${seq}`, seq, status: 'completed', output: JSON.stringify({ seq }), attempts: 1, startedAt: new Date().toISOString(), endedAt: new Date().toISOString(), ...overrides };
}

export const stepWrite = (run: RunRecord, step: StepRecord): JournalWrite => ({ type: 'step', runId: run.runId, step, ttl: run.ttl });

/** Writes a run with its request and steps, unfenced, as a run's first checkpoint does. */
export async function storeRun(journal: Journal, overrides: Partial<RunRecord> = {}, steps: StepRecord[] = []): Promise<RunRecord> {
  const run = runRecord(overrides);
  await journal.write([{ type: 'run', run }, { type: 'request', runId: run.runId, request: requestSnapshot(), ttl: run.ttl }, ...steps.map((step) => stepWrite(run, step))]);
  return run;
}

export function claimFor(runId: string, overrides: Partial<IdempotencyClaim> = {}): IdempotencyClaim {
  return { endpoint: 'POST /orders', caller: 'caller-1', key: 'key-1', claimedAt: new Date().toISOString(), runId, fingerprint: 'fp-1', ttl: ttlIn(3_600), ...overrides };
}

export function waiterFor(run: RunRecord, step: StepRecord, overrides: Partial<EventWaiter> = {}): EventWaiter {
  return {
    name: 'order.paid',
    match: { 'data.orderId': 'o-1' },
    runId: run.runId,
    stepId: step.id,
    seq: step.seq,
    attempt: run.attempt,
    endpoint: run.endpoint,
    functionName: run.functionName,
    timeoutAt: new Date(Date.now() + 60_000).toISOString(),
    ttl: run.ttl,
    ...overrides,
  };
}

export const waitingStep = (seq: number): StepRecord =>
  stepRecord(seq, { status: 'waiting', output: undefined, endedAt: undefined, event: 'order.paid', wakeAt: new Date(Date.now() + 60_000).toISOString() });

export function receivedEvent(overrides: Partial<ReceivedEvent> = {}): ReceivedEvent {
  return { name: 'order.paid', id: ulid(), data: { orderId: 'o-1' }, receivedAt: new Date().toISOString(), ...overrides };
}

/** A run with one completed step and one step waiting for an event (its waiter registered), kept until `ttl`. */
export async function storeWaitingRun(journal: Journal, ttl: number): Promise<{ run: RunRecord; waiting: StepRecord }> {
  const run = runRecord({ ttl });
  const waiting = waitingStep(1);
  await storeRun(journal, run, [stepRecord(0)]);
  await journal.registerWaiter(waiterFor(run, waiting), waiting);
  return { run, waiting };
}
