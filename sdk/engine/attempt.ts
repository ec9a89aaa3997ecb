import type { EventWaiter, ReceivedEvent, RunRecord, RunStatus, StepRecord } from '../core/records.ts';
import type { Fence, Journal } from '../journal/journal.ts';
import type { RequestSnapshot } from '../core/http.ts';
import type { ResumeReason } from '../core/resume.ts';
import { Checkpointer } from './checkpointer.ts';
import { toMs, type Duration } from '../core/duration.ts';
import {
  deserializeError,
  NonDeterminismError,
  NonRetriableError,
  RetryAfterError,
  serializeError,
  SerializationError,
  DurableContextError,
} from '../core/errors.ts';
import { INJECT_FAILURE_HEADER } from '../core/contract.ts';
import { log, logs } from '../core/log.ts';
import { backoffDelay, INLINE_SAFETY_MS, resolveBackoff, type ResolvedBackoff, type StepOptions } from '../endpoint/options.ts';
import { deserialize, serialize } from '../core/serialization.ts';
import {
  EXECUTION_EVENT,
  executionName,
  type ExecutionEventData,
  type ExecutionStatus,
  type StartedExecution,
  type StepFunctions,
} from '../workflows/step-functions.ts';

/** A request larger than this (as journaled) cannot become a run. */
export const MAX_REQUEST_BYTES = 350_000;

/** Thrown at the first step of a run whose request is too large to journal: answered 413, nothing stored. */
export class RequestTooLargeError extends NonRetriableError {
  readonly bytes: number;
  constructor(where: string, bytes: number) {
    super(`${where}: the request (${bytes} bytes as journaled) is larger than a run can keep (${MAX_REQUEST_BYTES}); send large payloads by reference (for example an S3 key).`);
    this.name = 'RequestTooLargeError';
    this.bytes = bytes;
  }
}

/** Step results above this go nowhere: DynamoDB items stop at 400 KB, and the item needs room for its other fields. */
export const MAX_STEP_OUTPUT_BYTES = 350_000;

export interface RunInit {
  runId: string;
  endpoint: string;
  /** The Lambda function that runs the endpoint: where resumes and replays are delivered. */
  functionName?: string;
  attempt: number;
  createdAt: string;
  ttl: number;
  request: RequestSnapshot;
  journal: Journal;
  owner: string;
  leaseExpiresAt: number;
  /** Present on resumes: every write is conditional on still holding the lease. */
  fence?: Fence;
  /** What earlier attempts journaled. */
  steps: StepRecord[];
  retries: number;
  backoff: ResolvedBackoff;
  inlineDelayMax: number;
  inlineBudget: number;
  remainingMs: () => number;
  /** Epoch ms of the hand-off: inline waits must end before it. */
  handoffAt: number;
  /** What the resume was armed for (epoch ms): retries due by then run now. */
  dueAt: number;
  dev: boolean;
  /** What `step.startExecution` starts executions with; called on first use. */
  stepFunctions: () => StepFunctions;
}

export interface Claim {
  stepId: string;
  seq: number;
  concurrent: boolean;
  record: StepRecord | undefined;
}

/** What `step.waitForEvent` resolves to. */
export interface DurableEvent<T = unknown> {
  name: string;
  id: string;
  data: T;
  receivedAt: string;
}

export interface WaitForEventOptions {
  /** The event name, e.g. `'order/approved'`. */
  event: string;
  /** Dotted paths into the event and the values they must equal, e.g. `{ 'data.orderId': orderId }`. */
  match?: Record<string, unknown>;
  /** How long to wait before resolving to null. */
  timeout: Duration;
}

export interface StartExecutionOptions {
  /** A Standard workflow's state machine (Express workflows send no EventBridge events to wait for). */
  stateMachineArn: string;
  /** The execution's input, serialized as JSON. Default `{}`. */
  input?: unknown;
}

export interface WaitForExecutionOptions {
  /** How long to wait before resolving to null. */
  timeout: Duration;
}

