/**
 * The ambient `stream` API (`stream.push`, `stream.pipe`), valid inside a step's function: each
 * chunk belongs to the step attempt that pushed it, is provisional until that step's result is
 * journaled (with it, in the same write) and withdrawn if the attempt fails.
 */
import { DurableContextError, StreamError } from '../core/errors.ts';
import type { ChunkSource } from '../core/event-stream.ts';
import { chunkJson } from '../core/serialization.ts';
import { runStorage, stepStorage } from './storage.ts';
import { isReadableStream } from '../core/http.ts';

/**
 * What one step attempt may stream, as JSON: its chunks are kept on the step's journal item next to
 * its result (at most 350 KB with the result, in DynamoDB's 400 KB item), so a replay has them.
 */
export const MAX_STEP_STREAM_BYTES = 128_000;

/** What the attempt does with a step attempt's chunks (`AttemptStream`). */
export interface ChunkOwner {
  chunk(chunks: StepChunks, index: number, data: unknown): void;
  describe(stepId: string): string;
}

/** A failure injected into a streaming step attempt: thrown by its push after `after` chunks (or when it returns). */
export interface Doom {
  error: Error;
  after: number;
}

/** The chunks of one step attempt, as they are pushed. */
export class StepChunks {
  readonly stepId: string;
  readonly source: ChunkSource;
  /** Each chunk as JSON text. */
  readonly texts: string[] = [];
  bytes = 0;
  /** Set when the attempt ended: later pushes fail, or are dropped once the run handed off. */
  state: 'open' | 'ended' | 'abandoned' = 'open';
  private readonly owner: ChunkOwner;
  readonly doom: Doom | undefined;

  constructor(owner: ChunkOwner, stepId: string, source: ChunkSource, doom?: Doom) {
    this.owner = owner;
    this.stepId = stepId;
    this.source = source;
    this.doom = doom;
  }

  get count(): number {
    return this.texts.length;
  }

  push(data: unknown): void {
    const where = this.owner.describe(this.stepId);
    // The step was abandoned at a hand-off: it still runs, but the run goes on elsewhere.
    if (this.state === 'abandoned') return;
    if (this.state === 'ended') {
      throw new StreamError(`${where}: stream.push was called after the step attempt ended. Await what streams before the step's function returns.`);
    }
    if (this.doom && this.count >= this.doom.after) throw this.doom.error;
    const text = chunkJson(data, (message) => {
      throw new StreamError(`${where}: ${message}`);
    });
    const bytes = Buffer.byteLength(text);
    if (this.bytes + bytes > MAX_STEP_STREAM_BYTES) {
      throw new StreamError(
        `${where} streamed more than ${MAX_STEP_STREAM_BYTES} bytes of chunks (JSON) in one attempt; its chunks are journaled with its result. ` +
          'Stream less (for example progress, not whole documents), or split the work into several steps.',
      );
    }
    this.texts.push(text);
    this.bytes += bytes;
    this.owner.chunk(this, this.texts.length - 1, JSON.parse(text));
  }
}

/** Runs a step attempt's function with `stream` bound to its chunks. */
export function inStep<T>(chunks: StepChunks, fn: () => T | Promise<T>): Promise<T> {
  return stepStorage.run(chunks, async () => fn());
}

function currentChunks(call: string): StepChunks {
  const chunks = stepStorage.getStore();
  if (chunks) return chunks;
  const run = runStorage.getStore()?.run;
  const where = run && !run.closed ? 'outside a step: call it inside the function given to step.run' : 'outside a durable handler (or after it returned)';
  throw new DurableContextError(
    `${call} was called ${where}. A chunk belongs to the step that pushes it: it is committed with the step's result and rolled back if the step attempt fails.`,
  );
}

/** Streams what a step produces while it works, to callers that asked for `text/event-stream`. */
export const stream = {
  /**
   * Sends `data` (any JSON value) to the caller's event stream as a chunk of the current step.
   * Provisional until the step's result is journaled (then committed with it); withdrawn if the
   * step attempt fails. Throws outside a step, for data that is not JSON, and past
   * `MAX_STEP_STREAM_BYTES` per step attempt.
   */
  push(data: unknown): void {
    currentChunks('stream.push').push(data);
  },

  /**
   * Pushes every item of `source` (an async or sync iterable, or a `ReadableStream`) as a chunk,
   * resolving when it ends. Bytes (`Uint8Array`) are decoded as UTF-8 text first, so a fetch body
   * streams as text.
   */
  async pipe(source: AsyncIterable<unknown> | Iterable<unknown> | ReadableStream<unknown>): Promise<void> {
    const chunks = currentChunks('stream.pipe');
    if (typeof source === 'string') throw new TypeError(`${chunks.stepId}: stream.pipe takes an iterable or a ReadableStream of chunks; push a string with stream.push.`);
    const decoder = new TextDecoder();
    const items = isReadableStream(source) ? readAll(source) : source;
    for await (const item of items) {
      const data = item instanceof Uint8Array ? decoder.decode(item, { stream: true }) : item;
      if (data !== '') chunks.push(data);
    }
    const rest = decoder.decode();
    if (rest !== '') chunks.push(rest);
  },
};

async function* readAll(source: ReadableStream<unknown>): AsyncGenerator<unknown> {
  const reader = source.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}
