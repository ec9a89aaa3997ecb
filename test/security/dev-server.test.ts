/**
 * Attacks on the dev server, which listens on loopback without authentication: DNS rebinding (a
 * page whose host name now resolves to 127.0.0.1), and forging a workflow's result.
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postProcess, startTestDevServer } from '../support/dev-server.ts';

let server: Awaited<ReturnType<typeof startTestDevServer>>;
beforeAll(async () => {
  server = await startTestDevServer();
});
afterAll(() => server.close());

/** A request as a browser sends it after DNS rebinding: to our port, with the attacker's Host. */
function withHost(host: string, method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: server.port, method, path, headers: { host, 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the dev server against DNS rebinding', () => {
  it.each([
    ['GET', '/_durable/api/runs'],
    ['POST', '/events'],
    ['POST', '/process'],
    ['GET', '/_durable/'],
  ])('refuses %s %s addressed to a host that is not loopback', async (method, path) => {
    const answer = await withHost(`rebind.attacker.example:${server.port}`, method, path, method === 'POST' ? '{"name":"x"}' : undefined);

    expect(answer.status).toBe(403);
    expect(answer.body).toMatch(/not allowed/);
  });

  it('answers loopback names', async () => {
    for (const host of [`localhost:${server.port}`, `127.0.0.1:${server.port}`, `app.localhost:${server.port}`]) {
      expect((await withHost(host, 'GET', '/_durable/api/runs')).status, host).toBe(200);
    }
  });
});

describe('forged workflow results', () => {
  it('refuses the kit’s reserved event names on POST /events', async () => {
    const answer = await fetch(`${server.url}/events`, {
      method: 'POST',
      body: JSON.stringify({ name: 'durable-endpoints/execution', data: { executionArn: 'arn:aws:states:eu-west-1:1:execution:m:x', status: 'SUCCEEDED' } }),
    });

    expect(answer.status).toBe(400);
  });

  it('still lets a developer end an execution locally, as EventBridge would report it', async () => {
    const answer = await fetch(`${server.url}/_durable/api/executions`, {
      method: 'POST',
      body: JSON.stringify({ executionArn: 'arn:aws:states:eu-west-1:1:execution:fulfilment:nobody-waits', status: 'SUCCEEDED', output: { ok: true } }),
    });

    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ id: expect.stringMatching(/^aws\.states\/dev-/), resumed: [] });
    expect((await postProcess(server.url)).status).toBe(200);
  });
});
