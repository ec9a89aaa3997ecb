import { describe, expect, it } from 'vitest';
import { createResultsHandler, RetryAfterError, signToken, step } from '../sdk/index.ts';
import { body, durableFixture, httpApiEvent, lambdaContext, TOKEN_SECRET } from './support/fixture.ts';

/** A run that suspends on its first attempt and completes on the resume. */
async function suspendedRun(headers: Record<string, string> = {}) {
  const fixture = await durableFixture();
  let fail = true;
  const handler = fixture.wrap(async () => {
    await step.run('wait-for-upstream', () => {
      if (fail) throw new RetryAfterError('busy', '1m');
      return 'ok';
    });
    return { statusCode: 200, headers: { 'content-type': 'text/plain' }, body: 'finished' };
  });
  const first = await handler(httpApiEvent({ method: 'POST', path: '/p', body: {}, headers }));
  const runId = first.headers!['x-durable-run-id']!;
  const finish = async () => {
    fail = false;
    await fixture.resume(handler);
  };
  return { ...fixture, first, runId, location: first.headers!.location!, finish };
}

const get = (path: string) => httpApiEvent({ path, routeKey: 'GET /runs/{runId}' });

describe('GET /runs/{runId}', () => {
  it('replays the finished run’s stored response verbatim', async () => {
    const { result, location, finish, runId } = await suspendedRun();
    await finish();

    const response = await result(location);

    expect(response).toEqual({
      statusCode: 200,
      headers: { 'content-type': 'text/plain', 'x-durable-run-id': runId },
      body: 'finished',
    });
  });

  it('long-polls a running run and answers as soon as it finishes', async () => {
    const { result, location, finish } = await suspendedRun();

    const [response] = await Promise.all([result(location, 10), new Promise((resolve) => setTimeout(resolve, 200)).then(finish)]);

    expect(response).toMatchObject({ statusCode: 200, body: 'finished' });
  });

  it('after the wait, answers 303 to itself with Retry-After', async () => {
    const { result, location, runId } = await suspendedRun();

    const response = await result(`${location}&wait=1`);

    expect(response.statusCode).toBe(303);
    const self = new URL(response.headers!.location!);
    expect(self.pathname).toBe(`/runs/${runId}`);
    expect(self.searchParams.get('token')).toBe(new URL(location).searchParams.get('token'));
    expect(self.searchParams.get('wait')).toBe('1');
    expect(Number(response.headers!['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(body(response)).toMatchObject({ runId, status: 'running' });
  });

  it('with Prefer: respond-async, answers 202 to itself instead of 303, with the same headers and body and Preference-Applied', async () => {
    const { result, location, runId } = await suspendedRun();

    const response = await result(location, 0, { prefer: 'respond-async' });

    expect(response.statusCode).toBe(202);
    expect(response.headers).toMatchObject({ 'preference-applied': 'respond-async', 'x-durable-run-id': runId, location: expect.stringContaining(`/runs/${runId}?token=`) });
    expect(Number(response.headers!['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(body(response)).toEqual({ runId, status: 'running', resultUrl: response.headers!.location });
  });

  it('with Prefer: respond-async, the endpoint answers a run that goes on with 202 instead of 303, same Location, Retry-After, run id and body', async () => {
    const { first, runId } = await suspendedRun({ prefer: 'wait=10, respond-async' });

    expect(first.statusCode).toBe(202);
    expect(first.headers).toMatchObject({ 'preference-applied': 'respond-async', 'x-durable-run-id': runId, location: expect.stringContaining(`/runs/${runId}?token=`) });
    expect(Number(first.headers!['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(body(first)).toEqual({ runId, status: 'running', resultUrl: first.headers!.location });
  });

  it('answers 401 to a forged token', async () => {
    const { result, runId } = await suspendedRun();
    const exp = Math.floor(Date.now() / 1000) + 3600;

    const response = await result(`/runs/${runId}?token=${exp}.${'A'.repeat(43)}`);

    expect(response.statusCode).toBe(401);
    expect(body(response)).toEqual({ error: { name: 'Unauthorized', message: 'The result URL token is missing or not valid for this run.' } });
  });

  it('answers 401 to a token signed with another secret', async () => {
    const { result, runId } = await suspendedRun();
    const token = signToken('some-other-deployment-secret', runId, new Date(Date.now() + 60_000));

    expect((await result(`/runs/${runId}?token=${token}`)).statusCode).toBe(401);
  });

  it('answers 401 to an expired token', async () => {
    const { result, runId } = await suspendedRun();
    const token = signToken(TOKEN_SECRET, runId, new Date(Date.now() - 1_000));

    const response = await result(`/runs/${runId}?token=${token}`);

    expect(response.statusCode).toBe(401);
    expect(body(response)).toMatchObject({ error: { message: 'The result URL has expired.' } });
  });

  it('answers 401 to another run’s token', async () => {
    const one = await suspendedRun();
    const other = await suspendedRun();
    const otherToken = new URL(other.location).searchParams.get('token');

    expect((await one.result(`/runs/${one.runId}?token=${otherToken}`)).statusCode).toBe(401);
  });

  it('answers 401 without a token', async () => {
    const { result, runId } = await suspendedRun();

    expect((await result(`/runs/${runId}`)).statusCode).toBe(401);
  });

  it('answers 404 for an unknown run, even with a valid token for its id', async () => {
    const { result } = await suspendedRun();
    const unknown = '01JAAAAAAAAAAAAAAAAAAAAAAA';
    const token = signToken(TOKEN_SECRET, unknown, new Date(Date.now() + 60_000));

    expect((await result(`/runs/${unknown}?token=${token}`)).statusCode).toBe(404);
    expect((await result(`/runs/not-a-run-id?token=${token}`)).statusCode).toBe(404);
  });

  it('answers 400 to a malformed wait', async () => {
    const { result, location } = await suspendedRun();

    expect((await result(`${location}&wait=soon`)).statusCode).toBe(400);
  });

  it('never long-polls past the Lambda’s remaining time', async () => {
    const { journal, location } = await suspendedRun();
    const results = createResultsHandler({ journal, tokenSecret: TOKEN_SECRET, pollIntervalMs: 10 });
    const url = new URL(location);

    const started = Date.now();
    const response = await results(get(`${url.pathname}${url.search}&wait=20`), lambdaContext({ timeoutMs: 1_500 }));

    expect(response.statusCode).toBe(303);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
