/** What the journal keeps: runs, steps, event waiters, events, idempotency claims. Adapters store these; the engine reads and writes them. */
import type { SerializedError } from './errors.ts';
import type { HttpResponse, RequestSnapshot } from './http.ts';

/**
 * running: working or due to retry; sleeping / waiting: suspended on a sleep or an event; queued:
 * held back by flow control (a concurrency slot or a throttle's turn, see `limitedBy`).
 */
export type RunStatus = 'running' | 'sleeping' | 'waiting' | 'queued' | 'completed' | 'failed';

export const TERMINAL_STATUSES: readonly RunStatus[] = ['completed', 'failed'];

/** The statuses of a run that is not over: what a resume may take and the sweep looks at. */
export const LIVE_STATUSES: readonly RunStatus[] = ['running', 'sleeping', 'waiting', 'queued'];

export interface RunRecord {
  runId: string;
  endpoint: string;
  /** The Lambda function that runs the endpoint: where resumes and replays are delivered. */
  functionName?: string;
  status: RunStatus;
  /** The number of the latest attempt (invocation) of the run; also the fencing token of its lease. */
  attempt: number;
  createdAt: string;
  updatedAt: string;
  /** When a suspended run is due to resume. */
  wakeAt?: string;
  leaseOwner?: string;
  /** Epoch ms after which another invocation may take the run over. */
  leaseExpiresAt?: number;
  response?: HttpResponse;
  error?: SerializedError;
  /**
   * When a replay last reopened the failed run. A replay means the cause is fixed, so from then on
   * the run's attempts run without injected faults (`x-durable-inject-failure` on its request).
   */
  replayedAt?: string;
  /** Epoch seconds: DynamoDB's TTL deletes the run's items some time after this. */
  ttl: number;
  /** Resumes the sweep armed for the run since an attempt last made progress (see `sweepRuns`). */
  sweeps?: number;
  /** How many steps were completed when the sweep last looked. */
  sweptProgress?: number;
  /** While queued: the limit that holds the run back, for the dashboard and the CLI. */
  limitedBy?: LimitedBy;
  /**
   * The keys of the endpoint's concurrency limits for this run, in the order of the limits, as
   * computed from the request the client sent: every attempt holds slots of the same keys, even
   * when the key comes from a header the journal does not keep.
   */
  concurrencyKeys?: string[];
}

/**
 * When a live run is next due: its wake time while suspended, else the expiry of the lease of the
 * attempt running it. Past that (and a grace), the run is stuck: nothing is armed that would move it.
 */
export function runDueAt(run: Pick<RunRecord, 'status' | 'wakeAt' | 'leaseExpiresAt'>): number | undefined {
  if (TERMINAL_STATUSES.includes(run.status)) return undefined;
  if (run.wakeAt !== undefined) return Date.parse(run.wakeAt);
  return run.leaseExpiresAt;
}

/**
 * retrying: due again at `retryAt`; sleeping: a sleep until `wakeAt`; waiting: for an event until
 * `wakeAt`; queued: its function waits for a concurrency slot or a throttle's turn (`limitedBy`;
 * a throttle's turn is at `retryAt`).
 */
export type StepStatus = 'completed' | 'retrying' | 'failed' | 'sleeping' | 'waiting' | 'queued';

export interface StepRecord {
  /** The step id with its `:n` suffix when the id repeats. */
  id: string;
  /** Call order in the attempt that first journaled the step. */
  seq: number;
  status: StepStatus;
  /** The result as JSON text (Dates tagged); absent when the step returned nothing. */
  output?: string;
  error?: SerializedError;
  /** Attempts made so far, over all invocations. */
  attempts: number;
  /** Started while other steps of the run were in flight: its position may differ between attempts. */
  concurrent?: boolean;
  startedAt: string;
  endedAt?: string;
  retryAt?: string;
  /** When a sleep ends, or when waiting for an event times out. */
  wakeAt?: string;
  /** The event a waiting step waits for. */
  event?: string;
  /** What a queued step waits for. */
  limitedBy?: LimitedBy;
  /**
   * What the step's completed attempt streamed (`stream.push`), as JSON text of an array: journaled
   * with its result, in the same write. Absent when it streamed nothing.
   */
  chunks?: string;
  /** The step's place among the run's steps that streamed, in the order they were journaled (1, 2…): what event ids count. */
  commit?: number;
  /** The run attempt (invocation) whose step attempt (`attempts`) streamed `chunks`. */
  chunksAttempt?: number;
  /** What failed attempts of the step streamed before they were rolled back, as JSON text of `RolledBack[]` (bounded; for the dashboard). */
  rolledBack?: string;
}

