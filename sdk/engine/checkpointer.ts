import { writeKey, type Fence, type Journal, type JournalWrite } from '../journal/journal.ts';
import { JournalError, LeaseLostError } from '../core/errors.ts';
import type { BlobStore } from '../payloads/blob-store.ts';
import { offloadWrite } from '../payloads/offload.ts';

const MAX_ATTEMPTS = 6;

export interface CheckpointHooks {
  /** Called with each batch once it is stored. */
  stored?: (writes: JournalWrite[]) => void;
  /** Writes made when a batch is formed (the stream's tail): `pending` says whether there are any. */
  extra?: { pending(): boolean; take(): JournalWrite[] };
}

/**
 * Journal writes off the critical path. `add` returns at once; the write goes out when the current
 * macrotask ends, and while one request is in flight everything added meanwhile waits and then goes
 * out as one batch, with newer versions of an item replacing older ones. So steps never wait for
 * their checkpoint, parallel steps share a request, and `flush` (once, before the response) waits
 * for at most about one round trip. Failed writes are retried with backoff and lose nothing.
 */
export class Checkpointer {
  private readonly queue = new Map<string, JournalWrite>();
  private inFlight: Promise<void> | undefined;
  private scheduled = false;
  private failure: Error | undefined;
  private readonly journal: Journal;
  private fence: Fence | undefined;
  private readonly blobs: BlobStore | undefined;
  private readonly hooks: CheckpointHooks;

  constructor(journal: Journal, fence?: Fence, blobs?: BlobStore, hooks: CheckpointHooks = {}) {
    this.journal = journal;
    this.fence = fence;
    this.blobs = blobs;
    this.hooks = hooks;
  }

  /** Every batch sent from now on applies only under `fence`. */
  fenceWith(fence: Fence): void {
    this.fence = fence;
  }

  /** Queued writes carry `ttl` instead of the one they were added with. */
  retag(ttl: number): void {
    for (const [key, write] of this.queue) this.queue.set(key, write.type === 'run' ? { ...write, run: { ...write.run, ttl } } : { ...write, ttl });
  }

  add(write: JournalWrite): void {
    this.queue.set(writeKey(write), write);
    this.poke();
  }

  /** Sends a batch soon: the hooks' `extra` writes are pending. */
  poke(): void {
    if (this.scheduled || this.inFlight) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /** Resolves when everything added so far is stored; rejects (JournalError, LeaseLostError) if it cannot be. */
  async flush(): Promise<void> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.inFlight) {
        await this.inFlight;
        continue;
      }
      if (!this.pending()) return;
      this.pump();
    }
  }

  private pending(): boolean {
    return this.queue.size > 0 || this.hooks.extra?.pending() === true;
  }

  private pump(): void {
    if (this.inFlight || this.failure || !this.pending()) return;
    const batch = new Map(this.queue);
    this.queue.clear();
    // Taken when the batch is formed, so what comes later goes in a new item of its own.
    for (const write of this.hooks.extra?.take() ?? []) batch.set(writeKey(write), write);
    this.inFlight = this.send(batch).finally(() => {
      this.inFlight = undefined;
      this.pump();
    });
  }

  private async send(batch: Map<string, JournalWrite>): Promise<void> {
    // Each write as sent, its large payloads put in the blob store once, however often the batch is retried.
    const offloaded = new Map<JournalWrite, JournalWrite>();
    const offload = async (write: JournalWrite) => offloaded.get(write) ?? offloaded.set(write, await offloadWrite(write, this.blobs!)).get(write)!;
    for (let attempt = 1; ; attempt++) {
      try {
        const writes = [...batch.values()];
        // The payloads first: an item never points at a payload that is not stored.
        await this.journal.write(this.blobs ? await Promise.all(writes.map(offload)) : writes, this.fence);
        this.hooks.stored?.(writes);
        return;
      } catch (error) {
        if (error instanceof LeaseLostError) {
          this.failure = error;
          return;
        }
        if (attempt >= MAX_ATTEMPTS) {
          this.failure = new JournalError(`Journal write failed ${attempt} times: ${(error as Error).message}`, { cause: error });
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 50 * 2 ** attempt)));
        // What was queued meanwhile is newer: it replaces the failed items and goes in the same request.
        for (const [key, write] of this.queue) batch.set(key, write);
        this.queue.clear();
      }
    }
  }
}
