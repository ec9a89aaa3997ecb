/**
 * A page on one origin (localhost:<page port>) calling durable endpoints on another
 * (127.0.0.1:<dev server port>), with the construct's `cors` setting as the dev server serves it:
 * the gateway answers the preflights, the handlers and the results route add the CORS headers.
 */
import type { Browser } from 'playwright-core';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORS_DEFAULTS } from '../sdk/core/cors.ts';
import { launchChromium } from './support/browser.ts';
import { startTestDevServer } from './support/dev-server.ts';

/** A page server of its own: the page and the stripped client modules, nothing else. */
async function startPageServer(): Promise<{ server: Server; port: number }> {
  const modules = new Map<string, string>();
  for (const file of await readdir(new URL('../sdk/client/', import.meta.url))) {
    const source = await readFile(new URL(`../sdk/client/${file}`, import.meta.url), 'utf8');
    const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, rewriteRelativeImportExtensions: true } });
    modules.set(`/${file.replace(/\.ts$/, '.js')}`, outputText);
  }
  const server = createServer((request, response) => {
    const module = modules.get(request.url ?? '');
    if (module !== undefined) return void response.writeHead(200, { 'content-type': 'text/javascript' }).end(module);
    response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><script type="module">import { durableFetch } from "/index.js"; window.durableFetch = durableFetch;</script>');
  });
  await new Promise<void>((resolve) => server.listen(0, resolve));
  return { server, port: (server.address() as { port: number }).port };
}

describe('CORS in Chromium: a page on localhost, the API on 127.0.0.1', () => {
  let api: Awaited<ReturnType<typeof startTestDevServer>>;
  let page: Awaited<ReturnType<typeof startPageServer>>;
  let browser: Browser;
  let apiUrl: string;

  beforeAll(async () => {
    page = await startPageServer();
    [api, browser] = await Promise.all([
      startTestDevServer({
        hostname: '127.0.0.1',
        // The dev-only fault injection header is allowed too, so the page can make the run go asynchronous.
        cors: { allowOrigins: [`http://localhost:${page.port}`], allowHeaders: [...CORS_DEFAULTS.allowHeaders, 'x-durable-inject-failure'] },
      }),
      launchChromium(),
    ]);
    apiUrl = `http://127.0.0.1:${api.port}`;
  });
  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await new Promise((resolve) => page?.server.close(resolve));
  });

  async function call(pageOrigin: string) {
    const tab = await browser.newPage();
    await tab.goto(`${pageOrigin}/`);
    await tab.waitForFunction(() => 'durableFetch' in window);
    return tab.evaluate(async (url) => {
      const statuses: string[] = [];
      const durableFetch = (window as unknown as { durableFetch: (input: string, init: object) => Promise<Response> }).durableFetch;
      try {
        const response = await durableFetch(`${url}/process`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-durable-inject-failure': 'process:1:2100ms' },
          body: JSON.stringify({ userId: 'u-cors', data: { a: 1 } }),
          onStatus: (event: { status: string; runId?: string }) => statuses.push(`${event.status} ${event.runId ? 'with run id' : 'without run id'}`),
        });
        return { status: response.status, runId: response.headers.get('x-durable-run-id'), body: await response.json(), statuses };
      } catch (error) {
        return { error: String(error), statuses };
      }
    }, apiUrl);
  }

  it('preflights the POST (Prefer and the other headers), gets the 202, polls the results route and reads the result and the run id', async () => {
    const from = api.lines.length;

    const result = await call(`http://localhost:${page.port}`);

    expect(result).toMatchObject({ status: 200, runId: expect.stringMatching(/^[0-9A-Z]{26}$/), body: { success: true } });
    expect(result.statuses).toEqual(['retrying with run id', 'running with run id', 'completed with run id']);
    const requests = api.lines.slice(from).filter((line) => /^(OPTIONS|POST|GET) /.test(line)).map((line) => line.split(' ').slice(0, 3).join(' ').replace(/[0-9A-Z]{26}/, ':id'));
    expect(requests).toEqual(['OPTIONS /process 204', 'POST /process 202', 'OPTIONS /runs/:id 204', 'GET /runs/:id 200']);
  });

  it('lets the browser refuse a page on an origin the setting does not allow', async () => {
    const result = await call(`http://127.0.0.1:${page.port}`);

    expect(result).toMatchObject({ error: expect.stringMatching(/TypeError/) });
  });
});
