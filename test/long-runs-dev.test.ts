import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDevServer } from './support/dev-server.ts';

// The research agent's fakes take ~32 s at real latency; at a fifth of it, with the hand-off at a
// fifth of 25 s, the run keeps the same shape: the hand-off lands 1 s into the 2.4 s report step,
// far from any search even when a busy machine delays timers.
process.env.RESEARCH_LATENCY_SCALE = '0.2';
process.env.RESEARCH_HANDOFF_AFTER = '5s';

describe('runs that outlive the request, on the dev server', () => {
  let server: Awaited<ReturnType<typeof startTestDevServer>>;
  beforeAll(async () => {
    server = await startTestDevServer();
  });
  afterAll(() => server.close());

  const api = async (path: string) => (await fetch(`${server.url}/_durable/api${path}`)).json();

  it('hands the research agent off at the deadline; the caller gets the report through the results route, every search run once', async () => {
    const first = await fetch(`${server.url}/research?topic=solid-state%20batteries`, { redirect: 'manual' });
    expect(first.status).toBe(303);
    const runId = first.headers.get('x-durable-run-id')!;

    const final = await fetch(first.headers.get('location')!);
    expect(final.status).toBe(200);
    const body = await final.json();
    expect(body.topic).toBe('solid-state batteries');
    expect(body.learnings).toBe(10);
    expect(body.report).toMatch(/^# solid-state batteries\n\n- /);

    const detail = await api(`/runs/${runId}`);
    const searches = detail.steps.filter((s: { id: string }) => s.id.startsWith('search:'));
    expect(searches).toHaveLength(5);
    expect(searches.every((s: { attempts: number; status: string }) => s.attempts === 1 && s.status === 'completed')).toBe(true);
    const runLines = server.lines.filter((line) => line.includes(runId));
    expect(runLines.filter((line) => /✓ step search:/.test(line))).toHaveLength(5);
    expect(runLines.some((line) => line.includes('handing off to a new invocation'))).toBe(true);
    expect(runLines.some((line) => line.includes(`↻ resume GET /research run ${runId} (handoff`))).toBe(true);
    // The report was being written at the hand-off: the abandoned attempt's result was dropped.
    expect(runLines.some((line) => line.includes('step report') && line.includes('dropped'))).toBe(true);
  }, 30_000);

  it('suspends a reminder while it sleeps and answers after it', async () => {
    const asked = Date.now();
    const first = await fetch(`${server.url}/remind?after=3s`, { redirect: 'manual' });
    expect(first.status).toBe(303);
    const runId = first.headers.get('x-durable-run-id')!;
    expect((await api(`/runs/${runId}`)).run.status).toBe('sleeping');

    const final = await fetch(first.headers.get('location')!);
    const { remindedAt } = await final.json();
    expect(Date.parse(remindedAt) - asked).toBeGreaterThanOrEqual(3_000);
  });

  it('completes an order approved through POST /events; the same event again changes nothing', async () => {
    const first = await fetch(`${server.url}/orders`, { method: 'POST', body: JSON.stringify({ orderId: 'ord-7' }), redirect: 'manual' });
    expect(first.status).toBe(303);
    const runId = first.headers.get('x-durable-run-id')!;
    expect((await api(`/runs/${runId}`)).run.status).toBe('waiting');

    const approve = () => fetch(`${server.url}/events`, { method: 'POST', body: JSON.stringify({ name: 'order/approved', id: 'approval-ord-7', data: { orderId: 'ord-7' } }) });
    expect(await (await approve()).json()).toEqual({ id: 'approval-ord-7', resumed: [runId] });
    const final = await fetch(first.headers.get('location')!);
    expect(await final.json()).toEqual({ orderId: 'ord-7', approved: true });

    expect(await (await approve()).json()).toEqual({ id: 'approval-ord-7', duplicate: true, resumed: [] });
    const detail = await api(`/runs/${runId}`);
    expect(detail.run.status).toBe('completed');
    expect(detail.steps).toHaveLength(1);
  });

  it('answers approved: false when no approval comes before the timeout', async () => {
    const response = await fetch(`${server.url}/orders`, { method: 'POST', body: JSON.stringify({ orderId: 'ord-8', approvalTimeout: '2s' }) });

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ orderId: 'ord-8', approved: false });
  });

  it('answers 400 to bad input, starting no run', async () => {
    for (const [path, init] of [
      ['/remind?after=soon', {}],
      ['/research', {}],
      ['/orders', { method: 'POST', body: '{}' }],
      ['/orders', { method: 'POST', body: JSON.stringify({ orderId: 'x', approvalTimeout: 'forever' }) }],
      ['/events', { method: 'POST', body: '{"data":1}' }],
    ] as const) {
      const response = await fetch(`${server.url}${path}`, init);
      expect(response.status, path).toBe(400);
      expect(response.headers.get('x-durable-run-id')).toBeNull();
    }
  });
});