/** What `step.waitForExecution` resolves to when the execution has ended. */
export interface ExecutionResult<T = unknown> {
  status: ExecutionStatus;
  /** The execution's output, parsed; null unless it succeeded, or when it was too large for EventBridge (`outputIncluded`). */
  output: T | null;
  outputIncluded: boolean;
  /** The error name and cause of a failed, timed-out or aborted execution. */
  error: string | null;
  cause: string | null;
}

/** Events received this long before a waiter registers still resolve it. */
export const EVENT_LOOKBACK_MS = 5 * 60_000;

/**
 * Unwinds the handler when a run must continue later. It is thrown from `step.run`; if a handler
 * catches it, the run still suspends (the decision lives in the run, not in the exception).
 */
export class SuspendSignal extends Error {
  constructor(runId: string, stepId: string) {
    super(`Run ${runId} is suspending at step '${stepId}' to continue later; rethrow this if you catch errors around steps.`);
    this.name = 'SuspendSignal';
  }
}

interface InjectedFailure {
  times: number;
  retryAfterMs?: number;
}

/** One attempt of a run: memoizes journaled steps, executes new ones, retries, and decides to suspend. */
export class Run {
  readonly runId: string;
  readonly endpoint: string;
  readonly attempt: number;
  readonly request: RequestSnapshot;
  readonly createdAt: string;
  closed = false;
  /** Set when the run must continue later: the earliest wake-up any step asked for. */
  suspension: { wakeAt: number; reason: ResumeReason } | undefined;
  /** An error that fails the run whatever the handler does with it (non-determinism). */
  fatal: Error | undefined;

  private readonly init: RunInit;
  private readonly checkpointer: Checkpointer;
  private readonly journaled = new Map<string, StepRecord>();
  private readonly journaledBySeq = new Map<number, StepRecord>();
  private readonly called = new Set<string>();
  private readonly idCounts = new Map<string, number>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly injected: Map<string, InjectedFailure>;
  private calls = 0;
  private inlineWaitedMs = 0;
  private runItemWritten: boolean;
  /** Set at the hand-off: steps still running are abandoned and whatever they write later is dropped. */
  private handedOff = false;
  private abandon!: (error: Error) => void;
  private readonly abandoned: Promise<never>;
  /** Waiters this attempt suspended on: checked once more after the suspension is stored. */
  readonly waitingOn: EventWaiter[] = [];
  /** Steps whose function is running or waiting to retry inline, as the hand-off must journal them. */
  private readonly executing = new Map<string, { record: Omit<StepRecord, 'status' | 'attempts'>; attempts: number; retries: number }>();
  private requestBytes: number | undefined;
  /** Events this attempt's waits resolved to, as `name/id`. */
  private readonly eventsTakenNow = new Set<string>();

  constructor(init: RunInit) {
    this.init = init;
    this.runId = init.runId;
    this.endpoint = init.endpoint;
    this.attempt = init.attempt;
    this.request = init.request;
    this.createdAt = init.createdAt;
    this.checkpointer = new Checkpointer(init.journal, init.fence);
    for (const step of init.steps) {
      this.journaled.set(step.id, step);
      this.journaledBySeq.set(step.seq, step);
    }
    this.runItemWritten = init.fence !== undefined;
    this.injected = parseInjectedFailures(init.request.headers[INJECT_FAILURE_HEADER], init.dev, this.describe());
    this.abandoned = new Promise<never>((_, reject) => (this.abandon = reject));
    this.abandoned.catch(() => undefined);
  }

  get handoffAt(): number {
    return this.init.handoffAt;
  }

  get leaseExpiresAt(): number {
    return this.init.leaseExpiresAt;
  }

  get functionName(): string | undefined {
    return this.init.functionName;
  }

  /** True once anything of this run is in the journal: a request that calls no step is not a run. */
  get journalStarted(): boolean {
    return this.runItemWritten;
  }

  step<T>(id: string, fn: () => T | Promise<T>, options?: StepOptions): Promise<Awaited<T>> {
    if (typeof fn !== 'function' && !this.closed) throw new TypeError(`${this.describe()}: step.run('${id}', fn) needs a function.`);
    return this.enter(id, (claim) => this.memoized(claim, fn, options));
  }

