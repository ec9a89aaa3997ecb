import { registerHooks } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { endpointRegistry, payloadFormat } from '../sdk/core/contract.ts';
import type { DevEndpoint } from './protocol.ts';

// The app's own source files (not its dependencies): when one of them changes, the dev server
// loads the app again, since a new or changed addEndpoint may be in any of them.
const sources = new Set<string>();
registerHooks({
  load(url, context, nextLoad) {
    if (url.startsWith('file:') && !url.includes('/node_modules/')) sources.add(fileURLToPath(url));
    return nextLoad(url, context);
  },
});

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
  parentPort!.postMessage({ endpoints, sources: [...sources] });
} catch (error) {
  parentPort!.postMessage({ error: (error as Error)?.stack ?? String(error) });
}
