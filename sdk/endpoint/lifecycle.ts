import type { Context } from 'aws-lambda';
import { createHash } from 'node:crypto';
import { TERMINAL_STATUSES, type RunStatus } from '../core/records.ts';
import { type HttpResponse, type RequestSnapshot } from '../core/http.ts';
import { type Journal } from '../journal/journal.ts';
import { isResumeEvent, RESUME_EVENT_TYPE, type ResumeEvent, type ResumeReason } from '../core/resume.ts';
import { type Timer } from '../timers/timer.ts';
import { toMs } from '../core/duration.ts';
import { LeaseLostError, serializeError } from '../core/errors.ts';
import { apiBaseUrl, failedRunResponse, header, isHttpEvent, json, normalizeResponse, rebuildEvent, resultUrl, retryAfterSeconds, seeOther, snapshotRequest, withHeaders, type HttpEvent } from './api-gateway.ts';
import { IDEMPOTENCY_KEY_HEADER, RUN_ID_HEADER } from '../core/contract.ts';
import { log } from '../core/log.ts';
import {
  DEFAULT_REDACT_HEADERS,
  DEFAULTS,
  defaultJournal,
  defaultStepFunctions,
  defaultTimer,
  isDevMode,
  resolveBackoff,
  secretSource,
  type DurableOptions,
} from './options.ts';
import { RequestTooLargeError, Run, SuspendSignal } from '../engine/attempt.ts';
import { signToken } from '../core/token.ts';
import { ulid } from '../core/ids.ts';

export interface Invocation {
  run: Run;
  /** The event the handler sees: the request itself, or on a resume the request rebuilt from the journal. */
  event: HttpEvent;
  resumed: boolean;
  /** The hand-off timer; cleared when the invocation ends. */
  deadline?: NodeJS.Timeout;
  /** The request's Idempotency-Key claim, released if the request does not become a run. */
  idempotency?: { key: string; caller: string };
}

export type Begun = { invocation: Invocation } | { response: unknown };

// A stored response must fit one DynamoDB item (400 KB) with the run's other fields.
const MAX_STORED_RESPONSE_BYTES = 350_000;
// Lambda may overrun getRemainingTimeInMillis slightly; a lease outlives the invocation by this much.
const LEASE_GRACE_MS = 5_000;
const UNKNOWN_REMAINING_MS = 15 * 60_000;
// No Lambda invocation lasts longer than this.
const MAX_LAMBDA_MS = 15 * 60_000;
// Time kept before the Lambda's own timeout to hand off: answer, flush, arm the next invocation.
const HANDOFF_MARGIN_MS = 3_000;
// After a hand-off, how long the handler gets to unwind before a watchdog timer is armed for it.
const UNWIND_GRACE_MS = 2_000;

const STATUS_WHILE_SUSPENDED: Record<ResumeReason, RunStatus> = {
  retry: 'running',
  handoff: 'running',
  watchdog: 'running',
  replay: 'running',
  event: 'running',
  sleep: 'sleeping',
  timeout: 'waiting',
};

/**
 * The run lifecycle around one handler invocation, shared by the Middy middleware and
 * `durableHandler`: begin (start or resume), then finish (a response) or fail (a throw).
 */
export class DurableEndpoint {
  private readonly options: DurableOptions;
  private readonly redact: ReadonlySet<string>;
  private readonly secret: () => Promise<string>;
  private readonly settings;

  constructor(options: DurableOptions = {}) {
    this.options = options;
    this.redact = new Set([...DEFAULT_REDACT_HEADERS, ...(options.redactHeaders ?? []).map((h) => h.toLowerCase())]);
    this.secret = secretSource(options.tokenSecret);
    this.settings = {
      retries: options.retries ?? DEFAULTS.retries,
      backoff: resolveBackoff(DEFAULTS.backoff, options.backoff),
      inlineDelayMax: options.inlineDelayMax === undefined ? DEFAULTS.inlineDelayMax : toMs(options.inlineDelayMax, 'inlineDelayMax'),
      inlineBudget: options.inlineBudget === undefined ? DEFAULTS.inlineBudget : toMs(options.inlineBudget, 'inlineBudget'),
      tokenTtl: options.tokenTtl === undefined ? DEFAULTS.tokenTtl : toMs(options.tokenTtl, 'tokenTtl'),
      retention: options.retention === undefined ? DEFAULTS.retention : toMs(options.retention, 'retention'),
      handoffAfter: options.handoffAfter === undefined ? DEFAULTS.handoffAfter : toMs(options.handoffAfter, 'handoffAfter'),
    };
    if (!Number.isInteger(this.settings.retries) || this.settings.retries < 0) {
      throw new TypeError(`durable(): retries must be a whole number >= 0, got ${options.retries}.`);
    }
  }

