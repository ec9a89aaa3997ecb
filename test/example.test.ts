import { beforeAll, describe, expect, it } from 'vitest';
import { handler, outbox } from '../examples/process.ts';
import { configureDurable } from '../sdk/index.ts';
import { lambdaContext, ManualTimer } from '../sdk/testing/index.ts';
import { body, countItems, createTestJournal, httpApiEvent, TOKEN_SECRET } from './support/fixture.ts';

const timer = new ManualTimer();
let journal: Awaited<ReturnType<typeof createTestJournal>>;

beforeAll(async () => {
  journal = await createTestJournal();
  // The example uses durable() with no options, as deployed code does: it takes the process defaults.
  configureDurable({ journal, timer, tokenSecret: TOKEN_SECRET });
});

const call = (payload: unknown, headers: Record<string, string> = {}) =>
  handler(httpApiEvent({ method: 'POST', path: '/process', body: payload, headers }) as never, lambdaContext()) as Promise<{
    statusCode: number;
    headers: Record<string, string>;
    body: string;
  }>;

describe('example POST /process', () => {
  it('enriches, processes and notifies, answering 200 with the result', async () => {
    const before = outbox.length;

    const response = await call({ userId: 'vip-7', data: { a: 1, b: 2 } });

    expect(response.statusCode).toBe(200);
    expect(body(response)).toEqual({ success: true, result: { fields: 2, processedAt: expect.any(String) } });
    expect(outbox.slice(before)).toEqual([{ userId: 'vip-7', result: body(response).result }]);
    const { steps } = (await journal.load(response.headers['x-durable-run-id']!))!;
    expect(steps.map((s) => s.id)).toEqual(['enrich-data', 'process', 'notify']);
  });

  it.each([
    ['not JSON', 'not json', 'The body must be JSON'],
    ['no userId', { data: {} }, '`userId` must be a non-empty string.'],
    ['data not an object', { userId: 'u', data: [1] }, '`data` must be an object.'],
  ])('answers 400 with a JSON error, and starts no run, for %s', async (_case, payload, message) => {
    const items = await countItems(journal);

    const response = await call(payload);

    expect(response.statusCode).toBe(400);
    expect(body(response)).toMatchObject({ error: { name: 'BadRequest', message: expect.stringContaining(message) } });
    expect(response.headers['x-durable-run-id']).toBeUndefined();
    expect(await countItems(journal)).toBe(items);
  });
});