  /** The journaled result of a completed or failed step, else a new attempt of `fn`. */
  private memoized<T>(claim: Claim, fn: () => T | Promise<T>, options: StepOptions | undefined): Promise<Awaited<T>> {
    const { record } = claim;
    if (record?.status === 'completed') return Promise.resolve(deserialize(record.output) as Awaited<T>);
    if (record?.status === 'failed') return Promise.reject(deserializeError(record.error ?? { name: 'Error', message: 'failed' }));
    return this.execute(claim, fn, options);
  }

  /** Waits until `wakeAt` (epoch ms): inline when short, else the run suspends and a timer resumes it. */
  sleep(id: string, wakeAt: number): Promise<void> {
    return this.enter(id, async ({ stepId, seq, concurrent, record }) => {
      if (record?.status === 'completed') return;
      // The first attempt fixed the wake time; later attempts keep it.
      const due = record?.wakeAt ? Date.parse(record.wakeAt) : wakeAt;
      const base = { id: stepId, seq: record?.seq ?? seq, startedAt: record?.startedAt ?? new Date().toISOString(), wakeAt: new Date(due).toISOString(), ...(concurrent || record?.concurrent ? { concurrent: true } : {}) };
      const remaining = due - Date.now();
      if (remaining > 0) {
        if (this.suspension || !this.canWaitInline(remaining)) {
          this.journalStep({ ...base, status: 'sleeping', attempts: 0 });
          this.suspend(due, 'sleep');
          throw new SuspendSignal(this.runId, stepId);
        }
        this.inlineWaitedMs += remaining;
        await new Promise((resolve) => setTimeout(resolve, remaining));
        if (this.handedOff) throw new SuspendSignal(this.runId, stepId);
      }
      this.journalStep({ ...base, status: 'completed', attempts: 1, endedAt: new Date().toISOString() });
      log('debug', 'step completed', { endpoint: this.endpoint, runId: this.runId, stepId, attempts: 1, durationMs: Math.max(0, remaining) });
    });
  }

  /** Resolves to the first matching event delivered to `POST /events`, or null after the timeout. */
  waitForEvent<T = unknown>(id: string, options: WaitForEventOptions): Promise<DurableEvent<T> | null> {
    if (typeof options?.event !== 'string' || options.event.length === 0) {
      throw new TypeError(`${this.describe()}: step.waitForEvent('${id}', { event, match, timeout }) needs an event name.`);
    }
    const timeoutMs = toMs(options.timeout, 'waitForEvent timeout');
    const match = options.match ?? {};
    return this.enter(id, async ({ stepId, seq, concurrent, record }) => {
      if (record?.status === 'completed') return this.took(deserialize(record.output) as DurableEvent<T> | null);
      const timeoutAt = record?.wakeAt ? Date.parse(record.wakeAt) : Date.now() + timeoutMs;
      const waiter: EventWaiter = {
        name: options.event,
        match,
        runId: this.runId,
        stepId,
        seq: record?.seq ?? seq,
        attempt: this.attempt,
        endpoint: this.endpoint,
        functionName: this.init.functionName,
        timeoutAt: new Date(timeoutAt).toISOString(),
        ttl: this.init.ttl,
      };
      const journal = this.init.journal;
      if (record?.status === 'waiting') {
        if (Date.now() >= timeoutAt) {
          // Timed out, unless an event got there first: the conditional write decides.
          const { step } = await journal.resolveWaiting(waiter, 'null');
          return this.took(deserialize(step?.output) as DurableEvent<T> | null);
        }
      } else {
        this.ensureRunItem();
        await journal.registerWaiter(waiter, {
          id: stepId,
          seq: waiter.seq,
          status: 'waiting',
          attempts: 1,
          startedAt: new Date().toISOString(),
          wakeAt: waiter.timeoutAt,
          event: options.event,
          ...(concurrent ? { concurrent: true } : {}),
        }, this.init.fence);
        // An event that came shortly before the waiter existed still counts (EVENT_LOOKBACK_MS),
        // unless an earlier wait of this run already took it.
        const taken = this.eventsTaken();
        for (const event of await journal.recentEvents(options.event, new Date(Date.now() - EVENT_LOOKBACK_MS))) {
          if (!eventMatches(event, match) || taken.has(`${event.name}/${event.id}`)) continue;
          const { step } = await journal.resolveWaiting(waiter, JSON.stringify(event));
          if (step?.status === 'completed') return this.took(deserialize(step.output) as DurableEvent<T> | null);
        }
      }
      this.waitingOn.push(waiter);
      this.suspend(timeoutAt, 'timeout');
      throw new SuspendSignal(this.runId, stepId);
    });
  }

