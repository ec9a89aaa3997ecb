import type { Context } from 'aws-lambda';
import { INJECT_FAILURE_HEADER, RUN_ID_HEADER } from '../core/contract.ts';
import { JournalError, LeaseLostError, RunStuckError, serializeError } from '../core/errors.ts';
import type { HttpResponse, StreamingResponse } from '../core/http.ts';
import { ulid } from '../core/ids.ts';
import { log } from '../core/log.ts';
import { TERMINAL_STATUSES, type QueueEntry, type RunStatus, type StepRecord } from '../core/records.ts';
import { isResumeEvent, RESUME_EVENT_TYPE, resumeEvent, type ResumeEvent, type ResumeReason } from '../core/resume.ts';
import { signToken } from '../core/token.ts';
import { Attempt } from '../engine/attempt.ts';
import type { HeldSlot } from '../engine/flow.ts';
import type { HandlerResult, Outcome } from '../engine/outcome.ts';
import type { Fence } from '../journal/journal.ts';
import { apiBaseUrl, errorAnswer, failedRunResponse, json, prefersRespondAsync, resultUrl, retryAfterOfRun, runContinues, withCors } from './answers.ts';
import { acceptsEventStream, header, isHttpEvent, normalizeResponse, rebuildEvent, snapshotRequest, withHeaders, withoutSetCookie, type HttpEvent } from './api-gateway.ts';
import { InvocationStream } from './invocation-stream.ts';
import { platformStreams, takeStreamSlot } from './streaming.ts';
import { admitRequest, ENDPOINT_KEY, hasLimits, readmitRun, requestKeys, type RequestKeys } from './flow-control.ts';
import { claimKey, keyClaimOf, releaseKey, type KeyClaim } from './idempotency.ts';
import { armHandoff, armWatchdog } from './handoff.ts';
import { armResume, keepPast } from './suspension.ts';
import { resolveOptions, type DurableOptions, type ResolvedOptions } from './options.ts';
import { answerBytes, LAMBDA_RESPONSE_BYTES, resolvePayloads } from '../payloads/offload.ts';

export interface Invocation {
  attempt: Attempt;
  /** The event the handler sees: the request itself, or on a resume the request rebuilt from the journal. */
  event: HttpEvent;
  resumed: boolean;
  /** Cancels the hand-off timer; called when the invocation ends. */
  cancelHandoff?: () => void;
  /** The request's Idempotency-Key claim, released if the request does not become a run. */
  keyClaim?: KeyClaim;
  /** The answer, decided once: Middy's `onError` after a failing `after` gets the same one. */
  answer?: Promise<unknown>;
  /** The endpoint's concurrency slots this attempt holds: given back when it ends. */
  slots: HeldSlot[];
  /** The caller asked for `text/event-stream`: what the attempt streams goes there, and the answer ends it. */
  events?: InvocationStream;
}

export type Begun = { invocation: Invocation } | { response: unknown };

// Lambda may overrun getRemainingTimeInMillis slightly; a lease outlives the invocation by this much.
const LEASE_GRACE_MS = 5_000;
const UNKNOWN_REMAINING_MS = 15 * 60_000;
// Time kept before the Lambda's own timeout to hand off: answer, flush, arm the next invocation.
const HANDOFF_MARGIN_MS = 3_000;

const STATUS_WHILE_SUSPENDED: Record<ResumeReason, RunStatus> = {
  retry: 'running',
  handoff: 'running',
  watchdog: 'running',
  replay: 'running',
  event: 'running',
  sweep: 'running',
  abandon: 'running',
  sleep: 'sleeping',
  timeout: 'waiting',
  slot: 'queued',
  throttle: 'queued',
};

/**
 * The run lifecycle around one handler invocation, shared by the Middy middleware and
 * `durableHandler`: `begin` (start or resume a run), then `end` with how the handler ended, which
 * closes the attempt and answers according to its outcome.
 */
export class DurableEndpoint {
  private readonly options: ResolvedOptions;

  constructor(options: DurableOptions = {}) {
    this.options = resolveOptions(options);
  }

