/**
 * The journal's single-table keys, shared by every adapter so they hold the same items:
 * `RUN#<runId>` holds `RUN`, `REQUEST`, `STEP#<seq>#<id>` and `TAIL#<attempt>#<n>`; `EVENT#<name>` holds `WAITER#…` and
 * `SEEN#<id>`; `IDEMPOTENCY#<endpoint>#<caller>#<key>` holds `CLAIM`; `FLOW#<scope>#<kind>#<key>`
 * holds `SLOTS`, `QUEUE#<holder>` and `RATE`. Live run items are also in the sparse index `due`
 * (`dueShard`, `dueAt`), which the sweep of stuck runs reads.
 */
import { createHash } from 'node:crypto';
import type { EventWaiter, FlowRef, IdempotencyClaim, StepRecord } from '../core/records.ts';

export const pk = (runId: string): string => `RUN#${runId}`;
// Zero-padded so that steps sort by call order within the partition.
export const stepSk = (step: Pick<StepRecord, 'seq' | 'id'>): string => `STEP#${String(step.seq).padStart(6, '0')}#${step.id}`;
/**
 * A run's tail: what an attempt streamed as it happened, for results streams that follow the run.
 * After `STEP#` in sort order, so that a query from the last tail item read finds only newer ones.
 */
export const tailSk = (attempt: number, n: number): string => `TAIL#${String(attempt).padStart(6, '0')}#${String(n).padStart(6, '0')}`;
export const TAIL_PREFIX = 'TAIL#';
// Sorts after every tail item and before anything later: the upper bound of tail queries.
export const TAIL_END = 'TAIL$';
export const eventPk = (name: string): string => `EVENT#${name}`;
export const seenSk = (id: string): string => `SEEN#${id}`;
export const idempotencyPk = (claim: Pick<IdempotencyClaim, 'endpoint' | 'caller' | 'key'>): string => `IDEMPOTENCY#${claim.endpoint}#${claim.caller}#${claim.key}`;
export const waiterSk = (waiter: Pick<EventWaiter, 'runId' | 'stepId'>): string => `WAITER#${waiter.runId}#${waiter.stepId}`;

/** The index of live runs by when they are due; sharded so that no one partition takes every write. */
export const DUE_INDEX = 'due';
export const DUE_SHARDS = 8;
/** A run's shard of the due index: from the random part of its ULID. */
export const dueShard = (runId: string): string => `DUE#${runId.charCodeAt(runId.length - 1) % DUE_SHARDS}`;

// A key longer than this is stored by its hash: DynamoDB partition keys stop at 2 KB.
const MAX_FLOW_KEY = 200;
/** The partition of a limited key. */
export const flowPk = (ref: FlowRef): string =>
  `FLOW#${ref.scope}#${ref.kind}#${ref.key.length > MAX_FLOW_KEY ? `sha256:${createHash('sha256').update(ref.key).digest('hex')}` : ref.key}`;
export const FLOW_PREFIX = 'FLOW#';
export const SLOTS_SK = 'SLOTS';
export const RATE_SK = 'RATE';
export const QUEUE_PREFIX = 'QUEUE#';
// Queue entries sort by holder: run ids are ULIDs, so the oldest run comes first.
export const queueSk = (holder: string): string => `${QUEUE_PREFIX}${holder}`;
