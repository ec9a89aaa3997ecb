/**
 * The contract with the local dev server: it skips bundling through the context, imports the app
 * file `cdk.json` runs, and reads every DurableEndpoints the app constructed from a process-global
 * registry. This test does exactly that.
 */
import { Stack } from 'aws-cdk-lib';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DurableEndpoints, registeredDurableEndpoints } from '../lib/index.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('the app as the dev server loads it', () => {
  it('registers each DurableEndpoints at construction, with its endpoints, and skips bundling', async () => {
    process.env.CDK_CONTEXT_JSON = JSON.stringify({ 'aws:cdk:bundling-stacks': [] });
    const { app } = JSON.parse(readFileSync(`${root}cdk.json`, 'utf8')) as { app: string };
    const appFile = app.split(' ').at(-1)!;

    await import(pathToFileURL(`${root}${appFile}`).href);

    const registered = registeredDurableEndpoints();
    expect(registered).toHaveLength(1);
    expect(registered[0]).toBeInstanceOf(DurableEndpoints);
    // The global array is the contract: the dev server may hold its own copy of this package.
    expect((globalThis as Record<symbol, unknown>)[Symbol.for('durable-endpoints.constructs')]).toEqual(registered);
    const [endpoint, ...others] = registered[0]!.endpoints;
    // Endpoints you add to lib/app.ts come along too.
    expect(others.map((e) => [e.routeKey, e.entry, e.timeoutMs])).toEqual(
      expect.arrayContaining([
        ['GET /research', `${root}examples/research/handler.ts`, 300_000],
        ['POST /orders', `${root}examples/orders.ts`, 29_000],
        ['GET /remind', `${root}examples/remind.ts`, 29_000],
        ['POST /reports', `${root}examples/reports.ts`, 29_000],
        ['GET /quote', `${root}examples/quote.ts`, 29_000],
      ]),
    );
    expect(endpoint).toEqual({
      routeKey: 'POST /process',
      entry: `${root}examples/process.ts`,
      handler: 'handler',
      apiType: 'http',
      timeoutMs: 29_000,
      functionName: 'DurableEndpointsExample/Durable/POST-process',
      streaming: false,
      function: expect.any(NodejsFunction),
    });
    expect(Stack.of(endpoint!.function).bundlingRequired).toBe(false);
  });
});