  async begin(event: unknown, context: Partial<Context> | undefined): Promise<Begun> {
    if (isResumeEvent(event)) return this.resume(event, context);
    if (!isHttpEvent(event)) {
      throw new TypeError(
        'durable(): expected an API Gateway proxy event (HTTP API payload 2.0 or REST payload 1.0) or a ' +
          `${RESUME_EVENT_TYPE} event. Put durable() first in the Middy chain so it sees the event unchanged.`,
      );
    }
    const { options } = this;
    const request = snapshotRequest(event, options.redaction);
    const now = options.clock().now();
    const runId = ulid(now);
    const endpoint = options.name ?? request.routeKey;
    // Flow-control keys come from the request as the client sent it (the journal may not keep
    // what they read), once; a request whose key cannot be computed is a 400, before anything else.
    let keys: RequestKeys | undefined;
    if (hasLimits(options.limits)) {
      try {
        keys = requestKeys(options.limits, event, endpoint);
      } catch (error) {
        return { response: errorAnswer(error) };
      }
    }
    const keyClaim = await keyClaimOf(options, event);
    if (keyClaim) {
      try {
        const attached = await claimKey(options, keyClaim, endpoint, runId, request, remainingMs(context));
        if (attached) return { response: attached };
      } catch (error) {
        const answer = errorAnswer(error);
        if (answer) return { response: answer };
        throw error;
      }
    }
    const requestContext = request.requestContext as { timeEpoch?: number; requestTimeEpoch?: number };
    const arrivedAt = requestContext.timeEpoch ?? requestContext.requestTimeEpoch ?? now;
    const streams = acceptsEventStream(request.headers.accept);
    // Live where the invocation can be answered before the handler ends (`streamingHandler`) and the
    // platform streams responses; else the events are answered whole at the end. A live stream is
    // not cut by an API's 30 s: it hands off when the endpoint says, or before the Lambda's timeout.
    const slot = streams && platformStreams() ? takeStreamSlot() : undefined;
    const live = slot !== undefined;
    const attempt = this.attempt(context, {
      runId,
      endpoint,
      functionName: context?.functionName,
      attempt: 1,
      createdAt: new Date(now).toISOString(),
      request,
      owner: ulid(now),
      steps: [],
      dueAt: now,
      // The caller's gateway cuts the request: hand off before it does.
      handoffAt: Math.min(arrivedAt + (live ? options.streamHandoffAfter : options.handoffAfter), now + remainingMs(context) - HANDOFF_MARGIN_MS),
      concurrencyKeys: keys && keys.concurrency.length > 0 ? keys.concurrency : undefined,
    });
    const invocation: Invocation = { attempt, event, resumed: false, keyClaim, slots: [] };
    if (keys) {
      try {
        await admitRequest(attempt, options.limits, keys, invocation.slots);
      } catch (error) {
        // Refused (429), or queued (the attempt suspended: 303): the handler does not run.
        return { response: await this.end(invocation, { ok: false, error }) };
      }
    }
    if (streams) {
      const url = resultUrl(options.resultsBaseUrl ?? apiBaseUrl(request), runId, signToken(await options.secret(), runId, new Date(now + options.tokenTtl)));
      const events = (invocation.events = new InvocationStream(attempt, live, url));
      if (slot) {
        slot.abort = (error) => events.fail(error);
        slot.publish(this.withCors(event, events.sink.streamingResponse(runId)) as StreamingResponse);
      }
    }
    return { invocation: armHandoff(this.options, invocation) };
  }

  /** The answer with the CORS headers the caller's origin gets (`cors`); a resume has no caller. */
  withCors(event: unknown, answer: unknown): unknown {
    if (!this.options.cors || !isHttpEvent(event)) return answer;
    return withCors(answer, this.options.cors, header(event.headers, 'origin'));
  }

  /**
   * The handler ended (with a value or by throwing): closes the attempt and answers for its
   * outcome. Decided once per invocation; a second call returns the first answer.
   */
  end(invocation: Invocation, result: HandlerResult): Promise<unknown> {
    invocation.answer ??= (async () => {
      invocation.cancelHandoff?.();
      const { attempt } = invocation;
      const outcome = await attempt.close(result);
      // Given back while the answer's writes go out, so it costs no round trip of its own.
      for (const slot of invocation.slots.splice(0)) attempt.release(slot);
      try {
        const answer = await this.answer(invocation, outcome);
        return invocation.events ? invocation.events.finish(answer) : answer;
      } catch (error) {
        invocation.events?.fail(error);
        throw error;
      } finally {
        await attempt.released();
      }
    })();
    return invocation.answer;
  }