  private get journal(): Journal {
    return this.options.journal ?? defaultJournal();
  }

  private get timer(): Timer {
    return this.options.timer ?? defaultTimer();
  }

  async begin(event: unknown, context: Partial<Context> | undefined): Promise<Begun> {
    if (isResumeEvent(event)) return this.resume(event, context);
    if (!isHttpEvent(event)) {
      throw new TypeError(
        'durable(): expected an API Gateway proxy event (HTTP API payload 2.0 or REST payload 1.0) or a ' +
          `${RESUME_EVENT_TYPE} event. Put durable() first in the Middy chain so it sees the event unchanged.`,
      );
    }
    const request = snapshotRequest(event, this.redact);
    const now = Date.now();
    const owner = ulid(now);
    const runId = ulid(now);
    const endpoint = this.options.name ?? request.routeKey;
    const idempotencyKey = header(event.headers, IDEMPOTENCY_KEY_HEADER);
    const idempotency = idempotencyKey === undefined ? undefined : { key: idempotencyKey, caller: callerOf(event) };
    if (idempotency) {
      const attached = await this.claim(idempotency, endpoint, runId, request, remainingMs(context));
      if (attached) return { response: attached };
    }
    const context_ = request.requestContext as { timeEpoch?: number; requestTimeEpoch?: number };
    const arrivedAt = context_.timeEpoch ?? context_.requestTimeEpoch ?? now;
    const run = this.newRun(context, {
      runId,
      endpoint,
      functionName: context?.functionName,
      attempt: 1,
      createdAt: new Date(now).toISOString(),
      request,
      owner,
      steps: [],
      dueAt: now,
      // The caller's gateway cuts the request: hand off before it does.
      handoffAt: Math.min(arrivedAt + this.settings.handoffAfter, now + remainingMs(context) - HANDOFF_MARGIN_MS),
    });
    return { invocation: this.armHandoff({ run, event, resumed: false, idempotency }) };
  }

  /**
   * Ties an Idempotency-Key to the new run. If another request holds it, answers for that run
   * instead: its stored response once it has ended, else the 303 to its results.
   */
  private async claim(
    { key, caller }: { key: string; caller: string },
    endpoint: string,
    runId: string,
    request: RequestSnapshot,
    remaining: number,
  ): Promise<HttpResponse | undefined> {
    if (!/^[\x21-\x7e]{1,255}$/.test(key)) {
      return json(400, { error: { name: 'BadRequest', message: 'Idempotency-Key must be 1-255 visible ASCII characters.' } });
    }
    const fingerprint = createHash('sha256').update(`${request.method}\n${request.path}\n${request.rawQuery}\n${request.body ?? ''}`).digest('base64url');
    const now = Date.now();
    const claim = { endpoint, caller, key, runId, fingerprint, claimedAt: new Date(now).toISOString(), ttl: Math.floor((now + this.settings.retention) / 1_000) };
    let result = await this.journal.claimIdempotencyKey(claim);
    if (result.claimed) return undefined;
    let run = await this.journal.getRun(result.holder.runId);
    // A claim whose request died before its first step (so it never became a run, nor freed the
    // key), or one past its TTL that DynamoDB has not deleted yet, is taken over.
    const stale = !run && Date.parse(result.holder.claimedAt) < now - Math.max(remaining, MAX_LAMBDA_MS) - LEASE_GRACE_MS;
    if (stale || result.holder.ttl * 1_000 < now) {
      result = await this.journal.claimIdempotencyKey(claim, result.holder.runId);
      if (result.claimed) return undefined;
      run = await this.journal.getRun(result.holder.runId);
    }
    const { holder } = result;
    if (holder.fingerprint !== fingerprint) {
      return json(422, { error: { name: 'IdempotencyKeyReused', message: `This Idempotency-Key was used for a different request to ${endpoint}; use a new key for a new request.` } });
    }
    if (!run) {
      // The first request is still before its first step: nothing to attach to yet.
      return json(409, { error: { name: 'RequestInProgress', message: 'A request with this Idempotency-Key is in progress; retry shortly.' } }, { 'retry-after': '1' });
    }
    if (TERMINAL_STATUSES.includes(run.status) && run.response) return run.response;
    const token = signToken(await this.secret(), run.runId, new Date(Date.now() + this.settings.tokenTtl));
    const url = resultUrl(this.options.resultsBaseUrl ?? apiBaseUrl(request), run.runId, token);
    return seeOther(run.runId, url, retryAfterSeconds(run.wakeAt ? Date.parse(run.wakeAt) : undefined, run.status === 'waiting'));
  }

