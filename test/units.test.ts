import { describe, expect, it } from 'vitest';
import { toMs } from '../sdk/core/duration.ts';
import { RetryAfterError, SerializationError, signToken, verifyToken } from '../sdk/index.ts';
import { backoffDelay } from '../sdk/engine/retries.ts';
import { parseInjectedFailures } from '../sdk/endpoint/fault-injection.ts';
import { parseTimerFaults, withTimerFaults } from '../dev/timer-faults.ts';
import { deserialize, serialize } from '../sdk/core/serialization.ts';

describe('durations', () => {
  it('accept milliseconds and unit strings', () => {
    expect([toMs(250), toMs('500ms'), toMs('30s'), toMs('5m'), toMs('2h'), toMs('7d'), toMs('1.5s')]).toEqual([
      250, 500, 30_000, 300_000, 7_200_000, 604_800_000, 1_500,
    ]);
  });

  it('reject anything else with a message that shows the format', () => {
    expect(() => toMs('5 minutes')).toThrow(/Invalid duration "5 minutes": use milliseconds or a string like '500ms'/);
    expect(() => toMs(-1)).toThrow(TypeError);
    expect(() => new RetryAfterError('x', 'soon')).toThrow(/Invalid RetryAfterError delay/);
  });
});

describe('step result serialization', () => {
  const describeStep = () => "step 's'";

  it('round-trips JSON values and Dates, nested', () => {
    const value = { a: [1, 'two', null, true], at: new Date('2026-05-06T07:08:09.010Z'), deep: { when: [new Date(0)] } };
    const back = deserialize(serialize(value, describeStep).text) as typeof value;
    expect(back).toEqual(value);
    expect(back.at).toBeInstanceOf(Date);
    expect(back.deep.when[0]).toBeInstanceOf(Date);
  });

  it('stores a step that returns nothing as nothing', () => {
    expect(serialize(undefined, describeStep)).toEqual({ text: undefined, exact: true });
    expect(deserialize(undefined)).toBeUndefined();
  });

  it.each([
    ['a Map', new Map(), 'an instance of Map at the top level'],
    ['a class instance', { x: new (class Money {})() }, "an instance of Money at 'x'"],
    ['a BigInt', { n: 10n }, "a BigInt at 'n'"],
    ['a function', [() => 1], "a function at '0'"],
    ['NaN', { ratio: NaN }, "NaN at 'ratio'"],
    ['undefined in an array', [1, undefined], "undefined at '1'"],
    ['an invalid Date', new Date('nope'), 'an invalid Date'],
  ])('refuses %s, saying where it is', (_what, value, message) => {
    expect(() => serialize(value, describeStep)).toThrow(SerializationError);
    expect(() => serialize(value, describeStep)).toThrow(`step 's' returned ${message}`);
  });

  it('says when JSON would change the value (undefined properties, -0)', () => {
    expect(serialize({ a: 1, at: new Date(0) }, describeStep).exact).toBe(true);
    expect(serialize({ a: undefined }, describeStep).exact).toBe(false);
    expect(serialize([-0], describeStep).exact).toBe(false);
  });

  it('refuses circular structures', () => {
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    expect(() => serialize(loop, describeStep)).toThrow(/a circular reference at 'self'/);
  });
});

describe('result URL tokens', () => {
  const secret = 'a-secret-of-enough-length';
  const runId = '01JABCDEFGHJKMNPQRSTVWXYZ0';

  it('verify for their run until they expire', () => {
    const token = signToken(secret, runId, new Date(Date.now() + 60_000));
    expect(verifyToken(secret, runId, token)).toEqual({ ok: true });
    expect(verifyToken(secret, runId, token, Date.now() + 61_000)).toEqual({ ok: false, reason: 'expired' });
  });

  it('do not verify for another run, another secret, or when altered', () => {
    const token = signToken(secret, runId, new Date(Date.now() + 60_000));
    const [exp, mac] = token.split('.') as [string, string];
    expect(verifyToken(secret, '01JABCDEFGHJKMNPQRSTVWXYZ1', token).ok).toBe(false);
    expect(verifyToken('another-secret-value', runId, token).ok).toBe(false);
    expect(verifyToken(secret, runId, `${Number(exp) + 1000}.${mac}`).ok).toBe(false);
    expect(verifyToken(secret, runId, 'garbage')).toEqual({ ok: false, reason: 'malformed' });
  });
});