  private async answer(invocation: Invocation, outcome: Outcome): Promise<unknown> {
    const { attempt } = invocation;
    switch (outcome.kind) {
      case 'completed':
        return this.complete(invocation, outcome.value);
      case 'failed':
        return this.fail(invocation, outcome.error);
      case 'suspended':
        return this.suspend(invocation, outcome);
      case 'lease-lost':
        log('warn', 'lease lost; stopping', { endpoint: attempt.endpoint, runId: attempt.runId, error: outcome.error.message });
        return json(409, { runId: attempt.runId, status: 'running' });
      case 'not-a-run': {
        if (invocation.keyClaim) await releaseKey(this.options.journal(), invocation.keyClaim, attempt.endpoint, attempt.runId);
        if (outcome.result.ok) return outcome.result.value;
        const answer = errorAnswer(outcome.result.error);
        if (answer) return answer;
        throw outcome.result.error;
      }
    }
  }

  private async complete(invocation: Invocation, value: unknown): Promise<unknown> {
    const { attempt } = invocation;
    let response = withHeaders(normalizeResponse(value), { [RUN_ID_HEADER]: attempt.runId });
    let stored = this.options.storeSetCookie ? response : withoutSetCookie(response);
    const size = answerBytes(response);
    // A response is kept as a step's result is: in its item, or in the blob store up to the same limit.
    const { blobs } = attempt.init;
    const limit = attempt.maxOutputBytes;
    if (size > limit) {
      log('error', 'response too large to journal', { endpoint: attempt.endpoint, runId: attempt.runId, bytes: size });
      stored = json(
        500,
        {
          runId: attempt.runId,
          status: 'completed',
          error: { name: 'ResponseTooLarge', message: `The response (${size} bytes) was larger than the journal keeps (${limit}).` },
        },
        { [RUN_ID_HEADER]: attempt.runId },
      );
      if (invocation.resumed) response = stored;
    }
    attempt.journalRun('completed', { response: stored });
    await this.flush(invocation);
    log('info', 'run completed', { endpoint: attempt.endpoint, runId: attempt.runId, attempt: attempt.attempt });
    // More than a Lambda may return: the caller is sent to the results URL, which answers with a
    // short-lived URL of the body (a resume's answer goes to a timer, which needs none of it).
    if (size > LAMBDA_RESPONSE_BYTES && size <= limit && blobs?.url) {
      if (invocation.resumed) return json(200, { runId: attempt.runId, status: 'completed' }, { [RUN_ID_HEADER]: attempt.runId });
      return this.sendToResults(attempt, await this.options.secret(), 'completed', 0);
    }
    return response;
  }

  private async fail(invocation: Invocation, cause: unknown): Promise<unknown> {
    const { attempt } = invocation;
    const serialized = serializeError(cause);
    const { onFailure } = this.options;
    const response = onFailure
      ? withHeaders(normalizeResponse(await onFailure({ runId: attempt.runId, endpoint: attempt.endpoint, error: serialized })), { [RUN_ID_HEADER]: attempt.runId })
      : failedRunResponse(attempt.runId, serialized);
    attempt.journalRun('failed', { error: serialized, response: this.options.storeSetCookie ? response : withoutSetCookie(response) });
    await this.flush(invocation);
    log('warn', 'run failed', { endpoint: attempt.endpoint, runId: attempt.runId, attempt: attempt.attempt, error: serialized.name });
    return response;
  }

  private async suspend(invocation: Invocation, { wakeAt, reason, waitingOn, queuedOn, limitedBy }: Extract<Outcome, { kind: 'suspended' }>): Promise<unknown> {
    const { attempt } = invocation;
    const wake = new Date(wakeAt);
    // Resolve the secret before committing, so a missing secret fails loudly and changes nothing.
    const secret = invocation.resumed ? undefined : await this.options.secret();
    await keepPast(this.options, attempt, wakeAt);
    const status = STATUS_WHILE_SUSPENDED[reason];
    attempt.journalRun(status, { wakeAt: wake.toISOString(), ...(status === 'queued' && limitedBy ? { limitedBy } : {}) });
    const stored = await this.flush(invocation);
    if (stored === 'failed') return errorAnswer(new JournalError('The run could not be saved; try again.'), attempt.runId);
    // Lost: another attempt took the run over meanwhile (after a hand-off); it has its own timers.
    if (stored === 'stored') await armResume(this.options, attempt, reason, wake, waitingOn, queuedOn);
    log('info', 'run suspended', { endpoint: attempt.endpoint, runId: attempt.runId, attempt: attempt.attempt, wakeAt: wake.toISOString(), reason });
    if (invocation.resumed) return json(202, { runId: attempt.runId, status: 'running' }, { [RUN_ID_HEADER]: attempt.runId });
    return this.sendToResults(attempt, secret!, status, retryAfterOfRun({ status, wakeAt: wake.toISOString(), limitedBy }, attempt.clock.now()));
  }

