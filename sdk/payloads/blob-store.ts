/**
 * Where payloads too large for a journal item live (DynamoDB items stop at 400 KB): step results,
 * request bodies, stored responses. The journal keeps a pointer (`offload.ts`). Adapters:
 * `S3BlobStore` (the construct's bucket), `FileBlobStore` (the dev server), `MemoryBlobStore`
 * (tests, the harness).
 */
export interface BlobStore {
  /**
   * Stores `body` (text as UTF-8) at `key`, replacing what was there: puts are idempotent, so a
   * retried checkpoint may put again. Kept at least until `expiresAt` (epoch seconds: its run's ttl)
   * where the store expires payloads.
   */
  put(key: string, body: string | Uint8Array, options?: { expiresAt?: number }): Promise<void>;
  /** Keeps every payload under `prefix` at least until `expiresAt` (epoch seconds): a run's ttl was raised. Stores that expire nothing need none. */
  keepUntil?(prefix: string, expiresAt: number): Promise<void>;
  /** The payload at `key`, as text (default) or as base64 of its bytes; throws when there is none (a pointer without its payload is a lost write). */
  get(key: string, encoding?: BlobEncoding): Promise<string>;
  /**
   * A short-lived URL that GETs the payload at `key` without other credentials (S3: a presigned
   * URL): how a response larger than a Lambda may return reaches its caller. Stores without one
   * cannot serve such responses.
   */
  url?(key: string, options: BlobUrlOptions): Promise<string>;
}

export type BlobEncoding = 'utf8' | 'base64';

export interface BlobUrlOptions {
  /** How long the URL works. */
  expiresInSeconds: number;
  /** The `Content-Type` the download is served with. */
  contentType?: string;
}

export class MemoryBlobStore implements BlobStore {
  readonly blobs = new Map<string, Buffer>();

  async put(key: string, body: string | Uint8Array): Promise<void> {
    this.blobs.set(key, Buffer.from(body));
  }

  async get(key: string, encoding: BlobEncoding = 'utf8'): Promise<string> {
    const body = this.blobs.get(key);
    if (body === undefined) throw new Error(`durable-endpoints: no payload at ${key} in the blob store.`);
    return body.toString(encoding);
  }
}
