import type { Clock } from '../core/clock.ts';
import { deserializeError, DurableContextError, LeaseLostError, RequestTooLargeError } from '../core/errors.ts';
import type { RequestSnapshot } from '../core/http.ts';
import { log } from '../core/log.ts';
import type { EventWaiter, LimitedBy, RunRecord, RunStatus, StepRecord } from '../core/records.ts';
import type { ResumeReason } from '../core/resume.ts';
import { deserialize } from '../core/serialization.ts';
import type { Fence, Journal } from '../journal/journal.ts';
import type { StepFunctions } from '../workflows/step-functions.ts';
import { AttemptStream } from './attempt-stream.ts';
import { Checkpointer } from './checkpointer.ts';
import { executeStep } from './execute.ts';
import { releaseSlot, type FlowRuntime, type HeldSlot, type SlotWait } from './flow.ts';
import { SuspendSignal, type HandlerResult, type Outcome } from './outcome.ts';
import { StepOrder, type Claim } from './order.ts';
import type { RetryPolicy, StepOptions } from './retries.ts';
import type { BlobStore } from '../payloads/blob-store.ts';
import { ITEM_PAYLOAD_BYTES, MAX_OFFLOADED_OUTPUT_BYTES, MAX_OFFLOADED_REQUEST_BYTES } from '../payloads/offload.ts';

/** Time kept in reserve after an inline wait to finish the attempt and answer. */
export const INLINE_SAFETY_MS = 2_000;

/**
 * Makes a step attempt fail on purpose (the dev server's `x-durable-inject-failure`, the test
 * harness): the error to throw instead of calling the step's function, or undefined to call it.
 * With `afterChunks`, the function is called and the error is thrown by its `stream.push` after
 * that many chunks (or when it returns, if it streams fewer): a failure mid-stream.
 */
export type FaultInjector = (stepId: string, attempt: number) => Error | { error: Error; afterChunks: number } | undefined;

export interface AttemptInit {
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
  policy: RetryPolicy;
  remainingMs: () => number;
  /** Epoch ms of the hand-off: inline waits must end before it. */
  handoffAt: number;
  /** What the resume was armed for (epoch ms): retries due by then run now. */
  dueAt: number;
  clock: Clock;
  faults?: FaultInjector;
  /** The run's `replayedAt`, kept on every run item this attempt writes. */
  replayedAt?: string;
  /** What `step.startExecution` starts executions with; called on first use. */
  stepFunctions: () => StepFunctions;
  /** Flow control: how a run handed a slot is woken. */
  flow: FlowRuntime;
  /** The keys of the endpoint's concurrency limits for this run (kept on the run item). */
  concurrencyKeys?: string[];
  /** Where payloads too large for a journal item go; without one, they are refused. */
  blobs?: BlobStore;
}

/**
 * One attempt of a run: memoizes journaled steps, executes new ones, retries, waits inline or
 * decides to suspend, and ends with `close()`, which says once what happened. The waits (sleep,
 * events, executions) live in their own modules and use the primitives marked "for the waits".
 */
export class Attempt {
  readonly runId: string;
  readonly endpoint: string;
  readonly attempt: number;
  readonly request: RequestSnapshot;
  readonly createdAt: string;
  readonly clock: Clock;
  /** Refuses step calls once true: set when the handler has ended (or by the hand-off's successor). */
  closed = false;
  /** Event waits this attempt suspended on: checked once more after the suspension is stored. */
  readonly waitingOn: EventWaiter[] = [];
  /** Concurrency queues this attempt waits in: entered once the suspension is stored. */
  readonly queuedOn: SlotWait[] = [];
  /** Epoch seconds until which the run's items are kept: raised when a wait outlasts it (`keepUntil`). */
  ttl: number;
  /** For the waits: events this attempt's waits resolved to, as `name/id`. */
  readonly eventsTaken = new Set<string>();

  readonly init: AttemptInit;
  private readonly checkpointer: Checkpointer;
  private readonly order: StepOrder;
  private readonly inFlight = new Set<Promise<unknown>>();
  private inlineWaitedMs = 0;
  private runItemWritten: boolean;
  /** The earliest wake-up any step asked for, once the run must continue later. */
  private suspension: { wakeAt: number; reason: ResumeReason; limitedBy?: LimitedBy } | undefined;
  /** An error that fails the run whatever the handler does with it (non-determinism). */
  private fatal: Error | undefined;
  private closing: Promise<Outcome> | undefined;
  /** Set at the hand-off: steps still running are abandoned and whatever they write later is dropped. */
  private handedOff = false;

