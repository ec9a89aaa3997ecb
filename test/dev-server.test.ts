import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startDevServer } from '../dev/server.ts';
import { postProcess, startTestDevServer } from './support/dev-server.ts';
import { scratchDir } from './support/scratch.ts';

const run = promisify(execFile);
const node = resolve('node_modules/.bin/node');
const cli = (...args: string[]) => run(node, ['--conditions=source', '--disable-warning=ExperimentalWarning', 'cli/durable.ts', ...args], { env: { ...process.env } });

describe('durable dev serving the example POST /process', () => {
  let server: Awaited<ReturnType<typeof startTestDevServer>>;
  beforeAll(async () => {
    server = await startTestDevServer();
  });
  afterAll(() => server.close());

  it('answers the happy path directly', async () => {
    const response = await postProcess(server.url);

    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ success: true, result: { fields: 2 } });
    expect(response.headers.get('x-durable-run-id')).toMatch(/^[0-9A-Z]{26}$/);
  });

  it('answers 400 to a malformed body, with no run', async () => {
    const response = await fetch(`${server.url}/process`, { method: 'POST', body: '{oops' });

    expect(response.status).toBe(400);
    expect(response.headers.get('x-durable-run-id')).toBeNull();
  });

  it('recovers from one injected failure inline: one response, no redirect', async () => {
    const response = await postProcess(server.url, { 'x-durable-inject-failure': 'process:1' }, { redirect: 'manual' });

    expect(response.status).toBe(200);
    const detail = await (await fetch(`${server.url}/_durable/api/runs/${response.headers.get('x-durable-run-id')}`)).json();
    expect(detail.steps.map((s: { id: string; attempts: number }) => [s.id, s.attempts])).toEqual([
      ['enrich-data', 1],
      ['process', 2],
      ['notify', 1],
    ]);
  });

  it('answers 303 when the retry must wait longer than inlineDelayMax, and the results URL returns the final response', async () => {
    const first = await postProcess(server.url, { 'x-durable-inject-failure': 'process:1:3s' }, { redirect: 'manual' });

    expect(first.status).toBe(303);
    const location = first.headers.get('location')!;
    expect(location).toMatch(new RegExp(`^${server.url}/runs/[0-9A-Z]{26}\\?token=`));
    expect(Number(first.headers.get('retry-after'))).toBeGreaterThanOrEqual(2);

    const final = await fetch(location);
    expect(final.status).toBe(200);
    expect(await final.json()).toMatchObject({ success: true });

    const runId = first.headers.get('x-durable-run-id');
    const detail = await (await fetch(`${server.url}/_durable/api/runs/${runId}`)).json();
    expect(detail.run.status).toBe('completed');
    expect(detail.steps.map((s: { id: string; attempts: number }) => [s.id, s.attempts])).toEqual([
      ['enrich-data', 1],
      ['process', 2],
      ['notify', 1],
    ]);
    expect(server.lines.some((line) => line.includes(`↻ resume POST /process run ${runId}`))).toBe(true);
  });

  it('lets a plain fetch follow the 303 to the final response', async () => {
    const response = await postProcess(server.url, { 'x-durable-inject-failure': 'process:1:3s' });

    expect(response.redirected).toBe(true);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ success: true });
  });

  it('lists runs newest first, filtered by status and endpoint', async () => {
    const { runs } = await (await fetch(`${server.url}/_durable/api/runs?status=completed&endpoint=${encodeURIComponent('POST /process')}`)).json();

    expect(runs.length).toBeGreaterThanOrEqual(3);
    expect(runs.every((r: { status: string }) => r.status === 'completed')).toBe(true);
    expect([...runs].sort((a: { runId: string }, b: { runId: string }) => (a.runId < b.runId ? 1 : -1))).toEqual(runs);
  });

  it('logs each request and step as one readable line', () => {
    expect(server.lines.some((line) => /^POST \/process 200 \d+ms run [0-9A-Z]{26}$/.test(line))).toBe(true);
    expect(server.lines.some((line) => /^ {2}✓ step enrich-data \d+ms run /.test(line))).toBe(true);
  });

  describe('the CLI against it', () => {
    it('lists runs', async () => {
      const { stdout } = await cli('runs', 'list', '--url', server.url, '--json');
      const runs = JSON.parse(stdout);
      expect(runs.length).toBeGreaterThanOrEqual(3);
      expect(runs[0]).toHaveProperty('runId');
    });

    it('shows one run with its steps', async () => {
      const [latest] = JSON.parse((await cli('runs', 'list', '--url', server.url, '--json', '--status', 'completed')).stdout);
      const { stdout } = await cli('runs', 'show', latest.runId, '--url', server.url);
      expect(stdout).toContain(`run ${latest.runId}  completed  POST /process`);
      expect(stdout).toMatch(/enrich-data\s+completed\s+attempts 1/);
    });

    it('refuses an unknown status instead of listing no runs', async () => {
      const failure = await cli('runs', 'list', '--url', server.url, '--status', 'bogus').catch((error) => error);

      expect(failure.code).toBe(1);
      expect(failure.stderr).toContain("Unknown status 'bogus'. Statuses: running, sleeping, waiting, queued, completed, failed.");
      expect(failure.stdout).toBe('');
      const api = await fetch(`${server.url}/_durable/api/runs?status=bogus`);
      expect(api.status).toBe(400);
      expect((await api.json()).error).toContain("Unknown status 'bogus'");
    });

    it('fails with a clear message for an unknown run', async () => {
      await expect(cli('runs', 'show', '01JAAAAAAAAAAAAAAAAAAAAAAA', '--url', server.url)).rejects.toMatchObject({
        stderr: expect.stringContaining('No run 01JAAAAAAAAAAAAAAAAAAAAAAA'),
      });
    });

    it('documents every command in --help', async () => {
      const { stdout } = await cli('--help');
      for (const command of ['durable dev', 'durable runs list', 'durable runs show', 'durable replay', '--table', '--json']) expect(stdout).toContain(command);
    });
  });
});

