/**
 * Payloads over `INLINE_PAYLOAD_BYTES` leave the journal item for the blob store, and the item
 * keeps a pointer in their place: a step's `output`, a request's `body`, a stored response's
 * `body`. Step outputs are JSON text and bodies are text or base64, so a pointer (which starts
 * with a NUL character) cannot be mistaken for a payload. Writes put the payloads first, then the
 * items that point at them; reads fetch the pointed-at payloads in parallel.
 */
import { createHash } from 'node:crypto';
import type { HttpResponse } from '../core/http.ts';
import type { LoadedRun, StepRecord } from '../core/records.ts';
import type { JournalWrite } from '../journal/journal.ts';
import type { BlobStore } from './blob-store.ts';

/** Larger fields go to the blob store: well under DynamoDB's 400 KB with the item's other fields. */
export const INLINE_PAYLOAD_BYTES = 100_000;
/** The most a journal item can keep of a payload (a request, a step's result and chunks, a response) without a blob store: DynamoDB items stop at 400 KB, with room for the item's other fields. */
export const ITEM_PAYLOAD_BYTES = 350_000;
/** API Gateway's request payload limit: the most a request can bring. */
export const MAX_OFFLOADED_REQUEST_BYTES = 10 * 1024 * 1024;
/** A step result kept in the blob store: bounded by the memory a Lambda replays it into. */
export const MAX_OFFLOADED_OUTPUT_BYTES = 64 * 1024 * 1024;

/** Lambda's limit on what a synchronous invocation returns: larger responses are served from the blob store by URL. */
export const LAMBDA_RESPONSE_BYTES = 6 * 1024 * 1024;
/** How long the URL of a response served from the blob store works. */
export const RESPONSE_URL_SECONDS = 300;

const POINTER = '\u0000durable-blob:';

export function isPointer(value: string | null | undefined): value is string {
  return typeof value === 'string' && value.startsWith(POINTER);
}

/** A pointer: the key, and for a stored response the body's size (`|<bytes>`), so that serving it needs no read to decide how. */
function pointerTo(key: string, bytes?: number): string {
  return bytes === undefined ? POINTER + key : `${POINTER}${key}|${bytes}`;
}

function pointed(pointer: string): { key: string; bytes: number | undefined } {
  const [key, bytes] = pointer.slice(POINTER.length).split('|');
  return { key: key!, bytes: bytes === undefined ? undefined : Number(bytes) };
}

/** The write with its large payload put in `blobs` and replaced by a pointer (the write itself when it has none). */
export async function offloadWrite(write: JournalWrite, blobs: BlobStore): Promise<JournalWrite> {
  if (write.type === 'step' && large(write.step.output) && !isPointer(write.step.output)) {
    const key = `${runPrefix(write.runId)}steps/${digest(write.step.id)}`;
    await blobs.put(key, write.step.output!, { expiresAt: write.ttl });
    return { ...write, step: { ...write.step, output: pointerTo(key) } };
  }
  if (write.type === 'request' && large(write.request.body) && !isPointer(write.request.body)) {
    const key = `${runPrefix(write.runId)}request`;
    await blobs.put(key, write.request.body!, { expiresAt: write.ttl });
    return { ...write, request: { ...write.request, body: pointerTo(key) } };
  }
  if (write.type === 'run' && write.run.response && large(write.run.response.body) && !isPointer(write.run.response.body)) {
    const { response } = write.run;
    const key = `${runPrefix(write.run.runId)}response`;
    // A binary body is stored as its bytes, so that its URL serves them.
    const bytes = response.isBase64Encoded ? Buffer.from(response.body!, 'base64') : Buffer.from(response.body!, 'utf8');
    await blobs.put(key, bytes, { expiresAt: write.run.ttl });
    return { ...write, run: { ...write.run, response: { ...response, body: pointerTo(key, bytes.byteLength) } } };
  }
  return write;
}

/** Where a run's payloads are: under one prefix, so that they can be kept longer together. */
export function runPrefix(runId: string): string {
  return `runs/${runId}/`;
}

/** The loaded run with every pointer replaced by its payload, fetched in parallel. */
export async function resolvePayloads(loaded: LoadedRun, blobs: BlobStore | undefined): Promise<LoadedRun> {
  const pointers = [loaded.request.body, ...loaded.steps.map((step) => step.output)].filter(isPointer);
  if (pointers.length === 0) return loaded;
  if (!blobs) throw new Error(`durable-endpoints: run ${loaded.run.runId} keeps payloads in a blob store, and this endpoint has none configured (\`blobs\`).`);
  const payloads = new Map(await Promise.all(pointers.map(async (pointer) => [pointer, await blobs.get(pointed(pointer).key)] as const)));
  const resolved = (value: string | undefined) => (isPointer(value) ? payloads.get(value)! : value);
  return {
    ...loaded,
    request: { ...loaded.request, body: isPointer(loaded.request.body) ? payloads.get(loaded.request.body)! : loaded.request.body },
    steps: loaded.steps.map((step): StepRecord => (isPointer(step.output) ? { ...step, output: resolved(step.output) } : step)),
  };
}

/**
 * How a stored response is answered: as it is; with its body fetched from the blob store; or, when
 * it is larger than a Lambda may return, by a short-lived URL of its body (`url`).
 */
export async function storedResponse(response: HttpResponse, blobs: BlobStore | undefined): Promise<{ response: HttpResponse } | { url: string }> {
  if (!isPointer(response.body)) return { response };
  if (!blobs) throw new Error('durable-endpoints: this response is kept in a blob store, and none is configured (`blobs`).');
  const { key, bytes } = pointed(response.body);
  if (bytes === undefined || bytes < LAMBDA_RESPONSE_BYTES - 64 * 1024) {
    const full = { ...response, body: await blobs.get(key, response.isBase64Encoded ? 'base64' : 'utf8') };
    if (answerBytes(full) <= LAMBDA_RESPONSE_BYTES) return { response: full };
  }
  if (!blobs.url) throw new Error(`durable-endpoints: a response of ${bytes} bytes is larger than a Lambda may return, and this blob store cannot give a URL for it.`);
  const contentType = Object.entries(response.headers ?? {}).find(([name]) => name.toLowerCase() === 'content-type')?.[1];
  return { url: await blobs.url(key, { expiresInSeconds: RESPONSE_URL_SECONDS, ...(contentType ? { contentType } : {}) }) };
}

/** The size of a response as a Lambda returns it (its JSON). */
export function answerBytes(response: HttpResponse): number {
  return Buffer.byteLength(JSON.stringify(response));
}

/** Whether `value` leaves its journal item for the blob store (when there is one). */
export function large(value: string | null | undefined): value is string {
  return typeof value === 'string' && value.length > INLINE_PAYLOAD_BYTES / 4 && Buffer.byteLength(value) > INLINE_PAYLOAD_BYTES;
}

function digest(stepId: string): string {
  return createHash('sha256').update(stepId).digest('base64url');
}
