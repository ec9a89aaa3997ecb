import type { SerializedError } from '../server/errors.ts';

/** running: working or due to retry; sleeping / waiting: suspended on a sleep or an event. */
export type RunStatus = 'running' | 'sleeping' | 'waiting' | 'completed' | 'failed';

export const TERMINAL_STATUSES: readonly RunStatus[] = ['completed', 'failed'];

/** An HTTP response as API Gateway's Lambda proxy integration takes it. */
export interface HttpResponse {
  statusCode: number;
  headers?: Record<string, string>;
  multiValueHeaders?: Record<string, string[]>;
  cookies?: string[];
  body?: string;
  isBase64Encoded?: boolean;
}

/** What is kept of the request that started a run, so an attempt can rebuild the event exactly. */
export interface RequestSnapshot {
  /** API Gateway payload format: 2.0 (HTTP API) or 1.0 (REST API). */
  format: '2.0' | '1.0';
  method: string;
  path: string;
  /** The query string without `?`, as the client sent it. */
  rawQuery: string;
  /** Lower-case names; the endpoint's `redactHeaders` are left out. */
  headers: Record<string, string>;
  cookies?: string[];
  body: string | null;
  isBase64Encoded: boolean;
  routeKey: string;
  pathParameters?: Record<string, string>;
  stageVariables?: Record<string, string>;
  requestContext: Record<string, unknown>;
}

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
  /** Epoch seconds: DynamoDB's TTL deletes the run's items some time after this. */
  ttl: number;
}

/** retrying: due again at `retryAt`; sleeping: a sleep until `wakeAt`; waiting: for an event until `wakeAt`. */
export type StepStatus = 'completed' | 'retrying' | 'failed' | 'sleeping' | 'waiting';

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
  /** A hash of who is calling (the Authorization header and the authorizer's context): keys are per caller. */
  caller: string;
  key: string;
  claimedAt: string;
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