  private took<T>(event: DurableEvent<T> | null): DurableEvent<T> | null {
    if (event) this.eventsTakenNow.add(`${event.name}/${event.id}`);
    return event;
  }

  /** Events that completed this run's earlier waits (as `name/id`). */
  private eventsTaken(): Set<string> {
    const taken = new Set<string>();
    for (const record of this.journaled.values()) {
      if (record.event === undefined || record.status !== 'completed' || record.output === undefined) continue;
      const event = deserialize(record.output) as DurableEvent | null;
      if (event) taken.add(`${event.name}/${event.id}`);
    }
    for (const id of this.eventsTakenNow) taken.add(id);
    return taken;
  }

  /**
   * Starts a Step Functions execution once per step: its name comes from the run and the step, so a
   * retried or re-run step finds the execution an earlier attempt started instead of starting another.
   */
  startExecution(id: string, options: StartExecutionOptions): Promise<StartedExecution> {
    if (typeof options?.stateMachineArn !== 'string' || options.stateMachineArn.length === 0) {
      throw new TypeError(`${this.describe()}: step.startExecution('${id}', { stateMachineArn, input }) needs a state machine ARN.`);
    }
    const { stateMachineArn } = options;
    const input = JSON.stringify(options.input ?? {});
    // Named after the step id as claimed (with its :1, :2 suffix), so repeated ids start distinct executions.
    return this.enter(id, (claim) =>
      this.memoized(claim, () => this.init.stepFunctions().startExecution({ stateMachineArn, name: executionName(this.runId, claim.stepId), input }), undefined),
    );
  }

  /**
   * Waits for the execution to end: `waitForEvent` on the event the events route makes of its
   * EventBridge status change, matched by execution ARN.
   */
  async waitForExecution<T = unknown>(id: string, executionArn: string, options: WaitForExecutionOptions): Promise<ExecutionResult<T> | null> {
    if (typeof executionArn !== 'string' || !executionArn.includes(':execution:')) {
      throw new TypeError(`${this.describe()}: step.waitForExecution('${id}', executionArn, { timeout }) needs an execution ARN, got ${JSON.stringify(executionArn)}.`);
    }
    const event = await this.waitForEvent<ExecutionEventData>(id, { event: EXECUTION_EVENT, match: { 'data.executionArn': executionArn }, timeout: options?.timeout });
    if (!event) return null;
    const { status, output, outputIncluded = true, error = null, cause = null } = event.data;
    return { status, output: (output ?? null) as T | null, outputIncluded, error, cause };
  }

  /**
   * The deadline came while the handler is still working: its pending steps are abandoned (the
   * handler unwinds), the run suspends and continues at once in another invocation. A step in
   * flight now runs again there (once); what it writes here from now on is dropped.
   */
  handOff(): boolean {
    if (this.closed || this.handedOff || (!this.runItemWritten && this.inFlight.size === 0)) return false;
    this.suspend(Date.now(), 'handoff');
    // A step still running counts the hand-off as a failed attempt: one that can never finish
    // within an invocation then fails after its retries instead of starting over forever.
    for (const [stepId, { record, attempts, retries }] of this.executing) {
      const error = {
        name: 'HandoffTimeout',
        message: `${this.describe(stepId)} was still running when the invocation handed off (handoffAfter, or the Lambda's timeout). Make the step shorter, split it, or raise the timeout.`,
      };
      const failed = attempts > retries;
      this.journalStep({ ...record, status: failed ? 'failed' : 'retrying', attempts, error, ...(failed ? { endedAt: new Date().toISOString() } : { retryAt: new Date().toISOString() }) });
    }
    this.handedOff = true;
    this.inFlight.clear();
    this.abandon(new SuspendSignal(this.runId, 'hand-off'));
    return true;
  }

