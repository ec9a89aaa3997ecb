/**
 * Lambda's response-streaming mode, as the functions behind a streaming REST method run in it.
 * Lambda has no local emulator of `InvokeWithResponseStream`, so the runtime is a fake: `awslambda`
 * with `streamifyResponse` and `HttpResponseStream.from`, and a response stream that, like the
 * runtime's, writes the metadata prelude just before the first write. What reaches that stream is
 * what API Gateway reads: the metadata as JSON, 8 NUL bytes, then the body.
 */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import middy from '@middy/core';
import { configureDurable, durable, RetryAfterError, step, stream, streamingHandler } from '../sdk/index.ts';
import { STREAMING_ENV, type LambdaResponseStream, type LambdaStreamingRuntime } from '../sdk/endpoint/lambda-streaming.ts';
import { lambdaContext, MemoryJournal, restApiEvent } from '../sdk/testing/index.ts';
import { durableFixture, TOKEN_SECRET } from './support/fixture.ts';

const NUL8 = '\0'.repeat(8);

/** Lambda's response stream: records each write as it happens, and the content type. */
class FakeResponseStream extends Writable {
  readonly chunks: string[] = [];
  contentType = 'application/octet-stream';
  _onBeforeFirstWrite?: (write: (chunk: string | Uint8Array) => void) => void;
  private written = false;
  private readonly waiting: (() => void)[] = [];

  constructor(options: { highWaterMark?: number; failOnWrite?: number } = {}) {
    super({ highWaterMark: options.highWaterMark ?? 16_384 });
    this.failOnWrite = options.failOnWrite;
  }
  private readonly failOnWrite?: number;

  setContentType(type: string): void {
    this.contentType = type;
  }

  override write(chunk: string | Uint8Array): boolean {
    if (!this.written) {
      this.written = true;
      this._onBeforeFirstWrite?.((c) => void super.write(c));
    }
    return super.write(chunk);
  }

  override _write(chunk: Buffer, _encoding: string, callback: (error?: Error) => void): void {
    if (this.failOnWrite !== undefined && this.chunks.length === this.failOnWrite) return callback(new Error('connection reset'));
    this.chunks.push(chunk.toString('latin1'));
    this.waiting.splice(0).forEach((resolve) => resolve());
    setImmediate(callback); // a network write completes later
  }

