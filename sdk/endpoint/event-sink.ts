/**
 * Where a run's events go: a `ReadableStream` read while they happen (a platform that streams
 * responses), or text returned whole at the end (one that buffers them). Either way the same
 * Server-Sent Events.
 */
import { encodeEvent, eventStreamHeaders, KEEP_ALIVE, KEEP_ALIVE_MS, type RunStreamEvent } from '../core/event-stream.ts';
import type { HttpResponse, StreamingResponse } from '../core/http.ts';

export class EventSink {
  readonly live: boolean;
  private readonly encoder = new TextEncoder();
  private controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  private readonly buffered: string[] = [];
  private keepAlive: ReturnType<typeof setInterval> | undefined;
  private ended = false;
  readonly body: ReadableStream<Uint8Array> | undefined;
  /** Set when the reader went away (the client disconnected): later events go nowhere. */
  cancelled = false;

  /** `onCancel` is called when the reader of a live stream goes away before it ended. */
  constructor(live: boolean, onCancel?: () => void) {
    this.live = live;
    if (!live) return;
    this.body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.controller = controller;
      },
      cancel: () => {
        this.cancelled = true;
        this.stopKeepAlive();
        onCancel?.();
      },
    });
    this.keepAlive = setInterval(() => this.write(KEEP_ALIVE), KEEP_ALIVE_MS);
    this.keepAlive.unref?.();
  }

  get closed(): boolean {
    return this.ended;
  }

  send(event: RunStreamEvent): void {
    if (this.ended) return;
    this.write(encodeEvent(event));
  }

  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.stopKeepAlive();
    if (this.cancelled) return;
    try {
      this.controller?.close();
    } catch {
      // The reader went away meanwhile.
    }
  }

  /** The live stream as the platform's response: status and headers now, the body as it comes. */
  streamingResponse(runId: string): StreamingResponse {
    return { statusCode: 200, headers: eventStreamHeaders(runId), body: this.body! };
  }

  /** The buffered events as one response (after `close`). */
  bufferedResponse(runId: string): HttpResponse {
    return { statusCode: 200, headers: eventStreamHeaders(runId), body: this.buffered.join('') };
  }

  private write(text: string): void {
    if (!this.live) {
      this.buffered.push(text);
      return;
    }
    if (this.cancelled) return;
    try {
      this.controller!.enqueue(this.encoder.encode(text));
    } catch {
      this.cancelled = true;
    }
  }

  private stopKeepAlive(): void {
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = undefined;
  }
}
