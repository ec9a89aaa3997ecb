/**
 * Payloads larger than a journal item (DynamoDB stops at 400 KB; the memory journal refuses such
 * items too) go to the blob store behind a pointer, and come back byte for byte on a resume.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileBlobStore, MemoryBlobStore, RetryAfterError, step, type BlobStore } from '../sdk/index.ts';
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
});
