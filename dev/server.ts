/**
 * `durable dev`: the endpoints of the CDK app, served locally as API Gateway would, with the
 * results route, timers, DynamoDB Local and the dashboard at /_durable/.
 */
import { randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { join, relative, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { createEventsHandler, createResultsHandler, DynamoJournal, LocalTimer, RUN_ID_HEADER, type Level, type LogFields, type ResumeEvent } from '../sdk/index.ts';
import { appFileFromCdkJson, discoverEndpoints, type DiscoveredApp } from './discover.ts';
import { localDynamoClient, startDynamoLocal, type DynamoLocal } from './dynamodb-local.ts';
import { createGateway, serve, type GatewayRoute } from './gateway.ts';
import type { DevEndpoint } from './protocol.ts';
import { HandlerRuntime } from './runtime.ts';
import { withTimerFaults, type TimerFaults } from './timer-faults.ts';
import { createDashboardApi, publicFile } from './dashboard-api.ts';
import { watchSources } from './watch.ts';
import { sweepRuns } from '../sdk/routes/sweep.ts';
import { ROUTES } from '../sdk/core/contract.ts';
import { FileBlobStore } from '../sdk/payloads/file.ts';
import { blobResponse, BLOBS_PATH } from './blobs.ts';
import { LAMBDA_RESPONSE_BYTES } from '../sdk/payloads/offload.ts';
import { resolveCors, type CorsOptions } from '../sdk/core/cors.ts';

export interface DevServerOptions {
  /** The project: where cdk.json is and what is watched for changes. Default: the current directory. */
  cwd?: string;
  /** The CDK app file; default: the one cdk.json's "app" runs. */
  app?: string;
  /** Serve these instead of discovering them from the CDK app. */
  endpoints?: DevEndpoint[];
  /** Default: `PORT` or 3000; 0 picks a free port. */
  port?: number;
  hostname?: string;
  /** Keep DynamoDB Local's data (and the result-URL secret) here across restarts. */
  persistDir?: string;
  /** Reload handlers when source files change. Default true. */
  watch?: boolean;
  /** Use this DynamoDB (Local) instead of starting one. */
  dynamoEndpoint?: string;
  tableName?: string;
  /** Where readable log lines go. Default: stdout. */
  log?: (line: string) => void;
  /** Static files served at `/` (your pages calling the endpoints). Default: `public/` in `cwd`, if it exists. */
  publicDir?: string;
  /** Long-poll of the results route when a URL has no `wait`. Default 20 s, as deployed. */
  resultsWaitSeconds?: number;
  /** Host names the server answers besides loopback names and `hostname` (e.g. a LAN name you browse it by). */
  allowedHosts?: string[];
  /**
   * How long past due a run must be before the sweep re-arms it (a timer lost in a restart, an
   * attempt that died with its worker). Default 1 s: local timers are exact.
   */
  sweepGraceMs?: number;
  /**
   * CORS for pages on other origins: preflights answered by the gateway, headers added by the
   * handlers and the results route. Default: the construct's `cors` setting.
   */
  cors?: CorsOptions;
  /** Chaos testing only: deliver some resumes twice and some late, as AWS's timers may. Default: none. */
  timerFaults?: TimerFaults;
}

export interface DevServer {
  url: string;
  port: number;
  /** The endpoints served now: the app's are read again when one of its files changes. */
  readonly endpoints: DevEndpoint[];
  journal: DynamoJournal;
  close(): Promise<void>;
}

export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const cwd = resolve(options.cwd ?? process.cwd());
  const print = options.log ?? ((line: string) => console.log(line));
  // DynamoDB Local first: without Java there is nothing to serve, and that should say so at once.
  let local: DynamoLocal | undefined;
  if (!options.dynamoEndpoint) local = await startDynamoLocal({ persistDir: options.persistDir && (await ensureDir(resolve(cwd, options.persistDir))) });
  let appFile: string | undefined;
  let app: DiscoveredApp;
  try {
    if (!options.endpoints) appFile = options.app ? resolve(cwd, options.app) : appFileFromCdkJson(join(cwd, 'cdk.json'));
    app = appFile ? await discoverEndpoints(appFile) : { endpoints: options.endpoints!, sources: [] };
  } catch (error) {
    await local?.stop();
    throw error;
  }
  try {
    return await serveEndpoints(options, cwd, print, app, appFile, local);
  } catch (error) {
    // Nothing would stop DynamoDB Local's JVM once this throws: stop it here.
    await local?.stop();
    throw error;
  }
}

async function serveEndpoints(
  options: DevServerOptions,
  cwd: string,
  print: (line: string) => void,
  app: DiscoveredApp,
  appFile: string | undefined,
  local: DynamoLocal | undefined,
): Promise<DevServer> {
  const dynamoEndpoint = options.dynamoEndpoint ?? local!.endpoint;
  const tableName = options.tableName ?? 'durable-dev';
  const journal = new DynamoJournal({ tableName, client: localDynamoClient(dynamoEndpoint) });
  await journal.ensureTable();
  const tokenSecret = await loadSecret(options.persistDir && resolve(cwd, options.persistDir));

  let { endpoints } = app;
  let byName = new Map(endpoints.map((e) => [e.routeKey, e]));
  let byFunction = new Map(endpoints.map((e) => [e.functionName, e]));
  const deliver = async (event: ResumeEvent) => {
    const endpoint = byFunction.get(event.functionName ?? '') ?? byName.get(event.endpoint);
    if (!endpoint) throw new Error(`No endpoint ${event.endpoint} is served to resume run ${event.runId}.`);
    print(`↻ resume ${endpoint.routeKey} run ${event.runId} (${event.reason}, attempt ${event.attempt + 1})`);
    return runtime.invoke(endpoint.functionName, event, endpoint.timeoutMs);
  };
  const timer = new LocalTimer({
    invoke: options.timerFaults ? withTimerFaults(deliver, options.timerFaults, print) : deliver,
    onError: (error, event) => print(`✗ resume of run ${event.runId} failed: ${(error as Error).message}`),
  });
  const cors = options.cors ?? endpoints.find((e) => e.cors)?.cors;
  // The construct's S3 bucket, as files; the results route gives signed URLs of responses too
  // large for a Lambda, served at /_durable/blobs/ as S3 serves presigned URLs.
  const blobsDir = join(options.persistDir ? resolve(cwd, options.persistDir) : tmpdir(), `durable-blobs-${tableName}`);
  let serverUrl = '';
  const blobs = new FileBlobStore(blobsDir, { urls: { base: () => `${serverUrl}${BLOBS_PATH}`, secret: tokenSecret } });
  const runtime = new HandlerRuntime(
    { endpoints, dynamoEndpoint, tableName, tokenSecret, blobsDir, ...(cors ? { cors } : {}) },
    { schedule: (event: ResumeEvent, at: Date) => void timer.schedule(event, at), log: (level, message, fields) => print(formatLog(level, message, fields)) },
  );
  await runtime.load();

  // Event streams are sent as they happen, as on a REST API with transfer mode STREAM.
  const results = createResultsHandler({ journal, tokenSecret, defaultWaitSeconds: options.resultsWaitSeconds, cors, blobs, streaming: true });
  const events = createEventsHandler({ journal, timer });
  const kitRoutes: GatewayRoute[] = [
    // A results Lambda that streams is given the longest timeout (15 minutes): its event streams last that long.
    { routeKey: ROUTES.results, format: '2.0', timeoutMs: 900_000, functionName: 'results', invoke: (event, context) => results(event, context) },
    // On AWS this route is IAM-authorized; the dev server listens on loopback only, like Inngest's.
    { routeKey: ROUTES.events, format: '2.0', timeoutMs: 30_000, functionName: 'events', cors: false, invoke: (event, context) => events(event, context) },
  ];
  const gatewayFor = (served: DevEndpoint[]) =>
    createGateway(
      [
        ...served.map((e) => ({
          routeKey: e.routeKey,
          format: e.format,
          timeoutMs: e.timeoutMs,
          functionName: e.functionName,
          invoke: (event: unknown) => runtime.invoke(e.functionName, event, e.timeoutMs),
        })),
        ...kitRoutes,
      ],
      {
        onTimeout: (route) => print(`✗ ${route.routeKey} did not answer within API Gateway's integration timeout`),
        onTooLarge: (route, bytes) => print(`✗ ${route.routeKey} returned ${bytes} bytes; a Lambda returns at most ${LAMBDA_RESPONSE_BYTES} (API Gateway answers 502). Durable endpoints with a blob store send such responses through the results URL.`),
        cors: resolveCors(cors),
      },
    );
  let gateway = gatewayFor(endpoints);
  const serveNow = (next: DevEndpoint[]) => {
    endpoints = next;
    byName = new Map(endpoints.map((e) => [e.routeKey, e]));
    byFunction = new Map(endpoints.map((e) => [e.functionName, e]));
    gateway = gatewayFor(endpoints);
  };

  const api = createDashboardApi(journal, timer, () => endpoints, events);
  const publicDir = options.publicDir ? resolve(cwd, options.publicDir) : join(cwd, 'public');
  const handle = async (request: Request): Promise<Response> => {
    const started = performance.now();
    const url = new URL(request.url);
    if (!hostAllowed(url.hostname, options)) {
      // DNS rebinding: a page on another site whose name now points at 127.0.0.1 is same-origin
      // with itself, not with us; its requests still say its own Host.
      return Response.json({ error: `Blocked request: the host ${JSON.stringify(url.host)} is not allowed. Use localhost, or add it with --allowed-host.` }, { status: 403 });
    }
    const origin = request.headers.get('origin');
    if (request.method !== 'GET' && origin !== null && origin !== url.origin && (url.pathname === '/events' || url.pathname.startsWith('/_durable/'))) {
      // Unauthenticated locally: refuse what a web page on another site could send from the browser.
      return Response.json({ error: `Cross-site requests to ${url.pathname} are refused by the dev server.` }, { status: 403 });
    }
    let response =
      url.pathname.startsWith(`${BLOBS_PATH}/`) && request.method === 'GET'
        ? await blobResponse(blobs, url)
        : url.pathname === '/_durable' || url.pathname.startsWith('/_durable/')
          ? await api(request, url)
          : await gateway.fetch(request);
    if (response.status === 404 && request.method === 'GET' && !response.headers.has(RUN_ID_HEADER)) response = (await publicFile(publicDir, url.pathname)) ?? response;
    if (!url.pathname.startsWith('/_durable')) {
      const runId = response.headers.get(RUN_ID_HEADER);
      print(`${request.method} ${url.pathname} ${response.status} ${Math.round(performance.now() - started)}ms${runId ? ` run ${runId}` : ''}`);
    }
    return response;
  };

  const port = options.port ?? Number(process.env.PORT ?? 3000);
  const server: Server = await serve(handle, { port, hostname: options.hostname });
  const actualPort = (server.address() as { port: number }).port;
  const url = `http://localhost:${actualPort}`;
  serverUrl = url;

  // The same sweep the sweeper Lambda runs on AWS: overdue runs (their timer died with a previous
  // server, their attempt with its worker) get a resume; runs that never progress are given up.
  const sweepGrace = options.sweepGraceMs ?? 1_000;
  let sweeping: Promise<unknown> | undefined;
  const sweep = () => {
    if (sweeping) return; // the last one is still going: skip this tick
    sweeping = sweepRuns({ journal, timer, grace: sweepGrace })
      .then(({ rearmed, abandoned, failed }) => {
        if (rearmed.length > 0) print(`↻ sweep: re-armed ${rearmed.length} overdue run(s)`);
        if (abandoned.length + failed.length > 0) print(`✗ sweep: gave up on ${abandoned.length + failed.length} run(s) that made no progress`);
      })
      .catch((error: Error) => print(`✗ sweep failed: ${error.message}`))
      .finally(() => (sweeping = undefined));
  };
  sweep();
  const sweeper = setInterval(sweep, Math.max(250, Math.min(sweepGrace, 1_000)));
  let appSources = new Set(app.sources);
  let closing = false;
  let reloading = Promise.resolve();
  // One reload at a time, in the order the changes came.
  const reload = (files: string[]) =>
    (reloading = reloading.then(async () => {
      if (closing) return;
      const changed = files.map((file) => relative(cwd, file)).join(', ');
      try {
        // The loader names files by their real path; the watcher by the path under cwd.
        if (appFile && files.some((file) => appSources.has(file) || appSources.has(realPath(file)))) {
          // The app itself changed: an addEndpoint may have come or gone.
          const next = await discoverEndpoints(appFile);
          await runtime.load(next.endpoints);
          const before = new Set(endpoints.map((e) => e.routeKey));
          const after = new Set(next.endpoints.map((e) => e.routeKey));
          const differences = [...[...after].filter((r) => !before.has(r)).map((r) => `+ ${r}`), ...[...before].filter((r) => !after.has(r)).map((r) => `- ${r}`)];
          appSources = new Set(next.sources);
          serveNow(next.endpoints);
          print(`⟳ ${changed} changed: endpoints and handlers reloaded${differences.length ? ` (${differences.join(', ')})` : ''}`);
        } else {
          await runtime.load();
          print(`⟳ ${changed} changed: handlers reloaded`);
        }
      } catch (error) {
        print(`✗ ${changed} changed, but the app or its handlers failed to load (still serving the previous code): ${(error as Error).message}`);
      }
    }));
  const watcher = options.watch === false ? undefined : await watchSources(cwd, { ignored: IGNORED, sources: SOURCE_FILES }, (files) => void reload(files));

  return {
    url,
    port: actualPort,
    get endpoints() {
      return endpoints;
    },
    journal,
    close: async () => {
      clearInterval(sweeper);
      await sweeping;
      closing = true;
      watcher?.close();
      await reloading;
      timer.close();
      // Long-polls and running handlers would hold close() for up to 30 s: cut them.
      const closed = new Promise((done) => server.close(() => done(undefined)));
      server.closeAllConnections();
      await closed;
      await runtime.close();
      journal.client.destroy();
      await local?.stop();
    },
  };
}

const LOOPBACK = /^(localhost|.+\.localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/** Loopback names, the name the server listens on, and the names the user allowed; nothing else. */
function hostAllowed(hostname: string, options: Pick<DevServerOptions, 'hostname' | 'allowedHosts'>): boolean {
  const name = hostname.toLowerCase();
  if (LOOPBACK.test(name)) return true;
  if (options.hostname && options.hostname !== '0.0.0.0' && options.hostname !== '::' && name === options.hostname.toLowerCase()) return true;
  return (options.allowedHosts ?? []).some((allowed) => allowed.toLowerCase() === name);
}

const IGNORED = /(^|\/)(node_modules|\.git|\.durable|dist|cdk\.out|coverage)(\/|$)/;

function realPath(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return file; // deleted since
  }
}
const SOURCE_FILES = /\.(ts|mts|js|mjs|json)$/;

async function ensureDir(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Random per run, or kept in the persist folder so result URLs survive a restart. */
async function loadSecret(persistDir: string | undefined): Promise<string> {
  if (!persistDir) return randomBytes(32).toString('hex');
  const file = join(await ensureDir(persistDir), 'token-secret');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const secret = randomBytes(32).toString('hex');
    await writeFile(file, secret, { mode: 0o600 });
    return secret;
  }
}

const ICONS: Record<string, string> = {
  'step completed': '✓',
  'step retrying inline': '↻',
  'step retrying later': '⏸',
  'step failed': '✗',
  'run suspended': '⏸',
  'run completed': '✓',
  'run failed': '✗',
};

/** One readable line per kit event: `  ✓ step enrich-data 16ms (run 01J…)`. */
export function formatLog(level: Level, message: string, fields: LogFields): string {
  const { runId, stepId, durationMs, attempts, delayMs, error } = fields as Record<string, string | number | undefined>;
  const icon = ICONS[message] ?? (level === 'error' || level === 'warn' ? '!' : '·');
  const parts = [`  ${icon}`, stepId !== undefined ? `step ${stepId}` : message.replace(/^run /, 'run ')];
  if (stepId !== undefined && message !== 'step completed') parts.push(message.replace(/^step /, ''));
  if (durationMs !== undefined) parts.push(`${durationMs}ms`);
  if (attempts !== undefined && Number(attempts) > 1) parts.push(`attempt ${attempts}`);
  if (delayMs !== undefined) parts.push(`next in ${Number(delayMs) >= 1000 ? `${(Number(delayMs) / 1000).toFixed(1)}s` : `${delayMs}ms`}`);
  if (error !== undefined) parts.push(`(${error})`);
  if (runId !== undefined) parts.push(`run ${runId}`);
  return parts.join(' ');
}