  private enter<T>(id: string, body: (claim: Claim) => Promise<T>): Promise<T> {
    if (this.closed) throw outsideError(id);
    if (typeof id !== 'string' || id.length === 0 || id.length > 256) {
      throw new TypeError(`${this.describe()}: step ids must be non-empty strings of at most 256 characters, got ${JSON.stringify(id)}.`);
    }
    if (this.suspension) return Promise.reject(new SuspendSignal(this.runId, id));
    if (!this.runItemWritten) {
      // The request is journaled with the first step; one DynamoDB item cannot hold a larger one,
      // so refuse before any step has a side effect that could not be journaled.
      this.requestBytes ??= Buffer.byteLength(JSON.stringify(this.request));
      if (this.requestBytes > MAX_REQUEST_BYTES) return Promise.reject(new RequestTooLargeError(this.describe(), this.requestBytes));
    }
    const count = this.idCounts.get(id) ?? 0;
    this.idCounts.set(id, count + 1);
    const stepId = count === 0 ? id : `${id}:${count}`;
    const seq = this.calls++;
    const concurrent = this.inFlight.size > 0;
    const record = this.journaled.get(stepId);
    try {
      this.checkOrder(stepId, seq, record);
    } catch (error) {
      this.fatal = error as Error;
      return Promise.reject(error);
    }
    this.called.add(stepId);
    const result = body({ stepId, seq, concurrent, record });
    // Registered before the caller's own `await`, so the step leaves the in-flight set before the
    // handler continues: a step called next is then not taken for a concurrent one.
    const settled: Promise<void> = result.then(
      () => void this.inFlight.delete(settled),
      () => void this.inFlight.delete(settled),
    );
    this.inFlight.add(settled);
    return Promise.race([result, this.abandoned]);
  }

  /** Waits for steps still running (parallel siblings of a failed step finish and are journaled). */
  async settle(): Promise<void> {
    while (this.inFlight.size > 0 && !this.handedOff) await Promise.all(this.inFlight);
  }

  /** Journals the run item (status, response...). Written with the pending steps in the next batch. */
  journalRun(status: RunStatus, fields: Partial<RunRecord> = {}): void {
    const live = status === 'running' && fields.wakeAt === undefined;
    this.ensureRunItem();
    this.checkpointer.add({
      type: 'run',
      run: {
        runId: this.runId,
        endpoint: this.endpoint,
        functionName: this.init.functionName,
        status,
        attempt: this.attempt,
        createdAt: this.createdAt,
        updatedAt: new Date().toISOString(),
        ttl: this.init.ttl,
        ...(live ? { leaseOwner: this.init.owner, leaseExpiresAt: this.init.leaseExpiresAt } : {}),
        ...fields,
      },
    });
  }

  flush(): Promise<void> {
    return this.checkpointer.flush();
  }

  describe(stepId?: string): string {
    return `Run ${this.runId} of ${this.endpoint}${stepId === undefined ? '' : `, step '${stepId}'`}`;
  }

