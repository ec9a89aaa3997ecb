import type { EventWaiter, IdempotencyClaim, LoadedRun, ReceivedEvent, RunRecord, RunStatus, StepRecord } from '../core/records.ts';
import type { RequestSnapshot } from '../core/http.ts';

export type JournalWrite =
  | { type: 'run'; run: RunRecord }
  | { type: 'request'; runId: string; request: RequestSnapshot; ttl: number }
  | { type: 'step'; runId: string; step: StepRecord; ttl: number };

/** Writes under a fence apply only while `owner` holds the run's lease, all or none. */
export interface Fence {
  runId: string;
  owner: string;
}

export interface RunFilter {
  status?: RunStatus;
  endpoint?: string;
  /** At most this many, newest first. Default 100. */
  limit?: number;
}

/**
 * Where runs are kept. DynamoDB is the production adapter; every write path of the engine goes
 * through `write`, so an adapter decides how to batch and fence.
 */
export interface Journal {
  /** The run, its request and its steps (in call order): one read. */
  load(runId: string): Promise<LoadedRun | undefined>;
  /** The run item alone, strongly consistent: what the results route polls. */
  getRun(runId: string): Promise<RunRecord | undefined>;
  /** Stores the items. Without a fence, plain puts; with one, atomically and only while the lease is held (else `LeaseLostError`). */
  write(items: JournalWrite[], fence?: Fence): Promise<void>;
  /**
   * Takes the lease of a run whose latest attempt is `expectedAttempt` and that nobody holds, and
   * starts attempt `expectedAttempt + 1`. Undefined when the run moved on, ended or is held.
   */
  acquireLease(runId: string, expectedAttempt: number, owner: string, until: number): Promise<RunRecord | undefined>;
  /** Runs, newest first, without their responses: for the dashboard and the CLI. */
  listRuns(filter?: RunFilter): Promise<RunRecord[]>;
  /**
   * Makes a failed run due again: its failed steps get a fresh set of retries, the rest stay
   * memoized. Undefined unless the run is failed. The caller delivers the resume.
   */
  reopen(runId: string): Promise<RunRecord | undefined>;
  /**
   * Ties the key to `claim.runId` unless it is taken; then returns the claim that holds it. With
   * `replacing`, takes it over from that run only (a claim whose request died before its first step).
   */
  claimIdempotencyKey(claim: IdempotencyClaim, replacing?: string): Promise<{ claimed: true } | { claimed: false; holder: IdempotencyClaim }>;
  /** Frees a key whose request did not become a run (only if `claim.runId` still holds it). */
  releaseIdempotencyKey(claim: Pick<IdempotencyClaim, 'endpoint' | 'caller' | 'key' | 'runId'>): Promise<void>;
  /** Stores the waiter with its step (status `waiting`) in one write, fenced like `write`. */
  registerWaiter(waiter: EventWaiter, step: StepRecord, fence?: Fence): Promise<void>;
  waiters(eventName: string): Promise<EventWaiter[]>;
  /**
   * Keeps an event for the look-back window (until `ttl`). An id kept before is not kept again: the
   * result is then the event as first recorded, whatever data came this time.
   */
  recordEvent(event: ReceivedEvent, ttl: number): Promise<{ fresh: boolean; event: ReceivedEvent }>;
  /** Events of that name received at or after `since`, oldest first. */
  recentEvents(eventName: string, since: Date): Promise<ReceivedEvent[]>;
  /**
   * Completes a waiting step with `output` (and drops its waiter) only if it is still waiting: the
   * event route and the step's timeout both go through here, so exactly one of them wins.
   * Returns the step as it now stands, and whether this call completed it.
   */
  resolveWaiting(waiter: Pick<EventWaiter, 'name' | 'runId' | 'stepId' | 'seq'>, output: string): Promise<{ resolved: boolean; step: StepRecord | undefined }>;
}

export function writeKey(write: JournalWrite): string {
  switch (write.type) {
    case 'run':
      return `${write.run.runId}/RUN`;
    case 'request':
      return `${write.runId}/REQUEST`;
    case 'step':
      return `${write.runId}/STEP/${write.step.id}`;
  }
}
