/**
 * What `cdk deploy` uploads: the example endpoint (and the kit's results, events and sweeper Lambdas) bundled by esbuild as the construct configures
 * it (ESM, Node 24, the kit resolved from its TypeScript sources), loaded and called as Lambda's
 * Node.js runtime would. This is the one synth in the tests that bundles.
 */
import { App, Stack } from 'aws-cdk-lib';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DurableEndpoints } from '../lib/index.ts';
import { httpApiEvent, lambdaContext } from '../sdk/testing/index.ts';

describe('the bundled endpoint', () => {
  it('loads as an ES module with a source map and answers a request that needs no step without calling AWS', async () => {
    const app = new App();
    const stack = new Stack(app, 'Bundled');
    const durable = new DurableEndpoints(stack, 'Durable');
    durable.addEndpoint('POST /process', { entry: fileURLToPath(new URL('../examples/process.ts', import.meta.url)) });
    const assembly = app.synth();
    const bundles = readdirSync(assembly.directory)
      .filter((name) => name.startsWith('asset.'))
      .map((name) => join(assembly.directory, name));
    expect(bundles).toHaveLength(4); // the endpoint, the results, the events and the sweeper Lambda
    for (const dir of bundles) expect(readdirSync(dir).sort()).toEqual(['index.mjs', 'index.mjs.map']);
    process.env.DURABLE_TABLE = 'never-called';
    const loaded = await Promise.all(bundles.map((dir) => import(pathToFileURL(join(dir, 'index.mjs')).href)));
    expect(loaded.map((m) => typeof m.handler)).toEqual(['function', 'function', 'function', 'function']);
    // The sweeper's bundle, by its asset: every call of its handler sweeps the table.
    const template = assembly.getStackArtifact(stack.artifactId).template as { Resources: Record<string, { Properties: { Code: { S3Key: string } } }> };
    const sweeperKey = template.Resources[stack.resolve(stack.getLogicalId(durable.sweeperFunction.node.defaultChild as never)) as string]!.Properties.Code.S3Key;
    const sweeper = loaded[bundles.indexOf(join(assembly.directory, `asset.${sweeperKey.replace(/\.zip$/, '')}`))];
    expect(sweeper).toBeDefined();

    const example = loaded.find((m) => 'outbox' in m)!;
    const response = await example.handler(httpApiEvent({ method: 'POST', path: '/process', body: 'not json' }), lambdaContext());
    expect(response.statusCode).toBe(400);

    // The events Lambda takes EventBridge's status changes as they come; a non-final one needs no AWS call.
    const running = { id: 'e-1', source: 'aws.states', 'detail-type': 'Step Functions Execution Status Change', detail: { executionArn: 'arn:aws:states:eu-west-1:1:execution:M:n', stateMachineArn: 'arn:aws:states:eu-west-1:1:stateMachine:M', status: 'RUNNING' } };
    const answers = await Promise.all(loaded.filter((m) => m !== example && m !== sweeper).map((m) => m.handler(running, lambdaContext())));
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 400]); // the events and the results Lambda
  });
});
