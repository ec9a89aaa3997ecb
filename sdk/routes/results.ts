import type { Context } from 'aws-lambda';
import { TERMINAL_STATUSES, type RunRecord, type RunStatus } from '../core/records.ts';
import type { HttpResponse, StreamingResponse } from '../core/http.ts';
import { EventSink } from '../endpoint/event-sink.ts';
import { platformStreams, withWork } from '../endpoint/streaming.ts';
import { followRun, type FollowOptions } from './results-stream.ts';
import { type Journal } from '../journal/journal.ts';
import { corsFromEnv, resolveCors, type CorsOptions } from '../core/cors.ts';
import { apiBaseUrl, json, prefersRespondAsync, retryAfterOfRun, runContinues, withCors } from '../endpoint/answers.ts';
import { acceptsEventStream, header, isHttpEvent, NO_REDACTION, snapshotRequest, type HttpEvent } from '../endpoint/api-gateway.ts';
import { RUN_ID_HEADER } from '../core/contract.ts';
import { defaultBlobs, defaultJournal, secretSource, type SecretOption } from '../endpoint/deployment.ts';
import type { BlobStore } from '../payloads/blob-store.ts';
import { storedResponse } from '../payloads/offload.ts';
import { verifyToken } from '../core/token.ts';
import { ULID_PATTERN } from '../core/ids.ts';

export interface ResultsOptions {
  /** Default: `DynamoJournal` on `DURABLE_TABLE`. */
  journal?: Journal;
  /** The secret the endpoints sign result URLs with. Default: `DURABLE_TOKEN_SECRET`. */
  tokenSecret?: SecretOption;
  /** Long-poll length when the query has no `wait`. Default 20 s. */
  defaultWaitSeconds?: number;
  /** Upper bound of `wait`: API Gateway cuts requests at 30 s. Default 25 s. */
  maxWaitSeconds?: number;
  /** First delay between polls of the journal while waiting; grows to 1 s. Default 100 ms. */
  pollIntervalMs?: number;
  /** CORS headers on the answers, as on the endpoints. Default: `DURABLE_CORS` (the construct's `cors`). */
  cors?: CorsOptions;
  /** Where the endpoints keep large responses. Default: as the endpoints' (`configureDurable`, else `DURABLE_BLOB_BUCKET`). */
  blobs?: BlobStore;
  /**
   * Whether the platform streams this function's responses, so that an event stream is sent as it
   * happens. Default: `DURABLE_STREAMING=1` (or the dev server). Else event streams are answered
   * buffered, each response holding what happened within `wait`.
   */
  streaming?: boolean;
  /** How often an event stream polls the journal while the run may stream. Default 100 ms. */
  streamPollMs?: number;
}

const MAX_POLL_INTERVAL_MS = 1_000;
// A live event stream ends (redirecting to itself) this long before the Lambda's timeout.
const STREAM_MARGIN_MS = 2_000;
// Without a Lambda context (tests, other hosts), a live event stream lasts at most this long.
const MAX_STREAM_MS = 15 * 60_000;

/**
 * `GET /runs/{runId}?token=…[&wait=seconds]`: the stored response of a finished run, replayed
 * verbatim (one larger than a Lambda may return: a 303 to a short-lived URL of its body); for a run still going, a long-poll and then a 303 to the same URL (202 with
 * `Prefer: respond-async`, answered at once when the run cannot change before the wait ends). With
 * `Accept: text/event-stream`, the run's event stream (results-stream.ts): its body a
 * `ReadableStream` where the platform streams responses (exported through `streamingHandler`).
 */
