/**
 * Flow control's specifications on the harness (memory journal, virtual clock): concurrency slots,
 * queues, throttles and rate limits of endpoints, and the limits of steps. Real concurrency against
 * the dev server: flow-control-dev.test.ts.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { durable, step, type DurableOptions } from '../sdk/index.ts';
import { createHarness, type DurableHarness, type HarnessRun } from '../sdk/testing/index.ts';

let harness: DurableHarness;
beforeEach(() => {
  harness = createHarness();
});
afterEach(() => harness.close());

const body = (response: { body?: string }) => JSON.parse(response.body ?? 'null');
const tenantOf = (event: APIGatewayProxyEventV2) => JSON.parse(event.body ?? '{}').tenant as string;

/** A promise a test opens when it wants: stands for work that takes as long as the test says. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** A handler whose one step waits for the gate of its request's `job`, and records who ran at once. */
function jobs(options: DurableOptions) {
  const gates = new Map<string, ReturnType<typeof gate>>();
  const running = new Set<string>();
  const started: string[] = [];
  let most = 0;
  const gateOf = (job: string) => gates.get(job) ?? (gates.set(job, gate()), gates.get(job)!);
  const handler = middy<APIGatewayProxyEventV2>()
    .use(durable(options))
    .handler(async (event) => {
      const { job } = JSON.parse(event.body ?? '{}') as { job: string };
      started.push(job);
      running.add(job);
      most = Math.max(most, running.size);
      try {
        await step.run('work', () => gateOf(job).opened.then(() => job));
      } finally {
        running.delete(job);
      }
      return { statusCode: 200, body: JSON.stringify({ job }) };
    });
  return {
    handler,
    started,
    most: () => most,
    finish: (job: string) => gateOf(job).open(),
    call: (job: string, tenant = 'acme') => harness.call(handler, { method: 'POST', path: '/jobs', body: { job, tenant } }),
  };
}

