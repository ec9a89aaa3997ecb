/**
 * `npm run chaos`: hundreds of runs of `POST /chaos` (test/chaos/endpoint.ts) on the real dev
 * server, called through `durableFetch` by concurrent clients, while everything around them fails:
 *
 * - 20 % of step attempts throw (the endpoint's seeded choice);
 * - handler workers end with `process.exit(1)` inside steps, before or after the side effect or
 *   just after the step returned (`workerKills` runs, once each), taking every invocation they run
 *   with them;
 * - the dev server's timers deliver some resumes twice and some late (`--timer-faults`);
 * - events for `step.waitForEvent` come early, within ±150 ms of the wait's timeout, after it, or
 *   never, and twice;
 * - every journal request crosses a TCP proxy (proxy.ts) that delays, drops, loses the answer of,
 *   stalls or fails some of them (`durable dev --dynamodb-endpoint`);
 * - the dev server is killed (SIGKILL) and restarted with `--persist` (`serverRestarts` times).
 *
 * Every step function records its side effect in a ledger outside the journal (ledger.ts). When the
 * load is over and a grace period has passed, the runner reads the journal (DynamoDB Local itself,
 * past the proxy) and the ledger, and prints one JSON line, last. See `ChaosReport` for what each
 * figure means. It stops by itself: every loop is bounded in count and time, traffic goes to
 * 127.0.0.1 only, and the dev server and DynamoDB Local are stopped even when it fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { durableFetch } from 'durable-endpoints/client';
import { DynamoJournal, type LoadedRun } from 'durable-endpoints';
import { freePort, startDynamoLocal, type DynamoLocal } from '../../dev/dynamodb-local.ts';
import type { TimerFaults } from '../../dev/timer-faults.ts';
import { readLedger, type LedgerEntry } from './ledger.ts';
import { EVENT_NAME, planRuns, seeded, type ClientPlan, type EventTiming } from './plan.ts';
import { startFaultyProxy, type FaultyProxy, type ProxyFaults, type ProxyStats } from './proxy.ts';

export interface ChaosOptions {
  /** Runs to start, one client call each. Default 500. */
  runs?: number;
  /**
   * Runs started per second, each by a client of its own: clients arrive whether or not earlier ones
   * got their answer, as independent callers do, so a client stuck on a run does not hold the load.
   * Default 4.
   */
  rate?: number;
  /** Clients waiting at once, at most; arrivals wait beyond it. Default 96. */
  maxClients?: number;
  /** Seeds the plans and the endpoint's failures. Default 1. */
  seed?: number;
  /** Share of step attempts that throw. Default 0.2. */
  failureRate?: number;
  /** Runs that end their worker once (process.exit in a step). Default 8. */
  workerKills?: number;
  /** SIGKILLs of the dev server, each followed by a restart with --persist, spread over the load. Default 1. */
  serverRestarts?: number;
  /** Share of runs with a step that fails every attempt by design. Default 0.05. */
  doomedShare?: number;
  proxyFaults?: ProxyFaults;
  timerFaults?: TimerFaults;
  /** After the last run was started, how long runs still going get to end (the sweep's grace). Default 30 s. */
  graceMs?: number;
  /** No run is started after this long. Default 210 s. */
  maxLoadMs?: number;
  /** Progress lines. Default: stderr. */
  log?: (line: string) => void;
  /** Keep the work folder (ledger, dev server log) instead of deleting it. */
  keepDir?: boolean;
  /** Ends the load and the grace period early (Ctrl-C); the report is still made. */
  signal?: AbortSignal;
}

export const DEFAULT_PROXY_FAULTS: ProxyFaults = { delay: 0.1, drop: 0.01, lose: 0.01, stall: 0.003, error: 0.01 };
export const DEFAULT_TIMER_FAULTS: TimerFaults = { duplicate: 0.15, late: 0.15, lateMs: 1_500 };