describe('durable replay', () => {
  it('runs a failed run again from its failed step once the cause is fixed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'durable-replay-'));
    const flag = join(dir, 'provider-up');
    const journalOfCalls = join(dir, 'calls.log');
    const entry = join(dir, 'checkout.ts');
    await writeFile(
      entry,
      `import { appendFileSync, existsSync } from 'node:fs';
import { durableHandler, NonRetriableError, step } from ${JSON.stringify(resolve('sdk/index.ts'))};
export const handler = durableHandler(async () => {
  const order = await step.run('reserve', () => { appendFileSync(${JSON.stringify(journalOfCalls)}, 'reserve\\n'); return 'order-1'; });
  await step.run('charge', () => { if (!existsSync(${JSON.stringify(flag)})) throw new NonRetriableError('payment provider down'); });
  return { statusCode: 200, body: order };
});
`,
    );
    const server = await startTestDevServer({ cwd: dir, endpoints: [{ routeKey: 'POST /checkout', entry, handler: 'handler', format: '2.0', timeoutMs: 10_000, functionName: 'Checkout' }] });
    try {
      const failed = await fetch(`${server.url}/checkout`, { method: 'POST' });
      const runId = failed.headers.get('x-durable-run-id')!;
      expect(failed.status).toBe(500);
      expect(await cli('replay', '01JAAAAAAAAAAAAAAAAAAAAAAA', '--url', server.url).catch((e) => e.stderr)).toContain('only failed runs can be replayed');

      await writeFile(flag, '');
      const { stdout } = await cli('replay', runId, '--url', server.url);
      expect(stdout).toContain(`Run ${runId} is running again from its failed step.`);
      let detail;
      for (let i = 0; i < 100; i++) {
        detail = await (await fetch(`${server.url}/_durable/api/runs/${runId}`)).json();
        if (detail.run.status !== 'running') break;
        await new Promise((r) => setTimeout(r, 50));
      }

      expect(detail.run.status).toBe('completed');
      expect(detail.run.response).toMatchObject({ statusCode: 200, body: 'order-1' });
      expect(detail.steps.map((s: { id: string; status: string }) => [s.id, s.status])).toEqual([
        ['reserve', 'completed'],
        ['charge', 'completed'],
      ]);
      expect((await readFile(journalOfCalls, 'utf8')).trim().split('\n')).toEqual(['reserve']);
      expect((await fetch(`${server.url}/_durable/api/runs/${runId}/replay`, { method: 'POST' })).status).toBe(409);
    } finally {
      await server.close();
    }
  });
});

