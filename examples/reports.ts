/**
 * `POST /reports` with `{ "tenant": string, "pages": number }`: builds a report in steps that take
 * about a second in all, at most two at once per tenant (`concurrency: { limit: 2, key: tenant }`;
 * other tenants go freely), and answers `{ "tenant", "pages", "startedAt", "finishedAt" }`: when
 * the attempt that produced the report started and finished. A request over the limit waits inline
 * up to 2 s for a slot, then gets the 303 and its run starts when a slot frees, oldest first.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { durable, step } from 'durable-endpoints';
import { badRequest, json, parseJsonBody } from './http.ts';

export const MAX_PAGES = 500;

export const handler = middy<APIGatewayProxyEventV2>()
  .use(durable({ concurrency: { limit: 2, key: tenantOf } }))
  .handler(async (event) => {
    // Outside any step: every attempt has its own, so the answer says when the one that produced it ran.
    const startedAt = new Date().toISOString();
    const input = parseInput(event.body);
    if ('error' in input) return badRequest(input.error);

    const { tenant, pages } = input;
    const rows = await step.run('gather', () => gather(tenant, pages));
    const layout = await step.run('render', () => render(rows));
    await step.run('store', () => store(tenant, layout));
    return json(200, { tenant, pages, startedAt, finishedAt: new Date().toISOString() });
  });

/** The concurrency key: the request's tenant. A request without one is answered 400 before anything runs. */
function tenantOf(event: APIGatewayProxyEventV2): string {
  const body = parseJsonBody(event.body);
  const tenant = body.ok ? (body.value as { tenant?: unknown }).tenant : undefined;
  if (typeof tenant !== 'string' || tenant.length === 0) throw new Error('the body must be JSON with a non-empty "tenant" string');
  return tenant;
}

function parseInput(body: string | undefined): { tenant: string; pages: number } | { error: string } {
  const parsed = parseJsonBody(body);
  if (!parsed.ok) return { error: parsed.error };
  const { tenant, pages } = parsed.value as { tenant?: unknown; pages?: unknown };
  if (typeof tenant !== 'string' || tenant.length === 0) return { error: '`tenant` must be a non-empty string.' };
  if (typeof pages !== 'number' || !Number.isInteger(pages) || pages < 1 || pages > MAX_PAGES) return { error: `\`pages\` must be a whole number from 1 to ${MAX_PAGES}.` };
  return { tenant, pages };
}

// Stand-ins for a warehouse query, a renderer and a bucket: about a second in all, no network.
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function gather(tenant: string, pages: number) {
  await pause(300);
  return Array.from({ length: Math.min(pages, 20) }, (_, i) => ({ tenant, row: i + 1 }));
}

async function render(rows: { row: number }[]) {
  await pause(500);
  return { sections: rows.length };
}

async function store(tenant: string, layout: { sections: number }) {
  await pause(200);
  return { key: `reports/${tenant}/${layout.sections}` };
}