export interface ChaosReport {
  /** Client calls made, each with its own Idempotency-Key: the runs meant to exist. */
  runs: number;
  /** Runs the journal holds as completed. */
  completed: number;
  /** Runs meant to fail (a doomed step) that the journal holds as failed with that step's error. */
  failedAsDesigned: number;
  /**
   * Runs without a final state (completed or failed) in the journal after the grace period: a run
   * still running, sleeping or waiting; a key claimed by a request that never became a run; a call
   * that never reached the server.
   */
  lost: number;
  /**
   * Step function calls that began while the journal already held that step's result (completed,
   * or failed for good), as read by the call itself from DynamoDB Local before its side effect.
   */
  stepsRepeatedAfterJournal: number;
  /** Clients whose call ended with the run's final answer: the endpoint's 200, or a failed run's 500. */
  clientsWithFinalResponse: number;
  /** End to end, first send to final answer, over clients with a final answer (ms). */
  p50Ms: number;
  p95Ms: number;
  /**
   * Lost runs by what the journal shows at the end: `leaseHeld` (a live run whose attempt still
   * holds its lease: the attempt died, or its taking of the lease was never answered), `overdue`
   * (a live run with no lease whose wake time has passed: no timer is coming), `notDue` (a live run
   * due later), `unjournaled` (the key is claimed by a request that never journaled a step),
   * `unreached` (no claim: no request of the client reached the server).
   */
  lostBy: Record<'leaseHeld' | 'overdue' | 'notDue' | 'unjournaled' | 'unreached', number>;
  /** Runs failed although not planned to. */
  failedUnexpectedly: number;
  /** Final answers that disagree with the journal (another run, other step results, another approval). */
  wrongAnswers: number;
  /** Results in the journal that no step call recorded in the ledger (must be 0). */
  journaledWithoutLedger: number;
  stepCalls: number;
  /** Step calls that began again without their result journaled (after a failure, a kill, a lost write): allowed. */
  stepsRunAgain: number;
  injectedStepFailures: number;
  workerKills: number;
  serverRestarts: number;
  journalReadsFailed: number;
  ledgerLinesTorn: number;
  proxy: ProxyStats;
  timerFaults: { late: number; duplicated: number };
  events: { sent: number; beforeTimeout: number; afterTimeout: number; approved: number };
  /** The first lost runs and clients without an answer, for a look at the journal and the dev server log. */
  samples: { lost: unknown[]; withoutFinal: unknown[]; wrong: unknown[] };
  durationMs: number;
  seed: number;
}

const ROOT = resolve(import.meta.dirname, '../..');
const TABLE = 'durable-dev';
/** Sends of one client call (the first and resends with the same key) before it gives up. */
const MAX_SENDS = 12;

