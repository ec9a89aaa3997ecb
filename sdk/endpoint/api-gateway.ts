/**
 * The HTTP protocol of durable endpoints in one place: API Gateway events in (payload 2.0 and 1.0),
 * request snapshots, rebuilt events, and the responses of DESIGN.md (303 to the results URL,
 * failed-run JSON, the `x-durable-run-id` header).
 */
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import type { HttpResponse, RequestSnapshot } from '../core/http.ts';
import type { RunStatus } from '../core/records.ts';
import { RUN_ID_HEADER } from '../core/contract.ts';
import type { SerializedError } from '../core/errors.ts';

export type HttpEvent = APIGatewayProxyEventV2 | APIGatewayProxyEvent;


export function isHttpEvent(event: unknown): event is HttpEvent {
  const e = event as Record<string, unknown> | null;
  if (typeof e !== 'object' || e === null || typeof e.requestContext !== 'object') return false;
  return (e.version === '2.0' && typeof e.rawPath === 'string') || typeof e.httpMethod === 'string';
}

function isV2(event: HttpEvent): event is APIGatewayProxyEventV2 {
  return (event as APIGatewayProxyEventV2).version === '2.0';
}

/** What a run keeps of its request: everything the handler can read, minus redacted headers. */
export function snapshotRequest(event: HttpEvent, redact: ReadonlySet<string>): RequestSnapshot {
  const headers: Record<string, string> = {};
  const source = isV2(event)
    ? event.headers
    : Object.fromEntries(Object.entries(event.multiValueHeaders ?? {}).map(([k, v]) => [k, v?.join(', ')]));
  for (const [name, value] of Object.entries({ ...(isV2(event) ? {} : event.headers), ...source })) {
    const lower = name.toLowerCase();
    if (value !== undefined && !redact.has(lower)) headers[lower] = value;
  }
  // A body parser that ran before durable() leaves an object here; keep what the client sent as best we can.
  const rawBody = event.body as unknown;
  const body = rawBody === null || rawBody === undefined ? null : typeof rawBody === 'string' ? rawBody : JSON.stringify(rawBody);
  const common = {
    headers,
    body,
    isBase64Encoded: event.isBase64Encoded ?? false,
    pathParameters: compact(event.pathParameters),
    stageVariables: compact(event.stageVariables),
    requestContext: withoutApiKey(event.requestContext as unknown as Record<string, unknown>),
  };
  if (isV2(event)) {
    return {
      format: '2.0',
      method: event.requestContext.http.method,
      path: event.rawPath,
      rawQuery: event.rawQueryString ?? '',
      cookies: redact.has('cookie') ? undefined : event.cookies,
      routeKey: event.routeKey,
      ...common,
    };
  }
  const query = new URLSearchParams();
  for (const [name, values] of Object.entries(event.multiValueQueryStringParameters ?? {})) {
    for (const value of values ?? []) query.append(name, value);
  }
  if (!event.multiValueQueryStringParameters) {
    for (const [name, value] of Object.entries(event.queryStringParameters ?? {})) if (value !== undefined) query.append(name, value);
  }
  return {
    format: '1.0',
    method: event.httpMethod,
    path: event.path,
    rawQuery: query.toString(),
    routeKey: `${event.httpMethod} ${event.resource}`,
    ...common,
  };
}

