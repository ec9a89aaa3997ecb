/**
 * `durableStream`: a durable endpoint's event stream (`Accept: text/event-stream`), read with
 * `fetch` and a body reader, so it works in browsers and Node and can `POST` (EventSource cannot).
 * It applies rollbacks, follows `redirect` to the results URL, reconnects with `Last-Event-ID`
 * after a dropped connection, and ends with the run's final `Response`.
 */
import { IDEMPOTENCY_KEY_HEADER, isNetworkError, newKey, RUN_ID_HEADER, SAFE_METHODS, SEND_RETRIES, sendWithRetries, sleep } from './shared.ts';

/**
 * What happens, in order:
 * - `metadata`: the run's id and results URL (where a reader can reconnect);
 * - `chunk`: something a step pushed, provisional until its `commit`;
 * - `commit`: the step's result is journaled; `chunks` are final;
 * - `rollback`: the step attempt failed (or its connection dropped before its commit): `chunks` are withdrawn;
 * - `redirect`, `reconnect`: the stream continues at `url` (the run left the invocation; the connection dropped);
 * - `response`: the final response, last.
 */
export type StreamEvent =
  | { type: 'metadata'; runId: string; resultUrl: string }
  | { type: 'chunk'; step: string; data: unknown }
  | { type: 'commit'; step: string; chunks: unknown[] }
  | { type: 'rollback'; step: string; chunks: unknown[] }
  | { type: 'redirect'; url: string }
  | { type: 'reconnect'; url: string; attempt: number }
  | { type: 'response'; response: Response };

export interface StreamedChunk {
  step: string;
  data: unknown;
  committed: boolean;
}

export interface DurableStreamInit extends RequestInit {
  /** Called with each event as it happens (the iterator yields the same events). An error it throws ends the stream. */
  onEvent?: (event: StreamEvent) => void;
  /** As for `durableFetch`: an `Idempotency-Key`, and the first request sent again after a network error. */
  idempotent?: boolean;
  /** Reconnections in a row after dropped connections that brought nothing new. Default 5. */
  reconnects?: number;
  /** The `fetch` to send requests with. Default: `globalThis.fetch`. */
  fetch?: (request: Request) => Promise<Response>;
}

export interface DurableStream extends AsyncIterable<StreamEvent> {
  /** The final response; rejects when the stream cannot go on (a network error that outlasts the reconnections, an abort). */
  readonly response: Promise<Response>;
  /** Known from `metadata` on. */
  readonly runId: string | undefined;
  readonly resultUrl: string | undefined;
  /** The chunks so far, rollbacks applied: committed ones in the order of their commits, then provisional ones. */
  chunks(): StreamedChunk[];
}

const EVENT_STREAM = 'text/event-stream';

/** Reads the event stream of a durable endpoint's request, from now until its final response. */
export function durableStream(input: RequestInfo | URL, init: DurableStreamInit = {}): DurableStream {
  const { onEvent, idempotent = false, reconnects = 5, fetch: send = (request) => globalThis.fetch(request), ...requestInit } = init;
  let request = new Request(input, requestInit);
  const headers = new Headers(request.headers);
  headers.set('accept', EVENT_STREAM);
  const keyed = idempotent && !SAFE_METHODS.has(request.method);
  if (keyed && !headers.has(IDEMPOTENCY_KEY_HEADER)) headers.set(IDEMPOTENCY_KEY_HEADER, newKey());
  request = new Request(request, { headers });
  const reader = new StreamReader(onEvent);
  const response = reader.run(request, keyed ? SEND_RETRIES : 0, reconnects, send);
  response.catch(() => undefined);
  return {
    response,
    get runId() {
      return reader.runId;
    },
    get resultUrl() {
      return reader.resultUrl;
    },
    chunks: () => reader.chunks(),
    [Symbol.asyncIterator]: () => reader.events(),
  };
}

type Outcome = { done: Response } | { redirect: string } | { dropped: true };

class StreamReader {
  runId: string | undefined;
  resultUrl: string | undefined;
  private readonly committed: { step: string; data: unknown }[] = [];
  private readonly provisional = new Map<string, unknown[]>();
  private lastEventId: string | undefined;
  private lastChunkStep: string | undefined;
  private readonly queue: StreamEvent[] = [];
  private ended: { error?: unknown } | undefined;
  private wake: (() => void) | undefined;
  private readonly onEvent: DurableStreamInit['onEvent'];

  constructor(onEvent: DurableStreamInit['onEvent']) {
    this.onEvent = onEvent;
  }

  chunks(): StreamedChunk[] {
    const provisional = [...this.provisional].flatMap(([step, chunks]) => chunks.map((data) => ({ step, data, committed: false })));
    return [...this.committed.map((chunk) => ({ ...chunk, committed: true })), ...provisional];
  }

  async run(first: Request, retries: number, reconnects: number, send: (request: Request) => Promise<Response>): Promise<Response> {
    try {
      const response = await this.follow(first, retries, reconnects, send);
      this.end();
      return response;
    } catch (error) {
      this.end(error);
      throw error;
    }
  }

