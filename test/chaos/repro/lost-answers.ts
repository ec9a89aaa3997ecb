/**
 * Reproduces what the chaos run found when a journal request is applied by DynamoDB but its answer
 * is lost (the proxy's `lose` fault; on AWS: a connection reset, a timeout after the write landed).
 * The AWS SDK then retries the request, and a conditional write meets its own earlier success:
 *
 * 1. `acquireLease`: the lease is taken, the retry fails its condition, the resume reads that as
 *    "lost the race" and drops the run, which stays at the next attempt with a lease nobody holds,
 *    and no timer armed.
 * 2. `claimIdempotencyKey`: the key is claimed for the request's run, the retry fails its condition
 *    and returns the request's own claim as the holder; `claimKey` then answers the request itself
 *    `409 RequestInProgress`, and every resend too, until the claim goes stale (15 min).
 * 3. `resolveWaiting` (a transaction: the SDK sends the same ClientRequestToken on its retry): shows
 *    whether DynamoDB Local treats the retry as the same transaction.
 *
 * Run: node --conditions=source --disable-warning=ExperimentalWarning test/chaos/repro/lost-answers.ts
 */
import middy from '@middy/core';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { startDynamoLocal } from '../../../dev/dynamodb-local.ts';
import { DynamoJournal, durable, step, type RunRecord } from '../../../sdk/index.ts';
import { httpApiEvent, lambdaContext, ManualTimer } from '../../../sdk/testing/index.ts';

/** The next `command` goes through and is applied; its answer is replaced by a connection reset, which the SDK retries. */
function loseNextAnswer(client: DynamoDBClient, command: string): void {
  let armed = true;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      if (armed && context.commandName === command) {
        armed = false;
        throw Object.assign(new Error(`answer of ${command} lost (socket hang up)`), { name: 'Error', code: 'ECONNRESET' });
      }
      return result;
    },
    { step: 'deserialize', name: `lose-${command}`, override: true },
  );
}

const local = await startDynamoLocal();
try {
  const client = local.client();
  const journal = new DynamoJournal({ tableName: 'repro', client });
  await journal.ensureTable();
  const now = new Date();
  const ttl = Math.floor(now.getTime() / 1000) + 3600;

  // 1. acquireLease
  const run: RunRecord = { runId: '01JREPRO0000000000000LEASE', endpoint: 'POST /x', status: 'sleeping', attempt: 1, createdAt: now.toISOString(), updatedAt: now.toISOString(), wakeAt: now.toISOString(), ttl };
  await journal.write([{ type: 'request', runId: run.runId, ttl, request: { method: 'POST', path: '/x', rawQuery: '', headers: {}, format: '2.0', routeKey: 'POST /x', requestContext: {} } as never }, { type: 'run', run }]);
  loseNextAnswer(client, 'UpdateItemCommand');
  const leased = await journal.acquireLease(run.runId, 1, 'resume-A', Date.now() + 30_000);
  const after = await journal.getRun(run.runId);
  console.log(`1. acquireLease returned ${leased ? 'the run' : 'undefined ("lost the race")'}; the run is now attempt ${after?.attempt}, leaseOwner ${after?.leaseOwner}, status ${after?.status}`);

  // 2. an Idempotency-Key claim, end to end through durable()
  const handler = middy()
    .use(durable({ journal, timer: new ManualTimer(), tokenSecret: 'repro-secret-0123456789' }))
    .handler(async () => ({ statusCode: 200, body: String(await step.run('one', () => 1)) }));
  const request = () => handler(httpApiEvent({ method: 'POST', path: '/x', routeKey: 'POST /x', headers: { 'idempotency-key': 'key-1' }, body: '{}' }) as never, lambdaContext({ timeoutMs: 29_000 }) as never) as Promise<{ statusCode: number; body: string }>;
  loseNextAnswer(client, 'PutItemCommand');
  const first = await request();
  const again = await request();
  console.log(`2. first request with Idempotency-Key: ${first.statusCode} ${first.body}; sent again: ${again.statusCode}`);

  // 3. resolveWaiting
  const waiter = { name: 'e', match: {}, runId: '01JREPRO00000000000WAITER', stepId: 'w', seq: 0, attempt: 1, endpoint: 'POST /x', timeoutAt: now.toISOString(), ttl };
  await journal.registerWaiter(waiter, { id: 'w', seq: 0, status: 'waiting', attempts: 1, startedAt: now.toISOString() });
  loseNextAnswer(client, 'TransactWriteItemsCommand');
  const resolved = await journal.resolveWaiting(waiter, '{"id":"ev-1"}');
  console.log(`3. resolveWaiting returned resolved: ${resolved.resolved}, step ${resolved.step?.status}`);
} finally {
  await local.stop();
}