describe('durable replay of a run that failed from injected faults', () => {
  let server: Awaited<ReturnType<typeof startTestDevServer>>;
  beforeAll(async () => {
    server = await startTestDevServer();
  });
  afterAll(() => server.close());

  it('runs the replay without the injected faults (a replay means the cause is fixed), and says so', async () => {
    // More injected failures than the step has attempts: the run fails for good.
    const failed = await postProcess(server.url, { 'x-durable-inject-failure': 'notify:9:1ms' });
    const runId = failed.headers.get('x-durable-run-id')!;
    expect(failed.status).toBe(500);

    const { stdout } = await cli('replay', runId, '--url', server.url);

    expect(stdout).toContain(`Run ${runId} is running again from its failed step.`);
    expect(stdout).toContain('Without the faults its request injected (x-durable-inject-failure: notify:9:1ms)');
    let detail;
    for (let i = 0; i < 200; i++) {
      detail = await (await fetch(`${server.url}/_durable/api/runs/${runId}`)).json();
      if (detail.run.status !== 'running') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(detail.run.status).toBe('completed');
    expect(detail.run.response.statusCode).toBe(200);
    expect(detail.run.replayedAt).toEqual(expect.any(String));
    expect(detail.steps.map((s: { id: string; attempts: number }) => [s.id, s.attempts])).toEqual([
      ['enrich-data', 1],
      ['process', 1],
      ['notify', 1], // its failed attempts were reset by the replay; the first attempt after it succeeded
    ]);
    expect(server.lines).toContainEqual(expect.stringContaining(`x-durable-inject-failure off: the run was replayed, and a replay runs without injected faults run ${runId}`));
  });

  it('keeps the faults off in the attempts after the replay', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'durable-replay-faults-'));
    const entry = join(dir, 'pause.ts');
    await writeFile(
      entry,
      `import { durableHandler, step } from ${JSON.stringify(resolve('sdk/index.ts'))};
export const handler = durableHandler(async () => {
  await step.run('a', () => 'a');
  await step.sleep('pause', '3s'); // longer than inlineDelayMax: the run suspends, a later attempt goes on
  await step.run('c', () => 'c');
  return { statusCode: 200, body: 'done' };
});
`,
    );
    const replayServer = await startTestDevServer({ cwd: dir, endpoints: [{ routeKey: 'POST /pause', entry, handler: 'handler', format: '2.0', timeoutMs: 10_000, functionName: 'Pause' }] });
    try {
      // 'a' fails for good at once; 'c' would fail for good too, in a later attempt, if its faults came back.
      const failed = await fetch(`${replayServer.url}/pause`, { method: 'POST', headers: { 'x-durable-inject-failure': 'a:9:1ms,c:9:1ms' } });
      const runId = failed.headers.get('x-durable-run-id')!;
      expect(failed.status).toBe(500);

      await cli('replay', runId, '--url', replayServer.url);

      let detail;
      for (let i = 0; i < 300; i++) {
        detail = await (await fetch(`${replayServer.url}/_durable/api/runs/${runId}`)).json();
        if (['completed', 'failed'].includes(detail.run.status)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(detail.run.status).toBe('completed');
      expect(detail.run.attempt).toBeGreaterThanOrEqual(3); // the replay's attempt suspended; another one finished
      expect(detail.steps.map((s: { id: string; attempts: number }) => [s.id, s.attempts])).toEqual([
        ['a', 1],
        ['pause', 1],
        ['c', 1],
      ]);
    } finally {
      await replayServer.close();
    }
  }, 60_000);
});

