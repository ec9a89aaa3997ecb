/**
 * What the results route costs per result fetched, in Lambda-seconds (the route is billed by
 * duration), for a run whose step retries after 1 s, 30 s and 5 min, on virtual time: the route,
 * the endpoint and the journal run as they are, and each poll's duration is measured on the fake
 * clock. Printed as a table; the assertions are about which requests are held, not about times.
 *
 * - follows 303s: a browser's `fetch` or `curl -L` (durableFetch's browser default before the
 *   202 path): it ignores Retry-After and comes straight back, so the route holds it throughout.
 * - polls itself (202): durableFetch with `Prefer: respond-async` (browsers' default now) honours
 *   Retry-After and is answered at once while nothing can change.
 * - reopens the results URL: `durableFetch(resultUrl)` after a page reload, 1 s after the 202.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RetryAfterError, step } from '../sdk/index.ts';
import { durableFixture, httpApiEvent } from './support/fixture.ts';

interface Client {
  /** Sends `Prefer: respond-async` (answers are 202s). */
  prefer: boolean;
  /** Waits what Retry-After says before each poll (a `fetch` that follows 303s does not). */
  honoursRetryAfter: boolean;
  /** The first poll comes 1 s after the endpoint's answer (a page reloaded), not after its Retry-After. */
  reopened?: boolean;
}

const CLIENTS: Record<string, Client> = {
  'browser fetch / curl -L (follows 303s)': { prefer: false, honoursRetryAfter: false },
  'durableFetch in Node (303)': { prefer: false, honoursRetryAfter: true },
  'durableFetch in browsers (202)': { prefer: true, honoursRetryAfter: true },
  'results URL reopened 1 s later (303)': { prefer: false, honoursRetryAfter: true, reopened: true },
  'results URL reopened 1 s later (202)': { prefer: true, honoursRetryAfter: true, reopened: true },
};

interface Cost {
  polls: number;
  lambdaSeconds: number;
  /** Polls answered within 100 ms of virtual time: not held. */
  answeredAtOnce: number;
}

async function fetchResult(delay: string, client: Client): Promise<Cost> {
  // No inline retry: even the 1 s retry sends the caller to the results URL.
  const fixture = await durableFixture({ inlineDelayMax: 0 });
  let fail = true;
  const handler = fixture.wrap(async () => {
    await step.run('call-upstream', () => {
      if (fail) throw new RetryAfterError('rate limited', delay);
      return 'ok';
    });
    return { statusCode: 200, body: 'done' };
  });
  const headers: Record<string, string> = client.prefer ? { prefer: 'respond-async' } : {};
  const first = await handler(httpApiEvent({ method: 'POST', path: '/p', body: {}, headers }));
  if (!first.headers?.location) throw new Error(`The endpoint answered ${first.statusCode}, not the run's 202 or 303.`);
  // The timer resumes the run at its wake time; the retry succeeds.
  setTimeout(() => {
    fail = false;
    void fixture.resume(handler);
  }, Number(first.headers!['retry-after']) * 1_000);

  const cost: Cost = { polls: 0, lambdaSeconds: 0, answeredAtOnce: 0 };
  let location = first.headers!.location!;
  let retryAfter = client.reopened ? 1 : Number(first.headers!['retry-after']);
  for (;;) {
    if (client.honoursRetryAfter) await new Promise((resolve) => setTimeout(resolve, retryAfter * 1_000));
    const started = Date.now();
    const response = await fixture.result(location, 20, headers);
    const held = Date.now() - started;
    cost.polls++;
    cost.lambdaSeconds += held / 1_000;
    if (held < 100) cost.answeredAtOnce++;
    if (response.statusCode === 200) return cost;
    if (response.statusCode !== 202 && response.statusCode !== 303) throw new Error(`Unexpected ${response.statusCode} from the results route.`);
    location = response.headers!.location!;
    retryAfter = Number(response.headers!['retry-after']);
  }
}

async function onVirtualTime<T>(work: () => Promise<T>): Promise<T> {
  vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  let done = false;
  const result = work().finally(() => (done = true));
  while (!done) await vi.advanceTimersByTimeAsync(1_000);
  return result;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('the results route’s cost per result fetched (Lambda-seconds, virtual time)', () => {
  it('holds a request only while the run is live or due within the wait, for callers that honour Retry-After', async () => {
    const rows: Record<string, Record<string, string>> = {};
    const costs: Record<string, Record<string, Cost>> = {};
    for (const delay of ['1s', '30s', '5m']) {
      for (const [name, client] of Object.entries(CLIENTS)) {
        const cost = await onVirtualTime(() => fetchResult(delay, client));
        (costs[name] ??= {})[delay] = cost;
        (rows[name] ??= {})[delay] = `${cost.lambdaSeconds.toFixed(1)} s, ${cost.polls} poll(s)`;
      }
    }
    console.log('Lambda-seconds of the results route per result fetched, by retry delay:');
    console.table(rows);

    const reopened303 = costs['results URL reopened 1 s later (303)']!;
    const reopened202 = costs['results URL reopened 1 s later (202)']!;
    // A caller that follows 303s is held throughout: holding is the only brake it has.
    expect(costs['browser fetch / curl -L (follows 303s)']!['5m']!.answeredAtOnce).toBe(0);
    // 303 callers are held while the run sleeps, as before; 202 callers are answered at once...
    expect(reopened303['5m']!.answeredAtOnce).toBe(0);
    expect(reopened202['5m']).toMatchObject({ polls: 2, answeredAtOnce: 1 });
    expect(reopened202['5m']!.lambdaSeconds).toBeLessThan(reopened303['5m']!.lambdaSeconds);
    // ...and held when the run is due within the wait: one poll, answered when the run ends.
    expect(reopened202['1s']).toMatchObject({ polls: 1, answeredAtOnce: 0 });
  });
});
