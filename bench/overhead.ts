/**
 * `npm run bench`: what durable() adds to a request on the happy path.
 *
 * The same 10-step handler (each step awaits 10 ms of simulated I/O) runs plain and wrapped with
 * durable(), journal on DynamoDB Local, interleaved request by request so machine noise hits both
 * alike; a third variant awaits a PutItem after every step, as a design that blocks on each
 * checkpoint would. A bare PutItem round trip is timed in the same run, both after the same 10 ms idle
 * as the journal's writes see and back-to-back, so every figure is a ratio against something
 * measured here. The last line is one JSON object.
 */
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
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

  const wrapped = middy()
    .use(durable({ journal, timer: new ManualTimer(), tokenSecret: 'bench-secret-not-used-0123' }))
    .handler(async () => {
      const results = [];
      for (let i = 0; i < STEPS; i++) results.push(await step.run(`step-${i}`, () => work(i)));
      return respond(results);
    });

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
  const samples = { plain: [] as number[], durable: [] as number[], awaitEach: [] as number[], putItem: [] as number[], putItemWarm: [] as number[] };
  let durableRequests = 0;
  for (let i = 0; i < WARMUP + REQUESTS; i++) {
    const measured = i >= WARMUP;
    const p = await time(call(plain));
    const before = requests;
    const d = await time(call(wrapped));
    if (measured) durableRequests += requests - before;
    const a = await time(call(awaitEach));
    // The response's one journal write follows a step's I/O, so the round trip it is compared with
    // is timed the same way: after the same idle. Back-to-back (warm) round trips are faster here.
    await io();
    const put = await time(putItem(`put-${i}`));
    const warm = await time(putItem(`warm-${i}`));
    if (measured) {
      samples.plain.push(p);
      samples.durable.push(d);
      samples.awaitEach.push(a);
      samples.putItem.push(put);
      samples.putItemWarm.push(warm);
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
  console.log(row('awaiting each checkpoint', samples.awaitEach));
  console.log(row('PutItem round trip after 10 ms idle', samples.putItem));
  console.log(row('PutItem round trip back-to-back', samples.putItemWarm));

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
    awaitEachCheckpointP50Ratio: round(pct(samples.awaitEach, 50) / pct(samples.plain, 50)),
    awaitEachAddedRoundTrips: round((pct(samples.awaitEach, 50) - pct(samples.plain, 50)) / ddbRoundTripP50Ms),
  };
  console.log(JSON.stringify(summary));
} finally {
  await local.stop();
}