/** Lets pending calls reach their first wait. */
const settle = async (turns = 20) => {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('endpoint concurrency', () => {
  it('runs at most `limit` attempts of a key at once; a request over it waits inline, then is queued (303) and starts when a slot frees', async () => {
    const app = jobs({ concurrency: { limit: 2, key: tenantOf } });
    const first = app.call('a');
    const second = app.call('b');
    await settle();
    const third = await app.call('c'); // polls for inlineDelayMax (2 s of virtual time), then queues

    expect(third.response.statusCode).toBe(303);
    expect(third.response.headers?.['retry-after']).toBe('1');
    expect(await third.status()).toBe('queued');
    expect(app.started).toEqual(['a', 'b']);

    app.finish('a');
    expect((await first).response.statusCode).toBe(200);
    app.finish('c');
    const final = await third.finish();

    expect(body(final)).toEqual({ job: 'c' });
    expect(app.started).toEqual(['a', 'b', 'c']);
    expect(app.most()).toBe(2);
    app.finish('b');
    await second;
  });

  it('lets other keys go while one key is at its limit', async () => {
    const app = jobs({ concurrency: { limit: 1, key: tenantOf } });
    const busy = app.call('a', 'acme');
    await settle();
    app.finish('b');

    const other = await app.call('b', 'globex');

    expect(other.response.statusCode).toBe(200);
    app.finish('a');
    await busy;
  });

  it('starts queued runs oldest first, one per freed slot', async () => {
    const app = jobs({ concurrency: { limit: 1 } });
    const first = app.call('first');
    await settle();
    const queued: HarnessRun[] = [];
    for (const job of ['q1', 'q2', 'q3']) queued.push(await app.call(job));
    expect(queued.map((run) => run.response.statusCode)).toEqual([303, 303, 303]);

    for (const job of ['first', 'q1', 'q2', 'q3']) app.finish(job);
    await first;
    for (const run of queued) await run.finish();

    expect(app.started).toEqual(['first', 'q1', 'q2', 'q3']);
    expect(app.most()).toBe(1);
  });

  it('gives the slot back while the run sleeps: a sleeping run does not starve its key', async () => {
    const handler = middy<APIGatewayProxyEventV2>()
      .use(durable({ concurrency: { limit: 1 } }))
      .handler(async () => {
        await step.run('before', () => 'ok');
        await step.sleep('nap', '1h');
        return { statusCode: 200, body: 'rested' };
      });
    const sleeper = await harness.call(handler, { path: '/nap' });
    expect(sleeper.response.statusCode).toBe(303);
    expect(await sleeper.status()).toBe('sleeping');

    const quick = middy<APIGatewayProxyEventV2>()
      .use(durable({ name: 'GET /nap', concurrency: { limit: 1 } }))
      .handler(async () => ({ statusCode: 200, body: String(await step.run('now', () => 1)) }));
    const other = await harness.call(quick, { path: '/nap' });

    expect(other.response.statusCode).toBe(200);
    expect((await sleeper.finish()).body).toBe('rested');
  });

  it('answers 429 with Retry-After for onLimit: reject, counts it, and starts no run', async () => {
    const app = jobs({ concurrency: { limit: 1, onLimit: 'reject' } });
    const busy = app.call('a');
    await settle();

    const refused = await app.call('b');

    expect(refused.response.statusCode).toBe(429);
    expect(refused.response.headers?.['retry-after']).toBe('2');
    expect(body(refused.response).error.name).toBe('ConcurrencyLimited');
    expect(refused.runId).toBeUndefined();
    expect((await harness.journal.listFlow()).find((state) => state.ref.kind === 'concurrency')).toMatchObject({ rejected: 1, limit: 1 });
    app.finish('a');
    await busy;
  });

  it('answers 400 when a key function cannot compute the key, or computes one too long, before anything runs', async () => {
    const app = jobs({ concurrency: { limit: 1, key: (event) => JSON.parse(event.body ?? '').tenant.toUpperCase() } });

    const run = await harness.call(app.handler, { method: 'POST', path: '/jobs', body: 'not json' });

    expect(run.response.statusCode).toBe(400);
    expect(body(run.response).error.message).toMatch(/concurrency key of this request could not be computed/);
    expect(app.started).toEqual([]);

    const long = await harness.call(app.handler, { method: 'POST', path: '/jobs', body: { job: 'a', tenant: 'x'.repeat(2_000) } });
    expect(long.response.statusCode).toBe(400);
    expect(body(long.response).error.message).toMatch(/keys are at most 1024/);
  });

  it('refuses limits that cannot work when the endpoint is defined', () => {
    expect(() => durable({ concurrency: { limit: 0 } })).toThrow(/concurrency\[0\]: limit must be a whole number from 1/);
    expect(() => durable({ rateLimit: { limit: 5, period: 'soon' as never } })).toThrow(/rateLimit\[0\] period/);
    expect(() => durable({ throttle: [{ limit: 1, period: '1s' }, { limit: 2, period: '1m', burst: -1 }] })).toThrow(/throttle\[1\]: burst/);
  });
});

describe('endpoint throttle and rate limit', () => {
  const quick = (options: DurableOptions) =>
    middy<APIGatewayProxyEventV2>()
      .use(durable(options))
      .handler(async () => ({ statusCode: 200, body: JSON.stringify({ at: await step.run('at', () => harness.clock.now()) }) }));

  it('throttles starts to `limit` per `period` in arrival order: a late turn is queued (303) and starts then', async () => {
    const handler = quick({ throttle: { limit: 1, period: '10s' } });
    const start = harness.clock.now();

    const first = await harness.call(handler, { path: '/t' });
    const second = await harness.call(handler, { path: '/t' });
    const third = await harness.call(handler, { path: '/t' });

    expect(first.response.statusCode).toBe(200);
    expect([second.response.statusCode, third.response.statusCode]).toEqual([303, 303]);
    expect(await second.status()).toBe('queued');
    expect(Number(third.response.headers?.['retry-after'])).toBe(20);
    const at = async (run: HarnessRun) => body(await run.finish()).at - start;
    expect(await at(second)).toBe(10_000);
    expect(await at(third)).toBe(20_000);
  });

  it('waits inline for a throttle turn that is near', async () => {
    const handler = quick({ throttle: { limit: 2, period: '2s' } });

    const answers = [];
    for (let i = 0; i < 3; i++) answers.push((await harness.call(handler, { path: '/t' })).response.statusCode);

    expect(answers).toEqual([200, 200, 200]);
  });

  it('drops requests over a rate limit with 429 and Retry-After, per key, counted, and admits again when the bucket refills', async () => {
    const handler = quick({ rateLimit: { limit: 2, period: '10s', key: (event) => (event as APIGatewayProxyEventV2).requestContext.http.sourceIp } });
    const from = (ip: string) => harness.call(handler, { path: '/q', sourceIp: ip } as never);

    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await from('10.0.0.1'));
    const other = await from('10.0.0.2');

    expect(answers.map((run) => run.response.statusCode)).toEqual([200, 200, 429]);
    expect(answers[2]!.response.headers?.['retry-after']).toBe('5');
    expect(answers[2]!.runId).toBeUndefined();
    expect(body(answers[2]!.response).error.name).toBe('RateLimited');
    expect(other.response.statusCode).toBe(200);
    const states = await harness.journal.listFlow();
    expect(states.find((state) => state.ref.key === '10.0.0.1')).toMatchObject({ rejected: 1, limit: 2, periodMs: 10_000 });

    await harness.advance('5s');
    expect((await from('10.0.0.1')).response.statusCode).toBe(200);
  });
});

