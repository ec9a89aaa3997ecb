/**
 * Finds the durable endpoints a CDK app defines, the same ones `cdk deploy` would create: the app
 * file named in cdk.json is imported in a worker with bundling skipped, and every DurableEndpoints
 * construct it builds has registered itself (see lib/). One source of truth, no second route list.
 */
import { readFileSync } from 'node:fs';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { DevEndpoint } from './protocol.ts';

/** The app's entry file from cdk.json's "app" command (its last .ts/.js/.mjs argument). */
export function appFileFromCdkJson(cdkJsonPath: string): string {
  let app: unknown;
  try {
    app = JSON.parse(readFileSync(cdkJsonPath, 'utf8')).app;
  } catch (error) {
    throw new Error(`Could not read ${cdkJsonPath}: ${(error as Error).message}. Run durable dev in a CDK project, or pass --app <file>.`, { cause: error });
  }
  const file = typeof app === 'string' ? app.split(/\s+/).reverse().find((part) => /\.(ts|mts|js|mjs)$/.test(part)) : undefined;
  if (!file) throw new Error(`cdk.json's "app" (${JSON.stringify(app)}) names no .ts or .js file; pass --app <file>.`);
  return resolve(dirname(cdkJsonPath), file);
}

export interface DiscoveredApp {
  endpoints: DevEndpoint[];
  /** The app's own source files that building it loaded (the app file, its stacks and constructs), not its dependencies. */
  sources: string[];
}

export function discoverEndpoints(appFile: string): Promise<DiscoveredApp> {
  const file = isAbsolute(appFile) ? appFile : resolve(appFile);
  const worker = new Worker(new URL(`./discover-worker${extname(import.meta.url)}`, import.meta.url), {
    workerData: { appFile: file },
    env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ ...contextFromEnv(), 'aws:cdk:bundling-stacks': [] }) },
    stdout: true,
  });
  return new Promise((resolvePromise, reject) => {
    worker.once('message', (message: { endpoints?: DevEndpoint[]; sources?: string[]; error?: string }) => {
      void worker.terminate();
      if (message.error) reject(new Error(`Loading the CDK app ${file} failed: ${message.error}`));
      else resolvePromise({ endpoints: message.endpoints!, sources: message.sources! });
    });
    worker.once('error', (error) => reject(new Error(`Loading the CDK app ${file} failed: ${error.message}`, { cause: error })));
  });
}

function contextFromEnv(): Record<string, unknown> {
  try {
    return JSON.parse(process.env.CDK_CONTEXT_JSON ?? '{}');
  } catch {
    return {};
  }
}
