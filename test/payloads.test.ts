/**
 * Payloads larger than a journal item (DynamoDB stops at 400 KB; the memory journal refuses such
 * items too) go to the blob store behind a pointer, and come back byte for byte on a resume.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileBlobStore, MemoryBlobStore, RetryAfterError, RUN_ID_HEADER, step, type BlobStore, type Fence, type JournalWrite } from '../sdk/index.ts';
import { MemoryJournal } from '../sdk/testing/index.ts';
import { body, counter, durableFixture, httpApiEvent } from './support/fixture.ts';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Text of `bytes` UTF-8 bytes, different at every offset, with multi-byte characters in it. */
const payloads = new Map<string, string>();
function payload(bytes: number, seed: string): string {
  const key = `${seed}:${bytes}`;
  if (!payloads.has(key)) {
    const parts: string[] = [];
    for (let i = 0, length = 0; length < bytes - 64; i++) {
      const part = `${seed}-é✓-${i};`;
      parts.push(part);
      length += Buffer.byteLength(part);
    }
    payloads.set(key, parts.join(''));
  }
  return payloads.get(key)!;
}

async function roundTrip(size: number, blobs: BlobStore) {
  const fixture = await durableFixture({ blobs });
  const calls = counter();
  const requestBody = payload(size, 'request');
  let failures = 1;
  const handler = fixture.wrap(async (event: { body: string }) => {
    const seen = sha256(event.body);
    const produced = await step.run('produce', () => {
      calls.hit('produce');
      return { data: payload(size, 'result') };
    });
    await step.run('flaky', () => {
      if (failures-- > 0) throw new RetryAfterError('upstream busy', '1m');
      return 'ok';
    });
    return { statusCode: 200, body: JSON.stringify({ request: seen, result: sha256(produced.data), bytes: Buffer.byteLength(produced.data) }) };
  });

  const first = await handler(httpApiEvent({ method: 'POST', path: '/big', body: requestBody, headers: { 'content-type': 'text/plain' } }));
  expect(first.statusCode).toBe(303);
  const final = await fixture.resume(handler);
  return { final: final as { statusCode: number; body: string }, calls: calls.counts, requestBody };
}

