/**
 * The dev server's Lambda runtime: a worker thread that imports the endpoints' handler modules
 * and runs invocations. A code change starts a new worker (a fresh module graph) instead of
 * restarting the server.
 */
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { configureDurable, DynamoJournal, FileBlobStore, setLogSink } from '../sdk/index.ts';
import { headerFaults, lambdaContext } from '../sdk/testing/index.ts';
import { localDynamoClient } from './dynamodb-local.ts';
import type { FromWorker, ToWorker, WorkerConfig } from './protocol.ts';
import { isReadableStream } from '../sdk/core/http.ts';

const config = workerData as WorkerConfig;
const port = parentPort!;
const send = (message: FromWorker) => port.postMessage(message);

configureDurable({
  journal: new DynamoJournal({
    tableName: config.tableName,
    client: localDynamoClient(config.dynamoEndpoint),
  }),
  // Timers live in the server (they outlive workers); postMessage keeps the order, so a schedule
  // always reaches the server before the 303 that follows it.
  timer: { schedule: async (event, at) => send({ type: 'schedule', event, at: at.getTime() }) },
  tokenSecret: config.tokenSecret,
  faults: headerFaults,
  // The server sends a streamed body as it comes, like API Gateway's REST streaming.
  streaming: true,
  cors: config.cors,
  blobs: new FileBlobStore(config.blobsDir),
});
setLogSink((level, message, fields) => send({ type: 'log', level, message, fields: JSON.parse(JSON.stringify(fields)) }));

const handlers = new Map<string, (event: unknown, context: unknown) => Promise<unknown>>();
try {
  for (const endpoint of config.endpoints) {
    const module = await import(pathToFileURL(endpoint.entry).href);
    const handler = module[endpoint.handler];
    if (typeof handler !== 'function') {
      throw new Error(`${endpoint.entry} has no exported function '${endpoint.handler}' for ${endpoint.routeKey}.`);
    }
    handlers.set(endpoint.functionName, handler);
  }
  send({ type: 'ready' });
} catch (error) {
  send({ type: 'failed', error: describe(error) });
}

/** Bodies being streamed to the server, by invocation. */
const streaming = new Map<number, ReadableStreamDefaultReader<Uint8Array>>();

port.on('message', async (message: ToWorker) => {
  if (message.type === 'cancel') return void streaming.get(message.id)?.cancel();
  const handler = handlers.get(message.functionName);
  if (!handler) return send({ type: 'result', id: message.id, ok: false, error: { name: 'Error', message: `No handler for ${message.functionName}` } });
  try {
    const result = await handler(message.event, lambdaContext({ timeoutMs: message.timeoutMs, functionName: message.functionName }));
    const body = (result as { body?: unknown } | undefined)?.body;
    if (!isReadableStream<Uint8Array>(body)) return send({ type: 'result', id: message.id, ok: true, result });
    send({ type: 'result', id: message.id, ok: true, result: { ...(result as object), body: undefined }, streamed: true });
    await forward(message.id, body.getReader());
  } catch (error) {
    send({ type: 'result', id: message.id, ok: false, error: describe(error) });
  }
});

/** A streamed body, chunk by chunk as the handler produces it. */
async function forward(id: number, reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  streaming.set(id, reader);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      send({ type: 'chunk', id, bytes: value });
    }
    send({ type: 'end', id });
  } catch (error) {
    send({ type: 'end', id, error: (error as Error)?.message ?? String(error) });
  } finally {
    streaming.delete(id);
  }
}

function describe(error: unknown) {
  const e = error as Error;
  return { name: e?.name ?? 'Error', message: e?.message ?? String(error), stack: e?.stack };
}
