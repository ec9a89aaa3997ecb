import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { durableFetch, type DurableStatusEvent } from 'durable-endpoints/client';
import { startLocalApi, type LocalApi } from './support/local-api.ts';

let api: LocalApi;

beforeAll(async () => {
  api = await startLocalApi();
});

afterAll(async () => {
  await api?.close();
});

const ULID = /^[0-9A-Z]{26}$/;

function postJson(body: unknown, headers: Record<string, string> = {}): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

/** What onStatus reported, in order. */
function statusLog() {
  const events: DurableStatusEvent[] = [];
  return { events, onStatus: (event: DurableStatusEvent) => void events.push(event), statuses: () => events.map((e) => e.status) };
}

/** The requests the API received from one call: those made after `from` requests had arrived. */
const requestsSince = (from: number) => api.received.slice(from).map((r) => `${r.method} ${r.origin === api.url ? '' : r.origin}${r.path.replace(/\?.*/, '')}`);

describe('durableFetch', () => {
  it('returns the response of an endpoint that answers directly, with its run id', async () => {
    const log = statusLog();
    const from = api.received.length;

    const response = await durableFetch(`${api.url}/process`, { ...postJson({ userId: 'u1', data: { a: 1 } }), onStatus: log.onStatus });

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ success: true, result: { fields: 1, processedAt: expect.any(String) } });
    const runId = response.headers.get('x-durable-run-id');
    expect(runId).toMatch(ULID);
    expect(log.events).toEqual([{ status: 'completed', runId }]);
    expect(requestsSince(from)).toEqual(['POST /process']);
  });

  it('follows the 303 to the results URL after an injected failure, as a GET without the body, and returns the final response', async () => {
    const log = statusLog();
    const from = api.received.length;

    // Retry after 2.1 s: longer than the endpoint waits inline (2 s), so the run goes asynchronous.
    const init = postJson({ userId: 'u2', data: { a: 1, b: 2 } }, { 'x-durable-inject-failure': 'process:1:2100ms' });
    const response = await durableFetch(`${api.url}/process`, { ...init, onStatus: log.onStatus });

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ success: true, result: { fields: 2, processedAt: expect.any(String) } });
    const runId = response.headers.get('x-durable-run-id')!;
    expect(log.statuses()).toEqual(['retrying', 'running', 'completed']);
    expect(log.events[0]).toEqual({ status: 'retrying', runId, resultUrl: expect.stringContaining(`${api.url}/runs/${runId}?token=`), retryAfter: expect.any(Number) });
    expect(log.events[1]).toEqual({ status: 'running', runId, resultUrl: log.events[0]!.resultUrl, poll: 1 });
    expect(response.url).toBe(log.events[0]!.resultUrl);
    expect(requestsSince(from)).toEqual(['POST /process', `GET /runs/${runId}`]);
    const poll = api.received.at(-1)!;
    expect(poll.body).toBe('');
    expect(poll.headers['content-type']).toBeUndefined();
  });

  it('keeps polling while the run is still going after a long-poll ends, honouring Retry-After', async () => {
    const log = statusLog();
    const from = api.received.length;

    // Two failures, each retried after 2 s: the first poll's long-poll (1 s) ends while the run waits for its second retry.
    const response = await durableFetch(`${api.url}/quick`, {
      ...postJson({ order: 7 }, { 'x-durable-inject-failure': 'work:2:2s' }),
      onStatus: log.onStatus,
    });

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ echoed: { order: 7 } });
    const runId = response.headers.get('x-durable-run-id')!;
    expect(log.statuses()).toEqual(['retrying', 'running', 'running', 'completed']);
    expect(log.events.map((e) => e.poll)).toEqual([undefined, 1, 2, undefined]);
    expect(requestsSince(from)).toEqual(['POST /quick', `GET /runs/${runId}`, `GET /runs/${runId}`]);
    const { steps } = (await api.journal.load(runId))!;
    expect(steps).toMatchObject([{ id: 'work', status: 'completed', attempts: 3 }]);
  });

  it('returns the failed-run response when the retries run out, and reports failed', async () => {
    const log = statusLog();

    const response = await durableFetch(`${api.url}/quick`, {
      ...postJson({ order: 8 }, { 'x-durable-inject-failure': 'work:3' }),
      onStatus: log.onStatus,
    });

    expect(response.status).toBe(500);
    const runId = response.headers.get('x-durable-run-id');
    const body = await response.json();
    expect(body).toEqual({ runId, status: 'failed', error: { name: 'Error', message: expect.stringContaining('Injected failure 3 of 3') } });
    expect(log.statuses()).toEqual(['retrying', 'running', 'failed']);
    expect(log.events.at(-1)).toEqual({ status: 'failed', runId, error: body.error });
  });

  it('returns a run that fails at once (a non-retriable error) directly, and reports failed', async () => {
    const log = statusLog();
    const from = api.received.length;

    const response = await durableFetch(`${api.url}/quick`, { ...postJson({ fail: true }), onStatus: log.onStatus });

    expect(response.status).toBe(500);
    expect(await response.json()).toMatchObject({ status: 'failed', error: { name: 'NonRetriableError', message: 'asked to fail' } });
    expect(log.statuses()).toEqual(['failed']);
    expect(requestsSince(from)).toEqual(['POST /quick']);
  });

  it('stops waiting when the signal aborts, while the run goes on and its result URL answers later', async () => {
    const controller = new AbortController();
    let resultUrl: string | undefined;
    const from = api.received.length;

    const call = durableFetch(`${api.url}/quick`, {
      ...postJson({ order: 9 }, { 'x-durable-inject-failure': 'work:1' }),
      signal: controller.signal,
      onStatus: (event) => {
        if (event.status !== 'retrying') return;
        resultUrl = event.resultUrl;
        controller.abort();
      },
    });

    await expect(call).rejects.toMatchObject({ name: 'AbortError' });
    expect(requestsSince(from)).toEqual(['POST /quick']);
    const resumed = await durableFetch(resultUrl!);
    expect(resumed.status).toBe(200);
    expect(await resumed.json()).toEqual({ echoed: { order: 9 } });
  });

  it('rejects at once with the reason of a signal that has already aborted, sending nothing', async () => {
    const from = api.received.length;

    const call = durableFetch(`${api.url}/quick`, { ...postJson({ order: 10 }), signal: AbortSignal.abort() });

    await expect(call).rejects.toMatchObject({ name: 'AbortError' });
    expect(api.received.length).toBe(from);
  });

  it('follows a results URL on another origin itself, without carrying the Authorization header there', async () => {
    const log = statusLog();
    const from = api.received.length;

    const response = await durableFetch(`${api.url}/quick-elsewhere`, {
      ...postJson({ order: 11 }, { 'x-durable-inject-failure': 'work:1', authorization: 'Bearer secret-token' }),
      onStatus: log.onStatus,
    });

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ echoed: { order: 11 } });
    const runId = response.headers.get('x-durable-run-id')!;
    expect(log.events[0]!.resultUrl).toMatch(new RegExp(`^${api.resultsOrigin}/runs/${runId}\\?token=`));
    expect(requestsSince(from)).toEqual(['POST /quick-elsewhere', `GET ${api.resultsOrigin}/runs/${runId}`]);
    expect(api.received[from]!.headers.authorization).toBe('Bearer secret-token');
    expect(api.received.at(-1)!.headers.authorization).toBeUndefined();
  });

  it('polls the results URL again after a network error on a poll', async () => {
    const log = statusLog();
    let polls = 0;

    const response = await durableFetch(`${api.url}/quick`, {
      ...postJson({ order: 18 }, { 'x-durable-inject-failure': 'work:1' }),
      onStatus: log.onStatus,
      fetch: (request) => (request.method === 'GET' && ++polls === 1 ? Promise.reject(new TypeError('fetch failed')) : fetch(request)),
    });

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ echoed: { order: 18 } });
    expect(polls).toBe(2);
    expect(log.statuses()).toEqual(['retrying', 'running', 'completed']);
  });

  describe('with idempotent: true', () => {
    it('sends an Idempotency-Key with a POST, and the same key again when the request is repeated after a network error', async () => {
      const sent: string[] = [];
      const from = api.received.length;

      const response = await durableFetch(`${api.url}/quick`, {
        ...postJson({ order: 12 }),
        idempotent: true,
        fetch: (request) => {
          sent.push(request.headers.get('idempotency-key')!);
          // The first attempt fails before it reaches the API, as a dropped connection would.
          return sent.length === 1 ? Promise.reject(new TypeError('fetch failed')) : fetch(request);
        },
      });

      expect(response.status).toBe(200);
      expect(sent).toHaveLength(2);
      expect(sent[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(sent[1]).toBe(sent[0]);
      expect(api.received.slice(from)).toMatchObject([{ method: 'POST', headers: { 'idempotency-key': sent[0] }, body: '{"order":12}' }]);
      // The key is journaled with the request, for the server side of idempotency keys.
      const run = await api.journal.load(response.headers.get('x-durable-run-id')!);
      expect(run!.request.headers['idempotency-key']).toBe(sent[0]);
    });

    it('keeps an Idempotency-Key the caller set', async () => {
      const from = api.received.length;

      await durableFetch(`${api.url}/quick`, { ...postJson({ order: 13 }, { 'Idempotency-Key': 'order-13' }), idempotent: true });

      expect(api.received[from]!.headers['idempotency-key']).toBe('order-13');
    });

    it('sends no Idempotency-Key with a GET', async () => {
      const from = api.received.length;

      await durableFetch(`${api.url}/process`, { idempotent: true });

      expect(api.received.slice(from)).toMatchObject([{ method: 'GET', path: '/process' }]);
      expect(api.received[from]!.headers['idempotency-key']).toBeUndefined();
    });
  });

  it('sends no Idempotency-Key unless asked', async () => {
    const from = api.received.length;

    await durableFetch(`${api.url}/quick`, postJson({ order: 14 }));

    expect(api.received[from]!.headers['idempotency-key']).toBeUndefined();
  });

  it("with redirects: 'fetch' lets fetch follow the 303, as browsers do, and reports retrying once the result arrives", async () => {
    const log = statusLog();
    const from = api.received.length;

    const response = await durableFetch(`${api.url}/quick`, {
      ...postJson({ order: 15 }, { 'x-durable-inject-failure': 'work:1' }),
      redirects: 'fetch',
      onStatus: log.onStatus,
    });

    expect(response.status).toBe(200);
    expect(response.redirected).toBe(true);
    const runId = response.headers.get('x-durable-run-id')!;
    expect(log.events).toEqual([
      { status: 'retrying', runId, resultUrl: response.url },
      { status: 'completed', runId },
    ]);
    expect(requestsSince(from)).toEqual(['POST /quick', `GET /runs/${runId}`]);
  });

  it("with redirects: 'respond-async' (browsers' default) asks for 202, polls the results URL itself and reports every status", async () => {
    const log = statusLog();
    const from = api.received.length;

    const response = await durableFetch(`${api.url}/quick`, {
      ...postJson({ order: 17 }, { 'x-durable-inject-failure': 'work:1' }),
      redirects: 'respond-async',
      onStatus: log.onStatus,
    });

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ echoed: { order: 17 } });
    const runId = response.headers.get('x-durable-run-id')!;
    expect(log.statuses()).toEqual(['retrying', 'running', 'completed']);
    expect(log.events[0]).toEqual({ status: 'retrying', runId, resultUrl: expect.stringContaining(`/runs/${runId}?token=`), retryAfter: expect.any(Number) });
    expect(requestsSince(from)).toEqual(['POST /quick', `GET /runs/${runId}`]);
    expect(api.received.slice(from).map((r) => r.headers.prefer)).toEqual(['respond-async', 'respond-async']);
  });

  it('is ES modules that import only each other, which work as served to a browser once their types are stripped', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'client-'));
    try {
      for (const file of await readdir(new URL('../sdk/client/', import.meta.url))) {
        const source = await readFile(new URL(`../sdk/client/${file}`, import.meta.url), 'utf8');
        const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, rewriteRelativeImportExtensions: true } });
        for (const [, specifier] of outputText.matchAll(/\bfrom\s+'([^']+)'/g)) expect(specifier, file).toMatch(/^\.\/[\w-]+\.js$/);
        expect(outputText, file).not.toMatch(/\brequire\(|\bimport\(/);
        await writeFile(join(dir, file.replace(/\.ts$/, '.js')), outputText);
      }
      const served = (await import(pathToFileURL(join(dir, 'index.js')).href)) as { durableFetch: typeof durableFetch };
      const response = await served.durableFetch(`${api.url}/quick`, postJson({ order: 16 }, { 'x-durable-inject-failure': 'work:1' }));
      expect(await response.json()).toEqual({ echoed: { order: 16 } });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('plain fetch on a durable endpoint', () => {
  it('follows the 303 as a GET without the body, then one redirect per long-poll, and gets the final response', async () => {
    const from = api.received.length;

    // The retry is due in 2.5 s; fetch ignores Retry-After, follows at once, and each long-poll here is 1 s.
    const inject = { 'x-durable-inject-failure': 'process:1:2500ms' };
    const response = await fetch(`${api.url}/process`, postJson({ userId: 'u3', data: {} }, inject));

    expect(response.status).toBe(200);
    expect(response.redirected).toBe(true);
    expect(await response.json()).toEqual({ success: true, result: { fields: 0, processedAt: expect.any(String) } });
    const runId = response.headers.get('x-durable-run-id')!;
    expect(requestsSince(from)).toEqual(['POST /process', ...Array(3).fill(`GET /runs/${runId}`)]);
    for (const poll of api.received.slice(from + 1)) {
      expect(poll).toMatchObject({ body: '', headers: inject });
      expect(poll.headers['content-type']).toBeUndefined();
    }
  });

  it('gives up after following 20 redirects while the run is still going; durableFetch on the results URL gets the result', async () => {
    const from = api.received.length;

    // Results at /short-poll/runs/… long-poll 50 ms, so 20 redirects take far less than the 4 s retry.
    const plain = fetch(`${api.url}/quick-short-poll`, postJson({ order: 17 }, { 'x-durable-inject-failure': 'work:1:4s' }));

    await expect(plain).rejects.toMatchObject({ name: 'TypeError', cause: { message: 'redirect count exceeded' } });
    const requests = requestsSince(from);
    expect(requests[0]).toBe('POST /quick-short-poll');
    expect(requests.slice(1)).toEqual(Array(20).fill(expect.stringMatching(/^GET \/short-poll\/runs\/[0-9A-Z]{26}$/)));

    const response = await durableFetch(`${api.url}${api.received.at(-1)!.path}`);
    expect(await response.json()).toEqual({ echoed: { order: 17 } });
  });
});
