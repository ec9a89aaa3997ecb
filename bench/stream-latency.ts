/**
 * `npm run bench:stream`: how long a chunk takes from `stream.push` to a client reading the event
 * stream, on the dev server (DynamoDB Local, the handler worker, the gateway emulation, HTTP).
 *
 * - resumed: the step's first attempt fails and the run is retried 2.1 s later in a new invocation
 *   (a failure redirect); the client follows to the results URL, which polls the journal for what
 *   the resumed attempt writes to its tail. This is the figure the 300 ms p95 target is about.
 * - direct: the first invocation streams to the caller itself, as a reference.
 *
 * Clocks: the handler worker and the client are threads of this process, so `at` (when pushed) and
 * the time of arrival are read from the same clock. The last line is one JSON object.
 */
import { fileURLToPath } from 'node:url';
import { startDevServer } from '../dev/server.ts';
import { durableStream } from '../sdk/client/index.ts';

const RUNS = Number(process.env.BENCH_STREAM_RUNS ?? 10);
const TICKS = 20;

const server = await startDevServer({
  port: 0,
  watch: false,
  log: () => undefined,
  endpoints: [{ routeKey: 'POST /ticks', entry: fileURLToPath(new URL('./ticks.ts', import.meta.url)), handler: 'ticks', format: '1.0', timeoutMs: 60_000, functionName: 'Ticks' }],
});

/** Milliseconds from push to arrival of each chunk of one run. */
async function measure(headers: Record<string, string>): Promise<number[]> {
  const latencies: number[] = [];
  const run = durableStream(`${server.url}/ticks`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ count: TICKS, every: 50 }),
    onEvent: (event) => {
      if (event.type === 'chunk') latencies.push(Date.now() - (event.data as { at: number }).at);
    },
  });
  const response = await run.response;
  if (response.status !== 200) throw new Error(`POST /ticks answered ${response.status}: ${await response.text()}`);
  return latencies;
}

try {
  // Warm up: the worker's modules, DynamoDB Local's JIT.
  await measure({});
  const direct: number[] = [];
  const resumed: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    direct.push(...(await measure({})));
    resumed.push(...(await measure({ 'x-durable-inject-failure': 'ticks:1:2100ms' })));
  }
  const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
  console.log(`${RUNS} runs x ${TICKS} chunks each way, dev server at ${server.url}`);
  console.log(`${'chunk latency, push to client'.padEnd(40)} ${'p50 ms'.padStart(8)} ${'p95 ms'.padStart(8)} ${'max ms'.padStart(8)}`);
  for (const [name, xs] of [['resumed attempt, through the results URL', resumed], ['first invocation, direct', direct]] as const) {
    console.log(`${name.padEnd(40)} ${String(pct(xs, 50)).padStart(8)} ${String(pct(xs, 95)).padStart(8)} ${String(Math.max(...xs)).padStart(8)}`);
  }
  console.log(JSON.stringify({ runs: RUNS, chunksPerRun: TICKS, resumedP50Ms: pct(resumed, 50), resumedP95Ms: pct(resumed, 95), resumedMaxMs: Math.max(...resumed), directP50Ms: pct(direct, 50), directP95Ms: pct(direct, 95) }));
} finally {
  await server.close();
}
