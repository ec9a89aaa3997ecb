/**
 * Lambda response streaming, for API Gateway REST methods whose integration streams (response
 * transfer mode STREAM, which invokes the function with `InvokeWithResponseStream`). The handler
 * keeps answering as an ordinary proxy handler does; `streamingHandler` writes that answer to
 * Lambda's response stream: the metadata (status, headers, cookies), then the body, chunk by chunk
 * as a `ReadableStream` body yields them. It also lets the handler answer before it ends
 * (`respondAtOnce`): `durable()` answers an event stream at once and goes on.
 */
import { ENV } from '../core/contract.ts';
import { respondAtOnce, workOf } from './streaming.ts';
import { isReadableStream } from '../core/http.ts';

/**
 * Set to `'1'` by the `DurableEndpoints` construct on functions behind a streaming integration
 * (`addEndpoint(…, { streaming: true })`, the results route on a REST API): the function may answer
 * with a streamed body, and its handler must be exported through `streamingHandler`.
 */
export const STREAMING_ENV = ENV.streaming;

/** An API Gateway proxy answer whose body may be a stream. */
export interface StreamableResponse {
  statusCode: number;
  headers?: Record<string, string | number | boolean>;
  multiValueHeaders?: Record<string, (string | number | boolean)[]>;
  cookies?: string[];
  body?: string | ReadableStream<Uint8Array> | null;
  isBase64Encoded?: boolean;
}

/** The part of Lambda's response stream this module uses (a Node.js `Writable` on Lambda). */
export interface LambdaResponseStream {
  write(chunk: string | Uint8Array): boolean;
  end(callback?: () => void): unknown;
  once(event: 'drain' | 'error', listener: (...args: unknown[]) => void): unknown;
  off(event: 'drain' | 'error', listener: (...args: unknown[]) => void): unknown;
}

/** What Lambda's Node.js runtime puts in the global `awslambda` for streaming functions. */
export interface LambdaStreamingRuntime {
  streamifyResponse(handler: (event: unknown, responseStream: LambdaResponseStream, context: unknown) => Promise<void>): unknown;
  HttpResponseStream: { from(responseStream: LambdaResponseStream, metadata: Record<string, unknown>): LambdaResponseStream };
}

type Handler = (event: never, context: never) => Promise<unknown>;

/**
 * Exports `handler` so that it may answer before it ends: a request for `text/event-stream` gets its
 * event stream at once while the run goes on (`durable()` publishes it through `respondAtOnce`).
 * Behind a streaming integration (`DURABLE_STREAMING=1` and Lambda's runtime, which defines
 * `awslambda.streamifyResponse`) it runs in Lambda's response-streaming mode, writes the answer as
 * it comes, and returns once the handler has ended (Lambda freezes a function that returned), even
 * when the caller went away. Elsewhere (the dev server, tests) the caller reads the answer as it is;
 * on a buffered integration `durable()` answers an event stream whole, at the end.
 *
 * ```ts
 * export const handler = streamingHandler(middy().use(durable()).handler(async (event) => { … }));
 * ```
 *
 * `runtime` is Lambda's streaming API, by default the global `awslambda`; a test passes a fake.
 */
export function streamingHandler<H extends Handler>(handler: H, runtime = lambdaRuntime()): H {
  const call = handler as unknown as (event: unknown, context: unknown) => Promise<unknown>;
  const atOnce = (event: unknown, context: unknown) => respondAtOnce(call, event, context);
  if (process.env[STREAMING_ENV] !== '1' || !runtime) return atOnce as unknown as H;
  return runtime.streamifyResponse(async (event, responseStream, context) => {
    const answer = await atOnce(event, context);
    try {
      await writeResponse(runtime, responseStream, answer);
    } finally {
      await workOf(answer);
    }
  }) as H;
}

function lambdaRuntime(): LambdaStreamingRuntime | undefined {
  // Not just its presence: the AWS SDK (@aws/lambda-invoke-store) sets `globalThis.awslambda = {}`
  // wherever it is loaded, Lambda or not.
  const runtime = (globalThis as { awslambda?: Partial<LambdaStreamingRuntime> }).awslambda;
  return typeof runtime?.streamifyResponse === 'function' ? (runtime as LambdaStreamingRuntime) : undefined;
}

const isHttpResponse = (value: unknown): value is StreamableResponse =>
  typeof value === 'object' && value !== null && typeof (value as StreamableResponse).statusCode === 'number';

/**
 * Writes a handler's answer to Lambda's response stream in the format API Gateway's streaming
 * integration reads: the metadata as JSON and 8 NUL bytes (both written by the runtime's
 * `HttpResponseStream`), then the body.
 */
export async function writeResponse(runtime: LambdaStreamingRuntime, responseStream: LambdaResponseStream, result: unknown): Promise<void> {
  if (!isHttpResponse(result)) {
    // Not an HTTP answer (a resume event's, invoked asynchronously): nobody reads it.
    await end(responseStream, JSON.stringify(result ?? null));
    return;
  }
  const { statusCode, headers, multiValueHeaders, cookies, body, isBase64Encoded } = result;
  const out = runtime.HttpResponseStream.from(responseStream, { statusCode, headers, multiValueHeaders, cookies });
  // The runtime writes the metadata before the first write: an empty one sends the status and the
  // headers now, before the body's first chunk (an event stream's client is waiting for them).
  out.write('');
  if (isReadableStream<Uint8Array>(body)) await pipe(body, out);
  else await end(out, body ? (isBase64Encoded ? Buffer.from(body, 'base64') : body) : undefined);
}

/** Each chunk is written as soon as the body yields it, waiting for `drain` when the stream is full. */
async function pipe(body: ReadableStream<Uint8Array>, out: LambdaResponseStream): Promise<void> {
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!out.write(value)) await drained(out);
    }
  } catch (error) {
    // Tell the body's source that nobody reads it any more (a failed write), and end the invocation
    // with the error: the response stops there.
    await reader.cancel(error).catch(() => undefined);
    throw error;
  }
  await end(out);
}

async function end(out: LambdaResponseStream, last?: string | Uint8Array): Promise<void> {
  if (last !== undefined && last.length > 0) out.write(last);
  const failed = settled(out);
  await Promise.race([new Promise<void>((resolve) => out.end(resolve)), failed.promise]).finally(failed.dispose);
}

/** Resolves on `drain`, rejects if the stream fails first. */
async function drained(out: LambdaResponseStream): Promise<void> {
  const failed = settled(out);
  await Promise.race([new Promise<void>((resolve) => out.once('drain', () => resolve())), failed.promise]).finally(failed.dispose);
}

/** A promise that rejects when the response stream reports an error, and a way to stop listening. */
function settled(out: LambdaResponseStream): { promise: Promise<never>; dispose: () => void } {
  let listener: (error: unknown) => void = () => undefined;
  const promise = new Promise<never>((_, reject) => {
    listener = (error) => reject(error instanceof Error ? error : new Error(String(error)));
    out.once('error', listener);
  });
  promise.catch(() => undefined);
  return { promise, dispose: () => out.off('error', listener) };
}
