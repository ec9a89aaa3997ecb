/**
 * A local API on loopback, as the dev server will serve it: the example `POST /process`, small
 * test endpoints, and the results route behind the API Gateway emulation, with the journal on the
 * test run's DynamoDB Local and a local timer that resumes runs in this process.
 * (Replace with the dev server once it lands.)
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createGateway, serve, type GatewayRoute } from '../../dev/gateway.ts';
import { handler as processHandler } from '../../examples/process.ts';
import {
  configureDurable,
  createResultsHandler,
  durable,
  LocalTimer,
  NonRetriableError,
  step,
  type DurableOptions,
  type DynamoJournal,
} from '../../sdk/index.ts';
import { headerFaults, lambdaContext } from '../../sdk/testing/index.ts';
import { createTestJournal, TOKEN_SECRET } from './fixture.ts';

/** One request as the API received it. */
export interface Received {
  method: string;
  origin: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface LocalApi {
  /** Origin of the API, e.g. `http://127.0.0.1:40123`. */
  url: string;
  /** A second origin that serves only the results route (a custom domain for results). */
  resultsOrigin: string;
  journal: DynamoJournal;
  /** Every request either origin received, in order. */
  received: Received[];
  close(): Promise<void>;
}

export interface LocalApiOptions {
  /** Long-poll length of the results route when the URL has no `wait`. Default 1 s (20 s on AWS). */
  resultsWaitSeconds?: number;
}

type Invoke = (event: unknown, context: Context) => Promise<unknown>;

/** Long-poll of `/short-poll/runs/{runId}`, where `POST /quick-short-poll` sends its callers. */
export const SHORT_POLL_SECONDS = 0.05;

/**
 * `POST /quick`: one step, `work`, that echoes the body. It never waits inline and retries after
 * 200 ms (twice), so a failure sends the run asynchronous at once and tests stay fast. Body
 * `{ "fail": true }` makes `work` throw a NonRetriableError. `POST /quick-elsewhere` is the same endpoint with its result URLs on
 * the second origin; `POST /quick-short-poll` sends its callers to a results route that long-polls
 * only 50 ms, so following many redirects is quick.
 */
function quickEndpoint(options: DurableOptions): Invoke {
  const wrapped = middy<APIGatewayProxyEventV2>()
    .use(durable({ retries: 2, backoff: { initial: '200ms', factor: 1 }, inlineDelayMax: 0, ...options }))
    .handler(async (event) => {
      const input = JSON.parse(event.body ?? '{}') as { fail?: boolean };
      const echoed = await step.run('work', () => {
        if (input.fail) throw new NonRetriableError('asked to fail');
        return input;
      });
      return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ echoed }) };
    });
  return (event, context) => wrapped(event as never, context);
}

export async function startLocalApi(options: LocalApiOptions = {}): Promise<LocalApi> {
  const journal = await createTestJournal();
  const received: Received[] = [];
  const servers: Server[] = [];

  // Each origin is listening before its routes exist: result URLs must name the origins' ports.
  const listen = async () => {
    let handle: (request: Request) => Promise<Response> = async () => new Response(null, { status: 503 });
    const server = await serve(
      async (request) => {
        const url = new URL(request.url);
        received.push({
          method: request.method,
          origin: url.origin,
          path: url.pathname + url.search,
          headers: Object.fromEntries(request.headers),
          body: await request.clone().text(),
        });
        return handle(request);
      },
      { port: 0 },
    );
    servers.push(server);
    return {
      origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      route: (routes: GatewayRoute[]) => (handle = createGateway(routes).fetch),
    };
  };
  const api = await listen();
  const elsewhere = await listen();

  const resultsRoute = (routeKey: string, defaultWaitSeconds: number): GatewayRoute => {
    const results = createResultsHandler({ journal, tokenSecret: TOKEN_SECRET, defaultWaitSeconds, pollIntervalMs: 20 });
    return { routeKey, format: '2.0', invoke: (event, context) => results(event, context) };
  };
  const endpoints: Record<string, Invoke> = {
    'POST /process': (event, context) => processHandler(event as never, context),
    'POST /quick': quickEndpoint({}),
    'POST /quick-elsewhere': quickEndpoint({ resultsBaseUrl: elsewhere.origin }),
    'POST /quick-short-poll': quickEndpoint({ resultsBaseUrl: `${api.origin}/short-poll` }),
  };
  const timer = new LocalTimer({ invoke: (event) => endpoints[event.endpoint]!(event, lambdaContext()) });
  // The example endpoint takes journal, timer and secret from the process defaults, as under the dev server.
  configureDurable({ journal, timer, tokenSecret: TOKEN_SECRET, faults: headerFaults });

  const wait = options.resultsWaitSeconds ?? 1;
  api.route([
    ...Object.entries(endpoints).map(([routeKey, invoke]): GatewayRoute => ({ routeKey, format: '2.0', invoke })),
    resultsRoute('GET /runs/{runId}', wait),
    resultsRoute('GET /short-poll/runs/{runId}', SHORT_POLL_SECONDS),
  ]);
  elsewhere.route([resultsRoute('GET /runs/{runId}', wait)]);

  return {
    url: api.origin,
    resultsOrigin: elsewhere.origin,
    journal,
    received,
    async close() {
      timer.close();
      await Promise.all(
        servers.map((server) => {
          server.closeAllConnections();
          return new Promise((resolve) => server.close(resolve));
        }),
      );
    },
  };
}