describe('step limits', () => {
  it('holds a step concurrency key across runs of different endpoints; a step over it waits, then its run is queued and resumed', async () => {
    const gates = [gate(), gate(), gate()];
    let inside = 0;
    let most = 0;
    const endpoint = (name: string) =>
      middy<APIGatewayProxyEventV2>()
        .use(durable({ name }))
        .handler(async (event) => {
          const n = Number(event.queryStringParameters?.n);
          const value = await step.run(
            'call-api',
            async () => {
              inside++;
              most = Math.max(most, inside);
              await gates[n]!.opened;
              inside--;
              return n;
            },
            { concurrency: { key: 'api', limit: 1 } },
          );
          return { statusCode: 200, body: String(value) };
        });
    const a = endpoint('GET /a');
    const b = endpoint('GET /b');

    const first = harness.call(a, { path: '/a?n=0' });
    await settle();
    const second = await harness.call(b, { path: '/b?n=1' });
    expect(second.response.statusCode).toBe(303);
    expect(await second.status()).toBe('queued');
    expect((await second.step('call-api'))?.status).toBe('queued');

    gates[0]!.open();
    expect((await first).response.body).toBe('0');
    gates[1]!.open();
    expect((await second.finish()).body).toBe('1');
    expect(most).toBe(1);
  });

  it('books a step throttle turn: the run suspends until it and the step then runs without booking again', async () => {
    const calls: number[] = [];
    const handler = middy<APIGatewayProxyEventV2>()
      .use(durable())
      .handler(async () => {
        await step.run('ping', () => calls.push(harness.clock.now()), { throttle: { key: 'pings', limit: 1, period: '1m' } });
        return { statusCode: 200 };
      });
    const start = harness.clock.now();

    const first = await harness.call(handler, { path: '/p' });
    const second = await harness.call(handler, { path: '/p' });

    expect(first.response.statusCode).toBe(200);
    expect(second.response.statusCode).toBe(303);
    expect(await second.step('ping')).toMatchObject({ status: 'queued' });
    await second.finish();
    expect(calls.map((at) => at - start)).toEqual([0, 60_000]);
    expect((await harness.journal.listFlow()).find((state) => state.ref.key === 'pings')?.nextAt).toBe(start + 120_000);
  });
});
