/**
 * Flow control with real concurrency, on the dev server (DynamoDB Local, the handler worker, local
 * timers, the sweep): the example app's `POST /reports` and `GET /quote`, and a fixture app with a
 * limited endpoint whose attempt gets killed and two endpoints sharing a step limit.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDevServer } from './support/dev-server.ts';

const run = promisify(execFile);
const cli = (...args: string[]) => run(resolve('node_modules/.bin/node'), ['--conditions=source', '--disable-warning=ExperimentalWarning', 'cli/durable.ts', ...args], { env: { ...process.env } });

type Span = { startedAt: string | number; finishedAt?: string | number; endedAt?: string | number };

/** The most spans open at one moment. */
function mostAtOnce(spans: Span[]): number {
  const edges = spans.flatMap((span) => [
    [new Date(span.startedAt).getTime(), 1],
    [new Date((span.finishedAt ?? span.endedAt)!).getTime(), -1],
  ]);
  // An end and a start at the same millisecond do not overlap: ends first.
  edges.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  let open = 0;
  let most = 0;
  for (const [, change] of edges) most = Math.max(most, (open += change!));
  return most;
}

describe('flow control on the dev server: the example app', () => {
  let server: Awaited<ReturnType<typeof startTestDevServer>>;
  beforeAll(async () => {
    server = await startTestDevServer();
  });
  afterAll(() => server.close());

  const report = (tenant: string, pages = 3) =>
    fetch(`${server.url}/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant, pages }), redirect: 'manual' });

  it('runs at most 2 reports of a tenant at once while another tenant goes freely; the queued ones all complete, oldest first', async () => {
    // Steps take about a second: 8 at once, 2 at a time, means 4 rounds, and a request waits inline
    // for at most 2 s: the last ones are queued whatever the machine's speed.
    const acme = Array.from({ length: 8 }, () => report('acme'));
    const globex = [report('globex'), report('globex')];
    const first = await Promise.all([...acme, ...globex]);

    const globexAnswers = first.slice(8);
    expect(globexAnswers.map((response) => response.status)).toEqual([200, 200]);
    const queued = first.slice(0, 8).filter((response) => response.status === 303);
    expect(queued.length).toBeGreaterThanOrEqual(2);
    expect(first.slice(0, 8).every((response) => response.status === 200 || response.status === 303)).toBe(true);

    const finals = await Promise.all(first.slice(0, 8).map(async (response) => (response.status === 303 ? fetch(response.headers.get('location')!) : response)));
    expect(finals.map((response) => response.status)).toEqual(Array(8).fill(200));
    const reports = await Promise.all(finals.map((response) => response.json() as Promise<Span & { tenant: string; pages: number }>));
    expect(reports.every((r) => r.tenant === 'acme' && r.pages === 3)).toBe(true);
    expect(mostAtOnce(reports)).toBeLessThanOrEqual(2);
    expect(mostAtOnce(await Promise.all(globexAnswers.map((response) => response.json())))).toBe(2);

    // Queued runs start in the order of their run ids (ULIDs: the order they arrived in).
    const queuedIds = queued.map((response) => response.headers.get('x-durable-run-id')!);
    const startOf = new Map(first.slice(0, 8).map((response, i) => [response.headers.get('x-durable-run-id')!, Date.parse(reports[i]!.startedAt as string)]));
    const byStart = [...queuedIds].sort((a, b) => startOf.get(a)! - startOf.get(b)!);
    expect(byStart).toEqual([...queuedIds].sort());

    // The dashboard's API and the CLI's source: the key is free again, nobody queued.
    const { limits } = await (await fetch(`${server.url}/_durable/api/flow`)).json();
    expect(limits.find((limit: { scope: string; key: string }) => limit.scope === 'POST /reports' && limit.key === 'acme')).toMatchObject({ kind: 'concurrency', limit: 2, running: 0, queued: 0 });
  }, 60_000);

  it('answers 400 to a report without a tenant, before anything runs', async () => {
    const response = await fetch(`${server.url}/reports`, { method: 'POST', body: '{"pages":1}' });

    expect(response.status).toBe(400);
    expect(response.headers.get('x-durable-run-id')).toBeNull();
    expect((await response.json()).error.message).toMatch(/"tenant"/);
  });

  it('drops quotes over 5 per 10 s per source IP with 429 and Retry-After, counts them, and serves other IPs', async () => {
    const quote = (ip: string) => fetch(`${server.url}/quote?symbol=ACME`, { headers: { 'x-forwarded-for': ip } });

    const answers = [];
    for (let i = 0; i < 7; i++) answers.push(await quote('198.51.100.7'));
    const other = await quote('198.51.100.8');

    expect(answers.slice(0, 5).map((response) => response.status)).toEqual([200, 200, 200, 200, 200]);
    const refused = answers.slice(5);
    expect(refused.map((response) => response.status)).toEqual([429, 429]);
    for (const response of refused) {
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(response.headers.get('x-durable-run-id')).toBeNull();
      expect((await response.json()).error.name).toBe('RateLimited');
    }
    expect(other.status).toBe(200);
    expect(await other.json()).toMatchObject({ symbol: 'ACME', currency: 'USD' });

    const { limits } = await (await fetch(`${server.url}/_durable/api/flow`)).json();
    expect(limits.find((limit: { scope: string; key: string }) => limit.scope === 'GET /quote' && limit.key === '198.51.100.7')).toMatchObject({ kind: 'rateLimit', limit: 5, periodMs: 10_000, rejected: 2 });
    expect(server.lines.filter((line) => line.includes('request rejected by flow control'))).toHaveLength(2);
  });
});

describe('flow control on the dev server: killed attempts and step limits', () => {
  let server: Awaited<ReturnType<typeof startTestDevServer>>;
  beforeAll(async () => {
    server = await startTestDevServer({ app: 'test/fixtures/flow-app.ts' });
  });
  afterAll(() => server.close());

  const job = (body: object) => fetch(`${server.url}/jobs`, { method: 'POST', body: JSON.stringify(body), redirect: 'manual' });

  it('gets the slot of a killed attempt back once its holding expires: the run queued behind it completes', async () => {
    const killed = await job({ tenant: 'k', crash: true });
    expect(killed.status).toBe(502); // the Lambda died: API Gateway's answer

    const queued = await job({ tenant: 'k' });
    expect(queued.status).toBe(303);
    const final = await fetch(queued.headers.get('location')!);
    expect(final.status).toBe(200);

    const { limits } = await (await fetch(`${server.url}/_durable/api/flow`)).json();
    expect(limits.find((limit: { scope: string; key: string }) => limit.scope === 'POST /jobs' && limit.key === 'k')).toMatchObject({ running: 0, queued: 0 });
    expect((await job({ tenant: 'k' })).status).toBe(200);
  }, 60_000);

  it('shows a queued run, and why, in the dashboard API and the CLI, until a slot frees', async () => {
    const longJob = (body: object) => fetch(`${server.url}/long-jobs`, { method: 'POST', body: JSON.stringify(body), redirect: 'manual' });
    const busy = longJob({ tenant: 'slow', ms: 8_000 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const queued = await longJob({ tenant: 'slow' });
    expect(queued.status).toBe(303);
    expect(queued.headers.get('retry-after')).toBe('1');
    const runId = queued.headers.get('x-durable-run-id')!;

    const { run: detail } = await (await fetch(`${server.url}/_durable/api/runs/${runId}`)).json();
    expect(detail).toMatchObject({ status: 'queued', why: 'waiting for a slot of POST /long-jobs (concurrency 1, key slow)', limitedBy: { kind: 'concurrency', scope: 'POST /long-jobs', key: 'slow', limit: 1 } });
    const list = (await cli('runs', 'list', '--status', 'queued', '--url', server.url)).stdout;
    expect(list).toContain(runId);
    expect(list).toContain('waiting for a slot of POST /long-jobs (concurrency 1, key slow)');
    const flow = (await cli('flow', '--url', server.url)).stdout;
    expect(flow).toMatch(/POST \/long-jobs\s+concurrency 1\s+key slow {2}running 1 {2}queued 1/);

    expect((await busy).status).toBe(200);
    expect((await fetch(queued.headers.get('location')!)).status).toBe(200);
  }, 60_000);

  it('holds a step limit across runs of different endpoints: one call of the shared step at a time', async () => {
    const calls = ['a', 'b', 'a', 'b', 'a', 'b'].map((name) => fetch(`${server.url}/step-${name}`));
    const answers = await Promise.all(calls);

    expect(answers.map((response) => response.status)).toEqual(Array(6).fill(200));
    const spans = await Promise.all(answers.map((response) => response.json() as Promise<Span & { endpoint: string }>));
    expect(new Set(spans.map((span) => span.endpoint))).toEqual(new Set(['a', 'b']));
    expect(mostAtOnce(spans)).toBe(1);
  }, 60_000);
});
