/** What the dev server serves besides the API's routes: the dashboard (its API and files), the client's modules, the app's public files. */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { stripTypeScriptTypes } from 'node:module';
import { resolve } from 'node:path';
import { replayRun, type DynamoJournal, type HttpResponse, type LocalTimer } from '../sdk/index.ts';
import { INJECT_FAILURE_HEADER } from '../sdk/core/contract.ts';
import type { DevEndpoint } from './protocol.ts';
import { flowSummaries, isRunStatus, RUN_STATUSES, runDetail, runSummary } from './views.ts';

const DASHBOARD_DIR = new URL('./dashboard/', import.meta.url);

/** The dashboard's API (`/_durable/api/…`), its files, and the client's modules for pages. */
export function createDashboardApi(journal: DynamoJournal, timer: LocalTimer, endpoints: () => DevEndpoint[], events: (event: unknown) => Promise<HttpResponse>) {
  return async (request: Request, url: URL): Promise<Response> => {
    const path = url.pathname.replace(/\/+$/, '');
    if (path === '/_durable/api/executions' && request.method === 'POST') return endExecution(request, events);
    if (path === '/_durable' && !url.pathname.endsWith('/')) return Response.redirect(`${url.origin}/_durable/`, 301);
    if (path === '/_durable/api/endpoints') return Response.json({ endpoints: endpoints().map(({ routeKey, format, functionName }) => ({ routeKey, format, functionName })) });
    if (path === '/_durable/api/flow' && request.method === 'GET') return Response.json({ limits: flowSummaries(await journal.listFlow()) });
    if (path === '/_durable/api/runs' && request.method === 'GET') {
      const status = url.searchParams.get('status') || undefined;
      if (status !== undefined && !isRunStatus(status)) return Response.json({ error: `Unknown status '${status}'. Statuses: ${RUN_STATUSES.join(', ')}.` }, { status: 400 });
      const runs = await journal.listRuns({ status, endpoint: url.searchParams.get('endpoint') ?? undefined, limit: Number(url.searchParams.get('limit') ?? 100) });
      return Response.json({ runs: runs.map(runSummary) });
    }
    const detail = /^\/_durable\/api\/runs\/([0-9A-Z]{26})(\/replay)?$/.exec(path);
    if (detail) {
      const runId = detail[1]!;
      if (detail[2]) {
        if (request.method !== 'POST') return Response.json({ error: 'Use POST to replay a run.' }, { status: 405 });
        const replayed = await replayRun(journal, timer, runId);
        if (!replayed) return Response.json({ error: `Run ${runId} is not failed (only failed runs can be replayed), or does not exist.` }, { status: 409 });
        // Said in the answer, because the request still shows the header: the replay ignores it.
        const injected = (await journal.load(runId))?.request.headers[INJECT_FAILURE_HEADER];
        return Response.json({ runId, status: replayed.status, ...(injected ? { injectedFaultsOff: injected } : {}) }, { status: 202 });
      }
      const loaded = await journal.load(runId);
      if (!loaded) return Response.json({ error: `No run ${runId}.` }, { status: 404 });
      return Response.json(runDetail(loaded));
    }
    if (path.startsWith('/_durable/api/')) return Response.json({ error: 'Not found' }, { status: 404 });
    if (path === '/_durable/client.js') return clientModule('index');
    // The modules client.js imports, by the names its built (.js) or stripped (.ts) form uses.
    const sibling = /^\/_durable\/([a-z][\w-]*)\.(js|ts)$/.exec(path);
    if (sibling && sibling[1] !== 'dashboard') return clientModule(sibling[1]!);
    return staticFile(path === '/_durable' ? 'index.html' : path.slice('/_durable/'.length));
  };
}

/**
 * No Step Functions runs locally: `POST /_durable/api/executions` with `{ executionArn, status,
 * output?, error?, cause? }` ends an execution as EventBridge would report it on AWS, so a
 * `step.waitForExecution` completes. (`POST /events` refuses the kit's reserved event names.)
 */
async function endExecution(request: Request, events: (event: unknown) => Promise<HttpResponse>): Promise<Response> {
  let body: { executionArn?: unknown; status?: unknown; output?: unknown; error?: unknown; cause?: unknown };
  try {
    body = await request.json();
  } catch {
    return Response.json({ error: 'The body must be JSON: { "executionArn", "status", "output"? }.' }, { status: 400 });
  }
  const { executionArn, status = 'SUCCEEDED', output, error = null, cause = null } = body;
  if (typeof executionArn !== 'string' || !executionArn.includes(':execution:')) return Response.json({ error: '`executionArn` must be an execution ARN.' }, { status: 400 });
  const [stateMachine, name] = executionArn.split(':execution:')[1]!.split(':');
  const answer = await events({
    id: `dev-${randomBytes(8).toString('hex')}`,
    source: 'aws.states',
    'detail-type': 'Step Functions Execution Status Change',
    detail: {
      executionArn,
      stateMachineArn: `${executionArn.split(':execution:')[0]}:stateMachine:${stateMachine}`,
      name,
      status,
      output: output === undefined ? null : JSON.stringify(output),
      error,
      cause,
    },
  });
  return new Response(answer.body, { status: answer.statusCode, headers: answer.headers });
}

const CONTENT_TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  json: 'application/json',
  svg: 'image/svg+xml',
  png: 'image/png',
};

async function staticFile(name: string): Promise<Response> {
  if (!/^[\w.-]+$/.test(name)) return new Response('Not found', { status: 404 });
  try {
    const body = await readFile(new URL(name, DASHBOARD_DIR));
    return new Response(body, { headers: { 'content-type': CONTENT_TYPES[name.split('.').pop()!] ?? 'application/octet-stream', 'cache-control': 'no-store' } });
  } catch {
    return new Response('Not found', { status: 404 });
  }
}

/**
 * `durable-endpoints/client` as browser modules, for pages served here: the built files when the
 * package is installed, else the TypeScript sources with their types stripped by Node itself.
 */
async function clientModule(name: string): Promise<Response> {
  const headers = { 'content-type': CONTENT_TYPES.js!, 'cache-control': 'no-store' };
  try {
    return new Response(await readFile(new URL(`../sdk/client/${name}.js`, import.meta.url)), { headers });
  } catch {
    try {
      const source = await readFile(new URL(`../sdk/client/${name}.ts`, import.meta.url), 'utf8');
      return new Response(stripTypeScriptTypes(source), { headers });
    } catch {
      return new Response('Not found', { status: 404 });
    }
  }
}

/** A file of the app's public folder (`--public`), or undefined. */
export async function publicFile(dir: string, pathname: string): Promise<Response | undefined> {
  const relativePath = decodeURIComponent(pathname).replace(/^\/+/, '') || 'index.html';
  const file = resolve(dir, relativePath);
  if (!file.startsWith(dir + '/')) return undefined;
  try {
    const body = await readFile(file);
    return new Response(body, { headers: { 'content-type': CONTENT_TYPES[file.split('.').pop()!] ?? 'application/octet-stream', 'cache-control': 'no-store' } });
  } catch {
    return undefined;
  }
}

