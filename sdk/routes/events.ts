import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { TERMINAL_STATUSES, type ReceivedEvent } from '../core/records.ts';
import { type HttpResponse } from '../core/http.ts';
import { type Journal } from '../journal/journal.ts';
import { resumeEvent } from '../core/resume.ts';
import { type Timer } from '../timers/timer.ts';
import { json } from '../endpoint/answers.ts';
import { RESERVED_EVENT_PREFIX } from '../core/contract.ts';
import { isHttpEvent, NO_REDACTION, snapshotRequest } from '../endpoint/api-gateway.ts';
import { log } from '../core/log.ts';
import { defaultClock, defaultJournal, defaultTimer } from '../endpoint/deployment.ts';
import { EVENT_LOOKBACK_MS, eventMatches } from '../engine/events.ts';
import { executionEvent, isExecutionStatusChange } from '../workflows/step-functions.ts';

export interface EventsOptions {
  /** Default: `DynamoJournal` on `DURABLE_TABLE`. */
  journal?: Journal;
  /** What resumes the runs an event completes. Default: the deployment's timer. */
  timer?: Timer;
}

const MAX_EVENT_BYTES = 256 * 1024;

/**
 * `POST /events` with `{ "name", "data", "id"? }`: completes the `step.waitForEvent` calls it
 * matches and resumes their runs. The same `id` delivered again changes nothing. Every event is
 * kept for a short window, so a waiter registered just after it still finds it.
 * Answers `{ "id", "resumed": [runId…] }`.
 *
 * The same handler takes EventBridge's "Step Functions Execution Status Change" events (the rule
 * the construct creates targets it): a final status becomes the event `durable-endpoints/execution`
 * that `step.waitForExecution` waits for, keyed by the EventBridge event id. Failures then throw, so
 * Lambda retries the asynchronous invocation.
 */
export function createEventsHandler(options: EventsOptions = {}): (event: unknown, context?: Partial<Context>) => Promise<HttpResponse> {
  return async (event) => {
    if (isExecutionStatusChange(event)) {
      const received = executionEvent(event);
      if (!received) return json(200, { id: event.id, ignored: `status ${event.detail.status} is not final`, resumed: [] });
      return json(200, await deliver({ ...received, receivedAt: new Date(defaultClock().now()).toISOString() }, options));
    }
    if (!isHttpEvent(event)) return json(400, error('Expected an API Gateway request for POST /events, or a Step Functions Execution Status Change from EventBridge.'));
    const request = snapshotRequest(event, NO_REDACTION);
    const raw = request.isBase64Encoded && request.body ? Buffer.from(request.body, 'base64').toString('utf8') : request.body ?? '';
    if (Buffer.byteLength(raw) > MAX_EVENT_BYTES) return json(413, error(`Events are limited to ${MAX_EVENT_BYTES} bytes.`));
    let body: { name?: unknown; data?: unknown; id?: unknown };
    try {
      body = JSON.parse(raw);
    } catch {
      return json(400, error('The body must be JSON: { "name": string, "data": any, "id"?: string }.'));
    }
    if (typeof body?.name !== 'string' || body.name.length === 0 || body.name.length > 256) return json(400, error('`name` must be a non-empty string of at most 256 characters.'));
    // The kit's own events (a Step Functions execution's end) come only from EventBridge: a caller
    // allowed to post events must not be able to forge a workflow's result.
    if (body.name.startsWith(RESERVED_EVENT_PREFIX)) {
      return json(400, error(`Event names starting with '${RESERVED_EVENT_PREFIX}' are reserved for the kit's own events; choose another name.`));
    }
    if (body.id !== undefined && (typeof body.id !== 'string' || !/^[\w.:/-]{1,128}$/.test(body.id))) {
      return json(400, error('`id`, when given, must be 1-128 characters of letters, digits and _ . : / -.'));
    }
    const received = { name: body.name, id: (body.id as string | undefined) ?? randomUUID(), data: body.data ?? null, receivedAt: new Date(defaultClock().now()).toISOString() };
    return json(200, await deliver(received, options));
  };
}

/** Records the event once, completes the waiters it matches and resumes their runs. */
async function deliver(delivered: ReceivedEvent, options: EventsOptions): Promise<{ id: string; duplicate?: true; resumed: string[] }> {
  const journal = options.journal ?? defaultJournal();
  const timer = options.timer ?? defaultTimer();
  // An id seen before means the event as first recorded, whatever data came with it this time.
  const now = defaultClock().now();
  const { fresh, event: received } = await journal.recordEvent(delivered, Math.floor((now + EVENT_LOOKBACK_MS) / 1_000) + 60);
  // A duplicate still looks for waiters: when the first delivery failed after recording the event
  // (and Lambda or the caller retries it), its waiters are still there. Completing a waiter is a
  // conditional write, so a waiter the first delivery completed is not completed, or resumed, again.
  const resumed: string[] = [];
  for (const waiter of await journal.waiters(received.name)) {
    if (!eventMatches(received, waiter.match)) continue;
    const { resolved } = await journal.resolveWaiting(waiter, JSON.stringify(received));
    if (!resolved) continue;
    // The run may have moved past the attempt that registered the waiter (a sibling step retried,
    // a hand-off): resume the attempt it is at now.
    const run = await journal.getRun(waiter.runId);
    if (!run || TERMINAL_STATUSES.includes(run.status)) continue;
    const functionName = run.functionName ?? waiter.functionName;
    if (!functionName) {
      // Without it the timer would deliver to the function running this code, not to the endpoint.
      log('error', 'a completed waiter names no Lambda function to resume; the run continues at its timeout', { runId: run.runId, endpoint: run.endpoint });
      continue;
    }
    // Due now: on AWS an asynchronous invoke of the waiting endpoint (all the events Lambda may do).
    try {
      await timer.schedule(resumeEvent({ ...run, functionName }, 'event'), new Date(now));
    } catch (error) {
      // The step is completed, so delivering the event again would not resume the run: make it due
      // now instead, and the sweep resumes it (unless an attempt moved it meanwhile, which is as good).
      log('error', 'resuming a run after its event failed; the sweep will resume it', { runId: run.runId, endpoint: run.endpoint, error: (error as Error).message });
      await journal.replaceRun(run, { ...run, wakeAt: new Date(now).toISOString(), updatedAt: new Date(now).toISOString() });
      continue;
    }
    resumed.push(waiter.runId);
  }
  log('info', 'event received', { event: received.name, id: received.id, duplicate: !fresh, resumed: resumed.length });
  return fresh ? { id: received.id, resumed } : { id: received.id, duplicate: true, resumed };
}

function error(message: string) {
  return { error: { name: 'BadRequest', message } };
}