  async *events(): AsyncGenerator<StreamEvent> {
    for (let seen = 0; ; ) {
      while (seen < this.queue.length) yield this.queue[seen++]!;
      if (this.ended) {
        if (this.ended.error !== undefined) throw this.ended.error;
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private async follow(first: Request, retries: number, reconnects: number, send: (request: Request) => Promise<Response>): Promise<Response> {
    const signal = first.signal;
    let next: Request | undefined;
    for (let failures = 0; ; ) {
      const heard = this.lastEventId;
      let response: Response | undefined;
      try {
        response = next ? await send(next) : await sendWithRetries(first, retries, send);
      } catch (error) {
        // The first request is sent once (unless keyed): sent again, it could start a second run.
        if (!next || !isNetworkError(error, signal)) throw error;
      }
      const outcome: Outcome | undefined = response && (await this.read(response, next !== undefined, signal));
      if (outcome && 'done' in outcome) return outcome.done;
      if (outcome && 'redirect' in outcome) {
        failures = 0;
        next = this.reconnect(outcome.redirect, signal);
        continue;
      }
      if (!this.resultUrl) throw new TypeError(`durableStream: ${first.method} ${first.url}: the connection dropped before the stream said where the run continues.`);
      failures = this.lastEventId === heard ? failures + 1 : 1;
      if (failures > reconnects) throw new TypeError(`durableStream: the stream of run ${this.runId} dropped ${failures} times in a row without progress.`);
      await sleep(Math.min(5_000, 250 * 2 ** (failures - 1)), signal);
      next = this.reconnect(this.resultUrl, signal);
      this.emit({ type: 'reconnect', url: this.resultUrl, attempt: failures });
    }
  }

  /** What one response brings: the run's end, where it continues, or a dropped connection. */
  private async read(response: Response, reconnecting: boolean, signal: AbortSignal): Promise<Outcome> {
    if (!(response.headers.get('content-type') ?? '').startsWith(EVENT_STREAM)) {
      // The gateway's own error on a reconnection (no run id): the connection is tried again.
      if (reconnecting && [502, 503, 504].includes(response.status) && !response.headers.has(RUN_ID_HEADER)) {
        await response.body?.cancel();
        return { dropped: true };
      }
      // Not an event stream (refused before the run began, a repeat of a finished run's key…): the answer itself.
      this.emit({ type: 'response', response });
      return { done: response };
    }
    const decoder = new TextDecoder();
    const body = response.body!.getReader();
    let buffer = '';
    let event = { name: 'message', data: [] as string[] };
    for (;;) {
      let read: ReadableStreamReadResult<Uint8Array>;
      try {
        read = await body.read();
      } catch (error) {
        // The caller's abort ends the stream; anything else cut the connection.
        if (signal.aborted) throw error;
        return { dropped: true };
      }
      if (read.done) return { dropped: true };
      buffer += decoder.decode(read.value, { stream: true });
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop()!;
      for (const line of lines) {
        if (line === '') {
          const outcome = event.data.length > 0 ? this.dispatch(event.name, event.data.join('\n')) : undefined;
          event = { name: 'message', data: [] };
          if (outcome) {
            await body.cancel().catch(() => undefined);
            return outcome;
          }
          continue;
        }
        const colon = line.indexOf(':');
        if (colon === 0) continue; // a comment: keep-alive
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
        else if (field === 'event') event.name = value;
        else if (field === 'data') event.data.push(value);
      }
    }
  }

  private dispatch(name: string, text: string): Outcome | undefined {
    const data = JSON.parse(text) as Record<string, unknown>;
    const step = data.step as string;
    switch (name) {
      case 'metadata':
        this.runId = data.runId as string;
        this.resultUrl = data.resultUrl as string;
        this.emit({ type: 'metadata', runId: this.runId, resultUrl: this.resultUrl });
        return undefined;
      case 'stream':
        if (this.provisional.has(step)) this.provisional.get(step)!.push(data.data);
        else this.provisional.set(step, [data.data]);
        this.lastChunkStep = step;
        this.emit({ type: 'chunk', step, data: data.data });
        return undefined;
      case 'commit': {
        const chunks = this.provisional.get(step) ?? [];
        this.provisional.delete(step);
        for (const chunk of chunks) this.committed.push({ step, data: chunk });
        this.emit({ type: 'commit', step, chunks });
        return undefined;
      }
      case 'rollback':
        this.withdraw(step);
        return undefined;
      case 'redirect':
        this.emit({ type: 'redirect', url: data.url as string });
        return { redirect: data.url as string };
      case 'response': {
        const response = toResponse(data as unknown as StreamedResponse);
        this.emit({ type: 'response', response });
        return { done: response };
      }
      default:
        return undefined;
    }
  }

  /**
   * The request that continues the stream at `url`. What was provisional is withdrawn: the server
   * sends it again once committed. Only a commit it was replaying when cut (an id `n.i`) goes on.
   */
  private reconnect(url: string, signal: AbortSignal): Request {
    const replaying = this.lastEventId !== undefined && /^\d+\.\d+$/.test(this.lastEventId) ? this.lastChunkStep : undefined;
    for (const step of [...this.provisional.keys()]) if (step !== replaying) this.withdraw(step);
    const headers = new Headers({ accept: EVENT_STREAM });
    if (this.lastEventId !== undefined) headers.set('last-event-id', this.lastEventId);
    return new Request(url, { headers, signal });
  }

  private withdraw(step: string): void {
    const chunks = this.provisional.get(step);
    if (!chunks) return;
    this.provisional.delete(step);
    this.emit({ type: 'rollback', step, chunks });
  }

  private emit(event: StreamEvent): void {
    this.queue.push(event);
    this.wake?.();
    this.onEvent?.(event);
  }

  private end(error?: unknown): void {
    this.ended = error === undefined ? {} : { error };
    this.wake?.();
  }
}

interface StreamedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded?: boolean;
}

/** The `response` event as a `Response`. */
function toResponse({ status, headers, body, isBase64Encoded }: StreamedResponse): Response {
  const bytes = isBase64Encoded ? Uint8Array.from(atob(body), (c) => c.charCodeAt(0)) : body;
  return new Response([101, 204, 205, 304].includes(status) ? null : bytes, { status, headers });
}