export async function runChaos(options: ChaosOptions = {}): Promise<ChaosReport> {
  const started = Date.now();
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const seed = options.seed ?? 1;
  const runs = options.runs ?? 500;
  const rate = options.rate ?? 4;
  const maxClients = options.maxClients ?? 96;
  const graceMs = options.graceMs ?? 30_000;
  const maxLoadMs = options.maxLoadMs ?? 210_000;
  const restarts = options.serverRestarts ?? 1;
  const plans = planRuns({ runs, seed, failureRate: options.failureRate ?? 0.2, workerKills: options.workerKills ?? 8, doomedShare: options.doomedShare ?? 0.05 });

  const dir = await mkdtemp(join(tmpdir(), 'durable-chaos-'));
  const ledgerFile = join(dir, 'ledger.jsonl');
  let local: DynamoLocal | undefined;
  let proxy: FaultyProxy | undefined;
  let server: DevServerProcess | undefined;
  let progress: NodeJS.Timeout | undefined;
  try {
    local = await startDynamoLocal();
    const { port: dynamoPort } = new URL(local.endpoint);
    proxy = await startFaultyProxy({ host: '127.0.0.1', port: Number(dynamoPort) }, options.proxyFaults ?? DEFAULT_PROXY_FAULTS, seeded(seed + 1));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const timerFaults = options.timerFaults ?? DEFAULT_TIMER_FAULTS;
    server = new DevServerProcess(
      [
        'cli/durable.ts', 'dev', '--app', 'test/chaos/app.ts', '--port', String(port), '--persist', join(dir, 'persist'), '--no-watch',
        '--dynamodb-endpoint', proxy.endpoint,
        '--timer-faults', `duplicate=${timerFaults.duplicate},late=${timerFaults.late},lateMs=${timerFaults.lateMs}`,
      ],
      { CHAOS_LEDGER: ledgerFile, CHAOS_JOURNAL_ENDPOINT: local.endpoint, CHAOS_TABLE: TABLE, DURABLE_LOG_LEVEL: 'info' },
      join(dir, 'dev-server.log'),
    );
    await server.start();
    log(`chaos: ${runs} runs, ${rate} a second, seed ${seed}; dev server ${base}, journal through ${proxy.endpoint}, work folder ${dir}`);

    const stop = new AbortController();
    const interrupt = () => stop.abort(new Error('chaos: interrupted'));
    options.signal?.addEventListener('abort', interrupt, { once: true });
    const results: ClientResult[] = [];
    const events = { sent: 0, beforeTimeout: 0, afterTimeout: 0 };
    let next = 0;
    let restartsDone = 0;
    let restartsStarted = 0;
    const loadStarted = Date.now();
    const restartAt = Array.from({ length: restarts }, (_, i) => Math.floor(((i + 1) / (restarts + 1)) * runs));
    let restarting: Promise<void> | undefined;
    progress = setInterval(() => log(`chaos: ${next} started, ${results.filter((r) => r.final).length} answered, ${restartsDone} restarts, ${Math.round((Date.now() - started) / 1000)}s`), 10_000);

    const clients = new Set<Promise<void>>();
    while (next < plans.length && Date.now() - loadStarted < maxLoadMs && !stop.signal.aborted) {
      if (clients.size >= maxClients) {
        await Promise.race([...clients, pause(1_000)]);
        continue;
      }
      const index = next++;
      if (restartsStarted < restarts && index >= restartAt[restartsStarted]! && !restarting) {
        restartsStarted++;
        restarting = server
          .restart(log)
          .then(() => void restartsDone++)
          // Reported, not thrown: the runs go on failing, and the report says so.
          .catch((error) => log(`chaos: the dev server did not come back: ${(error as Error).message}`))
          .finally(() => (restarting = undefined));
      }
      const client = callRun(base, plans[index]!, stop.signal, events).then((result) => {
        results[index] = result;
        clients.delete(client);
      });
      clients.add(client);
      await pause(Math.max(0, loadStarted + (next * 1_000) / rate - Date.now()));
    }
    const graceEnds = stop.signal.aborted ? Date.now() : Date.now() + graceMs;
    log(`chaos: all ${next} runs started; waiting up to ${Math.round(graceMs / 1000)}s for them to end`);
    const ended = await Promise.race([Promise.all(clients).then(() => true), pause(Math.max(0, graceEnds - Date.now())).then(() => false)]);
    if (!ended) stop.abort(new Error('chaos: grace period over'));
    await Promise.all(clients);
    await restarting;
    // Runs whose client gave up may still end within the grace period.
    while (Date.now() < graceEnds && !(await allFinal(local, results))) await pause(1_000);

    proxy.calm();
    const serverLog = await readFile(join(dir, 'dev-server.log'), 'utf8').catch(() => '');
    const report = await account(local, plans, results, readLedger(ledgerFile), serverLog, events, proxy.stats, server.faults, restartsDone);
    return { ...report, durationMs: Date.now() - started, seed };
  } finally {
    clearInterval(progress);
    await server?.stop();
    await proxy?.close();
    await local?.stop();
    if (!options.keepDir) await rm(dir, { recursive: true, force: true });
    else log(`chaos: work folder kept: ${dir}`);
  }
}

interface ClientResult {
  key: string;
  runId?: string;
  final: boolean;
  status?: number;
  body?: { key?: string; calls?: Record<string, string>; approved?: boolean; status?: string; runId?: string; error?: { message?: string } };
  ms: number;
  sends: number;
  /** What ended each send that was not final: a status or an error. */
  trail: string[];
}

