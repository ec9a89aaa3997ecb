/**
 * The test harness for durable handlers: runs a handler in-process on the memory journal with a
 * virtual clock, so a test of retries, sleeps, hand-offs and events takes milliseconds and needs
 * no Java, no network and no AWS.
 */
import type { Context } from 'aws-lambda';
import { randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { INJECT_FAILURE_HEADER, ROUTES, RUN_ID_HEADER } from '../core/contract.ts';
import { toMs, type Duration } from '../core/duration.ts';
import type { SerializedError } from '../core/errors.ts';
import type { HttpResponse } from '../core/http.ts';
import { TERMINAL_STATUSES, type RunStatus, type StepStatus } from '../core/records.ts';
import type { ResumeEvent } from '../core/resume.ts';
import { deserialize } from '../core/serialization.ts';
import { configureDurable, processDefaults, type ProcessDefaults } from '../endpoint/deployment.ts';
import { headerFaults } from '../endpoint/fault-injection.ts';
import type { Journal } from '../journal/journal.ts';
import { MemoryJournal } from '../journal/memory.ts';
import { createEventsHandler } from '../routes/events.ts';
import type { Timer } from '../timers/timer.ts';
import { httpApiEvent, lambdaContext, restApiEvent, type RequestInit } from './events.ts';

/** A Lambda handler as the kit wraps it: a Middy handler or `durableHandler(...)`. */
export type DurableLambda = (event: never, context: Context) => unknown;

export interface HarnessOptions {
  /** Where virtual time starts. Default: now. */
  start?: Date | number;
  /** The Lambda timeout each invocation gets, in virtual time. Default `'29s'`, as the construct deploys endpoints. */
  timeout?: Duration;
  /** Default: a fresh `MemoryJournal` on the harness's clock. */
  journal?: Journal;
}

export interface CallInit extends RequestInit {
  /** The API in front of the handler: an HTTP API (payload 2.0, default) or a REST API (1.0). */
  api?: 'http' | 'rest';
  /**
   * Steps that fail on their first attempts, counted over the whole run:
   * `{ process: 2 }`, or `{ charge: { times: 1, retryAfter: '30s' } }` for a rate-limit answer.
   */
  fail?: Record<string, number | { times: number; retryAfter?: Duration }>;
}

/** A step as the journal holds it, with its output parsed. */
export interface HarnessStep {
  id: string;
  status: StepStatus;
  attempts: number;
  output: unknown;
  error: SerializedError | undefined;
}

/** Virtual time: inline waits and `advance` move it; nothing waits for real. */
export class VirtualClock implements Clock {
  private current: number;
  private timers: { at: number; fn: () => void }[] = [];

  constructor(start: number) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  async sleep(ms: number): Promise<void> {
    const until = this.current + ms;
    // Timers fire on a later turn, never inside the caller's own synchronous work, as real ones do;
    // and the journal and other steps get to run meanwhile, as during a real wait.
    await new Promise((resolve) => setImmediate(resolve));
    this.advanceTo(until);
    await new Promise((resolve) => setImmediate(resolve));
  }

  setTimer(fn: () => void, ms: number): () => void {
    const timer = { at: this.current + ms, fn };
    this.timers.push(timer);
    return () => void (this.timers = this.timers.filter((t) => t !== timer));
  }

  /** Moves time forward to `at`, firing the timers due on the way, in order. */
  advanceTo(at: number): void {
    for (;;) {
      const due = this.timers.filter((t) => t.at <= at).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.current = Math.max(this.current, due.at);
      due.fn();
    }
    this.current = Math.max(this.current, at);
  }
}

/** Resumes as armed by runs: delivered by the harness when virtual time reaches them. */
class HarnessTimer implements Timer {
  readonly pending = new Map<string, { event: ResumeEvent; at: number }>();

  async schedule(event: ResumeEvent, at: Date): Promise<void> {
    // Same name = same wake-up, as with the AWS timers.
    const name = `${event.runId}/${event.attempt}/${event.reason}`;
    if (!this.pending.has(name)) this.pending.set(name, { event, at: at.getTime() });
  }

  /** Removes and returns the earliest resume due by `until`. */
  next(until: number): ResumeEvent | undefined {
    let earliest: [string, { event: ResumeEvent; at: number }] | undefined;
    for (const entry of this.pending) if (entry[1].at <= until && (!earliest || entry[1].at < earliest[1].at)) earliest = entry;
    if (!earliest) return undefined;
    this.pending.delete(earliest[0]);
    return earliest[1].event;
  }

  earliest(): number | undefined {
    return Math.min(...[...this.pending.values()].map((p) => p.at));
  }
}

// A loop that keeps rescheduling itself (a step retrying forever) must not hang a test.
const MAX_DELIVERIES = 10_000;

/**
 * Runs durable handlers in-process. While it is open, every durable endpoint in the process uses
 * its journal, clock and timer (like the dev server, through `configureDurable`); `close()` puts
 * the previous defaults back.
 */
export class DurableHarness {
  readonly journal: Journal;
  readonly clock: VirtualClock;
  private readonly timer = new HarnessTimer();
  private readonly timeoutMs: number;
  private readonly handlers = new Map<string, DurableLambda>();
  private readonly names = new Map<DurableLambda, string>();
  private readonly previous: ProcessDefaults;
  private readonly events = createEventsHandler();

  constructor(options: HarnessOptions = {}) {
    this.clock = new VirtualClock(options.start === undefined ? Date.now() : new Date(options.start).getTime());
    this.journal = options.journal ?? new MemoryJournal({ now: () => this.clock.now() });
    this.timeoutMs = toMs(options.timeout ?? '29s', 'timeout');
    this.previous = { ...processDefaults() };
    configureDurable({ journal: this.journal, timer: this.timer, clock: this.clock, tokenSecret: randomBytes(24).toString('hex'), faults: headerFaults, stepFunctions: undefined });
  }

  /** Calls `handler` with a request, as API Gateway would; resolves to the run it started (or the plain answer). */
  async call(handler: DurableLambda, init: CallInit = {}): Promise<HarnessRun> {
    const { api = 'http', fail, ...request } = init;
    const headers = { ...request.headers };
    if (fail) headers[INJECT_FAILURE_HEADER] = failureHeader(fail);
    let event: unknown;
    // The request arrives now in virtual time: the hand-off deadline counts from here.
    if (api === 'rest') {
      const rest = restApiEvent({ ...request, headers });
      rest.requestContext.requestTimeEpoch = this.clock.now();
      event = rest;
    } else {
      const http = httpApiEvent({ ...request, headers });
      http.requestContext.timeEpoch = this.clock.now();
      event = http;
    }
    const response = (await handler(event as never, this.context(this.nameOf(handler)))) as HttpResponse;
    return new HarnessRun(this, response);
  }

  /**
   * Moves virtual time forward by `duration`, delivering every resume that falls due on the way
   * (retries, sleeps, timeouts, hand-offs), in order.
   */
  async advance(duration: Duration): Promise<void> {
    await this.deliverUntil(this.clock.now() + toMs(duration, 'advance'));
  }

  /** Delivers resumes, moving time forward, until none is left or `done()` holds. */
  async settle(done: () => Promise<boolean> = async () => false): Promise<void> {
    for (let delivered = 0; !(await done()); delivered++) {
      const at = this.timer.earliest();
      if (at === undefined || !Number.isFinite(at)) return;
      if (delivered >= MAX_DELIVERIES) throw new Error(`DurableHarness: runs were still resuming after ${MAX_DELIVERIES} deliveries; is a step retrying forever?`);
      await this.deliverUntil(Math.max(at, this.clock.now()), 1);
    }
  }

  /** `POST /events` with `{ name, data, id? }`, then delivers the resumes it causes. */
  async sendEvent(event: { name: string; data?: unknown; id?: string }): Promise<{ id: string; resumed: string[]; duplicate?: true }> {
    const answer = await this.events(httpApiEvent({ method: 'POST', path: '/events', routeKey: ROUTES.events, body: event }));
    const body = JSON.parse(answer.body ?? '{}');
    if (answer.statusCode !== 200) throw new Error(`DurableHarness: POST /events answered ${answer.statusCode}: ${answer.body}`);
    await this.deliverUntil(this.clock.now());
    return body;
  }

  /** Puts back the process defaults the harness replaced. */
  close(): void {
    configureDurable({ journal: undefined, timer: undefined, clock: undefined, tokenSecret: undefined, faults: undefined, stepFunctions: undefined, ...this.previous });
  }

  /** Resumes armed and not yet delivered. */
  get pendingResumes(): number {
    return this.timer.pending.size;
  }

  private async deliverUntil(until: number, max = MAX_DELIVERIES): Promise<void> {
    for (let delivered = 0; delivered < max; ) {
      const next = this.timer.next(until);
      if (!next) {
        if (this.clock.now() >= until) break;
        // Moving time may fire engine timers (a hand-off, a watchdog) that arm resumes due by `until`.
        this.clock.advanceTo(until);
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      this.clock.advanceTo(Math.max(this.clock.now(), this.timerDue(next)));
      const handler = this.handlers.get(next.functionName ?? '');
      if (!handler) throw new Error(`DurableHarness: run ${next.runId} resumes ${next.functionName}, which this harness never called.`);
      await handler(next as never, this.context(next.functionName!));
      delivered++;
    }
  }

  private timerDue(event: ResumeEvent): number {
    return event.at ? Date.parse(event.at) : this.clock.now();
  }

  private nameOf(handler: DurableLambda): string {
    let name = this.names.get(handler);
    if (!name) {
      name = `harness-function-${this.names.size + 1}`;
      this.names.set(handler, name);
      this.handlers.set(name, handler);
    }
    return name;
  }

  /** A Lambda context whose remaining time counts down on the virtual clock. */
  private context(functionName: string): Context {
    const deadline = this.clock.now() + this.timeoutMs;
    return { ...lambdaContext({ functionName, timeoutMs: this.timeoutMs }), getRemainingTimeInMillis: () => Math.max(0, deadline - this.clock.now()) };
  }
}

/** One call of a durable handler: its first answer, and the run behind it. */
export class HarnessRun {
  /** The first answer the caller got: the handler's response, or the 303 to the results URL. */
  readonly response: HttpResponse;
  /** Undefined when the request did not become a run (no step was called). */
  readonly runId: string | undefined;
  private readonly harness: DurableHarness;

  constructor(harness: DurableHarness, response: HttpResponse) {
    this.harness = harness;
    this.response = response;
    this.runId = response?.headers?.[RUN_ID_HEADER];
  }

  /** Delivers resumes, moving virtual time, until the run has ended; resolves to its final response. */
  async finish(): Promise<HttpResponse> {
    const runId = this.runId;
    if (!runId) return this.response;
    await this.harness.settle(async () => TERMINAL_STATUSES.includes((await this.harness.journal.getRun(runId))?.status ?? 'running'));
    const run = await this.harness.journal.getRun(runId);
    if (!run || !TERMINAL_STATUSES.includes(run.status) || !run.response) {
      throw new Error(`DurableHarness: run ${runId} is ${run?.status ?? 'gone'} and nothing is scheduled to resume it.`);
    }
    return run.response;
  }

  async status(): Promise<RunStatus | undefined> {
    return this.runId ? (await this.harness.journal.getRun(this.runId))?.status : undefined;
  }

  /** The run's steps in call order, outputs parsed (Dates come back as Dates). */
  async steps(): Promise<HarnessStep[]> {
    if (!this.runId) return [];
    const loaded = await this.harness.journal.load(this.runId);
    return (loaded?.steps ?? []).map((step) => ({ id: step.id, status: step.status, attempts: step.attempts, output: deserialize(step.output), error: step.error }));
  }

  /** One step by id (with its `:n` suffix when the id repeats). */
  async step(id: string): Promise<HarnessStep | undefined> {
    return (await this.steps()).find((step) => step.id === id);
  }
}

/** A harness on a fresh memory journal and a virtual clock; `close()` it when the test ends. */
export function createHarness(options: HarnessOptions = {}): DurableHarness {
  return new DurableHarness(options);
}

function failureHeader(fail: NonNullable<CallInit['fail']>): string {
  return Object.entries(fail)
    .map(([stepId, spec]) => (typeof spec === 'number' ? `${stepId}:${spec}` : `${stepId}:${spec.times}${spec.retryAfter === undefined ? '' : `:${toMs(spec.retryAfter)}ms`}`))
    .join(',');
}
