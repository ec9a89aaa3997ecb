/** What the dashboard API and the CLI show of a run: no lease internals, step outputs as JSON. */
import type { LoadedRun, RunRecord, RunStatus } from '../sdk/core/records.ts';
import { deserialize } from '../sdk/core/serialization.ts';

const STATUSES: Record<RunStatus, true> = { running: true, sleeping: true, waiting: true, completed: true, failed: true };

/** The statuses a run can have, for filters: what the dashboard and `durable runs list --status` accept. */
export const RUN_STATUSES = Object.keys(STATUSES) as RunStatus[];

export function isRunStatus(value: string): value is RunStatus {
  return Object.hasOwn(STATUSES, value);
}

export function runSummary(run: RunRecord) {
  const { runId, endpoint, status, attempt, createdAt, updatedAt, wakeAt, error } = run;
  return { runId, endpoint, status, attempt, createdAt, updatedAt, wakeAt, error };
}

export function runDetail({ run, request, steps }: LoadedRun) {
  const { leaseOwner: _owner, ...visible } = run;
  return {
    run: visible,
    request,
    // Dates show as ISO strings; the journal's own tagged form is an implementation detail.
    steps: steps.map(({ output, ...step }) => ({ ...step, output: output === undefined ? undefined : JSON.parse(JSON.stringify(deserialize(output))) })),
  };
}

export type RunDetail = ReturnType<typeof runDetail>;