/** One client: `durableFetch` with an Idempotency-Key, sent again with the same key until the run's final answer comes. */
async function callRun(base: string, plan: ClientPlan, signal: AbortSignal, events: { sent: number; beforeTimeout: number; afterTimeout: number }): Promise<ClientResult> {
  const { run } = plan;
  const result: ClientResult = { key: run.key, final: false, ms: 0, sends: 0, trail: [] };
  const began = performance.now();
  let sender: Promise<void> | undefined;
  const learned = (runId: string | undefined) => {
    if (!runId) return;
    result.runId = runId;
    if (plan.event && plan.event !== 'none' && !sender) sender = sendEvent(base, runId, run.key, plan.event, signal, events);
  };
  for (let send = 0; send < MAX_SENDS && !signal.aborted; send++) {
    if (send > 0) await pause(Math.min(5_000, 500 * 2 ** send), signal).catch(() => undefined);
    if (signal.aborted) break;
    result.sends++;
    let response: Response;
    try {
      response = await durableFetch(`${base}/chaos`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': run.key },
        body: JSON.stringify(run),
        idempotent: true,
        signal,
        onStatus: (event) => learned(event.runId),
      });
    } catch (error) {
      result.trail.push(signal.aborted ? 'aborted' : `${(error as Error).name}: ${(error as Error).message}`);
      continue;
    }
    learned(response.headers.get('x-durable-run-id') ?? undefined);
    const body = await response.json().catch(() => undefined);
    result.status = response.status;
    result.body = body;
    const failedRun = response.status === 500 && body?.status === 'failed';
    if ((response.status === 200 && response.headers.has('x-durable-run-id')) || failedRun) {
      result.final = true;
      result.runId ??= body?.runId;
      break;
    }
    result.trail.push(`${response.status} ${JSON.stringify(body)?.slice(0, 120)}`);
  }
  result.ms = performance.now() - began;
  await sender;
  return result;
}

/**
 * Sends the run's event at its planned time relative to the wait's timeout, which the journal
 * tells once the wait began (the dashboard API), twice unless `late`.
 */
async function sendEvent(base: string, runId: string, key: string, timing: EventTiming, signal: AbortSignal, events: { sent: number; beforeTimeout: number; afterTimeout: number }): Promise<void> {
  let timeoutAt: number | undefined;
  for (let i = 0; i < 300 && !signal.aborted && timeoutAt === undefined; i++) {
    try {
      const detail = (await (await fetch(`${base}/_durable/api/runs/${runId}`, { signal })).json()) as { run?: { status: string }; steps?: { id: string; wakeAt?: string }[] };
      const wait = detail.steps?.find((s) => s.id === 'approval');
      if (wait?.wakeAt) timeoutAt = Date.parse(wait.wakeAt);
      else if (detail.run?.status === 'completed' || detail.run?.status === 'failed') return;
    } catch {
      // the dev server is restarting, or the journal failed this read: ask again
    }
    if (timeoutAt === undefined) await pause(100, signal).catch(() => undefined);
  }
  if (timeoutAt === undefined) return;
  const at = timing === 'early' ? Date.now() : timing === 'race' ? timeoutAt - 150 + Math.random() * 300 : timeoutAt + 500;
  await pause(Math.max(0, at - Date.now()), signal).catch(() => undefined);
  for (let copy = 0; copy < (timing === 'late' ? 1 : 2); copy++) {
    for (let attempt = 0; attempt < 5 && !signal.aborted; attempt++) {
      try {
        const sentAt = Date.now();
        const response = await fetch(`${base}/events`, { method: 'POST', body: JSON.stringify({ name: EVENT_NAME, id: `approval-${key}`, data: { key } }), signal });
        await response.body?.cancel();
        if (response.status !== 200) throw new Error(`POST /events answered ${response.status}`);
        events.sent++;
        if (sentAt < timeoutAt) events.beforeTimeout++;
        else events.afterTimeout++;
        break;
      } catch {
        await pause(300, signal).catch(() => undefined);
      }
    }
  }
}