  /** A claimed key whose request ended without becoming a run is free again. */
  private async releaseKey(invocation: Invocation): Promise<void> {
    if (!invocation.idempotency || invocation.run.journalStarted) return;
    await this.journal.releaseIdempotencyKey({ endpoint: invocation.run.endpoint, ...invocation.idempotency, runId: invocation.run.runId });
  }

  /** At the hand-off time, a run still working suspends and continues in a new invocation. */
  private armHandoff(invocation: Invocation): Invocation {
    const { run } = invocation;
    const handoffAt = run.handoffAt;
    if (!Number.isFinite(handoffAt)) return invocation;
    invocation.deadline = setTimeout(() => {
      if (run.closed || !run.handOff()) return;
      log('info', 'handing off to a new invocation', { endpoint: run.endpoint, runId: run.runId, attempt: run.attempt });
      // If the handler is stuck outside a step it cannot unwind, and the Lambda may be killed at its
      // timeout: a watchdog resume then takes the run over once this attempt's lease has expired.
      setTimeout(() => {
        if (run.closed) return;
        log('warn', 'the handler did not unwind at the hand-off (is it awaiting work outside a step?); arming a watchdog', { endpoint: run.endpoint, runId: run.runId });
        void this.armWatchdog(run);
      }, UNWIND_GRACE_MS).unref();
    }, Math.max(0, handoffAt - Date.now()));
    invocation.deadline.unref();
    return invocation;
  }

  /** A resume for when this attempt's lease has expired, in case the attempt never ends properly. */
  private async armWatchdog(run: Run): Promise<void> {
    try {
      await this.timer.schedule(
        { type: RESUME_EVENT_TYPE, endpoint: run.endpoint, functionName: run.functionName, runId: run.runId, attempt: run.attempt, reason: 'watchdog' },
        new Date(run.leaseExpiresAt + 1_000),
      );
    } catch (error) {
      log('error', 'arming the watchdog failed', { endpoint: run.endpoint, runId: run.runId, error: (error as Error).message });
    }
  }

  private end(invocation: Invocation): void {
    invocation.run.closed = true;
    clearTimeout(invocation.deadline);
  }

  async finish(invocation: Invocation, result: unknown): Promise<unknown> {
    const { run } = invocation;
    this.end(invocation);
    if (run.fatal) return this.fail(invocation, run.fatal);
    if (run.suspension) return this.suspend(invocation);
    if (!run.journalStarted) {
      await this.releaseKey(invocation);
      return result;
    }
    await run.settle();
    let response = withHeaders(normalizeResponse(result), { [RUN_ID_HEADER]: run.runId });
    let stored = response;
    const size = Buffer.byteLength(JSON.stringify(response));
    if (size > MAX_STORED_RESPONSE_BYTES) {
      log('error', 'response too large to journal', { endpoint: run.endpoint, runId: run.runId, bytes: size });
      stored = json(500, {
        runId: run.runId,
        status: 'completed',
        error: { name: 'ResponseTooLarge', message: `The response (${size} bytes) was larger than the journal keeps (${MAX_STORED_RESPONSE_BYTES}).` },
      }, { [RUN_ID_HEADER]: run.runId });
      if (invocation.resumed) response = stored;
    }
    run.journalRun('completed', { response: stored });
    await this.flush(invocation);
    log('info', 'run completed', { endpoint: run.endpoint, runId: run.runId, attempt: run.attempt });
    return response;
  }

