/**
 * The quick start: `POST /process` with `{ "userId": string, "data": object }`.
 * Three steps; if one fails, the caller is sent to the results URL while the run retries from that
 * step, and `enrich-data` is never repeated.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { durable, step } from 'durable-endpoints';
import { badRequest, json } from './http.ts';

export const handler = middy<APIGatewayProxyEventV2>()
  .use(durable())
  .handler(async (event: APIGatewayProxyEventV2) => {
    const input = parseInput(event.body);
    if ('error' in input) return badRequest(input.error); // validation happens before any step: not a run

    const { userId, data } = input;
    const enriched = await step.run('enrich-data', async () => ({ ...data, account: await lookupAccount(userId) }));
    const result = await step.run('process', () => processData(enriched));
    await step.run('notify', () => notify(userId, result));
    return json(200, { success: true, result });
  });

type Input = { userId: string; data: Record<string, unknown> } | { error: string };

function parseInput(body: string | undefined): Input {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body ?? '');
  } catch {
    return { error: 'The body must be JSON: { "userId": string, "data": object }.' };
  }
  const { userId, data } = (parsed ?? {}) as { userId?: unknown; data?: unknown };
  if (typeof userId !== 'string' || userId.length === 0) return { error: '`userId` must be a non-empty string.' };
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return { error: '`data` must be an object.' };
  return { userId, data: data as Record<string, unknown> };
}

// Stand-ins for the services a real endpoint would call, with realistic latency and no network.
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function lookupAccount(userId: string) {
  await pause(15);
  return { id: userId, plan: userId.startsWith('vip') ? 'pro' : 'free' };
}

export async function processData(enriched: Record<string, unknown>) {
  await pause(25);
  const fields = Object.keys(enriched).filter((k) => k !== 'account').length;
  return { fields, processedAt: new Date().toISOString() };
}

/** Every notification sent, in order: what a mail service would have delivered. */
export const outbox: { userId: string; result: unknown }[] = [];

export async function notify(userId: string, result: unknown) {
  await pause(10);
  outbox.push({ userId, result });
}
