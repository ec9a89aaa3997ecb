import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { startDevServer, type DevServerOptions } from '../../dev/server.ts';

/**
 * A dev server on a free port, on the test run's DynamoDB Local, with its log lines collected. It
 * serves what the example CDK app (cdk.json) defines, as `npm start` does, unless told otherwise.
 */
export async function startTestDevServer(options: DevServerOptions = {}) {
  const lines: string[] = [];
  const server = await startDevServer({
    port: 0,
    watch: false,
    dynamoEndpoint: inject('dynamoEndpoint'),
    tableName: `dev-${randomUUID()}`,
    log: (line) => lines.push(line),
    ...options,
  });
  // Not a spread: `endpoints` is a getter, read again when the app changes.
  return Object.assign(server, { lines });
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
