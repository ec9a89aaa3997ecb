import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { BlobStore } from './blob-store.ts';

/** Payloads as files under one directory: the dev server's blob store. */
export class FileBlobStore implements BlobStore {
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  async put(key: string, body: string): Promise<void> {
    const path = this.path(key);
    await mkdir(dirname(path), { recursive: true });
    // Written aside and renamed: a reader never sees half a payload.
    const partial = `${path}.${process.pid}.${Date.now()}.partial`;
    await writeFile(partial, body, 'utf8');
    await rename(partial, path);
  }

  async get(key: string): Promise<string> {
    return readFile(this.path(key), 'utf8');
  }

  private path(key: string): string {
    const path = resolve(join(this.root, key));
    if (!path.startsWith(this.root + sep)) throw new Error(`durable-endpoints: blob key ${JSON.stringify(key)} leaves the store's directory.`);
    return path;
  }
}
