/** What the dashboard API and the CLI show of a run: no lease internals, step outputs as JSON. */
import type { FlowState, LimitedBy, LoadedRun, RolledBack, RunRecord, RunStatus } from '../sdk/core/records.ts';
import { deserialize } from '../sdk/core/serialization.ts';

const STATUSES: Record<RunStatus, true> = { running: true, sleeping: true, waiting: true, queued: true, completed: true, failed: true };

/** The statuses a run can have, for filters: what the dashboard and `durable runs list --status` accept. */
export const RUN_STATUSES = Object.keys(STATUSES) as RunStatus[];

export function isRunStatus(value: string): value is RunStatus {
  return Object.hasOwn(STATUSES, value);
}

export function runSummary(run: RunRecord) {
  const { runId, endpoint, status, attempt, createdAt, updatedAt, wakeAt, error } = run;
  // Only a queued run is held back; a run item keeps `limitedBy` until its next attempt rewrites it.
  const limitedBy = status === 'queued' ? run.limitedBy : undefined;
  return { runId, endpoint, status, attempt, createdAt, updatedAt, wakeAt, error, limitedBy, why: limitedBy && whyQueued(limitedBy) };
}

/** Why a run is queued, in words: "waiting for a slot of POST /reports (concurrency 2, key acme)". */
export function whyQueued(limitedBy: LimitedBy): string {
  const limit = `${limitedBy.kind} ${limitedBy.limit}${limitedBy.key === '*' ? '' : `, key ${limitedBy.key}`}`;
  const what = limitedBy.stepId === undefined ? '' : `step ${limitedBy.stepId} `;
  const waiting = limitedBy.kind === 'concurrency' ? 'waiting for a slot of' : 'waiting for its turn at';
  return `${what}${waiting} ${limitedBy.scope === 'step' ? 'the step limit' : limitedBy.scope} (${limit})`;
}

/** A limited key as the dashboard and the CLI show it: holdings as counts, times as ISO. */
export function flowSummary(state: FlowState, now = Date.now()) {
  const live = state.holders.filter((holding) => holding.expiresAt > now);
  return {
    scope: state.ref.scope,
    kind: state.ref.kind,
    key: state.ref.key,
    limit: state.limit,
    periodMs: state.periodMs,
    running: state.ref.kind === 'concurrency' ? live.length : undefined,
    holders: state.ref.kind === 'concurrency' ? live.map((holding) => holding.holder) : undefined,
    queued: state.ref.kind === 'concurrency' ? state.queued : undefined,
    nextStartAt: state.nextAt !== undefined && state.nextAt > now ? new Date(state.nextAt).toISOString() : undefined,
    rejected: state.rejected,
    lastRejectedAt: state.lastRejectedAt,
  };
}

export type FlowSummary = ReturnType<typeof flowSummary>;

/** Busy keys first, then by scope, kind and key. */
export function flowSummaries(states: FlowState[], now = Date.now()): FlowSummary[] {
  return states
    .map((state) => flowSummary(state, now))
    .sort((a, b) => (b.running ?? 0) + (b.queued ?? 0) - ((a.running ?? 0) + (a.queued ?? 0)) || a.scope.localeCompare(b.scope) || a.kind.localeCompare(b.kind) || a.key.localeCompare(b.key));
}

export function runDetail({ run, request, steps }: LoadedRun) {
  const { leaseOwner: _owner, limitedBy, ...visible } = run;
  return {
    run: { ...visible, ...(run.status === 'queued' && limitedBy ? { limitedBy, why: whyQueued(limitedBy) } : {}) },
    request,
    // Dates show as ISO strings; the journal's own tagged form is an implementation detail.
    steps: steps.map(({ output, chunks, rolledBack, ...step }) => ({
      ...step,
      output: output === undefined ? undefined : JSON.parse(JSON.stringify(deserialize(output))),
      // What the step streamed: the committed attempt's chunks, and those of attempts rolled back.
      chunks: chunks === undefined ? undefined : (JSON.parse(chunks) as unknown[]),
      rolledBack: rolledBack === undefined ? undefined : (JSON.parse(rolledBack) as RolledBack[]),
    })),
  };
}

export type RunDetail = ReturnType<typeof runDetail>;