export function createResultsHandler(options: ResultsOptions = {}): (event: unknown, context?: Partial<Context>) => Promise<HttpResponse | StreamingResponse> {
  const secrets = secretSource(options.tokenSecret);
  const defaultWait = options.defaultWaitSeconds ?? 20;
  const maxWait = options.maxWaitSeconds ?? 25;
  const firstPoll = options.pollIntervalMs ?? 100;
  const cors = resolveCors(options.cors ?? corsFromEnv());

  return async (event, context) => {
    if (!isHttpEvent(event)) return json(400, error('BadRequest', 'Expected an API Gateway request for GET /runs/{runId}.'));
    return withCors(await answer(event as HttpEvent, context), cors, header((event as HttpEvent).headers, 'origin'));
  };

  async function answer(event: HttpEvent, context: Partial<Context> | undefined): Promise<HttpResponse | StreamingResponse> {
    const request = snapshotRequest(event, NO_REDACTION);
    const runId = event.pathParameters?.runId ?? /\/runs\/([^/]+)$/.exec(request.path)?.[1] ?? '';
    const query = new URLSearchParams(request.rawQuery);
    if (!ULID_PATTERN.test(runId)) return json(404, error('NotFound', `No run ${JSON.stringify(runId)}.`));

    const token = query.get('token') ?? undefined;
    let check = verifyToken(await secrets.current(), runId, token);
    // A URL signed before a rotation (or by a warm endpoint that has not re-read the secret yet).
    if (!check.ok && check.reason === 'invalid') {
      for (const previous of await secrets.previous()) {
        check = verifyToken(previous, runId, token);
        if (check.ok || check.reason !== 'invalid') break;
      }
    }
    if (!check.ok) {
      const why = check.reason === 'expired' ? 'The result URL has expired.' : 'The result URL token is missing or not valid for this run.';
      return json(401, error('Unauthorized', why), { 'www-authenticate': 'Bearer' });
    }

    const waitParam = query.get('wait');
    const wait = waitParam === null ? defaultWait : Number(waitParam);
    if (!Number.isFinite(wait) || wait < 0) return json(400, error('BadRequest', '`wait` must be a number of seconds >= 0.'));
    // The Lambda's time left, if it says.
    const remaining = typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : undefined;
    const deadline = Date.now() + Math.min(Math.min(wait, maxWait) * 1_000, remaining === undefined ? Infinity : remaining - 1_000);

    const journal = options.journal ?? defaultJournal();
    const self = `${apiBaseUrl(request)}${stripStage(request)}?${query.toString()}`;
    const final = (run: RunRecord) => finalAnswer(run, options.blobs ?? defaultBlobs());
    if (acceptsEventStream(request.headers.accept)) {
      const live = options.streaming ?? platformStreams();
      // Live: until shortly before the Lambda's timeout; buffered: a long-poll of `wait`.
      const until = live ? Date.now() + (remaining === undefined ? MAX_STREAM_MS : remaining - STREAM_MARGIN_MS) : deadline;
      return streamResults({ journal, runId, self, live, deadline: until, pollMs: options.streamPollMs ?? 100, lastEventId: request.headers['last-event-id'], final });
    }
    const respondAsync = prefersRespondAsync(request.headers);
    let interval = firstPoll;
    for (;;) {
      const run = await journal.getRun(runId);
      if (!run) return json(404, error('NotFound', `No run ${runId}.`), { [RUN_ID_HEADER]: runId });
      if (TERMINAL_STATUSES.includes(run.status) && run.response) return final(run);
      const now = Date.now();
      const wakeAt = run.wakeAt ? Date.parse(run.wakeAt) : undefined;
      if (now >= deadline || (respondAsync && idleBeyond(run.status, wakeAt, deadline))) return runContinues(runId, self, retryAfterOfRun(run, now), respondAsync, run.status);
      await new Promise((resolve) => setTimeout(resolve, Math.min(interval, deadline - now)));
      interval = Math.min(MAX_POLL_INTERVAL_MS, interval * 2);
    }
  }
}

/**
 * Whether nothing can change before the long-poll would end: the run is suspended (no attempt
 * holds it: a lease removes `wakeAt`) until after `deadline`, and is not waiting for an event
 * (which may come any moment). Holding such a request would bill the Lambda for the whole wait
 * for nothing. Only a caller that polls itself and honours `Retry-After` is answered at once
 * (`Prefer: respond-async`): one that follows 303s (browsers' `fetch`, `curl -L`) would come
 * straight back, and use up its redirect limit in a moment.
 */
function idleBeyond(status: RunStatus, wakeAt: number | undefined, deadline: number): boolean {
  return status !== 'waiting' && wakeAt !== undefined && wakeAt > deadline;
}

/** The stored response of a run that ended; one larger than a Lambda may return: a 303 to a short-lived URL of its body. */
async function finalAnswer(run: RunRecord, blobs: BlobStore | undefined): Promise<HttpResponse> {
  const stored = await storedResponse(run.response!, blobs);
  if ('response' in stored) return stored.response;
  return json(303, { runId: run.runId, status: run.status, url: stored.url }, { location: stored.url, 'retry-after': '0', 'cache-control': 'no-store', [RUN_ID_HEADER]: run.runId });
}

/** The run's event stream; 404 (not a stream) for a run the journal does not hold. */
async function streamResults(options: FollowOptions & { live: boolean }): Promise<HttpResponse | StreamingResponse> {
  const first = await options.journal.progress(options.runId);
  if (!first) return json(404, error('NotFound', `No run ${options.runId}.`), { [RUN_ID_HEADER]: options.runId });
  const sink = new EventSink(options.live);
  const following = followRun(sink, first, options);
  if (options.live) return withWork(sink.streamingResponse(options.runId), following);
  await following;
  return sink.bufferedResponse(options.runId);
}

/** The request path without the stage prefix that apiBaseUrl already adds. */
function stripStage(request: ReturnType<typeof snapshotRequest>): string {
  const stage = (request.requestContext as { stage?: string }).stage;
  if (request.format === '2.0' && stage && stage !== '$default' && request.path.startsWith(`/${stage}/`)) {
    return request.path.slice(stage.length + 1);
  }
  return request.path;
}

function error(name: string, message: string) {
  return { error: { name, message } };
}