  async fail(invocation: Invocation, error: unknown): Promise<unknown> {
    const { run } = invocation;
    this.end(invocation);
    if (error instanceof LeaseLostError) return this.lost(invocation, error);
    if (!run.fatal && (run.suspension || error instanceof SuspendSignal)) return this.suspend(invocation);
    const cause = run.fatal ?? error;
    // A request that never reached a step is not a run: it fails exactly as the plain handler would.
    if (!run.journalStarted) {
      await this.releaseKey(invocation);
      if (cause instanceof RequestTooLargeError) return json(413, { error: { name: cause.name, message: cause.message } });
      throw cause;
    }
    await run.settle();
    const serialized = serializeError(cause);
    const response = this.options.onFailure
      ? withHeaders(normalizeResponse(await this.options.onFailure({ runId: run.runId, endpoint: run.endpoint, error: serialized })), {
          [RUN_ID_HEADER]: run.runId,
        })
      : failedRunResponse(run.runId, serialized);
    run.journalRun('failed', { error: serialized, response });
    await this.flush(invocation);
    log('warn', 'run failed', { endpoint: run.endpoint, runId: run.runId, attempt: run.attempt, error: serialized.name });
    return response;
  }

  private async suspend(invocation: Invocation): Promise<unknown> {
    const { run } = invocation;
    await run.settle();
    const { wakeAt, reason } = run.suspension!;
    // Resolve the secret before committing, so a missing secret fails loudly and changes nothing.
    const secret = invocation.resumed ? undefined : await this.secret();
    run.journalRun(STATUS_WHILE_SUSPENDED[reason], { wakeAt: new Date(wakeAt).toISOString() });
    const stored = await this.flush(invocation);
    if (!stored) return json(503, { runId: run.runId, status: 'error', error: { name: 'JournalError', message: 'The run could not be saved; try again.' } });
    const resume: ResumeEvent = { type: RESUME_EVENT_TYPE, endpoint: run.endpoint, functionName: run.functionName, runId: run.runId, attempt: run.attempt, reason, at: new Date(wakeAt).toISOString() };
    await this.timer.schedule(resume, new Date(wakeAt));
    await this.resumeIfEventCameMeanwhile(run);
    log('info', 'run suspended', { endpoint: run.endpoint, runId: run.runId, attempt: run.attempt, wakeAt: new Date(wakeAt).toISOString(), reason });
    if (invocation.resumed) return json(202, { runId: run.runId, status: 'running' }, { [RUN_ID_HEADER]: run.runId });
    const token = signToken(secret!, run.runId, new Date(Date.now() + this.settings.tokenTtl));
    const url = resultUrl(this.options.resultsBaseUrl ?? apiBaseUrl(run.request), run.runId, token);
    return seeOther(run.runId, url, retryAfterSeconds(wakeAt, reason === 'timeout'));
  }

  /**
   * An event that resolved one of this attempt's waiters while it still held the lease could not
   * resume the run (the lease refused it); now that the lease is released, resume it here.
   */
  private async resumeIfEventCameMeanwhile(run: Run): Promise<void> {
    if (run.waitingOn.length === 0) return;
    const loaded = await this.journal.load(run.runId);
    const resolved = run.waitingOn.some((waiter) => loaded?.steps.find((step) => step.id === waiter.stepId)?.status === 'completed');
    if (resolved) {
      await this.timer.schedule({ type: RESUME_EVENT_TYPE, endpoint: run.endpoint, functionName: run.functionName, runId: run.runId, attempt: run.attempt, reason: 'event' }, new Date());
    }
  }

