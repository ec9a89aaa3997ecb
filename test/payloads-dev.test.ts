/**
 * Large payloads end to end through the dev server over HTTP, with its file-backed blob store: a
 * response over Lambda's 6 MB reaches durableFetch and a plain fetch through the results URL and
 * a signed URL of its body; a 1 MB request body survives an injected failure and a resume.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { durableFetch } from '../sdk/client/index.ts';
import { bigText } from './fixtures/big.ts';
import { startTestDevServer } from './support/dev-server.ts';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const entry = resolve('test/fixtures/big.ts');

describe('large payloads through the dev server', () => {
  let server: Awaited<ReturnType<typeof startTestDevServer>>;
  beforeAll(async () => {
    server = await startTestDevServer({
      endpoints: [
        { routeKey: 'GET /big/{mb}', entry, handler: 'download', format: '2.0', timeoutMs: 20_000, functionName: 'Download' },
        { routeKey: 'POST /digest', entry, handler: 'digest', format: '2.0', timeoutMs: 20_000, functionName: 'Digest' },
      ],
    });
  });
  afterAll(() => server?.close());

  it('sends a 7 MB response through the results URL to a short-lived signed URL of its body, which durableFetch follows', async () => {
    const statuses: string[] = [];
    const response = await durableFetch(`${server.url}/big/7`, { onStatus: (event) => statuses.push(event.status) });

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(sha256(((await response.json()) as { text: string }).text)).toBe(sha256(bigText(7)));
    expect(new URL(response.url).pathname).toMatch(/^\/_durable\/blobs\/runs\/[0-9A-Z]{26}\/response$/);
    expect(statuses[0]).toBe('retrying');
  });

  it('answers the endpoint with a 303 of a completed run, the results URL with a 303 to the body, and refuses that URL once changed', async () => {
    const first = await fetch(`${server.url}/big/7`, { redirect: 'manual' });
    expect(first.status).toBe(303);
    expect(await first.json()).toMatchObject({ status: 'completed' });
    expect(first.headers.get('retry-after')).toBe('0');

    const results = await fetch(new URL(first.headers.get('location')!, server.url), { redirect: 'manual' });
    expect(results.status).toBe(303);
    const blob = new URL(results.headers.get('location')!);
    expect(blob.searchParams.get('expires')).toMatch(/^\d+$/);

    const forged = new URL(blob);
    forged.searchParams.set('type', 'text/html');
    expect((await fetch(forged)).status).toBe(403);
    const plain = await fetch(`${server.url}/big/7`);
    expect(plain.status).toBe(200);
    expect(sha256(((await plain.json()) as { text: string }).text)).toBe(sha256(bigText(7)));
  });

  it('keeps a 1 MB request body through an injected failure and the resume', async () => {
    const body = bigText(1);
    const statuses: string[] = [];
    const response = await durableFetch(`${server.url}/digest`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'x-durable-inject-failure': 'measure:1:3s' },
      body,
      onStatus: (event) => statuses.push(event.status),
    });

    expect(statuses[0]).toBe('retrying');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ size: Buffer.byteLength(body), sha256: sha256(body) });
  });
});
