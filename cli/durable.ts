#!/usr/bin/env node
/**
 * `durable`: the dev server, and runs in the dev server's store or in a deployed journal table.
 */
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DynamoJournal, replayRun, type RunStatus, type Timer } from '../sdk/index.ts';
import { flowSummaries, isRunStatus, RUN_STATUSES, runDetail, runSummary, type FlowSummary, type RunDetail } from '../dev/views.ts';
import { JavaMissingError } from '../dev/dynamodb-local.ts';
import { ROUTES } from '../sdk/core/contract.ts';

const HELP = `durable — durable endpoints on your machine and in your AWS account

Usage:
  durable dev [--port <n>] [--persist <dir>] [--app <file>] [--public <dir>] [--no-watch]
              [--allowed-host <name>] [--dynamodb-endpoint <url>]
      Serve every endpoint of the CDK app in cdk.json (addEndpoint), with the results route,
      POST /events, timers, DynamoDB Local and the dashboard at /_durable/. PORT sets the port too
      (default 3000). --persist keeps runs across restarts; due timers fire after a restart.
      --public serves a folder of pages at / (default: public/); they can import the client from
      /_durable/client.js. Changed handler files are reloaded without a restart, and a changed
      CDK app's endpoints are read again. It answers only requests addressed to localhost (DNS
      rebinding); --allowed-host adds a name (repeatable).
      --dynamodb-endpoint uses a DynamoDB (Local) you run yourself instead of starting one; runs
      are kept there, and --persist then keeps only the result-URL secret.
  durable runs list [--status <s>] [--endpoint <route>] [--limit <n>] [--json]
      Runs, newest first. Statuses: ${RUN_STATUSES.join(', ')}.
      A queued run says what holds it back (a concurrency slot, a throttle's turn).
  durable runs show <runId> [--json]
      A run: its request, response and steps with attempts, timing, output and error.
  durable replay <runId> [--json]
      Run a failed run again from its failed step (steps that succeeded are not re-run).
  durable flow [--json]
      Flow control: each limited key with its limit, the attempts running and the runs queued on
      it, a throttle's next free start, and how many requests it refused (429).

Where runs are read:
  by default from the dev server at http://localhost:$PORT (--url <url> to choose another);
  with --table <name> [--region <r>] from a deployed journal table, with AWS credentials from the
  environment (replay then invokes the endpoint's Lambda asynchronously).

Options:
  --json     machine-readable output
  -h, --help this text
`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    port: { type: 'string' },
    persist: { type: 'string' },
    app: { type: 'string' },
    public: { type: 'string' },
    'no-watch': { type: 'boolean' },
    'allowed-host': { type: 'string', multiple: true },
    'dynamodb-endpoint': { type: 'string' },
    // Not in the help: makes the dev server's timers misbehave, for `npm run chaos` (dev/timer-faults.ts).
    'timer-faults': { type: 'string' },
    status: { type: 'string' },
    endpoint: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
    url: { type: 'string' },
    table: { type: 'string' },
    region: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

const [command, sub, arg] = positionals;

try {
  if (values.help || !command) {
    process.stdout.write(HELP);
  } else if (command === 'dev') {
    await dev();
  } else if (command === 'runs' && sub === 'list') {
    if (values.status !== undefined && !isRunStatus(values.status)) fail(`Unknown status '${values.status}'. Statuses: ${RUN_STATUSES.join(', ')}.`);
    if (values.limit !== undefined && !/^[1-9]\d*$/.test(values.limit)) fail(`--limit takes a positive whole number, not '${values.limit}'.`);
    const runs = await store().list({ status: values.status, endpoint: values.endpoint, limit: values.limit ? Number(values.limit) : undefined });
    if (values.json) print(runs);
    else if (runs.length === 0) console.log('No runs.');
    else for (const run of runs) console.log(`${run.runId}  ${run.status.padEnd(9)}  ${run.endpoint.padEnd(24)}  attempt ${run.attempt}  ${run.createdAt}${run.why ? `  ${run.why}` : ''}`);
  } else if (command === 'runs' && sub === 'show' && arg) {
    const loaded = await store().show(arg);
    if (!loaded) fail(`No run ${arg}.`);
    else if (values.json) print(loaded);
    else describe(loaded);
  } else if (command === 'flow') {
    const limits = await store().flow();
    if (values.json) print(limits);
    else if (limits.length === 0) console.log('No limited keys yet.');
    else for (const limit of limits) console.log(describeLimit(limit));
  } else if (command === 'replay' && sub) {
    const replayed = await store().replay(sub);
    if (!replayed) fail(`Run ${sub} was not replayed: only failed runs can be replayed.`);
    else if (values.json) print({ runId: sub, ...replayed });
    else {
      console.log(`Run ${sub} is running again from its failed step.`);
      if (replayed.injectedFaultsOff) console.log(`Without the faults its request injected (x-durable-inject-failure: ${replayed.injectedFaultsOff}): a replay takes the cause as fixed.`);
    }
  } else {
    fail(`Unknown command: ${positionals.join(' ')}\n\n${HELP}`);
  }
} catch (error) {
  fail(error instanceof JavaMissingError ? error.message : `${(error as Error).message}`);
}

