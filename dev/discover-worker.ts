import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import type { DevEndpoint } from './protocol.ts';

interface RegisteredConstruct {
  endpoints: { routeKey: string; entry: string; handler: string; apiType: 'http' | 'rest'; timeoutMs: number; functionName: string }[];
}

const REGISTRY = Symbol.for('durable-endpoints.constructs');
const registry = ((globalThis as Record<symbol, unknown>)[REGISTRY] ??= []) as RegisteredConstruct[];

try {
  await import(pathToFileURL((workerData as { appFile: string }).appFile).href);
  const endpoints: DevEndpoint[] = registry.flatMap((construct) =>
    construct.endpoints.map((e) => ({
      routeKey: e.routeKey,
      entry: e.entry,
      handler: e.handler,
      format: e.apiType === 'rest' ? ('1.0' as const) : ('2.0' as const),
      timeoutMs: e.timeoutMs,
      functionName: e.functionName,
    })),
  );
  parentPort!.postMessage({ endpoints });
} catch (error) {
  parentPort!.postMessage({ error: (error as Error)?.stack ?? String(error) });
}
