/**
 * Payloads over `INLINE_PAYLOAD_BYTES` leave the journal item for the blob store, and the item
 * keeps a pointer in their place: a step's `output`, a request's `body`. Step outputs are JSON
 * text and request bodies are text or base64, so a pointer (which starts with a NUL character)
 * cannot be mistaken for a payload. Writes put the payloads first, then the items that point at
 * them; reads fetch the pointed-at payloads in parallel.
 */
import { createHash } from 'node:crypto';
import type { LoadedRun, StepRecord } from '../core/records.ts';
import type { JournalWrite } from '../journal/journal.ts';
import type { BlobStore } from './blob-store.ts';

/** Larger fields go to the blob store: well under DynamoDB's 400 KB with the item's other fields. */
export const INLINE_PAYLOAD_BYTES = 100_000;
/** API Gateway's request payload limit: the most a request can bring. */
export const MAX_OFFLOADED_REQUEST_BYTES = 10 * 1024 * 1024;
/** A step result kept in the blob store: bounded by the memory a Lambda replays it into. */
export const MAX_OFFLOADED_OUTPUT_BYTES = 64 * 1024 * 1024;

const POINTER = '\u0000durable-blob:';

export function isPointer(value: string | null | undefined): value is string {
  return typeof value === 'string' && value.startsWith(POINTER);
}

/** The writes with their large payloads put in `blobs` and replaced by pointers. */
export async function offloadWrites(writes: JournalWrite[], blobs: BlobStore): Promise<JournalWrite[]> {
  return Promise.all(
    writes.map(async (write) => {
      if (write.type === 'step' && large(write.step.output) && !isPointer(write.step.output)) {
        const key = `runs/${write.runId}/steps/${digest(write.step.id)}`;
        await blobs.put(key, write.step.output!);
        return { ...write, step: { ...write.step, output: POINTER + key } };
      }
      if (write.type === 'request' && large(write.request.body) && !isPointer(write.request.body)) {
        const key = `runs/${write.runId}/request`;
        await blobs.put(key, write.request.body!);
        return { ...write, request: { ...write.request, body: POINTER + key } };
      }
      return write;
    }),
  );
}

/** The loaded run with every pointer replaced by its payload, fetched in parallel. */
export async function resolvePayloads(loaded: LoadedRun, blobs: BlobStore | undefined): Promise<LoadedRun> {
  const pointers = [loaded.request.body, ...loaded.steps.map((step) => step.output)].filter(isPointer);
  if (pointers.length === 0) return loaded;
  if (!blobs) throw new Error(`durable-endpoints: run ${loaded.run.runId} keeps payloads in a blob store, and this endpoint has none configured (\`blobs\`).`);
  const payloads = new Map(await Promise.all(pointers.map(async (pointer) => [pointer, await blobs.get(pointer.slice(POINTER.length))] as const)));
  const resolved = (value: string | undefined) => (isPointer(value) ? payloads.get(value)! : value);
  return {
    ...loaded,
    request: { ...loaded.request, body: isPointer(loaded.request.body) ? payloads.get(loaded.request.body)! : loaded.request.body },
    steps: loaded.steps.map((step): StepRecord => (isPointer(step.output) ? { ...step, output: resolved(step.output) } : step)),
  };
}

function large(value: string | null | undefined): value is string {
  return typeof value === 'string' && value.length > INLINE_PAYLOAD_BYTES / 4 && Buffer.byteLength(value) > INLINE_PAYLOAD_BYTES;
}

function digest(stepId: string): string {
  return createHash('sha256').update(stepId).digest('base64url');
}
