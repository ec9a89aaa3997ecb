/**
 * The journal's single-table keys, shared by every adapter so they hold the same items:
 * `RUN#<runId>` holds `RUN`, `REQUEST` and `STEP#<seq>#<id>`; `EVENT#<name>` holds `WAITER#…` and
 * `SEEN#<id>`; `IDEMPOTENCY#<endpoint>#<caller>#<key>` holds `CLAIM`.
 */
import type { EventWaiter, IdempotencyClaim, StepRecord } from '../core/records.ts';

export const pk = (runId: string): string => `RUN#${runId}`;
// Zero-padded so that steps sort by call order within the partition.
export const stepSk = (step: Pick<StepRecord, 'seq' | 'id'>): string => `STEP#${String(step.seq).padStart(6, '0')}#${step.id}`;
export const eventPk = (name: string): string => `EVENT#${name}`;
export const seenSk = (id: string): string => `SEEN#${id}`;
export const idempotencyPk = (claim: Pick<IdempotencyClaim, 'endpoint' | 'caller' | 'key'>): string => `IDEMPOTENCY#${claim.endpoint}#${claim.caller}#${claim.key}`;
export const waiterSk = (waiter: Pick<EventWaiter, 'runId' | 'stepId'>): string => `WAITER#${waiter.runId}#${waiter.stepId}`;
