import { ScanCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { localDynamoClient } from '../../dev/dynamodb-local.ts';
import middy from '@middy/core';
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { createResultsHandler, durable, DynamoJournal, type DurableOptions, type HttpResponse } from '../../sdk/index.ts';
import { httpApiEvent, lambdaContext, ManualTimer, MemoryJournal } from '../../sdk/testing/index.ts';

export const TOKEN_SECRET = 'test-secret-for-result-urls-0123456789';

export function localClient(options: { maxAttempts?: number } = {}): DynamoDBClient {
  return localDynamoClient(inject('dynamoEndpoint'), options);
}

/** A journal on a fresh table of the test run's DynamoDB Local. */
export async function createTestJournal(client = localClient()): Promise<DynamoJournal> {
  const journal = new DynamoJournal({ tableName: `journal-${randomUUID()}`, client });
  await journal.ensureTable();
  return journal;
}

export async function countItems(journal: DynamoJournal | MemoryJournal): Promise<number> {
  if (journal instanceof MemoryJournal) return journal.itemCount;
  const { Count } = await journal.client.send(new ScanCommand({ TableName: journal.tableName, Select: 'COUNT' }));
  return Count ?? 0;
}

type Handler = (event: never, context: never) => unknown;

/**
 * Everything a durable endpoint needs, on the memory journal (the engine's specifications; the
 * DynamoDB adapter has its own contract suite on DynamoDB Local): `wrap` makes a Middy handler
 * durable, `resume` delivers the next scheduled resume, `result` calls the results route for a 303
 * location.
 */
export async function durableFixture(defaults: DurableOptions = {}) {
  const journal = new MemoryJournal();
  const timer = new ManualTimer();
  const results = createResultsHandler({ journal, tokenSecret: TOKEN_SECRET, pollIntervalMs: 10, ...(defaults.blobs ? { blobs: defaults.blobs } : {}) });
  const wrap = (handler: Handler, options: DurableOptions = {}) => {
    const wrapped = middy()
      .use(durable({ journal, timer, tokenSecret: TOKEN_SECRET, backoff: { initial: 5 }, ...defaults, ...options }))
      .handler(handler as never);
    return (event: unknown, context = lambdaContext()) => wrapped(event as never, context) as Promise<HttpResponse>;
  };
  return {
    journal,
    timer,
    wrap,
    /** Delivers the next scheduled resume event to `handler`. */
    resume: (handler: (event: unknown) => Promise<unknown>) => handler(timer.take()),
    /** GET of a results URL (absolute or a path), by default without long-polling. */
    result: (location: string, wait = 0, headers: Record<string, string> = {}) => {
      const url = new URL(location, 'http://localhost:3000');
      if (!url.searchParams.has('wait')) url.searchParams.set('wait', String(wait));
      // Not an event stream: its body is text.
      return results(httpApiEvent({ path: url.pathname + url.search, routeKey: 'GET /runs/{runId}', headers }), lambdaContext()) as Promise<HttpResponse>;
    },
  };
}

export function body(response: HttpResponse | unknown): Record<string, unknown> {
  return JSON.parse((response as HttpResponse).body ?? 'null');
}

/** Counts calls per name: the side effects a test asserts on. */
export function counter() {
  const counts: Record<string, number> = {};
  return {
    counts,
    hit(name: string) {
      counts[name] = (counts[name] ?? 0) + 1;
      return counts[name];
    },
  };
}

export { httpApiEvent, lambdaContext };
