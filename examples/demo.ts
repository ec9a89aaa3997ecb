/**
 * `npm start` (until the dev server lands): the quick-start endpoint, in-process, against
 * DynamoDB Local. Shows the happy path, an inline retry, and a run that goes asynchronous (303)
 * and is finished by a local timer while the results URL long-polls.
 */
import { randomBytes } from 'node:crypto';
import { startDynamoLocal } from '../dev/dynamodb-local.ts';
import { configureDurable, createResultsHandler, DynamoJournal, LocalTimer, type HttpResponse } from '../sdk/server/index.ts';
import { httpApiEvent, lambdaContext } from '../sdk/testing/index.ts';
import { handler } from './process.ts';

const local = await startDynamoLocal();
const journal = new DynamoJournal({ tableName: 'durable-demo', client: local.client() });
await journal.ensureTable();
const timer = new LocalTimer({ invoke: (event) => handler(event as never, lambdaContext()) });
configureDurable({ journal, timer, tokenSecret: randomBytes(32).toString('hex'), dev: true });
const results = createResultsHandler({ journal });

const call = async (title: string, headers: Record<string, string> = {}) => {
  console.log(`\n== ${title}`);
  const started = Date.now();
  const event = httpApiEvent({ method: 'POST', path: '/process', body: { userId: 'vip-42', data: { plan: 'upgrade' } }, headers });
  const response = (await handler(event as never, lambdaContext())) as HttpResponse;
  console.log(`POST /process -> ${response.statusCode} in ${Date.now() - started} ms`, response.body);
  const location = response.headers?.location;
  if (response.statusCode === 303 && location) {
    const url = new URL(location);
    console.log(`GET ${url.pathname}?token=… (long-poll)`);
    const final = await results(httpApiEvent({ path: url.pathname + url.search, routeKey: 'GET /runs/{runId}' }), lambdaContext());
    console.log(`  -> ${final.statusCode} after ${Date.now() - started} ms`, final.body);
  }
};

try {
  await call('happy path');
  await call('`process` fails once: retried inline, no redirect', { 'x-durable-inject-failure': 'process:1' });
  await call('`process` is rate limited for 3 s: 303, then the results URL answers', { 'x-durable-inject-failure': 'process:1:3s' });
} finally {
  timer.close();
  await local.stop();
}