describe('durable dev events and context', () => {
  it('gives REST endpoints payload 1.0 events and HTTP API ones payload 2.0, with a Lambda context that counts down', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'durable-events-'));
    const entry = join(dir, 'echo.ts');
    await writeFile(
      entry,
      `export const handler = async (event: any, context: any) => ({ statusCode: 200, body: JSON.stringify({
  version: event.version ?? '1.0', method: event.httpMethod ?? event.requestContext.http.method, id: event.pathParameters?.id,
  q: event.queryStringParameters, remaining: context.getRemainingTimeInMillis(), requestId: context.awsRequestId, fn: context.functionName }) });\n`,
    );
    const server = await startTestDevServer({
      cwd: dir,
      endpoints: [
        { routeKey: 'GET /rest/{id}', entry, handler: 'handler', format: '1.0', timeoutMs: 6_000, functionName: 'RestEcho' },
        { routeKey: 'GET /http/{id}', entry, handler: 'handler', format: '2.0', timeoutMs: 9_000, functionName: 'HttpEcho' },
      ],
    });
    try {
      const rest = await (await fetch(`${server.url}/rest/7?a=1`)).json();
      const http = await (await fetch(`${server.url}/http/8?a=2`)).json();

      expect(rest).toMatchObject({ version: '1.0', method: 'GET', id: '7', q: { a: '1' }, fn: 'RestEcho' });
      expect(http).toMatchObject({ version: '2.0', method: 'GET', id: '8', q: { a: '2' }, fn: 'HttpEcho' });
      expect(rest.remaining).toBeLessThanOrEqual(6_000);
      expect(rest.remaining).toBeGreaterThan(4_000);
      expect(http.remaining).toBeLessThanOrEqual(9_000);
      expect(rest.requestId).not.toBe(http.requestId);
      expect((await fetch(`${server.url}/nowhere`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('replaces a handler worker that died, and refuses cross-site events', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'durable-crash-'));
    const entry = join(dir, 'crash.ts');
    await writeFile(
      entry,
      `export const handler = async (event: any) => {
  if (event.queryStringParameters?.crash) setImmediate(() => { throw new Error('unhandled, after the response'); });
  return { statusCode: 200, body: 'alive' };
};\n`,
    );
    const server = await startTestDevServer({ cwd: dir, endpoints: [{ routeKey: 'GET /crash', entry, handler: 'handler', format: '2.0', timeoutMs: 5_000, functionName: 'Crash' }] });
    try {
      expect(await (await fetch(`${server.url}/crash?crash=1`)).text()).toBe('alive');
      // The worker dies on its next turn; how soon the server sees it depends on the machine's load.
      for (let waited = 0; waited < 10_000 && !server.lines.some((line) => line.includes('the handler worker died')); waited += 50) await new Promise((r) => setTimeout(r, 50));
      const after = await fetch(`${server.url}/crash`);
      expect(after.status).toBe(200);
      expect(await after.text()).toBe('alive');
      expect(server.lines.some((line) => line.includes('the handler worker died'))).toBe(true);

      const crossSite = await fetch(`${server.url}/events`, { method: 'POST', headers: { origin: 'https://elsewhere.example' }, body: '{"name":"x"}' });
      expect(crossSite.status).toBe(403);
    } finally {
      await server.close();
    }
  });

  it('starts one new worker for the requests that arrive while a dead one is replaced', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'durable-crash-'));
    const entry = join(dir, 'thread.ts');
    await writeFile(
      entry,
      `import { threadId } from 'node:worker_threads';
export const handler = async (event: any) => {
  if (event.queryStringParameters?.crash) setImmediate(() => { throw new Error('dies'); });
  return { statusCode: 200, body: String(threadId) };
};\n`,
    );
    const server = await startTestDevServer({ cwd: dir, endpoints: [{ routeKey: 'GET /thread', entry, handler: 'handler', format: '2.0', timeoutMs: 5_000, functionName: 'Thread' }] });
    try {
      await fetch(`${server.url}/thread?crash=1`);
      for (let waited = 0; waited < 10_000 && !server.lines.some((line) => line.includes('the handler worker died')); waited += 50) await new Promise((r) => setTimeout(r, 50));

      const threads = await Promise.all(Array.from({ length: 6 }, async () => (await fetch(`${server.url}/thread`)).text()));

      expect(new Set(threads).size).toBe(1);
    } finally {
      await server.close();
    }
  });

  it('says how to install Java when it is missing, and exits non-zero', async () => {
    const bin = await mkdtemp(join(tmpdir(), 'durable-nojava-'));
    await symlink(node, join(bin, 'node'));
    const failure = await run(node, ['--conditions=source', '--disable-warning=ExperimentalWarning', 'cli/durable.ts', 'dev', '--port', '0'], {
      env: { ...process.env, PATH: bin },
    }).catch((error) => error);

    expect(failure.code).toBe(1);
    expect(failure.stderr).toContain('DynamoDB Local needs Java 17');
    expect(failure.stderr).toContain('apt-get install -y openjdk-17-jre-headless');
  });
});

