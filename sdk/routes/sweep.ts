/**
 * The sweep of stuck runs, on AWS (the sweeper Lambda, every minute) and in the dev server: every
 * live run whose wake time or lease expiry is more than a grace period past gets a resume for its
 * current attempt. Resumes are idempotent (the endpoint takes a run only at the attempt named), so
 * re-arming a run whose timer is in fact armed costs one refused invocation. A run re-armed
 * `maxRearms` times without completing a step is given up: the endpoint fails it (`onFailure`
 * runs), and if even that does not happen, the sweep fails it itself.
 */
import { ENV } from '../core/contract.ts';
import { toMs, type Duration } from '../core/duration.ts';
import { RunStuckError, serializeError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import type { RunRecord } from '../core/records.ts';
import { resumeEvent } from '../core/resume.ts';
import { failedRunResponse } from '../endpoint/answers.ts';
import { defaultClock, defaultJournal, defaultTimer } from '../endpoint/deployment.ts';
import type { Journal } from '../journal/journal.ts';
import type { Timer } from '../timers/timer.ts';

export interface SweepOptions {
  /** Default: `DynamoJournal` on `DURABLE_TABLE`. */
  journal?: Journal;
  /** What delivers the resumes. Default: the deployment's timer (an async invoke for "now"). */
  timer?: Timer;
  /** How long past due a run must be before it counts as stuck. Default `'2m'` (Scheduler fires up to a minute late). */
  grace?: Duration;
  /** Re-arms without a completed step before the run is given up. Default 3. */
  maxRearms?: number;
  /** Runs looked at per sweep. Default 100. */
  limit?: number;
}

export interface SweepReport {
  /** Runs given a resume. */
  rearmed: string[];
  /** Runs whose endpoint was asked to fail them. */
  abandoned: string[];
  /** Runs the sweep failed itself (the endpoint never took them). */
  failed: string[];
}

/** One sweep. */
export async function sweepRuns(options: SweepOptions = {}): Promise<SweepReport> {
  const journal = options.journal ?? defaultJournal();
  const timer = options.timer ?? defaultTimer();
  const now = defaultClock().now();
  const grace = toMs(options.grace ?? '2m', 'grace');
  const maxRearms = options.maxRearms ?? 3;
  const report: SweepReport = { rearmed: [], abandoned: [], failed: [] };
  for (const due of await journal.dueRuns(now - grace, options.limit ?? 100)) {
    // The index is eventually consistent: decide on the run as it stands.
    const loaded = await journal.load(due.runId);
    if (!loaded) continue;
    const { run } = loaded;
    const progress = loaded.steps.filter((step) => step.status === 'completed').length;
    const sweeps = run.sweptProgress === progress ? (run.sweeps ?? 0) + 1 : 1;
    const fields = { endpoint: run.endpoint, runId: run.runId, attempt: run.attempt, sweeps };
    const updatedAt = new Date(now).toISOString();
    if (sweeps > maxRearms + 1) {
      if (await journal.replaceRun(run, stuck(run, progress, sweeps, updatedAt))) {
        report.failed.push(run.runId);
        log('error', 'sweep failed a stuck run its endpoint never took', fields);
      }
      continue;
    }
    // Counted before the resume goes out, and only if nobody moved the run meanwhile.
    if (!(await journal.replaceRun(run, { ...run, sweeps, sweptProgress: progress, updatedAt }))) continue;
    const giveUp = sweeps > maxRearms;
    await timer.schedule(resumeEvent(run, giveUp ? 'abandon' : 'sweep', new Date(now)), new Date(now));
    (giveUp ? report.abandoned : report.rearmed).push(run.runId);
    log(giveUp ? 'error' : 'warn', giveUp ? 'sweep gives up on a run that makes no progress' : 'sweep re-armed an overdue run', fields);
  }
  if (report.rearmed.length + report.abandoned.length + report.failed.length > 0) log('info', 'sweep', { rearmed: report.rearmed.length, abandoned: report.abandoned.length, failed: report.failed.length });
  return report;
}

function stuck(run: RunRecord, progress: number, sweeps: number, updatedAt: string): RunRecord {
  const error = serializeError(new RunStuckError(`Run ${run.runId} of ${run.endpoint} made no progress after ${sweeps - 1} resumes and was given up.`));
  const { leaseOwner: _owner, leaseExpiresAt: _expiry, wakeAt: _wake, ...rest } = run;
  return { ...rest, status: 'failed', error, response: failedRunResponse(run.runId, error), sweeps, sweptProgress: progress, updatedAt };
}

/** The sweeper Lambda's handler: one sweep per scheduled invocation. */
export function createSweeper(options: SweepOptions = {}): () => Promise<SweepReport> {
  return () => sweepRuns({ ...options, grace: options.grace ?? (process.env[ENV.sweepGrace] as Duration | undefined) });
}