async function dev(): Promise<void> {
  const { startDevServer } = await import('../dev/server.ts');
  const { parseTimerFaults } = await import('../dev/timer-faults.ts');
  const server = await startDevServer({
    port: values.port ? Number(values.port) : undefined,
    persistDir: values.persist,
    app: values.app,
    publicDir: values.public,
    watch: !values['no-watch'],
    allowedHosts: values['allowed-host'],
    dynamoEndpoint: values['dynamodb-endpoint'],
    timerFaults: values['timer-faults'] === undefined ? undefined : parseTimerFaults(values['timer-faults']),
  });
  console.log(`\ndurable dev: ${server.url}\n`);
  for (const endpoint of server.endpoints) console.log(`  ${endpoint.routeKey.padEnd(28)} ${server.url}${endpoint.routeKey.split(' ')[1]}`);
  console.log(`  ${ROUTES.results.padEnd(28)} results route`);
  console.log(`  ${ROUTES.events.padEnd(28)} events for step.waitForEvent`);
  console.log(`\n  dashboard: ${server.url}/_durable/\n`);
  const stop = async () => {
    console.log('\nstopping…');
    await server.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

interface Store {
  list(filter: { status?: RunStatus; endpoint?: string; limit?: number }): Promise<ReturnType<typeof runSummary>[]>;
  show(runId: string): Promise<RunDetail | undefined>;
  /** Undefined unless the run was failed. `injectedFaultsOff`: the faults its request injected, which the replay runs without. */
  replay(runId: string): Promise<{ status: string; injectedFaultsOff?: string } | undefined>;
  flow(): Promise<FlowSummary[]>;
}

function store(): Store {
  if (values.table) return tableStore(values.table, values.region);
  const base = (values.url ?? `http://localhost:${values.port ?? process.env.PORT ?? 3000}`).replace(/\/+$/, '');
  const api = async (path: string, init?: RequestInit) => {
    let response: Response;
    try {
      response = await fetch(`${base}/_durable/api${path}`, init);
    } catch {
      throw new Error(`No dev server at ${base}. Start one with \`durable dev\` (npm start), pass --url, or read a deployed table with --table <name>.`);
    }
    return response;
  };
  return {
    list: async (filter) => {
      const query = new URLSearchParams(Object.entries(filter).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]));
      return ((await (await api(`/runs?${query}`)).json()) as { runs: ReturnType<typeof runSummary>[] }).runs;
    },
    show: async (runId) => {
      const response = await api(`/runs/${runId}`);
      return response.status === 404 ? undefined : ((await response.json()) as RunDetail);
    },
    replay: async (runId) => {
      const response = await api(`/runs/${runId}/replay`, { method: 'POST' });
      if (response.status !== 202) return undefined;
      const { status, injectedFaultsOff } = (await response.json()) as { status: string; injectedFaultsOff?: string };
      return { status, injectedFaultsOff };
    },
    flow: async () => ((await (await api('/flow')).json()) as { limits: FlowSummary[] }).limits,
  };
}

function tableStore(tableName: string, region: string | undefined): Store {
  const journal = new DynamoJournal({ tableName, client: new DynamoDBClient({ region }) });
  const lambda = new LambdaClient({ region });
  // Replays are delivered as on AWS: an asynchronous invocation of the run's own Lambda.
  const invoke: Timer = {
    schedule: async (event) => {
      if (!event.functionName) throw new Error(`Run ${event.runId} does not name its Lambda function; it cannot be resumed from here.`);
      await lambda.send(new InvokeCommand({ FunctionName: event.functionName, InvocationType: 'Event', Payload: JSON.stringify(event) }));
    },
  };
  return {
    list: async (filter) => (await journal.listRuns(filter)).map(runSummary),
    show: async (runId) => {
      const loaded = await journal.load(runId);
      return loaded && runDetail(loaded);
    },
    // Faults are injected under the dev server only: a deployed run has none to turn off.
    replay: async (runId) => {
      const run = await replayRun(journal, invoke, runId);
      return run && { status: run.status };
    },
    flow: async () => flowSummaries(await journal.listFlow()),
  };
}

function describe({ run, request, steps }: RunDetail): void {
  console.log(`run ${run.runId}  ${run.status}  ${run.endpoint}  attempt ${run.attempt}`);
  console.log(`  created ${run.createdAt}, updated ${run.updatedAt}${run.wakeAt ? `, due ${run.wakeAt}` : ''}`);
  if ('why' in run && run.why) console.log(`  queued: ${run.why}`);
  console.log(`request  ${request.method} ${request.path}${request.rawQuery ? `?${request.rawQuery}` : ''}`);
  if (request.body) console.log(`  body ${truncate(request.body)}`);
  if (run.response) console.log(`response ${run.response.statusCode}  ${truncate(run.response.body ?? '')}`);
  if (run.error) console.log(`error    ${run.error.name}: ${run.error.message}`);
  console.log('steps');
  for (const step of steps) {
    const ms = step.endedAt ? `${Date.parse(step.endedAt) - Date.parse(step.startedAt)}ms` : '';
    const detail = step.status === 'completed' ? truncate(JSON.stringify(step.output) ?? '') : step.error ? `${step.error.name}: ${step.error.message}` : '';
    console.log(`  ${step.id.padEnd(20)} ${step.status.padEnd(9)} attempts ${step.attempts}  ${ms.padStart(7)}  ${detail}`);
  }
}

function describeLimit(limit: FlowSummary): string {
  const rule = `${limit.kind} ${limit.limit ?? '?'}${limit.periodMs ? ` per ${limit.periodMs / 1_000}s` : ''}`;
  const now = limit.running === undefined ? '' : `  running ${limit.running}  queued ${limit.queued ?? 0}`;
  const next = limit.nextStartAt ? `  next start ${limit.nextStartAt}` : '';
  const rejected = `  rejected ${limit.rejected}${limit.lastRejectedAt ? ` (last ${limit.lastRejectedAt})` : ''}`;
  return `${limit.scope.padEnd(24)}  ${rule.padEnd(24)}  key ${limit.key}${now}${next}${rejected}`;
}

function truncate(text: string, max = 120): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function print(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

function fail(message: string): never {
  console.error(`durable: ${message}`);
  process.exit(1);
}

