/**
 * `npm run bench`: what durable() adds to a request on the happy path.
 *
 * The same 10-step handler (each step awaits 10 ms of simulated I/O) runs plain and wrapped with
 * durable(), journal on DynamoDB Local, interleaved request by request so machine noise hits both
 * alike; a third variant awaits a PutItem after every step, as a design that blocks on each
 * checkpoint would. A fourth variant is the durable() endpoint with a concurrency limit (never
 * reached): what flow control adds to an admitted request (a slot taken before the handler, given
 * back alongside the last checkpoint). A bare PutItem round trip is timed in the same run, both
 * after the same 10 ms idle as the journal's writes see and back-to-back, and so are what flow
 * control sends instead: a conditional UpdateItem of a map (the slot taken), and a PutItem with an
 * UpdateItem at once (the last checkpoint with the slot given back); every figure is a ratio
 * against something measured here. The last line is one JSON object.
 */
import { PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import middy from '@middy/core';
import { startDynamoLocal } from '../dev/dynamodb-local.ts';
import { DynamoJournal, durable, step } from '../sdk/index.ts';
import { httpApiEvent, lambdaContext, ManualTimer } from '../sdk/testing/index.ts';

const STEPS = 10;
const STEP_IO_MS = 10;
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 200);
const WARMUP = 20;

const io = () => new Promise((resolve) => setTimeout(resolve, STEP_IO_MS));
const work = async (i: number) => {
  await io();
  return { step: i, value: i * 2 };
};

