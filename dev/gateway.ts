/**
 * API Gateway emulation in Web standards: a `Request` becomes the Lambda proxy event API Gateway
 * would send (HTTP API payload 2.0 or REST payload 1.0), and the handler's result becomes the
 * `Response` API Gateway would answer, with the same 30 s integration timeout.
 */
import type { Context } from 'aws-lambda';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { isReadableStream, type HttpResponse } from '../sdk/core/http.ts';
import { preflightHeaders, type ResolvedCors } from '../sdk/core/cors.ts';
import { normalizeResponse } from '../sdk/endpoint/api-gateway.ts';
import { answerBytes, LAMBDA_RESPONSE_BYTES } from '../sdk/payloads/offload.ts';
import { httpApiEvent, lambdaContext, restApiEvent } from '../sdk/testing/index.ts';

export type PayloadFormat = '2.0' | '1.0';

export interface GatewayRoute {
  /** `'POST /process'`, `'GET /runs/{runId}'`, `'ANY /files/{proxy+}'`. */
  routeKey: string;
  format: PayloadFormat;
  /** The Lambda function's timeout; the context's remaining time counts down from it. */
  timeoutMs?: number;
  functionName?: string;
  /** False: no CORS preflight for this route (the events route: server to server). Default true. */
  cors?: boolean;
  invoke: (event: unknown, context: Context) => Promise<unknown>;
}

/** HTTP API's integration timeout (not raisable); REST APIs default to 29 s. */
export const GATEWAY_TIMEOUT_MS = { '2.0': 30_000, '1.0': 29_000 } as const;

export interface Gateway {
  fetch: (request: Request) => Promise<Response>;
  routes: GatewayRoute[];
}

export interface GatewayOptions {
  stage?: string;
  onTimeout?: (route: GatewayRoute) => void;
  /**
   * Answer CORS preflights of these routes, as an HTTP API's `corsPreflight` or a REST API's
   * `OPTIONS` methods do. The other answers' CORS headers are the handlers' own, as on AWS.
   */
  cors?: ResolvedCors;
  /** Told when a handler returns more than a Lambda may (6 MB): API Gateway answers 502. */
  onTooLarge?: (route: GatewayRoute, bytes: number) => void;
}

/** The size of what a Lambda returns for this result (its JSON); 0 for a streamed body, which has no such limit. */
function lambdaResultBytes(result: unknown): number {
  const body = (result as { body?: unknown } | null)?.body;
  if (typeof body !== 'string' || body.length < 1024 * 1024) return 0;
  return answerBytes(result as HttpResponse);
}

