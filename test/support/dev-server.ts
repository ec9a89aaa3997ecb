import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { inject } from 'vitest';
import { startDevServer, type DevServerOptions } from '../../dev/server.ts';
import type { DevEndpoint } from '../../dev/protocol.ts';

export const EXAMPLE_ENDPOINTS: DevEndpoint[] = [
  { routeKey: 'POST /process', entry: resolve('examples/process.ts'), handler: 'handler', format: '2.0', timeoutMs: 30_000, functionName: 'ProcessFunction' },
  { routeKey: 'POST /orders', entry: resolve('examples/orders.ts'), handler: 'handler', format: '2.0', timeoutMs: 30_000, functionName: 'OrdersFunction' },
  { routeKey: 'GET /remind', entry: resolve('examples/remind.ts'), handler: 'handler', format: '2.0', timeoutMs: 30_000, functionName: 'RemindFunction' },
  { routeKey: 'GET /research', entry: resolve('examples/research/handler.ts'), handler: 'handler', format: '2.0', timeoutMs: 60_000, functionName: 'ResearchFunction' },
];

/** A dev server on a free port, on the test run's DynamoDB Local, with its log lines collected. */
export async function startTestDevServer(options: DevServerOptions = {}) {
  const lines: string[] = [];
  const server = await startDevServer({
    port: 0,
    watch: false,
    dynamoEndpoint: inject('dynamoEndpoint'),
    tableName: `dev-${randomUUID()}`,
    endpoints: EXAMPLE_ENDPOINTS,
    log: (line) => lines.push(line),
    ...options,
  });
  return { ...server, lines };
}

export const processBody = { userId: 'u-1', data: { item: 'book', qty: 2 } };

export function postProcess(url: string, headers: Record<string, string> = {}, init: RequestInit = {}) {
  return fetch(`${url}/process`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(processBody),
    ...init,
  });
}