const local = await startDynamoLocal();
try {
  const client = local.client();
  let requests = 0;
  client.middlewareStack.add((next) => async (args) => (requests++, next(args)), { step: 'initialize', name: 'count-requests' });
  const journal = new DynamoJournal({ tableName: 'bench', client });
  await journal.ensureTable();

  const respond = (results: unknown[]) => ({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(results) });

  const plain = middy().handler(async () => {
    const results = [];
    for (let i = 0; i < STEPS; i++) results.push(await work(i));
    return respond(results);
  });

  const durableOptions = { journal, timer: new ManualTimer(), tokenSecret: 'bench-secret-not-used-0123' };
  const steps = async () => {
    const results = [];
    for (let i = 0; i < STEPS; i++) results.push(await step.run(`step-${i}`, () => work(i)));
    return respond(results);
  };
  const wrapped = middy().use(durable(durableOptions)).handler(steps);
  const limited = middy()
    .use(durable({ ...durableOptions, name: 'POST /bench-limited', concurrency: { limit: 10 } }))
    .handler(steps);

  let checkpointSeq = 0;
  const awaitEach = middy().handler(async () => {
    const results = [];
    const run = `await-each-${checkpointSeq++}`;
    for (let i = 0; i < STEPS; i++) {
      const result = await work(i);
      await client.send(new PutItemCommand({ TableName: 'bench', Item: { pk: { S: run }, sk: { S: `STEP#${i}` }, output: { S: JSON.stringify(result) } } }));
      results.push(result);
    }
    return respond(results);
  });

  const time = async (fn: () => Promise<unknown>) => {
    const started = performance.now();
    await fn();
    return performance.now() - started;
  };
  const event = () => httpApiEvent({ method: 'POST', path: '/bench', body: { hello: 'world' } }) as never;
  const call = (handler: typeof plain) => () => handler(event(), lambdaContext()) as Promise<unknown>;

  const putItem = (pk: string) => () =>
    client.send(new PutItemCommand({ TableName: 'bench', Item: { pk: { S: pk }, sk: { S: 'RUN' }, v: { S: 'x'.repeat(200) } } }));
  // The shape of a slot taken and given back: a conditional update of one entry of a map.
  await client.send(new PutItemCommand({ TableName: 'bench', Item: { pk: { S: 'slots' }, sk: { S: 'SLOTS' }, holders: { M: {} } } }));
  const updateItem = (holder: string) => () =>
    client.send(
      new UpdateItemCommand({
        TableName: 'bench',
        Key: { pk: { S: 'slots' }, sk: { S: 'SLOTS' } },
        UpdateExpression: 'SET holders.#me = :exp',
        ConditionExpression: 'size(holders) < :cap',
        ExpressionAttributeNames: { '#me': holder },
        ExpressionAttributeValues: { ':exp': { N: String(Date.now()) }, ':cap': { N: '1000000' } },
      }),
    );
  const samples = {
    plain: [] as number[],
    durable: [] as number[],
    limited: [] as number[],
    awaitEach: [] as number[],
    putItem: [] as number[],
    putItemWarm: [] as number[],
    updateItem: [] as number[],
    putAndUpdate: [] as number[],
  };
  let durableRequests = 0;
  let limitedRequests = 0;
  for (let i = 0; i < WARMUP + REQUESTS; i++) {
    const measured = i >= WARMUP;
    const p = await time(call(plain));
    const before = requests;
    const d = await time(call(wrapped));
    if (measured) durableRequests += requests - before;
    const beforeLimited = requests;
    const l = await time(call(limited));
    if (measured) limitedRequests += requests - beforeLimited;
    const a = await time(call(awaitEach));
    // The response's one journal write follows a step's I/O, so the round trip it is compared with
    // is timed the same way: after the same idle. Back-to-back (warm) round trips are faster here.
    await io();
    const put = await time(putItem(`put-${i}`));
    const warm = await time(putItem(`warm-${i}`));
    await io();
    const update = await time(updateItem(`u-${i}`));
    await io();
    const pair = await time(() => Promise.all([putItem(`pair-${i}`)(), updateItem(`p-${i}`)()]));
    if (measured) {
      samples.plain.push(p);
      samples.durable.push(d);
      samples.limited.push(l);
      samples.awaitEach.push(a);
      samples.putItem.push(put);
      samples.putItemWarm.push(warm);
      samples.updateItem.push(update);
      samples.putAndUpdate.push(pair);
    }
  }
  // Let the last pipelined writes land before counting is compared or the process exits.
  await new Promise((resolve) => setTimeout(resolve, 100));

  const pct = (xs: number[], p: number) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
  };
  const round = (x: number, digits = 3) => Number(x.toFixed(digits));
  const row = (name: string, xs: number[]) => `${name.padEnd(38)} ${pct(xs, 50).toFixed(2).padStart(8)} ${pct(xs, 95).toFixed(2).padStart(8)}`;

  console.log(`${STEPS} steps x ${STEP_IO_MS} ms I/O, ${REQUESTS} requests per variant, DynamoDB Local at ${local.endpoint}`);
  console.log(`${'variant'.padEnd(38)} ${'p50 ms'.padStart(8)} ${'p95 ms'.padStart(8)}`);
  console.log(row('plain handler', samples.plain));
  console.log(row('durable()', samples.durable));
  console.log(row('durable() with a concurrency limit', samples.limited));
  console.log(row('awaiting each checkpoint', samples.awaitEach));
  console.log(row('PutItem round trip after 10 ms idle', samples.putItem));
  console.log(row('PutItem round trip back-to-back', samples.putItemWarm));
  console.log(row('conditional UpdateItem after 10 ms idle', samples.updateItem));
  console.log(row('PutItem and UpdateItem at once', samples.putAndUpdate));

  const addedMsP50 = pct(samples.durable, 50) - pct(samples.plain, 50);
  const ddbRoundTripP50Ms = pct(samples.putItem, 50);
  const summary = {
    steps: STEPS,
    requests: REQUESTS,
    plainP50Ms: round(pct(samples.plain, 50)),
    durableP50Ms: round(pct(samples.durable, 50)),
    overheadP50Ratio: round(pct(samples.durable, 50) / pct(samples.plain, 50)),
    overheadP95Ratio: round(pct(samples.durable, 95) / pct(samples.plain, 95)),
    addedMsP50: round(addedMsP50),
    ddbRoundTripP50Ms: round(ddbRoundTripP50Ms),
    addedRoundTrips: round(addedMsP50 / ddbRoundTripP50Ms),
    ddbRoundTripWarmP50Ms: round(pct(samples.putItemWarm, 50)),
    addedRoundTripsWarm: round(addedMsP50 / pct(samples.putItemWarm, 50)),
    ddbRequestsPerStep: round(durableRequests / (REQUESTS * STEPS)),
    limitedP50Ms: round(pct(samples.limited, 50)),
    // Flow control against the same endpoint without limits, measured in the same run.
    limitedOverDurableP50Ratio: round(pct(samples.limited, 50) / pct(samples.durable, 50)),
    limitedOverDurableP95Ratio: round(pct(samples.limited, 95) / pct(samples.durable, 95)),
    limitedAddedMsP50: round(pct(samples.limited, 50) - pct(samples.durable, 50)),
    limitedAddedRoundTrips: round((pct(samples.limited, 50) - pct(samples.durable, 50)) / ddbRoundTripP50Ms),
    // What the limit sends, measured alone: the update that takes the slot, and what giving it back
    // alongside the last checkpoint adds to that checkpoint (zero where requests run in parallel).
    ddbUpdateRoundTripP50Ms: round(pct(samples.updateItem, 50)),
    ddbPutAndUpdateP50Ms: round(pct(samples.putAndUpdate, 50)),
    limitedExpectedAddedMsP50: round(pct(samples.updateItem, 50) + pct(samples.putAndUpdate, 50) - ddbRoundTripP50Ms),
    limitedAddedRequests: round((limitedRequests - durableRequests) / REQUESTS),
    awaitEachCheckpointP50Ratio: round(pct(samples.awaitEach, 50) / pct(samples.plain, 50)),
    awaitEachAddedRoundTrips: round((pct(samples.awaitEach, 50) - pct(samples.plain, 50)) / ddbRoundTripP50Ms),
  };
  console.log(JSON.stringify(summary));
} finally {
  await local.stop();
}