  private abandon!: (error: Error) => void;
  private readonly abandoned: Promise<never>;
  /** Steps whose function is running or waiting to retry inline, as the hand-off must journal them. */
  readonly executing = new Map<string, { record: Omit<StepRecord, 'status' | 'attempts'>; attempts: number; retries: number; prior?: StepRecord }>();
  /** What the attempt's steps stream (`stream.push`), and who listens. */
  readonly stream: AttemptStream;
  private requestBytes: number | undefined;
  /** Slots being given back in the background: stored before the attempt's last flush resolves. */
  private readonly releasing = new Set<Promise<void>>();

  private readonly maxRequestBytes: number;
  /** The largest step result or response this attempt can journal (larger with a blob store). */
  readonly maxOutputBytes: number;

  constructor(init: AttemptInit) {
    this.init = init;
    this.runId = init.runId;
    this.endpoint = init.endpoint;
    this.attempt = init.attempt;
    this.request = init.request;
    this.createdAt = init.createdAt;
    this.clock = init.clock;
    this.ttl = init.ttl;
    this.stream = new AttemptStream(
      { runId: init.runId, attempt: init.attempt, ttl: () => this.ttl, describe: (stepId) => this.describe(stepId) },
      init.steps,
      () => this.checkpointer.poke(),
    );
    // A resume has no caller attached: what it streams goes to the journal's tail for results streams.
    if (init.fence) this.stream.broadcast();
    this.checkpointer = new Checkpointer(init.journal, init.fence, init.blobs, { stored: (writes) => this.stream.stored(writes), extra: this.stream });
    this.maxRequestBytes = init.blobs ? MAX_OFFLOADED_REQUEST_BYTES : ITEM_PAYLOAD_BYTES;
    this.maxOutputBytes = init.blobs ? MAX_OFFLOADED_OUTPUT_BYTES : ITEM_PAYLOAD_BYTES;
    this.order = new StepOrder(init.steps);
    this.runItemWritten = init.fence !== undefined;
    this.abandoned = new Promise<never>((_, reject) => (this.abandon = reject));
    this.abandoned.catch(() => undefined);
  }

  get functionName(): string | undefined {
    return this.init.functionName;
  }

  /** True once the hand-off abandoned this attempt's steps: what they do from then on is dropped. */
  get isHandedOff(): boolean {
    return this.handedOff;
  }

  get leaseExpiresAt(): number {
    return this.init.leaseExpiresAt;
  }

  /** `step.run`: the journaled result of a completed or failed step, else a new attempt of `fn`. */
  run<T>(id: string, fn: () => T | Promise<T>, options?: StepOptions): Promise<Awaited<T>> {
    if (typeof fn !== 'function' && !this.closed) throw new TypeError(`${this.describe()}: step.run('${id}', fn) needs a function.`);
    return this.enter(id, (claim) => this.memoized(claim, fn, options));
  }

  /** For the waits: a journaled result, else `fn` executed as a step (retried, journaled). */
  memoized<T>(claim: Claim, fn: () => T | Promise<T>, options: StepOptions | undefined): Promise<Awaited<T>> {
    const { record } = claim;
    if (record?.status === 'completed') return Promise.resolve(deserialize(record.output) as Awaited<T>);
    if (record?.status === 'failed') return Promise.reject(deserializeError(record.error ?? { name: 'Error', message: 'failed' }));
    return executeStep(this, claim, fn, options);
  }

  /**
   * For the waits: admits a step call (id suffix, position, order check, in-flight bookkeeping)
   * and runs `body` with what is journaled of it. Rejects once the run is suspending.
   */
  enter<T>(id: string, body: (claim: Claim) => Promise<T>): Promise<T> {
    if (this.closed) throw outsideError(id);
    if (typeof id !== 'string' || id.length === 0 || id.length > 256) {
      throw new TypeError(`${this.describe()}: step ids must be non-empty strings of at most 256 characters, got ${JSON.stringify(id)}.`);
    }
    if (this.suspension) return Promise.reject(new SuspendSignal(this.runId, id));
    // The request is journaled with the first step; one DynamoDB item cannot hold a larger one,
    // so refuse before any step has a side effect that could not be journaled.
    const tooLarge = this.requestTooLarge();
    if (tooLarge) return Promise.reject(tooLarge);
    let claim: Claim;
    try {
      claim = this.order.claim(id, this.inFlight.size > 0, (stepId) => this.describe(stepId));
    } catch (error) {
      this.fatal = error as Error;
      return Promise.reject(error);
    }
    const result = body(claim);
    // Registered before the caller's own `await`, so the step leaves the in-flight set before the
    // handler continues: a step called next is then not taken for a concurrent one.
    const settled: Promise<void> = result.then(
      () => void this.inFlight.delete(settled),
      () => void this.inFlight.delete(settled),
    );
    this.inFlight.add(settled);
    return Promise.race([result, this.abandoned]);
  }

