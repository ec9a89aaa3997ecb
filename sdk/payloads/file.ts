import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { BlobEncoding, BlobStore, BlobUrlOptions } from './blob-store.ts';

export interface FileBlobUrls {
  /** Where the server that answers `open()` serves the store: `http://localhost:3000/_durable/blobs` (a function: known once the server listens). */
  base: string | (() => string);
  /** Signs the URLs, as S3 signs presigned ones. */
  secret: string;
}

/**
 * Payloads as files under one directory: the dev server's blob store. With `urls`, it gives
 * signed, expiring URLs as S3 gives presigned ones, which the dev server answers with `open()`.
 */
export class FileBlobStore implements BlobStore {
  private readonly root: string;
  private readonly urls: FileBlobUrls | undefined;

  constructor(root: string, options: { urls?: FileBlobUrls } = {}) {
    this.root = resolve(root);
    this.urls = options.urls;
  }

  async put(key: string, body: string | Uint8Array): Promise<void> {
    const path = this.path(key);
    await mkdir(dirname(path), { recursive: true });
    // Written aside and renamed: a reader never sees half a payload.
    const partial = `${path}.${process.pid}.${Date.now()}.partial`;
    await writeFile(partial, body);
    await rename(partial, path);
  }

  async get(key: string, encoding: BlobEncoding = 'utf8'): Promise<string> {
    return (await readFile(this.path(key))).toString(encoding);
  }

  async url(key: string, { expiresInSeconds, contentType }: BlobUrlOptions): Promise<string> {
    if (!this.urls) throw new Error('durable-endpoints: this FileBlobStore gives no URLs (no `urls` option).');
    this.path(key);
    const expires = Math.floor(Date.now() / 1_000) + expiresInSeconds;
    const query = new URLSearchParams({ expires: String(expires), ...(contentType ? { type: contentType } : {}) });
    query.set('signature', this.sign(key, query));
    const base = typeof this.urls.base === 'function' ? this.urls.base() : this.urls.base;
    return `${base}/${key.split('/').map(encodeURIComponent).join('/')}?${query.toString()}`;
  }

  /**
   * The payload a URL from `url()` names, with its content type; `undefined` when the URL is not
   * one this store signed, has expired, or names nothing.
   */
  async open(key: string, query: URLSearchParams, now = Date.now()): Promise<{ body: Buffer; contentType: string } | undefined> {
    if (!this.urls) return undefined;
    const signature = query.get('signature') ?? '';
    const expected = this.sign(key, query);
    if (signature.length !== expected.length || !timingSafeEqual(Buffer.from(signature), Buffer.from(expected))) return undefined;
    if (!(Number(query.get('expires')) * 1_000 > now)) return undefined;
    try {
      return { body: await readFile(this.path(key)), contentType: query.get('type') ?? 'application/octet-stream' };
    } catch {
      return undefined;
    }
  }

  private sign(key: string, query: URLSearchParams): string {
    return createHmac('sha256', this.urls!.secret)
      .update(`${key}\n${query.get('expires') ?? ''}\n${query.get('type') ?? ''}`)
      .digest('base64url');
  }

  private path(key: string): string {
    const path = resolve(join(this.root, key));
    if (!path.startsWith(this.root + sep)) throw new Error(`durable-endpoints: blob key ${JSON.stringify(key)} leaves the store's directory.`);
    return path;
  }
}