describe('large payloads', () => {
  for (const [label, size] of [['1 MB', 1024 * 1024], ['8 MB', 8 * 1024 * 1024]] as const) {
    it(`keeps a ${label} request body and a ${label} step result through a failure and a resume, byte for byte, without re-running the step`, async () => {
      const blobs = new MemoryBlobStore();

      const { final, calls, requestBody } = await roundTrip(size, blobs);

      expect(final.statusCode).toBe(200);
      expect(body(final)).toEqual({ request: sha256(requestBody), result: sha256(payload(size, 'result')), bytes: Buffer.byteLength(payload(size, 'result')) });
      expect(calls).toEqual({ produce: 1 });
      expect([...blobs.blobs.keys()].map((key) => key.replace(/^runs\/[0-9A-Z]{26}\//, ''))).toEqual(['request', expect.stringMatching(/^steps\//)]);
    });
  }

  it('puts a large payload once when the journal write that points at it is retried', async () => {
    class FailsOnce extends MemoryJournal {
      private failures = 1;
      override async write(items: JournalWrite[], fence?: Fence): Promise<void> {
        if (this.failures-- > 0) throw new Error('Rate of requests exceeds the allowed throughput.');
        return super.write(items, fence);
      }
    }
    class CountingStore extends MemoryBlobStore {
      readonly puts: string[] = [];
      override async put(key: string, body: string | Uint8Array): Promise<void> {
        this.puts.push(key.replace(/^runs\/[0-9A-Z]{26}\//, ''));
        return super.put(key, body);
      }
    }
    const blobs = new CountingStore();
    const fixture = await durableFixture({ blobs, journal: new FailsOnce() });
    const handler = fixture.wrap(async () => ({ statusCode: 200, body: String((await step.run('big', () => payload(512 * 1024, 'retried'))).length) }));

    const response = await handler(httpApiEvent({ method: 'POST', path: '/big', body: {} }));

    expect(response.statusCode).toBe(200);
    expect(blobs.puts).toEqual([expect.stringMatching(/^steps\//)]);
  });

  it('keeps small payloads in the journal item, with nothing in the blob store', async () => {
    const blobs = new MemoryBlobStore();
    const fixture = await durableFixture({ blobs });
    const handler = fixture.wrap(async () => ({ statusCode: 200, body: String(await step.run('small', () => 'x'.repeat(1_000)).then((s) => s.length)) }));

    const response = await handler(httpApiEvent({ method: 'POST', path: '/small', body: { a: 1 } }));

    expect(response.body).toBe('1000');
    expect(blobs.blobs.size).toBe(0);
  });

  it('refuses a step result over the journal item without a blob store, naming the step', async () => {
    const fixture = await durableFixture();
    const handler = fixture.wrap(async () => {
      await step.run('huge', () => 'x'.repeat(400_000));
      return { statusCode: 200 };
    });

    const response = await handler(httpApiEvent({ method: 'POST', path: '/huge', body: {} }));

    expect(response.statusCode).toBe(500);
    expect(body(response)).toMatchObject({ status: 'failed', error: { message: expect.stringContaining('huge') } });
  });

  it('works the same with the dev server’s file-backed store', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'durable-blobs-'));
    try {
      const { final } = await roundTrip(1024 * 1024, new FileBlobStore(dir));
      expect(final.statusCode).toBe(200);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps a stored response over 100 KB in the blob store, and the results route answers it byte for byte', async () => {
    const blobs = new MemoryBlobStore();
    const fixture = await durableFixture({ blobs });
    let failures = 1;
    const text = payload(512 * 1024, 'response');
    const handler = fixture.wrap(async () => {
      await step.run('flaky', () => {
        if (failures-- > 0) throw new RetryAfterError('busy', '1m');
        return 'ok';
      });
      return { statusCode: 201, headers: { 'content-type': 'text/plain' }, body: text };
    });

    const first = await handler(httpApiEvent({ method: 'POST', path: '/r', body: {} }));
    await fixture.resume(handler);
    const stored = await fixture.journal.getRun(first.headers![RUN_ID_HEADER]!);
    const answer = await fixture.result(first.headers!.location!);

    expect(stored?.response?.body).toMatch(new RegExp(`^${String.fromCharCode(0)}durable-blob:runs/[0-9A-Z]{26}/response\\|\\d+$`));
    expect(answer.statusCode).toBe(201);
    expect(sha256(answer.body!)).toBe(sha256(text));
  });

  describe('a response larger than a Lambda may return (6 MB)', () => {
    const setup = async (response: { body: string; isBase64Encoded?: boolean; headers?: Record<string, string> }) => {
      const dir = await mkdtemp(join(tmpdir(), 'durable-blobs-'));
      const blobs = new FileBlobStore(dir, { urls: { base: 'http://localhost:3000/_durable/blobs', secret: 's3cret' } });
      const fixture = await durableFixture({ blobs });
      const handler = fixture.wrap(async () => {
        await step.run('one', () => 1);
        return { statusCode: 200, ...response };
      });
      const first = await handler(httpApiEvent({ method: 'GET', path: '/big' }));
      const results = await fixture.result(first.headers!.location!);
      const url = new URL(results.headers!.location!);
      const key = decodeURIComponent(url.pathname.slice('/_durable/blobs/'.length));
      return { dir, blobs, fixture, handler, first, results, url, key };
    };

    it('answers the endpoint with a 303 of the completed run, and the results URL with a 303 to a 5-minute URL of the body', async () => {
      const text = payload(7 * 1024 * 1024, 'huge');
      const { dir, blobs, first, results, url, key } = await setup({ body: text, headers: { 'content-type': 'application/json' } });
      try {
        expect(first.statusCode).toBe(303);
        expect(body(first)).toMatchObject({ status: 'completed' });
        expect(results.statusCode).toBe(303);
        expect(results.headers).toMatchObject({ 'retry-after': '0', 'cache-control': 'no-store' });
        expect(Number(url.searchParams.get('expires')) - Date.now() / 1_000).toBeGreaterThan(290);
        expect(Number(url.searchParams.get('expires')) - Date.now() / 1_000).toBeLessThanOrEqual(300);
        const opened = await blobs.open(key, url.searchParams);
        expect(opened?.contentType).toBe('application/json');
        expect(sha256(opened!.body.toString('utf8'))).toBe(sha256(text));
        expect(await blobs.open(key, url.searchParams, Date.now() + 301_000)).toBeUndefined();
        const forged = new URLSearchParams(url.searchParams);
        forged.set('expires', String(Number(forged.get('expires')) + 3_600));
        expect(await blobs.open(key, forged)).toBeUndefined();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('serves a binary body as its bytes', async () => {
      const bytes = Buffer.from(new Uint8Array(7 * 1024 * 1024).map((_, i) => (i * 7) % 251));
      const { dir, blobs, url, key } = await setup({ body: bytes.toString('base64'), isBase64Encoded: true, headers: { 'content-type': 'application/octet-stream' } });
      try {
        expect((await blobs.open(key, url.searchParams))!.body.equals(bytes)).toBe(true);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('sends an Idempotency-Key repeat to the results URL instead of answering the body itself', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'durable-blobs-'));
      try {
        const blobs = new FileBlobStore(dir, { urls: { base: 'http://localhost:3000/_durable/blobs', secret: 's3cret' } });
        const fixture = await durableFixture({ blobs });
        const handler = fixture.wrap(async () => ({ statusCode: 200, body: String(await step.run('one', () => payload(7 * 1024 * 1024, 'keyed').length)).padEnd(7 * 1024 * 1024, '.') }));
        const request = () => handler(httpApiEvent({ method: 'POST', path: '/keyed', body: {}, headers: { 'idempotency-key': 'k-1' } }));

        const first = await request();
        const repeat = await request();

        expect([first.statusCode, repeat.statusCode]).toEqual([303, 303]);
        expect(repeat.headers![RUN_ID_HEADER]).toBe(first.headers![RUN_ID_HEADER]);
        expect(body(repeat)).toMatchObject({ status: 'completed' });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