  /**
   * Waits for the journal. On a resume nobody is listening, so a failure is thrown (the invocation
   * fails and the platform retries it). On the first attempt the caller is waiting: false is returned.
   */
  private async flush(invocation: Invocation): Promise<boolean> {
    try {
      await invocation.run.flush();
      return true;
    } catch (error) {
      if (invocation.resumed) {
        // The platform's retry of this resume event would be refused (the run's attempt moved on
        // when this invocation took the lease): arm a watchdog for when the lease expires instead.
        if (!(error instanceof LeaseLostError)) await this.armWatchdog(invocation.run);
        throw error;
      }
      log('error', 'journal write failed', { endpoint: invocation.run.endpoint, runId: invocation.run.runId, error: (error as Error).message });
      return false;
    }
  }

  private lost(invocation: Invocation, error: LeaseLostError): unknown {
    log('warn', 'lease lost; stopping', { endpoint: invocation.run.endpoint, runId: invocation.run.runId, error: error.message });
    return json(409, { runId: invocation.run.runId, status: 'running' });
  }

  private async resume(event: ResumeEvent, context: Partial<Context> | undefined): Promise<Begun> {
    const fields = { endpoint: event.endpoint, runId: event.runId, attempt: event.attempt };
    const loaded = await this.journal.load(event.runId);
    if (!loaded) {
      log('warn', 'resume for an unknown run ignored', fields);
      return { response: json(404, { runId: event.runId, status: 'unknown' }) };
    }
    if (TERMINAL_STATUSES.includes(loaded.run.status) || loaded.run.attempt !== event.attempt) {
      log('info', 'duplicate resume ignored', { ...fields, status: loaded.run.status, current: loaded.run.attempt });
      return { response: json(409, { runId: event.runId, status: loaded.run.status }) };
    }
    const owner = ulid();
    const remaining = remainingMs(context);
    const leased = await this.journal.acquireLease(event.runId, event.attempt, owner, Date.now() + remaining + LEASE_GRACE_MS);
    if (!leased) {
      log('info', 'resume lost the race for the run; ignored', fields);
      return { response: json(409, { runId: event.runId, status: 'running' }) };
    }
    const run = this.newRun(context, {
      runId: leased.runId,
      endpoint: leased.endpoint,
      functionName: leased.functionName ?? context?.functionName,
      attempt: leased.attempt,
      createdAt: leased.createdAt,
      request: loaded.request,
      owner,
      steps: loaded.steps,
      fence: { runId: leased.runId, owner },
      dueAt: event.at ? Date.parse(event.at) : Date.now(),
      // Nobody waits on a resume: it works until shortly before the Lambda's own timeout.
      handoffAt: Date.now() + remaining - HANDOFF_MARGIN_MS,
    });
    log('info', 'run resumed', { ...fields, attempt: leased.attempt, reason: event.reason });
    return { invocation: this.armHandoff({ run, event: rebuildEvent(loaded.request), resumed: true }) };
  }

  private newRun(
    context: Partial<Context> | undefined,
    fields: Pick<Run, 'runId' | 'endpoint' | 'attempt' | 'createdAt' | 'request'> & {
      functionName: string | undefined;
      owner: string;
      steps: ConstructorParameters<typeof Run>[0]['steps'];
      fence?: { runId: string; owner: string };
      handoffAt: number;
      dueAt: number;
    },
  ): Run {
    return new Run({
      ...fields,
      journal: this.journal,
      ttl: Math.floor((Date.parse(fields.createdAt) + this.settings.retention) / 1_000),
      leaseExpiresAt: Date.now() + remainingMs(context) + LEASE_GRACE_MS,
      retries: this.settings.retries,
      backoff: this.settings.backoff,
      inlineDelayMax: this.settings.inlineDelayMax,
      inlineBudget: this.settings.inlineBudget,
      remainingMs: () => remainingMs(context),
      dev: isDevMode(),
      stepFunctions: () => this.options.stepFunctions ?? defaultStepFunctions(),
    });
  }
}

/** Who is calling, as a short hash: their credentials and what the authorizer said about them. */
function callerOf(event: HttpEvent): string {
  const authorizer = (event.requestContext as { authorizer?: unknown }).authorizer ?? null;
  return createHash('sha256')
    .update(`${header(event.headers, 'authorization') ?? ''}\n${JSON.stringify(authorizer)}`)
    .digest('base64url')
    .slice(0, 22);
}

function remainingMs(context: Partial<Context> | undefined): number {
  return typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : UNKNOWN_REMAINING_MS;
}

export type { HttpResponse };
