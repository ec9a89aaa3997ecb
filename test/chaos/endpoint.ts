/**
 * `POST /chaos`: the endpoint the chaos run calls. It follows the plan in its body (see plan.ts):
 * `prepare`, 2-4 parallel `fetch-<i>` steps, `combine`, maybe a sleep, maybe a wait for
 * `chaos/approved`, maybe a step that fails by design, then `finish`. Every step function records
 * itself in the ledger (ledger.ts), fails 20 % of its attempts (a choice derived from the seed), and
 * ends its worker where the plan says.
 *
 * Configured by the chaos runner through the dev server's environment: `CHAOS_LEDGER` (the ledger
 * file), `CHAOS_JOURNAL_ENDPOINT` (DynamoDB Local itself, not the faulty proxy the dev server uses)
 * and `CHAOS_TABLE` (the dev server's table, default `durable-dev`).
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { createHash, randomUUID } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DynamoJournal, durable, step, type StepStatus } from 'durable-endpoints';
import { localDynamoClient } from '../../dev/dynamodb-local.ts';
// The public API does not tell a handler its run id or attempt; the ledger needs both, so the chaos
// endpoint reads the ambient run as the kit itself does.
import { runStorage } from '../../sdk/engine/storage.ts';
import { appendLedger, type KillPoint, type LedgerEntry } from './ledger.ts';
import { EVENT_NAME, type RunPlan } from './plan.ts';

const LEDGER = required('CHAOS_LEDGER');
const observer = new DynamoJournal({ tableName: process.env.CHAOS_TABLE ?? 'durable-dev', client: localDynamoClient(required('CHAOS_JOURNAL_ENDPOINT')) });

export const handler = middy<APIGatewayProxyEventV2>()
  // Short delays, so that a run of a few seconds both retries inline and goes asynchronous; 6 retries,
  // so that 20 % failing attempts fail a step for good about once in 80,000 steps.
  .use(durable({ retries: 6, backoff: { initial: '200ms', factor: 2, max: '2s' }, inlineDelayMax: '1s', inlineBudget: '2s' }))
  .handler(async (event) => {
    const plan = JSON.parse(event.body ?? '{}') as RunPlan;
    if (typeof plan.key !== 'string' || !(plan.parallel >= 1)) return json(400, { error: { name: 'BadRequest', message: 'Expected a chaos RunPlan.' } });
    const calls: Record<string, string> = {};
    const run = async (id: string) => (calls[id] = (await step.run(id, effect(plan, id))).call);

    await run('prepare');
    await Promise.all(Array.from({ length: plan.parallel }, (_, i) => run(`fetch-${i}`)));
    await run('combine');
    if (plan.sleepMs) await step.sleep('pause', plan.sleepMs);
    let approved: boolean | undefined;
    if (plan.waitTimeoutMs) approved = (await step.waitForEvent('approval', { event: EVENT_NAME, match: { 'data.key': plan.key }, timeout: plan.waitTimeoutMs })) !== null;
    if (plan.doomed) await step.run('doomed', doomed(plan), { retries: 2, backoff: { initial: '100ms', factor: 1, max: '100ms' } });
    await run('finish');
    return json(200, { key: plan.key, calls, approved });
  });

/** Inline retries of a step within one attempt, so each gets its own (seeded) chance of failing. */
const triesInAttempt = new Map<string, number>();

/** A step function with a side effect recorded in the ledger, that fails and kills as the plan says. */
function effect(plan: RunPlan, stepId: string) {
  return async (): Promise<{ step: string; call: string }> => {
    const { runId, attempt } = currentRun();
    const entry = { key: plan.key, runId, runAttempt: attempt, step: stepId, call: randomUUID() };
    appendLedger(LEDGER, { ...entry, event: 'started', at: Date.now(), journaled: await journaledStatus(runId, stepId) });
    if (plan.kill?.point === 'before-effect') await killOnce(plan, stepId, entry);

    const tries = `${runId}/${attempt}/${stepId}`;
    const n = (triesInAttempt.get(tries) ?? 0) + 1;
    triesInAttempt.set(tries, n);
    const chance = uniform(`${plan.seed}/${plan.key}/${stepId}/${attempt}/${n}`);
    await new Promise((resolve) => setTimeout(resolve, 5 + Math.floor(chance * 40))); // the side effect's I/O
    if (chance < plan.failureRate) {
      appendLedger(LEDGER, { ...entry, event: 'failed', at: Date.now() });
      throw new Error(`chaos: step ${stepId} failed on purpose (run attempt ${attempt}, try ${n})`);
    }
    appendLedger(LEDGER, { ...entry, event: 'done', at: Date.now() });
    if (plan.kill?.point === 'after-effect') await killOnce(plan, stepId, entry);
    // Just after returning: the worker ends somewhere around the step's checkpoint.
    if (plan.kill?.point === 'after-return') setTimeout(() => void killOnce(plan, stepId, entry), Math.floor(chance * 30));
    return { step: stepId, call: entry.call };
  };
}

function doomed(plan: RunPlan) {
  return async () => {
    const { runId, attempt } = currentRun();
    const entry = { key: plan.key, runId, runAttempt: attempt, step: 'doomed', call: randomUUID() };
    appendLedger(LEDGER, { ...entry, event: 'started', at: Date.now(), journaled: await journaledStatus(runId, 'doomed') });
    appendLedger(LEDGER, { ...entry, event: 'failed', at: Date.now() });
    throw new Error('chaos: this step fails every attempt by design');
  };
}

/** What the journal holds for the step right now, read past the proxy so the answer is exact. */
async function journaledStatus(runId: string, stepId: string): Promise<StepStatus | null | 'unreadable'> {
  try {
    return (await observer.load(runId))?.steps.find((s) => s.id === stepId)?.status ?? null;
  } catch {
    return 'unreadable';
  }
}

/** Ends this worker thread the first time the plan's kill is reached (a marker file makes it once per run). */
async function killOnce(plan: RunPlan, stepId: string, entry: Omit<LedgerEntry, 'event' | 'at'>): Promise<void> {
  if (plan.kill?.step !== stepId) return;
  try {
    closeSync(openSync(join(dirname(LEDGER), `kill-${plan.key}`), 'wx'));
  } catch {
    return; // killed once already: the run's later attempts go on
  }
  const point: KillPoint = plan.kill.point;
  appendLedger(LEDGER, { ...entry, event: 'kill', point, at: Date.now() });
  process.exit(1); // in a worker thread: ends the worker, and with it every invocation it runs
  await new Promise(() => undefined);
}

function currentRun(): { runId: string; attempt: number } {
  const run = runStorage.getStore()?.run;
  if (!run) throw new Error('chaos endpoint: a step function ran outside a durable run.');
  return { runId: run.runId, attempt: run.attempt };
}

/** A number in [0, 1) from a string: the same choice on every machine for the same seed. */
function uniform(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0) / 4_294_967_296;
}

function json(statusCode: number, body: unknown) {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`chaos endpoint: ${name} is not set; it runs under the chaos runner (npm run chaos), which sets it.`);
  return value;
}
