/**
 * Where payloads too large for a journal item live (DynamoDB items stop at 400 KB): step results,
 * request bodies. The journal keeps a pointer (`offload.ts`). Adapters: `MemoryBlobStore` (tests,
 * the harness), `FileBlobStore` (the dev server); an S3 adapter for the construct's bucket is the
 * production one (not written yet).
 */
export interface BlobStore {
  /** Stores `body` at `key`, replacing what was there: puts are idempotent, so a retried checkpoint may put again. */
  put(key: string, body: string): Promise<void>;
  /** The payload at `key`; throws when there is none (a pointer without its payload is a lost write). */
  get(key: string): Promise<string>;
}

export class MemoryBlobStore implements BlobStore {
  readonly blobs = new Map<string, string>();

  async put(key: string, body: string): Promise<void> {
    this.blobs.set(key, body);
  }

  async get(key: string): Promise<string> {
    const body = this.blobs.get(key);
    if (body === undefined) throw new Error(`durable-endpoints: no payload at ${key} in the blob store.`);
    return body;
  }
}