describe('backoff', () => {
  const backoff = { initial: 1_000, factor: 2, max: 600_000 };

  it('doubles from the initial delay up to the cap, with jitter in the upper half', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelay(backoff, n, () => 1))).toEqual([1_000, 2_000, 4_000, 8_000]);
    expect([1, 2, 3, 4].map((n) => backoffDelay(backoff, n, () => 0))).toEqual([500, 1_000, 2_000, 4_000]);
    expect(backoffDelay(backoff, 30, () => 1)).toBe(600_000);
  });
});

describe('x-durable-inject-failure parsing', () => {
  it('reads <stepId>:<times>[:<retryAfter>], step ids with colons included', () => {
    const parsed = parseInjectedFailures('process:2, fetch:1:3:1m', true, 'test');
    expect([...parsed]).toEqual([
      ['process', { times: 2, retryAfterMs: undefined }],
      ['fetch:1', { times: 3, retryAfterMs: 60_000 }],
    ]);
  });

  it('is empty outside dev mode', () => {
    expect(parseInjectedFailures('process:2', false, 'test').size).toBe(0);
  });
});

describe("the dev server's timer faults (--timer-faults, for the chaos run)", () => {
  const event = { type: 'durable-endpoints/resume', endpoint: 'POST /x', runId: '01JTIMERFAULTS000000000000', attempt: 1, reason: 'retry' } as const;

  it('reads duplicate=<share>,late=<share>,lateMs=<ms> and refuses anything else', () => {
    expect(parseTimerFaults('duplicate=0.1,late=0.25,lateMs=500')).toEqual({ duplicate: 0.1, late: 0.25, lateMs: 500 });
    expect(parseTimerFaults('late=1')).toEqual({ duplicate: 0, late: 1, lateMs: 2_000 });
    expect(() => parseTimerFaults('duplicate=2')).toThrow(/--timer-faults/);
    expect(() => parseTimerFaults('early=0.1')).toThrow(/--timer-faults/);
  });

  it('delivers a resume twice, or late, as often as asked', async () => {
    const delivered: number[] = [];
    const deliver = async () => void delivered.push(Date.now());
    const lines: string[] = [];

    const began = Date.now();
    await withTimerFaults(deliver, { duplicate: 1, late: 0, lateMs: 50 }, (line) => lines.push(line))(event);
    expect(delivered).toHaveLength(2);

    delivered.length = 0;
    await withTimerFaults(deliver, { duplicate: 0, late: 1, lateMs: 200 }, (line) => lines.push(line))(event);
    expect(delivered).toHaveLength(1);
    expect(delivered[0]! - began).toBeGreaterThanOrEqual(100);

    delivered.length = 0;
    await withTimerFaults(deliver, { duplicate: 0, late: 0, lateMs: 200 }, (line) => lines.push(line))(event);
    expect(delivered).toHaveLength(1);
    expect(lines.map((line) => line.replace(/\d+ms/, 'Nms'))).toEqual([
      `⚡ timer fault: resume of run ${event.runId} (retry, attempt 2) delivered twice, Nms apart`,
      `⚡ timer fault: resume of run ${event.runId} (retry, attempt 2) delivered Nms late`,
    ]);
  });
});

describe('request snapshots', () => {
  it('leave out the API key REST APIs copy into requestContext.identity', async () => {
    const { snapshotRequest } = await import('../sdk/endpoint/api-gateway.ts');
    const { restApiEvent } = await import('../sdk/testing/index.ts');
    const event = restApiEvent({ method: 'POST', path: '/x', headers: { 'x-api-key': 'k-secret' } });
    (event.requestContext.identity as { apiKey: string | null }).apiKey = 'k-secret';

    const snapshot = snapshotRequest(event, { headers: new Set(['x-api-key']), query: new Set() });

    expect(JSON.stringify(snapshot)).not.toContain('k-secret');
    expect((snapshot.requestContext.identity as Record<string, unknown>).sourceIp).toBe('127.0.0.1');
  });
});