async function allFinal(local: DynamoLocal, results: ClientResult[]): Promise<boolean> {
  const runs = await readRuns(local);
  return results.every((r) => r.runId !== undefined && ['completed', 'failed'].includes(runs.get(r.runId)?.status ?? ''));
}

async function readRuns(local: DynamoLocal): Promise<Map<string, { status: string }>> {
  const journal = new DynamoJournal({ tableName: TABLE, client: local.client() });
  try {
    return new Map((await journal.listRuns({ limit: 1_000_000 })).map((run) => [run.runId, run]));
  } finally {
    journal.client.destroy();
  }
}

/** Reads the journal (past the proxy) and the ledger, and makes the report's figures. */
async function account(
  local: DynamoLocal,
  plans: ClientPlan[],
  results: ClientResult[],
  ledger: { entries: LedgerEntry[]; torn: number },
  serverLog: string,
  events: { sent: number; beforeTimeout: number; afterTimeout: number },
  proxy: ProxyStats,
  timerFaults: { late: number; duplicated: number },
  serverRestarts: number,
): Promise<Omit<ChaosReport, 'durationMs' | 'seed'>> {
  const client = local.client();
  const journal = new DynamoJournal({ tableName: TABLE, client });
  try {
    // The key a client sent is tied to its run by the journal's claim, even when no answer said which run.
    const claims = new Map<string, string>();
    let cursor: Record<string, AttributeValue> | undefined;
    do {
      const page = await client.send(new ScanCommand({ TableName: TABLE, FilterExpression: 'sk = :claim', ExpressionAttributeValues: { ':claim': { S: 'CLAIM' } }, ExclusiveStartKey: cursor }));
      for (const item of page.Items ?? []) {
        const claim = unmarshall(item) as { key: string; runId: string };
        claims.set(claim.key, claim.runId);
      }
      cursor = page.LastEvaluatedKey;
    } while (cursor);

    const done = new Set(ledger.entries.filter((e) => e.event === 'done').map((e) => e.call));
    const report = {
      runs: 0, completed: 0, failedAsDesigned: 0, lost: 0, failedUnexpectedly: 0, wrongAnswers: 0, journaledWithoutLedger: 0, approved: 0,
      lostBy: { leaseHeld: 0, overdue: 0, notDue: 0, unjournaled: 0, unreached: 0 },
      samples: { lost: [] as unknown[], withoutFinal: [] as unknown[], wrong: [] as unknown[] },
    };
    const latencies: number[] = [];
    for (let i = 0; i < plans.length; i++) {
      const result = results[i];
      if (!result) continue; // never started: the load's time ran out
      const plan = plans[i]!;
      report.runs++;
      const runId = claims.get(result.key) ?? result.runId;
      const loaded: LoadedRun | undefined = runId ? await journal.load(runId) : undefined;
      const state = loaded?.run.status ?? (runId ? 'unjournaled' : 'unreached');
      if (state === 'completed') report.completed++;
      else if (state === 'failed' && plan.run.doomed && /by design/.test(loaded?.run.error?.message ?? '')) report.failedAsDesigned++;
      else if (state === 'failed') report.failedUnexpectedly++;
      else {
        report.lost++;
        const run = loaded?.run;
        const cause = !run ? (runId ? 'unjournaled' : 'unreached') : run.leaseOwner ? 'leaseHeld' : run.wakeAt && Date.parse(run.wakeAt) <= Date.now() ? 'overdue' : 'notDue';
        report.lostBy[cause]++;
        if (report.samples.lost.length < 30) {
          const { attempt, leaseOwner, leaseExpiresAt, wakeAt, updatedAt } = loaded?.run ?? {};
          report.samples.lost.push({
            key: result.key,
            runId,
            state,
            cause,
            run: loaded && { attempt, leased: leaseOwner !== undefined, leaseExpiresAt: leaseExpiresAt && new Date(leaseExpiresAt).toISOString(), wakeAt, updatedAt },
            steps: loaded?.steps.map((s) => `${s.id}:${s.status}`),
            trail: result.trail,
            // What the dev server said about the run last.
            log: runId ? serverLog.split('\n').filter((line) => line.includes(runId) && !line.startsWith('GET /runs/')).slice(-4) : [],
          });
        }
      }
      for (const step of loaded?.steps ?? []) {
        const call = step.status === 'completed' && step.output ? (JSON.parse(step.output) as { call?: string } | null)?.call : undefined;
        if (call !== undefined && !done.has(call)) report.journaledWithoutLedger++;
      }
      if (result.final) {
        latencies.push(result.ms);
        const wrong = wrongAnswer(result, plan, loaded);
        if (wrong) {
          report.wrongAnswers++;
          if (report.samples.wrong.length < 20) report.samples.wrong.push({ key: result.key, runId, wrong, status: result.status, body: result.body });
        }
        if (result.body?.approved) report.approved++;
      } else if (report.samples.withoutFinal.length < 20) {
        report.samples.withoutFinal.push({ key: result.key, runId, state, sends: result.sends, trail: result.trail });
      }
    }
    latencies.sort((a, b) => a - b);
    const starts = ledger.entries.filter((e) => e.event === 'started');
    const seen = new Set<string>();
    let again = 0;
    for (const start of starts) {
      const id = `${start.runId}/${start.step}`;
      if (seen.has(id)) again++;
      seen.add(id);
    }
    return {
      runs: report.runs,
      completed: report.completed,
      failedAsDesigned: report.failedAsDesigned,
      lost: report.lost,
      stepsRepeatedAfterJournal: starts.filter((e) => e.journaled === 'completed' || e.journaled === 'failed').length,
      clientsWithFinalResponse: results.filter((r) => r?.final).length,
      p50Ms: Math.round(percentile(latencies, 0.5)),
      p95Ms: Math.round(percentile(latencies, 0.95)),
      lostBy: report.lostBy,
      failedUnexpectedly: report.failedUnexpectedly,
      wrongAnswers: report.wrongAnswers,
      journaledWithoutLedger: report.journaledWithoutLedger,
      stepCalls: starts.length,
      stepsRunAgain: again,
      injectedStepFailures: ledger.entries.filter((e) => e.event === 'failed' && e.step !== 'doomed').length,
      workerKills: ledger.entries.filter((e) => e.event === 'kill').length,
      serverRestarts,
      journalReadsFailed: starts.filter((e) => e.journaled === 'unreadable').length,
      ledgerLinesTorn: ledger.torn,
      proxy,
      timerFaults,
      events: { ...events, approved: report.approved },
      samples: report.samples,
    };
  } finally {
    client.destroy();
  }
}

