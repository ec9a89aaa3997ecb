/**
 * The research agent's stream on the dev server: its progress as it works, and the same final
 * response as the plain request of the same run; the plain request is answered as before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDevServer } from './support/dev-server.ts';
import { eventReader, reduce } from './support/sse.ts';

// A twentieth of the fakes' latency: the whole run takes under two seconds.
process.env.RESEARCH_LATENCY_SCALE = '0.05';

describe('GET /research asked for text/event-stream', () => {
  let server: Awaited<ReturnType<typeof startTestDevServer>>;
  beforeAll(async () => {
    server = await startTestDevServer();
  });
  afterAll(() => server?.close());

  it('streams the planned queries, each source as it is read and the report as it is written, then the response the results URL gives', async () => {
    const response = await fetch(`${server.url}/research?topic=tidal%20power`, { headers: { accept: 'text/event-stream' } });
    expect(response.status).toBe(200);

    const events = await eventReader(response.body!).all();

    const committed = reduce(events).committed;
    const of = (type: string) => committed.filter((c) => (c.data as { type: string }).type === type);
    expect(of('queries').map((c) => c.step)).toEqual(['plan', 'follow-ups']);
    expect(of('queries')[0]!.data).toEqual({ type: 'queries', queries: ['tidal power overview', 'tidal power recent advances', 'tidal power open problems'] });
    expect(of('source')).toHaveLength(10);
    expect(of('source').every((c) => c.step.startsWith('extract:'))).toBe(true);
    const report = of('report').map((c) => (c.data as { text: string }).text).join('');

    const final = events.at(-1)!;
    expect(final.event).toBe('response');
    const body = JSON.parse(final.data.body as string);
    expect(body).toEqual({ topic: 'tidal power', report, learnings: 10 });
    expect(body.report).toMatch(/^# tidal power\n\n- /);
    const plain = await fetch(events[0]!.data.resultUrl as string);
    expect(await plain.text()).toBe(final.data.body);
  });

  it('answers the plain request as before: 200 JSON with the topic, the report and the count of learnings', async () => {
    const response = await fetch(`${server.url}/research?topic=tidal%20power`);

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toEqual({ topic: 'tidal power', report: expect.stringMatching(/^# tidal power\n\n(- .+\n){9}- .+$/), learnings: 10 });
  });
});