  /** The 303 (202 with `Prefer: respond-async`) to the run's signed results URL. */
  private sendToResults(attempt: Attempt, secret: string, status: RunStatus, retryAfter: number): HttpResponse {
    const token = signToken(secret, attempt.runId, new Date(attempt.clock.now() + this.options.tokenTtl));
    const url = resultUrl(this.options.resultsBaseUrl ?? apiBaseUrl(attempt.request), attempt.runId, token);
    return runContinues(attempt.runId, url, retryAfter, prefersRespondAsync(attempt.request.headers), status);
  }

  /**
   * Waits for the journal. On a resume nobody is listening, so a failure is thrown (the invocation
   * fails and the platform retries it). On the first attempt the caller is waiting: it is told
   * whether the writes were stored, failed, or were refused because another attempt took the run.
   */
  private async flush(invocation: Invocation): Promise<'stored' | 'failed' | 'lost'> {
    try {
      await invocation.attempt.flush();
      return 'stored';
    } catch (error) {
      if (invocation.resumed) {
        // The platform's retry of this resume event would be refused (the run's attempt moved on
        // when this invocation took the lease): arm a watchdog for when the lease expires instead.
        if (!(error instanceof LeaseLostError)) await armWatchdog(this.options, invocation.attempt);
        throw error;
      }
      const fields = { endpoint: invocation.attempt.endpoint, runId: invocation.attempt.runId, error: (error as Error).message };
      if (error instanceof LeaseLostError) {
        log('warn', 'another attempt took the run over; this one stops without writing', fields);
        return 'lost';
      }
      log('error', 'journal write failed', fields);
      return 'failed';
    }
  }

  private async resume(event: ResumeEvent, context: Partial<Context> | undefined): Promise<Begun> {
    const fields = { endpoint: event.endpoint, runId: event.runId, attempt: event.attempt };
    const journal = this.options.journal();
    const clock = this.options.clock();
    const owner = ulid();
    const remaining = remainingMs(context);
    // The lease first, the steps after: steps read before it could miss what the attempt holding
    // the run journals before letting go, and this attempt would run those steps again.
    // Only runs of this function: the timer's state machine invokes every endpoint of a deployment.
    const leased = await journal.acquireLease(event.runId, event.attempt, owner, clock.now() + remaining + LEASE_GRACE_MS, context?.functionName);
    if (!leased) {
      const run = await journal.getRun(event.runId);
      if (!run) {
        log('warn', 'resume for an unknown run ignored', fields);
        return { response: json(404, { runId: event.runId, status: 'unknown' }) };
      }
      if (context?.functionName !== undefined && run.functionName !== undefined && run.functionName !== context.functionName) {
        log('warn', 'resume for a run of another function refused', { ...fields, function: context.functionName });
        return { response: json(403, { runId: event.runId, status: 'refused' }) };
      }
      const duplicate = TERMINAL_STATUSES.includes(run.status) || run.attempt !== event.attempt;
      log('info', duplicate ? 'duplicate resume ignored' : 'resume lost the race for the run; ignored', { ...fields, status: run.status, current: run.attempt });
      return { response: json(409, { runId: event.runId, status: duplicate ? run.status : 'running' }) };
    }
    const stored = await journal.load(event.runId);
    const loaded = stored && (await resolvePayloads(stored, this.options.blobs()));
    if (!loaded) throw new Error(`durable-endpoints: run ${event.runId} vanished from the journal after its lease was taken.`);
    const now = clock.now();
    const attempt = this.attempt(context, {
      runId: leased.runId,
      endpoint: leased.endpoint,
      functionName: leased.functionName ?? context?.functionName,
      attempt: leased.attempt,
      createdAt: leased.createdAt,
      request: loaded.request,
      owner,
      steps: loaded.steps,
      fence: { runId: leased.runId, owner },
      replayedAt: leased.replayedAt,
      dueAt: event.at ? Date.parse(event.at) : now,
      ttl: leased.ttl,
      concurrencyKeys: leased.concurrencyKeys,
      // Nobody waits on a resume: it works until shortly before the Lambda's own timeout.
      handoffAt: now + remaining - HANDOFF_MARGIN_MS,
    });
    log('info', 'run resumed', { ...fields, attempt: leased.attempt, reason: event.reason });
    const invocation: Invocation = { attempt, event: rebuildEvent(loaded.request), resumed: true, slots: [] };
    if (event.reason === 'abandon') {
      // The sweep gave up on this run (its attempts keep dying without progress): fail it here,
      // without running the handler again, so `onFailure` answers for it.
      const error = new RunStuckError(`Run ${attempt.runId} of ${attempt.endpoint} made no progress over several resumes and was given up; see its last attempts' logs.`);
      return { response: await this.end(invocation, { ok: false, error }) };
    }
    if (this.options.limits.concurrency.length > 0) {
      try {
        await readmitRun(attempt, this.options.limits, leased, this.concurrencyKeys(leased.concurrencyKeys, invocation.event, leased.endpoint), invocation.slots);
      } catch (error) {
        // No slot: the run is queued again (the attempt suspended), without running the handler.
        return { response: await this.end(invocation, { ok: false, error }) };
      }
    }
    return { invocation: armHandoff(this.options, invocation) };
  }