/** Why a final answer disagrees with the journal, or undefined when it agrees. */
function wrongAnswer(result: ClientResult, plan: ClientPlan, loaded: LoadedRun | undefined): string | undefined {
  if (!loaded) return 'answered, but the journal has no such run';
  if (result.runId !== loaded.run.runId) return `answered for run ${result.runId}, the key belongs to ${loaded.run.runId}`;
  if (result.status === 500) return loaded.run.status === 'failed' ? undefined : `a failed-run answer for a ${loaded.run.status} run`;
  if (loaded.run.status !== 'completed') return `a 200 for a ${loaded.run.status} run`;
  const body = result.body;
  if (body?.key !== plan.run.key) return 'the answer is for another key';
  for (const step of loaded.steps) {
    if (step.id === 'approval') {
      const approved = step.output !== undefined && step.output !== 'null';
      if (body.approved !== approved) return `approved ${body.approved}, the journal's wait resolved to ${approved ? 'the event' : 'its timeout'}`;
      continue;
    }
    const call = step.output ? (JSON.parse(step.output) as { call?: string } | null)?.call : undefined;
    if (call !== undefined && body.calls?.[step.id] !== call) return `step ${step.id}: the answer has call ${body.calls?.[step.id]}, the journal ${call}`;
  }
  if (plan.event === 'none' && body.approved) return 'approved with no event sent';
  return undefined;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

/**
 * `durable dev` as a child process, so it can be killed (SIGKILL) and started again on the same
 * port. Its output goes to a log file; timer faults and worker deaths are counted from it.
 */
class DevServerProcess {
  readonly faults = { late: 0, duplicated: 0 };
  private child: ChildProcess | undefined;
  private exited: Promise<unknown> = Promise.resolve();
  private readonly args: string[];
  private readonly env: Record<string, string>;
  private readonly logFile: ReturnType<typeof createWriteStream>;

  constructor(args: string[], env: Record<string, string>, logFile: string) {
    this.args = args;
    this.env = env;
    this.logFile = createWriteStream(logFile, { flags: 'a' });
  }

  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.startOnce();
      } catch (error) {
        // The port may still be held for a moment after a kill: try again, a few times.
        if (attempt >= 5) throw error;
        await pause(1_000);
      }
    }
  }

  private async startOnce(): Promise<void> {
    const child = spawn(process.execPath, ['--conditions=source', '--disable-warning=ExperimentalWarning', ...this.args], {
      cwd: ROOT,
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exited = new Promise((done) => child.once('exit', done));
    let output = '';
    let ready = false;
    const onLine = (text: string) => {
      this.logFile.write(text);
      if (!ready) output += text;
      for (const match of text.matchAll(/⚡ timer fault: .* (late|twice)/g)) this.faults[match[1] === 'late' ? 'late' : 'duplicated']++;
    };
    child.stdout!.setEncoding('utf8').on('data', onLine);
    child.stderr!.setEncoding('utf8').on('data', onLine);
    for (let i = 0; i < 1_200 && !/durable dev: http/.test(output); i++) {
      if (child.exitCode !== null) throw new Error(`durable dev exited with ${child.exitCode} while starting:\n${output.slice(-2_000)}`);
      await pause(100);
    }
    ready = true;
    if (!/durable dev: http/.test(output)) {
      await this.kill();
      throw new Error(`durable dev did not start within 120 s:\n${output.slice(-2_000)}`);
    }
  }

  /** SIGKILL, then a new process with the same arguments (same port, same --persist folder). */
  async restart(log: (line: string) => void): Promise<void> {
    log('chaos: SIGKILL to the dev server');
    await this.kill();
    await pause(500);
    const began = Date.now();
    await this.start();
    log(`chaos: dev server restarted in ${Date.now() - began} ms`);
  }

  async kill(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const stopped = await Promise.race([this.exited.then(() => true), pause(5_000).then(() => false)]);
      if (!stopped) await this.kill();
    }
    await new Promise((done) => this.logFile.end(done));
  }
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === import.meta.filename) {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string' },
      rate: { type: 'string' },
      seed: { type: 'string' },
      'worker-kills': { type: 'string' },
      restarts: { type: 'string' },
      grace: { type: 'string' },
      keep: { type: 'boolean' },
    },
  });
  const number = (value: string | undefined) => (value === undefined ? undefined : Number(value));
  const interrupted = new AbortController();
  process.once('SIGINT', () => interrupted.abort());
  process.once('SIGTERM', () => interrupted.abort());
  try {
    const report = await runChaos({
      runs: number(values.runs),
      rate: number(values.rate),
      seed: number(values.seed),
      workerKills: number(values['worker-kills']),
      serverRestarts: number(values.restarts),
      graceMs: values.grace === undefined ? undefined : Number(values.grace) * 1_000,
      keepDir: values.keep,
      signal: interrupted.signal,
    });
    const { samples, ...figures } = report;
    for (const [what, list] of Object.entries(samples)) {
      if (list.length > 0) process.stderr.write(`chaos: ${what}:\n${list.map((sample) => `  ${JSON.stringify(sample)}`).join('\n')}\n`);
    }
    process.stdout.write(`${JSON.stringify(figures)}\n`);
  } catch (error) {
    process.stderr.write(`chaos: ${(error as Error).stack ?? error}\n`);
    process.stdout.write(`${JSON.stringify({ error: (error as Error).message ?? String(error) })}\n`);
    process.exitCode = 1;
  }
}
