/**
 * The S3 adapter of the blob store against s3rver, a real S3-compatible server from the npm
 * registry (no S3 emulator installs from Debian; MinIO does not install offline): payloads byte for
 * byte, the retention tag and its raise, presigned URLs, and a run's payloads through a failure
 * and a resume. Where s3rver falls short of S3 (the tags of a put), the request is checked with
 * aws-sdk-client-mock.
 */
import { GetObjectTaggingCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RetryAfterError, S3BlobStore, step } from '../sdk/index.ts';
import { KEEP_TAG } from '../sdk/payloads/retention.ts';
import { body, counter, durableFixture, httpApiEvent } from './support/fixture.ts';
import { startS3 } from './support/s3.ts';

const DAY = 86_400;
const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

describe('S3BlobStore on an S3-compatible server', () => {
  let s3: Awaited<ReturnType<typeof startS3>>;
  let store: S3BlobStore;
  beforeAll(async () => {
    s3 = await startS3();
    store = new S3BlobStore({ bucket: s3.bucket, client: s3.client });
  });
  afterAll(() => s3?.close());

  const tagOf = async (key: string) =>
    (await s3.client.send(new GetObjectTaggingCommand({ Bucket: s3.bucket, Key: key }))).TagSet?.find((tag) => tag.Key === KEEP_TAG)?.Value;

  it('stores 8 MB of text with multi-byte characters and gives it back byte for byte', async () => {
    const text = 'é✓-'.repeat((8 * 1024 * 1024) / 6);

    await store.put('runs/A/steps/x', text);

    expect(sha256(await store.get('runs/A/steps/x'))).toBe(sha256(text));
  });

  it('stores bytes as they are, and gives them back as base64', async () => {
    const bytes = new Uint8Array(256 * 1024).map((_, i) => (i * 31) % 256);

    await store.put('runs/A/response', bytes);

    expect(Buffer.from(await store.get('runs/A/response', 'base64'), 'base64').equals(Buffer.from(bytes))).toBe(true);
  });

  it('says which key is missing', async () => {
    await expect(store.get('runs/none/request')).rejects.toThrow(/no payload at runs\/none\/request in bucket durable-payloads/);
  });

  it('raises the retention tag of every payload of a run, and of that run only, when its ttl is raised', async () => {
    const now = Math.floor(Date.now() / 1_000);
    await store.put('runs/B/request', 'r', { expiresAt: now + 30 * DAY });
    await store.put('runs/B/steps/s', 's', { expiresAt: now + 30 * DAY });
    await store.put('runs/C/request', 'other run', { expiresAt: now + 30 * DAY });

    await store.keepUntil('runs/B/', now + 75 * DAY);

    expect([await tagOf('runs/B/request'), await tagOf('runs/B/steps/s'), await tagOf('runs/C/request')]).toEqual(['92d', '92d', undefined]);
    await store.keepUntil('runs/B/', now + 5 * 365 * DAY);
    expect(await tagOf('runs/B/request')).toBe('1098d');
  });

  // s3rver ignores the tagging header of PutObject (it keeps tags set with PutObjectTagging only):
  // the put's request is checked with aws-sdk-client-mock instead.
  it('tags each put with the smallest class that keeps it until its run’s ttl', async () => {
    const mocked = mockClient(S3Client);
    mocked.on(PutObjectCommand).resolves({});
    try {
      const now = Math.floor(Date.now() / 1_000);
      const mockedStore = new S3BlobStore({ bucket: 'b' });
      await mockedStore.put('runs/E/request', 'r', { expiresAt: now + 30 * DAY });
      await mockedStore.put('runs/E/steps/s', new Uint8Array([1]), { expiresAt: now + 200 * DAY });
      await mockedStore.put('runs/E/response', 'x');

      expect(mocked.commandCalls(PutObjectCommand).map((call) => [call.args[0].input.Tagging, call.args[0].input.ContentType])).toEqual([
        ['durable-keep=31d', 'text/plain; charset=utf-8'],
        ['durable-keep=366d', 'application/octet-stream'],
        ['durable-keep=31d', 'text/plain; charset=utf-8'],
      ]);
    } finally {
      mocked.restore();
    }
  });

  it('gives a presigned URL that serves the payload with the content type asked for, for 5 minutes at most', async () => {
    await store.put('runs/D/response', '{"big":true}');

    const url = await store.url('runs/D/response', { expiresInSeconds: 300, contentType: 'application/json' });
    const response = await fetch(url);

    expect(new URL(url).searchParams.get('X-Amz-Expires')).toBe('300');
    expect(new URL(url).searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.text()).toBe('{"big":true}');
  });

  it('keeps a run’s 8 MB request body and step result in S3 through a failure and a resume, and the step runs once', async () => {
    const fixture = await durableFixture({ blobs: store });
    const calls = counter();
    const requestBody = 'q✓'.repeat((8 * 1024 * 1024) / 4);
    let failures = 1;
    const handler = fixture.wrap(async (event: { body: string }) => {
      const produced = await step.run('produce', () => {
        calls.hit('produce');
        return 'r✓'.repeat((8 * 1024 * 1024) / 4);
      });
      await step.run('flaky', () => {
        if (failures-- > 0) throw new RetryAfterError('upstream busy', '1m');
        return 'ok';
      });
      return { statusCode: 200, body: JSON.stringify({ request: sha256(event.body), result: sha256(produced) }) };
    });

    const first = await handler(httpApiEvent({ method: 'POST', path: '/big', body: requestBody, headers: { 'content-type': 'text/plain' } }));
    const final = await fixture.resume(handler);

    expect(first.statusCode).toBe(303);
    expect(body(final)).toEqual({ request: sha256(requestBody), result: sha256('r✓'.repeat((8 * 1024 * 1024) / 4)) });
    expect(calls.counts).toEqual({ produce: 1 });
  });
});
