import type { Context } from 'aws-lambda';
import { TERMINAL_STATUSES } from '../core/records.ts';
import type { HttpResponse, StreamingResponse } from '../core/http.ts';
import { EventSink } from '../endpoint/event-sink.ts';
import { platformStreams, withWork } from '../endpoint/streaming.ts';
import { followRun, type FollowOptions } from './results-stream.ts';
import { type Journal } from '../journal/journal.ts';
import { apiBaseUrl, json, retryAfterOfRun, seeOther } from '../endpoint/answers.ts';
import { acceptsEventStream, isHttpEvent, NO_REDACTION, snapshotRequest, type HttpEvent } from '../endpoint/api-gateway.ts';
import { RUN_ID_HEADER } from '../core/contract.ts';
import { defaultJournal, secretSource, type SecretOption } from '../endpoint/deployment.ts';
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
 * verbatim; for a run still going, a long-poll and then a 303 to the same URL. With
 * `Accept: text/event-stream`, the run's event stream (its body a `ReadableStream` where the
 * platform streams responses, wrapped by `streamify` on AWS).
 */
export function createResultsHandler(options: ResultsOptions = {}): (event: unknown, context?: Partial<Context>) => Promise<HttpResponse | StreamingResponse> {
  const secrets = secretSource(options.tokenSecret);
  const defaultWait = options.defaultWaitSeconds ?? 20;
  const maxWait = options.maxWaitSeconds ?? 25;
  const firstPoll = options.pollIntervalMs ?? 100;

  return async (event, context) => {
    if (!isHttpEvent(event)) return json(400, error('BadRequest', 'Expected an API Gateway request for GET /runs/{runId}.'));
    const request = snapshotRequest(event as HttpEvent, NO_REDACTION);
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
    const remaining = typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() - 1_000 : Infinity;
    const deadline = Date.now() + Math.min(Math.min(wait, maxWait) * 1_000, remaining);

    const journal = options.journal ?? defaultJournal();
    const self = `${apiBaseUrl(request)}${stripStage(request)}?${query.toString()}`;
    if (acceptsEventStream(request.headers.accept)) {
      const live = options.streaming ?? platformStreams();
      // Live: until shortly before the Lambda's timeout; buffered: a long-poll of `wait`.
      const until = live ? Date.now() + (typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() - STREAM_MARGIN_MS : MAX_STREAM_MS) : deadline;
      return streamResults({ journal, runId, self, live, deadline: until, pollMs: options.streamPollMs ?? 100, lastEventId: request.headers['last-event-id'] });
    }
    let interval = firstPoll;
    for (;;) {
      const run = await journal.getRun(runId);
      if (!run) return json(404, error('NotFound', `No run ${runId}.`), { [RUN_ID_HEADER]: runId });
      if (TERMINAL_STATUSES.includes(run.status) && run.response) return run.response;
      const now = Date.now();
      if (now >= deadline) return seeOther(runId, self, retryAfterOfRun(run), run.status);
      await new Promise((resolve) => setTimeout(resolve, Math.min(interval, deadline - now)));
      interval = Math.min(MAX_POLL_INTERVAL_MS, interval * 2);
    }
  };
}

/** The run's event stream; 404 (not a stream) for a run the journal does not hold. */
async function streamResults(options: Omit<FollowOptions, 'buffered'> & { live: boolean }): Promise<HttpResponse | StreamingResponse> {
  const first = await options.journal.progress(options.runId);
  if (!first) return json(404, error('NotFound', `No run ${options.runId}.`), { [RUN_ID_HEADER]: options.runId });
  const sink = new EventSink(options.live);
  const following = followRun(sink, first.run, { ...options, buffered: !options.live });
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