  /** The error a request that cannot become a run gets (too large to journal), before anything of it is stored. */
  requestTooLarge(): RequestTooLargeError | undefined {
    if (this.runItemWritten) return undefined;
    this.requestBytes ??= Buffer.byteLength(JSON.stringify(this.request));
    if (this.requestBytes <= this.maxRequestBytes) return undefined;
    return new RequestTooLargeError(
      `${this.describe()}: the request (${this.requestBytes} bytes as journaled) is larger than a run can keep (${this.maxRequestBytes}); send large payloads by reference (for example an S3 key).`,
      this.requestBytes,
    );
  }

  /** For the waits: every step of this run journaled so far, by id. */
  journaledSteps(): Iterable<StepRecord> {
    return this.order.journaled();
  }

  /**
   * For the waits: waits until `until` (epoch ms) inline when it is short and the budget allows,
   * else suspends the run (`suspending` runs first, and may throw instead) and throws
   * `SuspendSignal`. The one place that makes this decision: retries, sleeps, retry times and flow
   * control all come through here. Flow control's polls wait at most `inlineMax` inline, and
   * suspend until `wakeAt` (default `until`) for the reason `limitedBy` says.
   */
  async waitOrSuspend(
    stepId: string,
    until: number,
    reason: ResumeReason,
    hooks: { suspending?: () => void; waiting?: (ms: number) => void; inlineMax?: number; wakeAt?: number; limitedBy?: LimitedBy } = {},
  ): Promise<void> {
    const wait = until - this.clock.now();
    if (wait <= 0) return;
    if (this.suspension || wait > (hooks.inlineMax ?? Infinity) || !this.canWaitInline(wait)) {
      hooks.suspending?.();
      this.suspend(hooks.wakeAt ?? until, reason, hooks.limitedBy);
      throw new SuspendSignal(this.runId, stepId);
    }
    hooks.waiting?.(wait);
    this.inlineWaitedMs += wait;
    await this.clock.sleep(wait);
    if (this.handedOff) throw new SuspendSignal(this.runId, stepId);
  }

  /** For the waits: the run continues at `wakeAt` at the latest (the earliest wake-up wins). */
  suspend(wakeAt: number, reason: ResumeReason, limitedBy?: LimitedBy): void {
    if (!this.suspension || wakeAt < this.suspension.wakeAt) this.suspension = { wakeAt, reason, ...(limitedBy ? { limitedBy } : {}) };
  }

  /** For flow control: a queue to enter once the suspension is stored. */
  queueOn(wait: SlotWait): void {
    this.queuedOn.push(wait);
  }

  /** Resolves once the slots given back so far are (it never rejects). */
  async released(): Promise<void> {
    await Promise.all(this.releasing);
  }

  /** For flow control: gives a slot back in the background; `flush` waits for it. */
  release(slot: HeldSlot): void {
    const released: Promise<void> = releaseSlot(this, slot).finally(() => this.releasing.delete(released));
    this.releasing.add(released);
  }

  /**
   * The deadline came while the handler is still working: its pending steps are abandoned (the
   * handler unwinds), the run suspends and continues at once in another invocation. A step in
   * flight now runs again there (once); what it writes here from now on is dropped.
   */
  handOff(): boolean {
    if (this.closed || this.handedOff || (!this.runItemWritten && this.inFlight.size === 0)) return false;
    const now = new Date(this.clock.now()).toISOString();
    this.suspend(this.clock.now(), 'handoff');
    this.stream.handOff();
    // A step still running counts the hand-off as a failed attempt: one that can never finish
    // within an invocation then fails after its retries instead of starting over forever.
    for (const [stepId, { record, attempts, retries, prior }] of this.executing) {
      const error = {
        name: 'HandoffTimeout',
        message: `${this.describe(stepId)} was still running when the invocation handed off (handoffAfter, or the Lambda's timeout). Make the step shorter, split it, or raise the timeout.`,
      };
      const failed = attempts > retries;
      this.journalStep({ ...record, status: failed ? 'failed' : 'retrying', attempts, error, ...(failed ? { endedAt: now } : { retryAt: now }), ...this.stream.fields(stepId, prior) });
    }
    this.fenceWrites();
    this.handedOff = true;
    this.inFlight.clear();
    this.abandon(new SuspendSignal(this.runId, 'hand-off'));
    return true;
  }