/** The API Gateway event an attempt replays: the original request as the handler first saw it. */
export function rebuildEvent(snapshot: RequestSnapshot): HttpEvent {
  const params = new URLSearchParams(snapshot.rawQuery);
  const multi: Record<string, string[]> = {};
  for (const [name, value] of params) (multi[name] ??= []).push(value);
  const hasQuery = Object.keys(multi).length > 0;
  if (snapshot.format === '2.0') {
    const event: APIGatewayProxyEventV2 = {
      version: '2.0',
      routeKey: snapshot.routeKey,
      rawPath: snapshot.path,
      rawQueryString: snapshot.rawQuery,
      headers: { ...snapshot.headers },
      requestContext: structuredClone(snapshot.requestContext) as unknown as APIGatewayProxyEventV2['requestContext'],
      isBase64Encoded: snapshot.isBase64Encoded,
    };
    if (snapshot.cookies) event.cookies = [...snapshot.cookies];
    if (hasQuery) event.queryStringParameters = Object.fromEntries(Object.entries(multi).map(([k, v]) => [k, v.join(',')]));
    if (snapshot.pathParameters) event.pathParameters = { ...snapshot.pathParameters };
    if (snapshot.stageVariables) event.stageVariables = { ...snapshot.stageVariables };
    if (snapshot.body !== null) event.body = snapshot.body;
    return event;
  }
  return {
    resource: snapshot.routeKey.slice(snapshot.routeKey.indexOf(' ') + 1),
    path: snapshot.path,
    httpMethod: snapshot.method,
    headers: { ...snapshot.headers },
    multiValueHeaders: Object.fromEntries(Object.entries(snapshot.headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: hasQuery ? Object.fromEntries(Object.entries(multi).map(([k, v]) => [k, v[v.length - 1]!])) : null,
    multiValueQueryStringParameters: hasQuery ? multi : null,
    pathParameters: snapshot.pathParameters ? { ...snapshot.pathParameters } : null,
    stageVariables: snapshot.stageVariables ? { ...snapshot.stageVariables } : null,
    requestContext: structuredClone(snapshot.requestContext) as unknown as APIGatewayProxyEvent['requestContext'],
    body: snapshot.body,
    isBase64Encoded: snapshot.isBase64Encoded,
  };
}

/**
 * A handler result as API Gateway would read it. Payload 2.0 lets a handler return a bare value (it
 * becomes a 200 JSON body); the stored and replayed form is always the explicit one.
 */
export function normalizeResponse(result: unknown): HttpResponse {
  if (typeof result === 'object' && result !== null && typeof (result as HttpResponse).statusCode === 'number') {
    return { ...(result as HttpResponse) };
  }
  if (result === undefined || result === null) return { statusCode: 200, body: '' };
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: typeof result === 'string' ? result : JSON.stringify(result),
  };
}

export function withHeaders(response: HttpResponse, headers: Record<string, string>): HttpResponse {
  return { ...response, headers: { ...response.headers, ...headers } };
}

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

/** The answer of a run that continues asynchronously: 303 to its results URL. */
export function seeOther(runId: string, resultUrl: string, retryAfter: number, status: RunStatus = 'running'): HttpResponse {
  return json(303, { runId, status, resultUrl }, { location: resultUrl, 'retry-after': String(retryAfter), [RUN_ID_HEADER]: runId });
}

/**
 * When to look again, in seconds. A run waiting for an event may finish any moment (its wake time
 * is only the timeout), so its callers come back at once and long-poll; other runs have nothing to
 * show before their wake time.
 */
export function retryAfterSeconds(wakeAt: number | undefined, waitingForEvent: boolean): number {
  if (waitingForEvent || wakeAt === undefined) return 1;
  return Math.max(1, Math.ceil((wakeAt - Date.now()) / 1_000));
}

export function failedRunResponse(runId: string, error: SerializedError): HttpResponse {
  return json(500, { runId, status: 'failed', error: { name: error.name, message: error.message } }, { [RUN_ID_HEADER]: runId });
}

/**
 * Origin plus stage prefix of the API the request came through, so the results URL is on the same
 * API (a browser follows a same-origin 303 by itself). Custom-domain base paths need `resultsBaseUrl`.
 */
export function apiBaseUrl(snapshot: Pick<RequestSnapshot, 'format' | 'headers' | 'requestContext' | 'path'>): string {
  const context = snapshot.requestContext as { domainName?: string; stage?: string; path?: string };
  const host = context.domainName ?? snapshot.headers.host ?? 'localhost';
  const proto = snapshot.headers['x-forwarded-proto'] ?? (/^(localhost|127\.|\[::1\])/.test(host) ? 'http' : 'https');
  let prefix = '';
  if (snapshot.format === '2.0') {
    if (context.stage && context.stage !== '$default') prefix = `/${context.stage}`;
  } else if (context.path && context.path.endsWith(snapshot.path)) {
    prefix = context.path.slice(0, context.path.length - snapshot.path.length);
  }
  return `${proto}://${host}${prefix}`;
}

export function resultUrl(base: string, runId: string, token: string): string {
  return `${base.replace(/\/+$/, '')}/runs/${runId}?token=${encodeURIComponent(token)}`;
}

export function header(headers: Record<string, string | undefined> | null | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

/** REST APIs copy the caller's API key into `requestContext.identity`: a credential, not kept. */
function withoutApiKey(context: Record<string, unknown>): Record<string, unknown> {
  const identity = context.identity as Record<string, unknown> | undefined;
  if (!identity || identity.apiKey === undefined) return context;
  const { apiKey: _apiKey, ...rest } = identity;
  return { ...context, identity: rest };
}

function compact(map: Record<string, string | undefined> | null | undefined): Record<string, string> | undefined {
  if (!map) return undefined;
  const entries = Object.entries(map).filter((entry): entry is [string, string] => entry[1] !== undefined);
  return entries.length > 0 ? Object.fromEntries(entries) : undefined;
}