/** A failed step attempt's chunks, as the step's item keeps them for the dashboard. */
export interface RolledBack {
  /** The run attempt and the step attempt that streamed them. */
  attempt: number;
  try: number;
  chunks: unknown[];
  /** Some of its chunks were left out to keep the item small. */
  truncated?: true;
}

/**
 * What an attempt streamed as it happened, for results streams following the run (`TAIL#` items):
 * written by attempts no caller is attached to (resumes), with their checkpoints.
 */
export type TailEvent =
  | { type: 'chunk'; step: string; seq: number; attempt: number; try: number; index: number; data: unknown }
  | { type: 'rollback'; step: string; seq: number; attempt: number; try: number };

/** What a results stream reads of a run at each poll (`RunStore.progress`). */
export interface RunProgress {
  run: RunRecord;
  steps: StepRecord[];
  /** Tail events written after `since`, in the order they were written. */
  tail: TailEvent[];
  /** Where the next poll starts reading the tail. */
  since: string | undefined;
}

/** A run's step waiting for an event: found by `POST /events` through the event name. */
export interface EventWaiter {
  name: string;
  /** Dotted paths into the event (`data.orderId`) and the values they must equal. */
  match: Record<string, unknown>;
  runId: string;
  stepId: string;
  seq: number;
  /** The attempt that registered it: what a resume after the event names. */
  attempt: number;
  endpoint: string;
  functionName?: string;
  timeoutAt: string;
  ttl: number;
}

/** Which run an `Idempotency-Key` of an endpoint belongs to. */
export interface IdempotencyClaim {
  endpoint: string;
  /** A keyed hash of who is calling (the authenticated principal, else the credentials carried): keys are per caller. */
  caller: string;
  key: string;
  claimedAt: string;
  /**
   * Epoch ms after which a claim that never became a run is taken over: its request's Lambda
   * deadline plus a grace (the request died before its first step).
   */
  expiresAt?: number;
  runId: string;
  /** A hash of the request (method, path, query, body): the same key with another request is refused. */
  fingerprint: string;
  ttl: number;
}

/** An event as `POST /events` received it. */
export interface ReceivedEvent {
  name: string;
  id: string;
  data: unknown;
  receivedAt: string;
}

export interface LoadedRun {
  run: RunRecord;
  request: RequestSnapshot;
  steps: StepRecord[];
}

/**
 * Flow control (docs/flow-control.md). A limit applies per key: `scope` is the endpoint's name
 * (with `[n]` for its n-th limit of a kind, n > 0), or `step` for step limits, whose keys every run
 * of every endpoint of the deployment shares.
 */
export type FlowKind = 'concurrency' | 'throttle' | 'rateLimit';

export interface FlowRef {
  scope: string;
  kind: FlowKind;
  key: string;
}

/** Why a run or a step is queued: the limit, and since when. */
export interface LimitedBy extends FlowRef {
  limit: number;
  /** The queued step, for a step limit. */
  stepId?: string;
  since: string;
}

/** A run (or one of its steps) queued for a concurrency slot: whom to wake when a slot frees. */
export interface QueueEntry {
  ref: FlowRef;
  /** Who will hold the slot: the run id, or `<runId>#<stepId>` for a step. */
  holder: string;
  runId: string;
  endpoint: string;
  functionName?: string;
  /** The attempt that queued: the one a wake-up resumes. */
  attempt: number;
  queuedAt: string;
  ttl: number;
}

/** One limited key as stored: for the dashboard and the CLI. */
export interface FlowState {
  ref: FlowRef;
  /** The limit as last applied. */
  limit?: number;
  /** Throttles and rate limits: their period in ms. */
  periodMs?: number;
  /** Concurrency: who holds a slot, until when (epoch ms; a slot handed to a queued run is held by it). */
  holders: { holder: string; expiresAt: number }[];
  /** Concurrency: how many are queued. */
  queued: number;
  /** Throttles and rate limits: the theoretical arrival time of the next start (GCRA), epoch ms. */
  nextAt?: number;
  /** Requests refused (429) on this key since the item was created. */
  rejected: number;
  lastRejectedAt?: string;
}
