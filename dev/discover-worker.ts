import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { endpointRegistry, payloadFormat } from '../sdk/core/contract.ts';
import type { DevEndpoint } from './protocol.ts';

try {
  await import(pathToFileURL((workerData as { appFile: string }).appFile).href);
  const endpoints: DevEndpoint[] = endpointRegistry().flatMap((construct) =>
    construct.endpoints.map((e) => ({
      routeKey: e.routeKey,
      entry: e.entry,
      handler: e.handler,
      format: payloadFormat(e.apiType),
      timeoutMs: e.timeoutMs,
      functionName: e.functionName,
      ...(e.cors ? { cors: e.cors } : {}),
    })),
  );
  parentPort!.postMessage({ endpoints });
} catch (error) {
  parentPort!.postMessage({ error: (error as Error)?.stack ?? String(error) });
}