  /**
   * Ends the attempt: refuses further steps, lets parallel siblings still running finish (and be
   * journaled), and says what happened. Called once per attempt; a second call (Middy's `onError`
   * after a failing `after`) gets the first call's outcome and changes nothing.
   */
  close(result: HandlerResult): Promise<Outcome> {
    this.closing ??= this.decide(result);
    return this.closing;
  }

  private async decide(result: HandlerResult): Promise<Outcome> {
    this.closed = true;
    if (!result.ok && result.error instanceof LeaseLostError) return { kind: 'lease-lost', error: result.error };
    if (this.fatal) {
      if (!this.runItemWritten) return { kind: 'not-a-run', result: { ok: false, error: this.fatal } };
      await this.settle();
      return { kind: 'failed', error: this.fatal };
    }
    if (this.suspension) {
      await this.settle();
      this.fenceWrites();
      // A sibling that settled meanwhile may have asked for an earlier wake-up.
      return { kind: 'suspended', ...this.suspension!, waitingOn: this.waitingOn, queuedOn: this.queuedOn };
    }
    // A request that never reached a step is not a run: it ends exactly as the plain handler would.
    if (!this.runItemWritten) return { kind: 'not-a-run', result };
    await this.settle();
    return result.ok ? { kind: 'completed', value: result.value } : { kind: 'failed', error: result.error };
  }

  /**
   * From the moment a first attempt lets the run go (a suspension, a hand-off), another attempt
   * may take it over: its writes from then on apply only while it still holds the run, like a
   * resumed attempt's always do. Before that nobody else knows the run, and plain batch writes
   * keep the happy path at one round trip.
   */
  private fenceWrites(): void {
    if (!this.init.fence) this.checkpointer.fenceWith({ runId: this.runId, owner: this.init.owner, orNew: true });
  }

  /** Waits for steps still running (parallel siblings of a failed step finish and are journaled). */
  private async settle(): Promise<void> {
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
        updatedAt: new Date(this.clock.now()).toISOString(),
        ttl: this.ttl,
        ...(this.init.replayedAt ? { replayedAt: this.init.replayedAt } : {}),
        ...(this.init.concurrencyKeys ? { concurrencyKeys: this.init.concurrencyKeys } : {}),
        ...(live ? { leaseOwner: this.init.owner, leaseExpiresAt: this.init.leaseExpiresAt } : {}),
        ...fields,
      },
    });
  }

  /**
   * Keeps the run's items until `ttl` at least: what is journaled from now on, queued writes
   * included, carries it; items already stored are the caller's (`Journal.keepUntil`).
   */
  keepUntil(ttl: number): void {
    if (ttl <= this.ttl) return;
    this.ttl = ttl;
    this.checkpointer.retag(ttl);
  }

  /**
   * Resolves when everything journaled so far is stored, and the slots given back are; rejects
   * (JournalError, LeaseLostError) if the journal cannot be written.
   */
  async flush(): Promise<void> {
    await Promise.all([this.checkpointer.flush(), ...this.releasing]);
  }

  describe(stepId?: string): string {
    return `Run ${this.runId} of ${this.endpoint}${stepId === undefined ? '' : `, step '${stepId}'`}`;
  }

  private canWaitInline(delay: number): boolean {
    const { inlineDelayMax, inlineBudget } = this.init.policy;
    return (
      delay <= inlineDelayMax &&
      this.inlineWaitedMs + delay <= inlineBudget &&
      this.init.remainingMs() - delay > INLINE_SAFETY_MS &&
      this.clock.now() + delay + INLINE_SAFETY_MS < this.init.handoffAt
    );
  }

  /** For the waits: queues a step record for the next checkpoint (dropped after the hand-off). */
  journalStep(step: StepRecord): void {
    if (this.handedOff) {
      log('info', 'step finished after the hand-off; its result is dropped and the next attempt runs it again', { endpoint: this.endpoint, runId: this.runId, stepId: step.id });
      return;
    }
    this.ensureRunItem();
    this.checkpointer.add({ type: 'step', runId: this.runId, step: this.stream.numbered(step), ttl: this.ttl });
  }

  /** A fresh run reaches the journal with its first step: run item, request and step in one batch. */
  ensureRunItem(): void {
    if (this.runItemWritten) return;
    this.runItemWritten = true;
    this.checkpointer.add({ type: 'request', runId: this.runId, request: this.request, ttl: this.ttl });
    this.journalRun('running');
  }

  isoNow(): string {
    return new Date(this.clock.now()).toISOString();
  }
}

export function outsideError(stepId: string): DurableContextError {
  return new DurableContextError(
    `step '${stepId}' was called outside a durable handler. Wrap the handler with durable() (Middy) or durableHandler(), ` +
      'and call step functions only while that handler runs (not after it returned).',
  );
}