  private attempt(
    context: Partial<Context> | undefined,
    fields: Pick<Attempt, 'runId' | 'endpoint' | 'attempt' | 'createdAt' | 'request'> & {
      functionName: string | undefined;
      owner: string;
      steps: StepRecord[];
      fence?: Fence;
      replayedAt?: string;
      handoffAt: number;
      dueAt: number;
      /** What the run's items are already kept until (a resume: the run's). */
      ttl?: number;
      concurrencyKeys?: string[];
    },
  ): Attempt {
    const { options } = this;
    const clock = options.clock();
    const where = `Run ${fields.runId} of ${fields.endpoint}`;
    const injecting = fields.request.headers[INJECT_FAILURE_HEADER] !== undefined;
    // A replay means the cause is fixed: the faults injected into the request are not.
    const faults = fields.replayedAt ? undefined : options.faults(fields.request, where);
    if (injecting && fields.replayedAt) {
      log('info', `${INJECT_FAILURE_HEADER} off: the run was replayed, and a replay runs without injected faults`, { endpoint: fields.endpoint, runId: fields.runId });
    } else if (!faults && injecting) {
      log('warn', `${INJECT_FAILURE_HEADER} ignored: fault injection works only under the dev server`, { where });
    }
    return new Attempt({
      ...fields,
      journal: options.journal(),
      ttl: Math.max(fields.ttl ?? 0, Math.floor((Date.parse(fields.createdAt) + options.retention) / 1_000)),
      leaseExpiresAt: clock.now() + remainingMs(context) + LEASE_GRACE_MS,
      policy: options.policy,
      remainingMs: () => remainingMs(context),
      clock,
      faults,
      stepFunctions: options.stepFunctions,
      flow: { wake: (entry) => this.wake(entry) },
      blobs: options.blobs(),
    });
  }

  /** Resumes a queued run (or step) that was handed a slot. */
  private async wake(entry: QueueEntry): Promise<void> {
    await this.options.timer().schedule(resumeEvent(entry, 'slot'), new Date(this.options.clock().now()));
  }

  /**
   * The keys of a run's concurrency limits: as its first attempt computed them, else (a run from
   * before the endpoint had these limits) from its journaled request, else the endpoint's own key.
   */
  private concurrencyKeys(kept: string[] | undefined, event: HttpEvent, endpoint: string): string[] {
    const { limits } = this.options;
    if (kept?.length === limits.concurrency.length) return kept;
    try {
      return requestKeys(limits, event, endpoint).concurrency;
    } catch {
      return limits.concurrency.map(() => ENDPOINT_KEY);
    }
  }
}

function remainingMs(context: Partial<Context> | undefined): number {
  return typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : UNKNOWN_REMAINING_MS;
}