  /** Resolves once `count` chunks have been written. */
  async received(count: number): Promise<void> {
    while (this.chunks.length < count) await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  get bytes(): string {
    return this.chunks.join('');
  }
}

/** `awslambda` as Lambda's Node.js runtime defines it, for what the adapter uses. */
const fakeRuntime: LambdaStreamingRuntime = {
  streamifyResponse: (handler) => handler,
  HttpResponseStream: {
    from(responseStream, metadata) {
      const stream = responseStream as unknown as FakeResponseStream;
      stream.setContentType('application/vnd.awslambda.http-integration-response');
      stream._onBeforeFirstWrite = (write) => {
        write(JSON.stringify(metadata));
        write(new Uint8Array(8));
      };
      return responseStream;
    },
  },
};

type StreamingInvoke = (event: unknown, responseStream: LambdaResponseStream, context: unknown) => Promise<void>;
const asStreaming = (handler: unknown) => handler as StreamingInvoke;

afterEach(() => {
  vi.unstubAllEnvs();
  vi.unstubAllGlobals();
  configureDurable({ journal: undefined, tokenSecret: undefined });
});

describe('streamingHandler', () => {
  it('writes the metadata, 8 NUL bytes, then each chunk of a ReadableStream body as the body yields it', async () => {
    vi.stubEnv(STREAMING_ENV, '1');
    let push!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({ start: (controller) => void (push = controller) });
    const handler = streamingHandler(async () => ({ statusCode: 200, headers: { 'content-type': 'text/event-stream' }, body }), fakeRuntime);
    const out = new FakeResponseStream();

    const done = asStreaming(handler)({}, out, lambdaContext());
    await out.received(3); // the prelude and the empty write that sends it: the headers go out at once
    push.enqueue(new TextEncoder().encode('id: 1\ndata: {}\n\n'));
    await out.received(4); // written while the body is still open: nothing waits for the rest
    push.enqueue(new TextEncoder().encode('id: 2\ndata: {}\n\n'));
    await out.received(5);
    push.close();
    await done;

    expect(out.contentType).toBe('application/vnd.awslambda.http-integration-response');
    expect(out.chunks).toEqual([
      JSON.stringify({ statusCode: 200, headers: { 'content-type': 'text/event-stream' } }),
      NUL8,
      '',
      'id: 1\ndata: {}\n\n',
      'id: 2\ndata: {}\n\n',
    ]);
    expect(out.writableEnded).toBe(true);
  });

  it('waits for the response stream to drain before writing more', async () => {
    vi.stubEnv(STREAMING_ENV, '1');
    const chunks = Array.from({ length: 5 }, (_, i) => 'x'.repeat(10) + i);
    const body = new ReadableStream<Uint8Array>({ start: (c) => (chunks.forEach((chunk) => c.enqueue(new TextEncoder().encode(chunk))), c.close()) });
    const out = new FakeResponseStream({ highWaterMark: 4 });

    await asStreaming(streamingHandler(async () => ({ statusCode: 200, body }), fakeRuntime))({}, out, lambdaContext());

    expect(out.chunks.slice(3)).toEqual(chunks);
  });

  it('writes a string body after the metadata, decoding a base64 one', async () => {
    vi.stubEnv(STREAMING_ENV, '1');
    const text = new FakeResponseStream();
    const binary = new FakeResponseStream();
    const empty = new FakeResponseStream();
    const answer = (response: object) => asStreaming(streamingHandler(async () => response, fakeRuntime));

    await answer({ statusCode: 201, headers: { 'x-a': 'b' }, cookies: ['c=1'], body: '{"ok":true}' })({}, text, lambdaContext());
    await answer({ statusCode: 200, body: Buffer.from('raw').toString('base64'), isBase64Encoded: true })({}, binary, lambdaContext());
    await answer({ statusCode: 303, headers: { location: '/runs/1' } })({}, empty, lambdaContext());

    expect(text.bytes).toBe(`${JSON.stringify({ statusCode: 201, headers: { 'x-a': 'b' }, cookies: ['c=1'] })}${NUL8}{"ok":true}`);
    expect(binary.bytes).toBe(`${JSON.stringify({ statusCode: 200 })}${NUL8}raw`);
    expect(empty.bytes).toBe(`${JSON.stringify({ statusCode: 303, headers: { location: '/runs/1' } })}${NUL8}`);
    expect([text, binary, empty].every((s) => s.writableEnded)).toBe(true);
  });

  it('cancels the body and fails the invocation when the response stream fails', async () => {
    vi.stubEnv(STREAMING_ENV, '1');
    const cancelled = vi.fn();
    let n = 0;
    const body = new ReadableStream<Uint8Array>({ pull: (c) => c.enqueue(new TextEncoder().encode(`chunk ${n++}`)), cancel: cancelled });
    const out = new FakeResponseStream({ highWaterMark: 1, failOnWrite: 4 });

    await expect(asStreaming(streamingHandler(async () => ({ statusCode: 200, body }), fakeRuntime))({}, out, lambdaContext())).rejects.toThrow('connection reset');
    expect(cancelled).toHaveBeenCalled();
  });

  it('answers as the handler does outside a streaming function: no DURABLE_STREAMING, or no Lambda runtime (the dev server, tests)', async () => {
    const handler = async () => ({ statusCode: 200, body: 'ok' });
    const streamified = vi.spyOn(fakeRuntime, 'streamifyResponse');

    expect(await streamingHandler(handler, fakeRuntime)()).toEqual({ statusCode: 200, body: 'ok' });
    vi.stubEnv(STREAMING_ENV, '1');
    expect(await streamingHandler(handler)()).toEqual({ statusCode: 200, body: 'ok' });
    vi.stubGlobal('awslambda', {}); // what the AWS SDK sets outside Lambda
    expect(await streamingHandler(handler)()).toEqual({ statusCode: 200, body: 'ok' });
    expect(streamified).not.toHaveBeenCalled();
  });
});

describe('a durable endpoint exported through streamingHandler', () => {
  it('answers a request without Accept: text/event-stream as before: the 303 of a failed step in the metadata, its JSON in the body', async () => {
    vi.stubEnv(STREAMING_ENV, '1');
    const fixture = await durableFixture();
    const endpoint = fixture.wrap(async () => {
      await step.run('upstream', () => {
        throw new RetryAfterError('busy', '1m');
      });
      return { statusCode: 200, body: 'never' };
    });
    const out = new FakeResponseStream();

    await asStreaming(streamingHandler(endpoint, fakeRuntime))(restApiEvent({ method: 'POST', path: '/p', body: {} }), out, lambdaContext());

    const [metadata, body] = out.bytes.split(NUL8) as [string, string];
    const { statusCode, headers } = JSON.parse(metadata) as { statusCode: number; headers: Record<string, string> };
    expect(statusCode).toBe(303);
    expect(headers.location).toContain(`/runs/${headers['x-durable-run-id']}?token=`);
    expect(JSON.parse(body)).toMatchObject({ runId: headers['x-durable-run-id'], status: 'running' });
  });
});

describe('a durable endpoint answering an event stream from Lambda', () => {
  function streamingEndpoint(gate: Promise<void>) {
    vi.stubEnv(STREAMING_ENV, '1');
    const journal = new MemoryJournal();
    let finished = false;
    const endpoint = streamingHandler(
      middy()
        .use(durable({ journal, tokenSecret: TOKEN_SECRET }))
        .handler(async () => {
          await step.run('write', async () => {
            stream.push('first line');
            await gate;
            stream.push('second line');
          });
          finished = true;
          return { statusCode: 200, body: 'written' };
        }),
      fakeRuntime,
    );
    return { journal, endpoint: asStreaming(endpoint), finished: () => finished };
  }
  const asks = () => restApiEvent({ method: 'POST', path: '/write', body: {}, headers: { accept: 'text/event-stream' } });

  it('writes the 200 and the first chunk while the handler still works, and the rest as it comes', async () => {
    let open!: () => void;
    const { endpoint } = streamingEndpoint(new Promise((resolve) => (open = resolve)));
    const out = new FakeResponseStream();

    const done = endpoint(asks(), out, lambdaContext());
    // The prelude, the empty write, metadata, and the first chunk: before the step can end.
    await out.received(5);
    expect(JSON.parse(out.chunks[0]!)).toMatchObject({ statusCode: 200, headers: { 'content-type': 'text/event-stream; charset=utf-8' } });
    expect(out.chunks[4]).toMatch(/^id: 0~s0\.1\.1\.0\nevent: stream\ndata: \{"step":"write","data":"first line"\}/);
    open();
    await done;

    expect(out.bytes).toMatch(/event: commit\ndata: \{"step":"write"\}\n\n.*event: response\ndata: \{"status":200,.*"body":"written"\}\n\n$/s);
  });

  it('returns only once the run is done when the caller goes away mid-stream, and the rest of the run is journaled', async () => {
    let open!: () => void;
    const { endpoint, journal, finished } = streamingEndpoint(new Promise((resolve) => (open = resolve)));
    // The caller's connection breaks at the write after the first chunk.
    const out = new FakeResponseStream({ failOnWrite: 5 });

    const done = endpoint(asks(), out, lambdaContext());
    await out.received(5);
    let returned = false;
    void done.catch(() => undefined).finally(() => (returned = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(returned).toBe(false);
    open();
    await done.catch(() => undefined);

    expect(finished()).toBe(true);
    const runId = /"runId":"([0-9A-Z]{26})"/.exec(out.bytes)![1]!;
    expect((await journal.load(runId))!.run.status).toBe('completed');
  });
});

describe('the results Lambda (lambdas/results.ts) behind a streaming REST method', () => {
  async function loadResultsLambda() {
    vi.stubEnv(STREAMING_ENV, '1');
    vi.stubGlobal('awslambda', fakeRuntime);
    vi.resetModules();
    return asStreaming((await import('../lambdas/results.ts')).handler);
  }

  /** A run suspended by a failing step, which `finish` completes. */
  async function suspendedRun() {
    const fixture = await durableFixture();
    let fail = true;
    const endpoint = fixture.wrap(async () => {
      await step.run('upstream', () => {
        if (fail) throw new RetryAfterError('busy', '1m');
        return 'ok';
      });
      return { statusCode: 200, headers: { 'content-type': 'text/plain' }, body: 'finished' };
    });
    const first = await endpoint(restApiEvent({ method: 'POST', path: '/p', body: {} }));
    configureDurable({ journal: fixture.journal, tokenSecret: TOKEN_SECRET });
    const location = new URL(first.headers!.location!);
    const runId = first.headers!['x-durable-run-id']!;
    const get = (query = '') => restApiEvent({ path: `${location.pathname}${location.search}${query}`, routeKey: 'GET /runs/{runId}', pathParameters: { runId } });
    const finish = async () => {
      fail = false;
      await fixture.resume(endpoint);
    };
    return { runId, get, finish };
  }

  it('streams a finished run’s stored response: its metadata, then its body', async () => {
    const handler = await loadResultsLambda();
    const { runId, get, finish } = await suspendedRun();
    await finish();
    const out = new FakeResponseStream();

    await handler(get(), out, lambdaContext());

    expect(out.bytes).toBe(`${JSON.stringify({ statusCode: 200, headers: { 'content-type': 'text/plain', 'x-durable-run-id': runId } })}${NUL8}finished`);
  });

  it('answers a running run’s long-poll with the 303 to itself, as metadata and a JSON body', async () => {
    const handler = await loadResultsLambda();
    const { runId, get } = await suspendedRun();
    const out = new FakeResponseStream();

    await handler(get('&wait=0'), out, lambdaContext());

    const [metadata, body] = out.bytes.split(NUL8) as [string, string];
    expect(JSON.parse(metadata)).toMatchObject({ statusCode: 303, headers: { location: expect.stringContaining(`/runs/${runId}?`), 'x-durable-run-id': runId } });
    expect(JSON.parse(body)).toMatchObject({ runId, status: 'running' });
  });
});
