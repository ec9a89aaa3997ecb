import { describe, expect, it } from 'vitest';
import { RetryAfterError, step } from '../sdk/index.ts';
import { body, counter, durableFixture, httpApiEvent } from './support/fixture.ts';

const request = (key: string, payload: unknown = { amount: 5 }) =>
  httpApiEvent({ method: 'POST', path: '/charge', body: payload, headers: { 'idempotency-key': key } });

describe('Idempotency-Key', () => {
  it('answers a repeat of a finished request with the same run’s stored response, running nothing', async () => {
    const { wrap } = await durableFixture();
    const { counts, hit } = counter();
    const handler = wrap(async (event: { body: string }) => {
      const charged = await step.run('charge', () => (hit('charge'), JSON.parse(event.body).amount));
      return { statusCode: 201, body: `charged ${charged}` };
    });

    const first = await handler(request('k-1'));
    const repeat = await handler(request('k-1'));

    expect(first).toMatchObject({ statusCode: 201, body: 'charged 5' });
    expect(repeat).toEqual(first);
    expect(counts).toEqual({ charge: 1 });
  });

  it('sends a repeat of a request whose run is still going to that run’s results (303)', async () => {
    const { wrap, resume, result } = await durableFixture();
    const { counts, hit } = counter();
    const handler = wrap(async () => {
      await step.run('charge', () => {
        if (hit('charge') === 1) throw new RetryAfterError('busy', '1m');
      });
      return { statusCode: 200, body: 'done' };
    });

    const first = await handler(request('k-2'));
    const repeat = await handler(request('k-2'));

    expect(first.statusCode).toBe(303);
    expect(repeat.statusCode).toBe(303);
    expect(repeat.headers!['x-durable-run-id']).toBe(first.headers!['x-durable-run-id']);
    await resume(handler);
    expect(await result(repeat.headers!.location!)).toMatchObject({ statusCode: 200, body: 'done' });
    expect(counts).toEqual({ charge: 2 });
  });

  it('refuses the same key with a different request (422)', async () => {
    const { wrap } = await durableFixture();
    const handler = wrap(async () => {
      await step.run('charge', () => 1);
      return { statusCode: 200 };
    });

    await handler(request('k-3', { amount: 5 }));
    const other = await handler(request('k-3', { amount: 500 }));

    expect(other.statusCode).toBe(422);
    expect(body(other)).toMatchObject({ error: { name: 'IdempotencyKeyReused' } });
  });

  it('answers 409 to a repeat that arrives while the first request has not reached a step yet', async () => {
    const { wrap } = await durableFixture();
    const { counts, hit } = counter();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const handler = wrap(async () => {
      await gate;
      await step.run('charge', () => hit('charge'));
      return { statusCode: 200 };
    });

    const first = handler(request('k-4'));
    await new Promise((r) => setTimeout(r, 100));
    const repeat = await handler(request('k-4'));
    release();

    expect(repeat.statusCode).toBe(409);
    expect(repeat.headers!['retry-after']).toBe('1');
    expect((await first).statusCode).toBe(200);
    expect(counts).toEqual({ charge: 1 });
  });

  it('frees the key of a request that did not become a run', async () => {
    const { wrap } = await durableFixture();
    let calls = 0;
    const handler = wrap(async () => ({ statusCode: 400, body: `invalid #${++calls}` }));

    expect((await handler(request('k-5'))).body).toBe('invalid #1');
    expect((await handler(request('k-5'))).body).toBe('invalid #2');
  });

  it('keeps keys apart per endpoint, and rejects malformed keys', async () => {
    const { wrap } = await durableFixture();
    const { counts, hit } = counter();
    const handler = wrap(async () => {
      await step.run('work', () => hit('work'));
      return { statusCode: 200 };
    });

    await handler(httpApiEvent({ method: 'POST', path: '/a', body: {}, headers: { 'idempotency-key': 'shared' } }));
    await handler(httpApiEvent({ method: 'POST', path: '/b', body: {}, headers: { 'idempotency-key': 'shared' } }));
    const malformed = await handler(httpApiEvent({ method: 'POST', path: '/a', body: {}, headers: { 'idempotency-key': 'has spaces in it' } }));

    expect(counts).toEqual({ work: 2 });
    expect(malformed.statusCode).toBe(400);
  });
});

describe('Idempotency-Key per caller', () => {
  it('does not let another caller attach to a run with the same key', async () => {
    const { wrap } = await durableFixture();
    const { counts, hit } = counter();
    const handler = wrap(async () => {
      const n = await step.run('export', () => hit('export'));
      return { statusCode: 200, body: `export #${n}` };
    });
    const as = (who: string) =>
      httpApiEvent({ method: 'POST', path: '/export', body: {}, headers: { 'idempotency-key': 'export-2026-11-21', authorization: `Bearer ${who}` } });

    const alice = await handler(as('alice'));
    const bob = await handler(as('bob'));
    const aliceAgain = await handler(as('alice'));

    expect(alice.body).toBe('export #1');
    expect(bob.body).toBe('export #2');
    expect(aliceAgain).toEqual(alice);
    expect(counts).toEqual({ export: 2 });
  });
});
