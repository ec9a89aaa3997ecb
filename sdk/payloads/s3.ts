import type { S3Client } from '@aws-sdk/client-s3';
import type { BlobEncoding, BlobStore, BlobUrlOptions } from './blob-store.ts';
import { KEEP_TAG, keepClass } from './retention.ts';

export interface S3BlobStoreOptions {
  /** The bucket: the construct's payload bucket (`DURABLE_BLOB_BUCKET`). */
  bucket: string;
  /** Default: a client for the Lambda's region with the SDK's retries. */
  client?: S3Client;
}

// Loaded on first use, as the timers' clients: a run whose payloads fit its journal items never
// evaluates the S3 client in a cold start.
const s3 = () => import('@aws-sdk/client-s3');

/**
 * Payloads as objects in one S3 bucket, under the journal's keys (`runs/<runId>/…`). The bucket
 * encrypts them (SSE-S3) and expires them by their `durable-keep` tag, which follows their run's
 * ttl (`retention.ts`); see `PayloadBucket`.
 */
export class S3BlobStore implements BlobStore {
  private readonly bucket: string;
  private client: S3Client | undefined;

  constructor(options: S3BlobStoreOptions) {
    this.bucket = options.bucket;
    this.client = options.client;
  }

  async put(key: string, body: string | Uint8Array, options: { expiresAt?: number } = {}): Promise<void> {
    const { PutObjectCommand } = await s3();
    await (await this.s3()).send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentType: typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream',
        Tagging: `${KEEP_TAG}=${keepClass(options.expiresAt)}`,
      }),
    );
  }

  async get(key: string, encoding: BlobEncoding = 'utf8'): Promise<string> {
    const { GetObjectCommand } = await s3();
    try {
      const object = await (await this.s3()).send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (!object.Body) throw new Error('empty answer');
      return encoding === 'base64' ? Buffer.from(await object.Body.transformToByteArray()).toString('base64') : await object.Body.transformToString('utf8');
    } catch (error) {
      if ((error as Error).name === 'NoSuchKey') throw new Error(`durable-endpoints: no payload at ${key} in bucket ${this.bucket}.`, { cause: error });
      throw error;
    }
  }

  /** Tags every object under `prefix` with the class that keeps it until `expiresAt`. */
  async keepUntil(prefix: string, expiresAt: number): Promise<void> {
    const { ListObjectsV2Command, PutObjectTaggingCommand } = await s3();
    const client = await this.s3();
    const tag = { TagSet: [{ Key: KEEP_TAG, Value: keepClass(expiresAt) }] };
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      await Promise.all((page.Contents ?? []).map((object) => client.send(new PutObjectTaggingCommand({ Bucket: this.bucket, Key: object.Key, Tagging: tag }))));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** A presigned GET, signed with the caller's credentials (the results Lambda's role): it works for `expiresInSeconds` at most, and no longer than those credentials. */
  async url(key: string, { expiresInSeconds, contentType }: BlobUrlOptions): Promise<string> {
    const [{ GetObjectCommand }, { getSignedUrl }] = await Promise.all([s3(), import('@aws-sdk/s3-request-presigner')]);
    const command = new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(contentType ? { ResponseContentType: contentType } : {}) });
    return getSignedUrl(await this.s3(), command, { expiresIn: expiresInSeconds });
  }

  private async s3(): Promise<S3Client> {
    if (!this.client) {
      const { S3Client } = await s3();
      this.client ??= new S3Client({});
    }
    return this.client;
  }
}
