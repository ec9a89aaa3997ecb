/**
 * Answering an event stream at once while the handler goes on: the slot through which the endpoint
 * hands its stream to whoever returns the invocation's result, the Middy execution mode that
 * provides it, and Lambda response streaming (`awslambda.streamifyResponse`) on AWS.
 *
 * Middy awaits the handler before it returns anything, and a middleware cannot reach the handler
 * to run it itself; so answering at once needs the execution mode (or `durableHandler`), which runs
 * the whole chain and returns as soon as the endpoint has published its stream.
 */
import type { Context } from 'aws-lambda';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ENV } from '../core/contract.ts';
import type { HttpResponse, StreamingResponse } from '../core/http.ts';
import { log } from '../core/log.ts';
import { processDefaults } from './deployment.ts';
import { normalizeResponse } from './api-gateway.ts';

/** Where the endpoint hands its event stream over, as soon as it has one. */
export interface StreamSlot {
  publish(response: StreamingResponse): void;
  /** Set by the endpoint: the invocation failed after the stream was published. */
  abort?: (error: unknown) => void;
}

/** Whether this function's responses are streamed by the platform: `DURABLE_STREAMING=1`, or the dev server. */
export function platformStreams(): boolean {
  return processDefaults().streaming ?? process.env[ENV.streaming] === '1';
}

// The invocation's work, awaited by streamify after the body was sent (Lambda freezes a function that returned).
const RUN_DONE = Symbol('durable-endpoints.run-done');

/** `response`, with the work that goes on while its body streams (what `streamify` awaits before the function returns). */
export function withWork(response: StreamingResponse, work: Promise<unknown>): StreamingResponse {
  return Object.assign(response, { [RUN_DONE]: work.catch(() => undefined) });
}

/**
 * Runs `work` with a slot and resolves with the stream it publishes, or with its result if it
 * publishes none. The work goes on after a stream was published.
 */
export function respondAtOnce(work: (slot: StreamSlot) => Promise<unknown>): Promise<unknown> {
  let publish!: (response: StreamingResponse) => void;
  const published = new Promise<StreamingResponse>((resolve) => (publish = resolve));
  const slot: StreamSlot = { publish };
  const done = work(slot);
  done.catch((error) => {
    if (slot.abort) slot.abort(error);
  });
  return Promise.race([published.then((response) => withWork(response, done)), done]);
}

interface MiddyRequestLike {
  internal: Record<string | symbol, unknown>;
}
type Middleware = (request: never) => unknown;
interface MiddyInternals {
  middyRequest: (event: unknown, context: unknown) => MiddyRequestLike;
  runRequest: (request: MiddyRequestLike, befores: Middleware[], handler: unknown, afters: Middleware[], onErrors: Middleware[], plugin: MiddyPlugin) => Promise<unknown>;
}
interface MiddyPlugin {
  requestStart: (request: MiddyRequestLike) => unknown;
  requestEnd: (request: MiddyRequestLike) => unknown;
}

/** Where the Middy execution mode leaves the slot for the `durable()` middleware. */
export const STREAM_SLOT = Symbol.for('durable-endpoints.stream-slot');

/**
 * A Middy execution mode (`middy({ executionMode: executionModeDurableStream })`) for endpoints
 * that stream: a request with `Accept: text/event-stream` is answered at once with its event stream
 * while the handler runs; other requests run as with Middy's standard mode. On AWS with
 * `DURABLE_STREAMING=1` the function uses Lambda response streaming, as Middy's
 * `executionModeStreamifyResponse` does.
 */
export function executionModeDurableStream(
  internals: MiddyInternals,
  befores: Middleware[],
  lambdaHandler: unknown,
  afters: Middleware[],
  onErrors: Middleware[],
  plugin: MiddyPlugin,
): ((event: unknown, context: Context) => Promise<unknown>) & { handler: (replace: unknown) => unknown } {
  let handler = lambdaHandler;
  const run = (event: unknown, context: Context) =>
    respondAtOnce(async (slot) => {
      const request = internals.middyRequest(event, context);
      request.internal[STREAM_SLOT] = slot;
      plugin.requestStart(request);
      try {
        return await internals.runRequest(request, befores, handler, afters, onErrors, plugin);
      } finally {
        await plugin.requestEnd(request);
      }
    });
  const middy = streamify(run) as ReturnType<typeof executionModeDurableStream>;
  middy.handler = (replace) => {
    handler = replace;
    return middy;
  };
  return middy;
}

interface AwsLambdaGlobal {
  streamifyResponse: (fn: (event: unknown, responseStream: NodeJS.WritableStream, context: Context) => Promise<void>) => (event: unknown, context: Context) => Promise<unknown>;
  HttpResponseStream: { from: (stream: NodeJS.WritableStream, prelude: { statusCode: number; headers?: Record<string, string>; cookies?: string[] }) => NodeJS.WritableStream };
}

/**
 * `handler` as a Lambda function whose responses are streamed, where the runtime and the
 * deployment stream them (`awslambda` is there and `DURABLE_STREAMING=1`); elsewhere `handler`
 * itself. The result's body (a `ReadableStream` or a string) is written as it comes, after the
 * status and headers. For the kit's results Lambda: `streamify(createResultsHandler())`.
 */
export function streamify<E>(handler: (event: E, context: Context) => Promise<unknown>): (event: E, context: Context) => Promise<unknown> {
  const lambda = (globalThis as unknown as { awslambda?: AwsLambdaGlobal }).awslambda;
  if (!lambda?.streamifyResponse || !platformStreams()) return handler;
  return lambda.streamifyResponse(async (event, responseStream, context) => {
    const result = await handler(event as E, context);
    try {
      await writeResponse(lambda, responseStream, result);
    } catch (error) {
      log('info', 'the caller went away while its response streamed', { error: (error as Error).message });
    }
    await (result as { [RUN_DONE]?: Promise<unknown> } | undefined)?.[RUN_DONE];
  }) as (event: E, context: Context) => Promise<unknown>;
}

async function writeResponse(lambda: AwsLambdaGlobal, responseStream: NodeJS.WritableStream, result: unknown): Promise<void> {
  const streaming = result as StreamingResponse;
  const response: Omit<HttpResponse, 'body'> & { body?: unknown } = streaming?.body instanceof ReadableStream ? streaming : normalizeResponse(result);
  const headers: Record<string, string> = { ...response.headers };
  for (const [name, values] of Object.entries(response.multiValueHeaders ?? {})) if (name.toLowerCase() !== 'set-cookie') headers[name] = values.join(', ');
  const cookies = [...(response.cookies ?? []), ...(response.multiValueHeaders?.['set-cookie'] ?? [])];
  const out = lambda.HttpResponseStream.from(responseStream, { statusCode: response.statusCode, headers, ...(cookies.length > 0 ? { cookies } : {}) });
  const body = response.body;
  if (body instanceof ReadableStream) {
    await pipeline(Readable.fromWeb(body as import('node:stream/web').ReadableStream), out);
    return;
  }
  const bytes = typeof body !== 'string' ? '' : response.isBase64Encoded ? Buffer.from(body, 'base64') : body;
  await new Promise<void>((resolve, reject) => {
    out.once('error', reject);
    out.end(bytes, () => resolve());
  });
}