describe('durable dev and the CDK app', () => {
  it('serves the endpoints the CDK app defines with addEndpoint, and nothing else', async () => {
    const server = await startTestDevServer({ app: 'test/fixtures/app.ts' });
    try {
      expect(server.endpoints.map((e) => e.routeKey).sort()).toEqual(['GET /greet/{name}', 'POST /process']);
      expect(server.endpoints.find((e) => e.routeKey === 'GET /greet/{name}')).toMatchObject({ format: '2.0', functionName: 'DevServerFixture/Durable/GET-greet-{name}', timeoutMs: 29_000 });

      const greeting = await fetch(`${server.url}/greet/ada`);
      expect(greeting.status).toBe(200);
      expect(await greeting.text()).toBe('hello ada');
      expect(greeting.headers.get('x-durable-run-id')).toMatch(/^[0-9A-Z]{26}$/);
      expect((await fetch(`${server.url}/remind?after=1s`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('stops everything on Ctrl-C', async () => {
    const child = spawn(node, ['--conditions=source', '--disable-warning=ExperimentalWarning', 'cli/durable.ts', 'dev', '--port', '0', '--no-watch', '--app', 'test/fixtures/app.ts'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const exited = new Promise<number | null>((done) => child.once('exit', done));
    // Starting means a JVM for DynamoDB Local and loading the CDK app: slow on a busy 2-core machine.
    for (let i = 0; i < 900 && !output.includes('dashboard:'); i++) await new Promise((r) => setTimeout(r, 100));
    const started = /durable dev: (http:\/\/localhost:\d+)/.exec(output);
    expect(started, `durable dev did not start:\n${output}`).not.toBeNull();
    const url = started![1]!;
    expect(output).toContain('GET /greet/{name}');
    expect((await fetch(`${url}/greet/bob`)).status).toBe(200);

    child.kill('SIGINT');

    expect(await exited).toBe(0);
    expect(output).toContain('stopping');
    await expect(fetch(`${url}/greet/bob`)).rejects.toThrow();
  }, 120_000);
});

describe('the CLI on a deployed journal table (--table)', () => {
  it('lists and shows runs straight from the table', async () => {
    const server = await startTestDevServer();
    try {
      const response = await postProcess(server.url);
      const runId = response.headers.get('x-durable-run-id')!;
      // The table is DynamoDB Local's here; the SDK's service endpoint variable points the CLI at it.
      const env = { ...process.env, AWS_ENDPOINT_URL_DYNAMODB: inject('dynamoEndpoint'), AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' };
      const table = server.journal.tableName;
      const args = ['--conditions=source', '--disable-warning=ExperimentalWarning', 'cli/durable.ts'];

      const list = JSON.parse((await run(node, [...args, 'runs', 'list', '--table', table, '--region', 'local', '--json'], { env })).stdout);
      const show = (await run(node, [...args, 'runs', 'show', runId, '--table', table, '--region', 'local'], { env })).stdout;

      expect(list.map((r: { runId: string }) => r.runId)).toEqual([runId]);
      expect(show).toContain(`run ${runId}  completed  POST /process`);
      expect(show).toMatch(/notify\s+completed\s+attempts 1/);
    } finally {
      await server.close();
    }
  });
});

describe('durable dev, hot reload', () => {
  /** Asks until the answer is `expected` (a reload takes a moment), and returns the last answer. */
  async function answerBecomes(url: string, expected: string): Promise<string> {
    let body = '';
    for (let i = 0; i < 150 && body !== expected; i++) {
      await new Promise((r) => setTimeout(r, 100));
      body = await (await fetch(url)).text();
    }
    return body;
  }

  it('serves a changed handler file without a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'durable-reload-'));
    const entry = join(dir, 'hello.ts');
    const write = (greeting: string) => writeFile(entry, `export const handler = async () => ({ statusCode: 200, body: '${greeting}' });\n`);
    await write('v1');
    const server = await startTestDevServer({
      cwd: dir,
      watch: true,
      endpoints: [{ routeKey: 'GET /hello', entry, handler: 'handler', format: '2.0', timeoutMs: 3_000, functionName: 'Hello' }],
    });
    try {
      expect(await (await fetch(`${server.url}/hello`)).text()).toBe('v1');
      await write('v2');
      let body = '';
      for (let i = 0; i < 60 && body !== 'v2'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        body = await (await fetch(`${server.url}/hello`)).text();
      }
      expect(body).toBe('v2');
      expect(server.lines.some((line) => line.includes('hello.ts changed: handlers reloaded'))).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('keeps reloading a handler file that editors save by writing a new file and renaming it over the old one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'durable-rename-'));
    const entry = join(dir, 'hello.ts');
    const source = (greeting: string) => `export const handler = async () => ({ statusCode: 200, body: '${greeting}' });\n`;
    await writeFile(entry, source('v1'));
    const server = await startTestDevServer({
      cwd: dir,
      watch: true,
      endpoints: [{ routeKey: 'GET /hello', entry, handler: 'handler', format: '2.0', timeoutMs: 3_000, functionName: 'Hello' }],
    });
    try {
      expect(await (await fetch(`${server.url}/hello`)).text()).toBe('v1');
      for (const version of ['v2', 'v3', 'v4']) {
        // What editors, `sed -i` and `git checkout` do: the file is replaced by another inode.
        await writeFile(join(dir, `.hello.ts.${version}.tmp`), source(version));
        await rename(join(dir, `.hello.ts.${version}.tmp`), entry);

        expect(await answerBecomes(`${server.url}/hello`, version)).toBe(version);
      }
    } finally {
      await server.close();
    }
  });

  it('serves an endpoint added to the CDK app without a restart, and stops serving one removed from it', async () => {
    // In the repository, where the app imports the kit and aws-cdk-lib as a user's app does; served
    // through a symbolic link to its folder (as macOS's /tmp is one), which the loader resolves.
    const { dir: real, remove } = await scratchDir('durable-app');
    const dir = `${real}-link`;
    await symlink(real, dir);
    const appFile = join(dir, 'app.ts');
    const app = (...routes: string[]) =>
      [
        `import { App, Stack } from 'aws-cdk-lib';`,
        `import { DurableEndpoints } from 'durable-endpoints/cdk';`,
        `const durable = new DurableEndpoints(new Stack(new App(), 'Reloaded'), 'Durable');`,
        ...routes.map((route) => `durable.addEndpoint(${JSON.stringify(route)}, { entry: ${JSON.stringify(join(dir, 'hello.ts'))} });`),
        '',
      ].join('\n');
    await writeFile(join(dir, 'hello.ts'), `export const handler = async (event: any) => ({ statusCode: 200, body: 'hello from ' + event.routeKey });\n`);
    await writeFile(appFile, app('GET /one'));
    const server = await startTestDevServer({ cwd: dir, app: appFile, watch: true });
    try {
      expect(await (await fetch(`${server.url}/one`)).text()).toBe('hello from GET /one');
      expect((await fetch(`${server.url}/two`)).status).toBe(404);

      await writeFile(appFile, app('GET /one', 'GET /two'));

      expect(await answerBecomes(`${server.url}/two`, 'hello from GET /two')).toBe('hello from GET /two');
      expect(server.endpoints.map((e) => e.routeKey)).toEqual(['GET /one', 'GET /two']);
      expect(server.lines).toContainEqual(expect.stringMatching(/app\.ts changed: endpoints and handlers reloaded \(\+ GET \/two\)$/));
      const { endpoints } = await (await fetch(`${server.url}/_durable/api/endpoints`)).json();
      expect(endpoints.map((e: { routeKey: string }) => e.routeKey)).toEqual(['GET /one', 'GET /two']);

      await writeFile(appFile, app('GET /two'));

      expect(await answerBecomes(`${server.url}/one`, '{"message":"Not Found"}')).toBe('{"message":"Not Found"}');
      expect(await (await fetch(`${server.url}/two`)).text()).toBe('hello from GET /two');
    } finally {
      await server.close();
      await rm(dir);
      await remove();
    }
  }, 60_000);
});

describe('durable dev --persist', () => {
  it('fires a due timer after a restart', async () => {
    const persistDir = await mkdtemp(join(tmpdir(), 'durable-persist-'));
    const options = { port: 0, watch: false, persistDir, log: () => undefined };
    const first = await startDevServer(options);
    const accepted = await postProcess(first.url, { 'x-durable-inject-failure': 'process:1:3s' }, { redirect: 'manual' });
    expect(accepted.status).toBe(303);
    await first.close(); // the timer dies with the server, before it is due

    const second = await startDevServer(options);
    try {
      const location = new URL(accepted.headers.get('location')!);
      const final = await fetch(`${second.url}${location.pathname}${location.search}`);
      expect(final.status).toBe(200);
      expect(await final.json()).toMatchObject({ success: true });
    } finally {
      await second.close();
    }
  }, 120_000);
});