export function createGateway(routes: GatewayRoute[], options: GatewayOptions = {}): Gateway {
  const compiled = routes.map((route) => ({ route, ...compileRoute(route.routeKey) }));
  return {
    routes,
    fetch: async (request) => {
      const url = new URL(request.url);
      if (options.cors && request.method === 'OPTIONS' && request.headers.has('access-control-request-method')) {
        const methods = compiled.filter((c) => c.route.cors !== false && c.regex.test(url.pathname)).map((c) => c.method);
        if (methods.length === 0) return Response.json({ message: 'Not Found' }, { status: 404 });
        // API Gateway answers a refused origin's preflight 204 without CORS headers: the browser refuses it.
        const headers = preflightHeaders(options.cors, request.headers.get('origin') ?? undefined, methods.includes('ANY') ? ['*'] : [...new Set([...methods, 'OPTIONS'])]);
        return new Response(null, { status: 204, headers });
      }
      const match = findRoute(compiled, request.method, url.pathname);
      if (!match) return Response.json({ message: 'Not Found' }, { status: 404 });
      const { route, pathParameters } = match;
      const body = new Uint8Array(await request.arrayBuffer());
      const event = toEvent(request, url, body, route, pathParameters, options.stage ?? 'local');
      const context = lambdaContext({ timeoutMs: route.timeoutMs ?? 30_000, functionName: route.functionName });
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), GATEWAY_TIMEOUT_MS[route.format])));
      try {
        const result = await Promise.race([route.invoke(event, context), deadline]);
        if (result === 'timeout') {
          options.onTimeout?.(route);
          // What API Gateway answers when the integration does not respond in time.
          return Response.json({ message: route.format === '2.0' ? 'Service Unavailable' : 'Endpoint request timed out' }, { status: route.format === '2.0' ? 503 : 504 });
        }
        const bytes = lambdaResultBytes(result);
        if (bytes > LAMBDA_RESPONSE_BYTES) {
          options.onTooLarge?.(route, bytes);
          // Lambda refuses to return more than 6 MB; API Gateway answers for the failed invocation.
          return Response.json({ message: 'Internal Server Error' }, { status: 502 });
        }
        return toResponse(result, route.format);
      } catch (error) {
        console.error(`${route.routeKey}: the handler threw:`, error);
        // A Lambda that throws is a 502 at API Gateway, with no detail for the caller.
        return Response.json({ message: 'Internal Server Error' }, { status: 502 });
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

function compileRoute(routeKey: string) {
  const space = routeKey.indexOf(' ');
  const method = routeKey.slice(0, space).toUpperCase();
  const path = routeKey.slice(space + 1);
  const names: string[] = [];
  const pattern = path
    .split('/')
    .map((part) => {
      const greedy = /^\{(\w+)\+\}$/.exec(part);
      if (greedy) return names.push(greedy[1]!), '(.+)';
      const param = /^\{(\w+)\}$/.exec(part);
      if (param) return names.push(param[1]!), '([^/]+)';
      return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { method, regex: new RegExp(`^${pattern}$`), names, literal: !names.length };
}

function findRoute(compiled: (ReturnType<typeof compileRoute> & { route: GatewayRoute })[], method: string, pathname: string) {
  // Literal routes win over parameterised ones, as in API Gateway.
  const ordered = [...compiled].sort((a, b) => Number(b.literal) - Number(a.literal));
  for (const candidate of ordered) {
    if (candidate.method !== 'ANY' && candidate.method !== method) continue;
    const match = candidate.regex.exec(pathname);
    if (!match) continue;
    const pathParameters = Object.fromEntries(candidate.names.map((name, i) => [name, decodeURIComponent(match[i + 1]!)]));
    return { route: candidate.route, pathParameters };
  }
  return undefined;
}

const TEXTUAL = /^(text\/|application\/(json|xml|x-www-form-urlencoded|javascript|.*\+json|.*\+xml))/;

/** The event API Gateway would send for this request: the testing builders, fed from a real request. */
function toEvent(request: Request, url: URL, raw: Uint8Array, route: GatewayRoute, pathParameters: Record<string, string>, stage: string) {
  const type = request.headers.get('content-type') ?? '';
  const binary = raw.length > 0 && type !== '' && !TEXTUAL.test(type);
  const init = {
    method: request.method,
    path: url.pathname + url.search,
    routeKey: route.routeKey,
    headers: Object.fromEntries(request.headers),
    body: raw.length === 0 ? undefined : binary ? Buffer.from(raw).toString('base64') : new TextDecoder().decode(raw),
    isBase64Encoded: binary,
    ...(Object.keys(pathParameters).length ? { pathParameters } : {}),
    domainName: url.host,
    sourceIp: request.headers.get('x-forwarded-for') ?? '127.0.0.1',
    stage: route.format === '2.0' ? '$default' : stage,
    // Served without a stage prefix locally, so result URLs stay on this origin's root.
    stageInPath: false,
  };
  return route.format === '2.0' ? httpApiEvent(init) : restApiEvent(init);
}

/**
 * The handler's result as API Gateway turns it into an HTTP response. A body that is a
 * `ReadableStream` is sent as it comes, as a REST API with response transfer mode STREAM does.
 */
export function toResponse(result: unknown, format: PayloadFormat): Response {
  const streamed = result as { statusCode?: number; headers?: Record<string, string>; body?: unknown } | null;
  if (isReadableStream(streamed?.body) && typeof streamed.statusCode === 'number') {
    return new Response(streamed.body as ReadableStream<Uint8Array>, { status: streamed.statusCode, headers: streamed.headers });
  }
  if (format === '1.0' && (typeof result !== 'object' || result === null || typeof (result as HttpResponse).statusCode !== 'number')) {
    // REST APIs need an explicit proxy response; anything else is a 502 there.
    return Response.json({ message: 'Internal server error' }, { status: 502 });
  }
  const response = normalizeResponse(result);
  const headers = new Headers();
  for (const [name, value] of Object.entries(response.headers ?? {})) headers.set(name, String(value));
  for (const [name, values] of Object.entries(response.multiValueHeaders ?? {})) {
    headers.delete(name);
    for (const value of values) headers.append(name, String(value));
  }
  for (const cookie of response.cookies ?? []) headers.append('set-cookie', cookie);
  const body = response.body === undefined || response.body === '' ? null : response.isBase64Encoded ? Buffer.from(response.body, 'base64') : response.body;
  return new Response(response.statusCode === 204 || response.statusCode === 304 ? null : body, { status: response.statusCode, headers });
}

/** Serves a fetch handler on node:http (loopback by default). */
export function serve(fetch: (request: Request) => Promise<Response>, options: { port: number; hostname?: string }): Promise<Server> {
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const host = req.headers.host ?? `${options.hostname ?? '127.0.0.1'}:${options.port}`;
      const method = req.method ?? 'GET';
      const request = new Request(`http://${host}${req.url ?? '/'}`, {
        method,
        headers: Object.entries(req.headers).flatMap(([name, value]) => (Array.isArray(value) ? value.map((v) => [name, v]) : value === undefined ? [] : [[name, value]])) as [string, string][],
        body: method === 'GET' || method === 'HEAD' ? undefined : (Readable.toWeb(req) as ReadableStream),
        duplex: 'half',
      } as RequestInit);
      const response = await fetch(request);
      const headers: Record<string, string | string[]> = {};
      response.headers.forEach((value, name) => {
        if (name !== 'set-cookie') headers[name] = value;
      });
      const cookies = response.headers.getSetCookie();
      if (cookies.length) headers['set-cookie'] = cookies;
      res.writeHead(response.status, headers);
      if (response.body) {
        const reader = response.body.getReader();
        // The caller went away: the body's producer hears of it (a streaming run then writes its tail).
        res.once('close', () => void reader.cancel().catch(() => undefined));
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          res.write(value);
        }
      }
      res.end();
    } catch (error) {
      console.error('dev server: request failed:', error);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'Internal Server Error' }));
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.hostname ?? '127.0.0.1', () => resolve(server));
  });
}