  private async execute<T>({ stepId, seq, concurrent, record: prior }: Claim, fn: () => T | Promise<T>, options: StepOptions | undefined): Promise<Awaited<T>> {
    const retries = options?.retries ?? this.init.retries;
    const backoff = options?.backoff ? resolveBackoff(this.init.backoff, options.backoff) : this.init.backoff;
    const base = { id: stepId, seq: prior?.seq ?? seq, startedAt: prior?.startedAt ?? new Date().toISOString(), ...(concurrent || prior?.concurrent ? { concurrent: true } : {}) };
    const attempts = prior?.attempts ?? 0;
    // Woken before this step's own retry time (another step's timer, a hand-off, an event): its
    // delay still holds, a rate limit in particular.
    const retryAt = prior?.status === 'retrying' && prior.retryAt ? Date.parse(prior.retryAt) : 0;
    if (retryAt > Math.max(Date.now(), this.init.dueAt)) {
      const wait = retryAt - Date.now();
      if (this.suspension || !this.canWaitInline(wait)) {
        this.suspend(retryAt, 'retry');
        throw new SuspendSignal(this.runId, stepId);
      }
      this.inlineWaitedMs += wait;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    try {
      return await this.runAttempts(stepId, base, attempts, retries, backoff, fn);
    } finally {
      this.executing.delete(stepId);
    }
  }

  private async runAttempts<T>(
    stepId: string,
    base: Omit<StepRecord, 'status' | 'attempts'>,
    attemptsSoFar: number,
    retries: number,
    backoff: ResolvedBackoff,
    fn: () => T | Promise<T>,
  ): Promise<Awaited<T>> {
    let attempts = attemptsSoFar;
    for (;;) {
      if (this.handedOff) throw new SuspendSignal(this.runId, stepId);
      attempts++;
      this.executing.set(stepId, { record: base, attempts, retries });
      let value: Awaited<T>;
      const began = performance.now();
      const fields = () => ({ endpoint: this.endpoint, runId: this.runId, stepId, attempts, durationMs: Math.round(performance.now() - began) });
      try {
        this.throwInjected(stepId, attempts);
        value = await fn();
      } catch (error) {
        if (error instanceof SuspendSignal) throw error;
        if (error instanceof NonRetriableError || attempts > retries) {
          this.journalStep({ ...base, status: 'failed', attempts, error: serializeError(error), endedAt: new Date().toISOString() });
          log('warn', 'step failed', { ...fields(), error: `${(error as Error)?.name}: ${(error as Error)?.message}` });
          throw error;
        }
        const delay = error instanceof RetryAfterError ? error.delayMs : backoffDelay(backoff, attempts);
        if (!this.suspension && this.canWaitInline(delay)) {
          this.inlineWaitedMs += delay;
          log('info', 'step retrying inline', { ...fields(), delayMs: delay, error: (error as Error)?.message });
          await new Promise((resolve) => setTimeout(resolve, delay));
          continue;
        }
        const wakeAt = Date.now() + delay;
        this.journalStep({ ...base, status: 'retrying', attempts, error: serializeError(error), retryAt: new Date(wakeAt).toISOString() });
        this.suspend(wakeAt, 'retry');
        log('info', 'step retrying later', { ...fields(), delayMs: delay, error: (error as Error)?.message });
        throw new SuspendSignal(this.runId, stepId);
      }
      let output: string | undefined;
      let exact: boolean;
      try {
        ({ text: output, exact } = serialize(value, () => this.describe(stepId)));
        if (output !== undefined && Buffer.byteLength(output) > MAX_STEP_OUTPUT_BYTES) {
          throw new SerializationError(
            `${this.describe(stepId)} returned ${Buffer.byteLength(output)} bytes of JSON; the journal keeps at most ${MAX_STEP_OUTPUT_BYTES}. ` +
              'Store large data elsewhere (for example S3) and return a reference.',
          );
        }
      } catch (error) {
        this.journalStep({ ...base, status: 'failed', attempts, error: serializeError(error), endedAt: new Date().toISOString() });
        throw error;
      }
      this.journalStep({ ...base, status: 'completed', attempts, output, endedAt: new Date().toISOString() });
      if (logs('debug')) log('debug', 'step completed', fields());
      // A replay returns the journaled form; when JSON would change the value, return that form now
      // too, so the first attempt and every replay see the same thing.
      return (exact ? value : deserialize(output)) as Awaited<T>;
    }
  }

  private canWaitInline(delay: number): boolean {
    return (
      delay <= this.init.inlineDelayMax &&
      this.inlineWaitedMs + delay <= this.init.inlineBudget &&
      this.init.remainingMs() - delay > INLINE_SAFETY_MS &&
      Date.now() + delay + INLINE_SAFETY_MS < this.init.handoffAt
    );
  }

  private suspend(wakeAt: number, reason: ResumeReason): void {
    if (!this.suspension || wakeAt < this.suspension.wakeAt) this.suspension = { wakeAt, reason };
  }

  private journalStep(step: StepRecord): void {
    if (this.handedOff) {
      log('info', 'step finished after the hand-off; its result is dropped and the next attempt runs it again', { endpoint: this.endpoint, runId: this.runId, stepId: step.id });
      return;
    }
    this.ensureRunItem();
    this.checkpointer.add({ type: 'step', runId: this.runId, step, ttl: this.init.ttl });
  }

  /** A fresh run reaches the journal with its first step: run item, request and step in one batch. */
  ensureRunItem(): void {
    if (this.runItemWritten) return;
    this.runItemWritten = true;
    this.checkpointer.add({ type: 'request', runId: this.runId, request: this.request, ttl: this.init.ttl });
    this.journalRun('running');
  }

  /**
   * Steps that ran one after another must be called in the same order on every attempt; steps that
   * were started while others were in flight may come back in another order (their timing differs).
   */
  private checkOrder(stepId: string, seq: number, record: StepRecord | undefined): void {
    const fail = (detail: string): never => {
      throw new NonDeterminismError(
        `${this.describe(stepId)}: ${detail}. Steps must be called in the same order on every attempt of a run; ` +
          'a deploy that reorders, renames or inserts steps must not change runs already in flight.',
      );
    };
    if (record) {
      if (record.seq !== seq && !record.concurrent) fail(`it was step #${record.seq + 1} when first run and is now step #${seq + 1}`);
      return;
    }
    const there = this.journaledBySeq.get(seq);
    if (there && !there.concurrent && !this.called.has(there.id)) fail(`step #${seq + 1} was '${there.id}' when first run`);
  }

  private throwInjected(stepId: string, attempts: number): void {
    const injected = this.injected.get(stepId);
    if (!injected || attempts > injected.times) return;
    const message = `Injected failure ${attempts} of ${injected.times} (${INJECT_FAILURE_HEADER})`;
    throw injected.retryAfterMs === undefined ? new Error(message) : new RetryAfterError(message, injected.retryAfterMs);
  }
}

/** Whether every dotted path of `match` in the event equals its value (JSON equality). */
export function eventMatches(event: Pick<ReceivedEvent, 'name' | 'id' | 'data'>, match: Record<string, unknown>): boolean {
  return Object.entries(match).every(([path, expected]) => {
    let value: unknown = event;
    for (const part of path.split('.')) value = value === null || typeof value !== 'object' ? undefined : (value as Record<string, unknown>)[part];
    return JSON.stringify(value) === JSON.stringify(expected);
  });
}

export function outsideError(stepId: string): DurableContextError {
  return new DurableContextError(
    `step '${stepId}' was called outside a durable handler. Wrap the handler with durable() (Middy) or durableHandler(), ` +
      'and call step functions only while that handler runs (not after it returned).',
  );
}

/** `<stepId>:<times>[:<retryAfter>]`, comma-separated; step ids may contain ':' themselves. */
export function parseInjectedFailures(value: string | undefined, dev: boolean, where: string): Map<string, InjectedFailure> {
  const injected = new Map<string, InjectedFailure>();
  if (!value) return injected;
  if (!dev) {
    log('warn', `${INJECT_FAILURE_HEADER} ignored: fault injection works only under the dev server`, { where });
    return injected;
  }
  for (const spec of value.split(',')) {
    const parts = spec.trim().split(':');
    let retryAfterMs: number | undefined;
    if (parts.length >= 3 && /^\d+(\.\d+)?(ms|s|m|h|d)$/.test(parts[parts.length - 1]!)) retryAfterMs = toMs(parts.pop()!);
    const times = Number(parts.pop());
    const stepId = parts.join(':');
    if (!stepId || !Number.isInteger(times) || times < 0) {
      log('warn', `${INJECT_FAILURE_HEADER} ignored: expected <stepId>:<times>[:<retryAfter>]`, { where, spec });
      continue;
    }
    injected.set(stepId, { times, retryAfterMs });
  }
  return injected;
}
