/**
 * API Gateway at the edge: events in (payload 2.0 and 1.0), the request snapshot a run keeps, the
 * event an attempt rebuilds from it, and a handler's result as API Gateway reads it.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';
import type { HttpResponse, RequestSnapshot } from '../core/http.ts';

export type HttpEvent = APIGatewayProxyEventV2 | APIGatewayProxyEvent;


export function isHttpEvent(event: unknown): event is HttpEvent {
  const e = event as Record<string, unknown> | null;
  if (typeof e !== 'object' || e === null || typeof e.requestContext !== 'object') return false;
  return (e.version === '2.0' && typeof e.rawPath === 'string') || typeof e.httpMethod === 'string';
}

function isV2(event: HttpEvent): event is APIGatewayProxyEventV2 {
  return (event as APIGatewayProxyEventV2).version === '2.0';
}

/** What a snapshot leaves out: header names, and query parameters whose values are replaced (lower-case). */
export interface Redaction {
  headers: ReadonlySet<string>;
  query: ReadonlySet<string>;
}

export const NO_REDACTION: Redaction = { headers: new Set(), query: new Set() };

/** The value a redacted query parameter keeps: the handler sees the parameter, not the secret. */
export const REDACTED = 'REDACTED';

/** What a run keeps of its request: everything the handler can read, minus redacted headers and query values. */
export function snapshotRequest(event: HttpEvent, redaction: Redaction): RequestSnapshot {
  const redact = redaction.headers;
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
      rawQuery: redactQuery(event.rawQueryString ?? '', redaction.query),
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
    rawQuery: redactQuery(query.toString(), redaction.query),
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

/** Whether an `Accept` header asks for the streaming protocol (`text/event-stream`). */
export function acceptsEventStream(accept: string | undefined): boolean {
  return accept !== undefined && /(^|,)\s*text\/event-stream\s*(;|,|$)/i.test(accept);
}

export function header(headers: Record<string, string | undefined> | null | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

/** The query string with the values of redacted parameters replaced; untouched when none is there. */
function redactQuery(rawQuery: string, names: ReadonlySet<string>): string {
  if (rawQuery === '' || names.size === 0) return rawQuery;
  const params = new URLSearchParams(rawQuery);
  let found = false;
  for (const [name] of params) if (names.has(name.toLowerCase())) found = true;
  if (!found) return rawQuery;
  const kept = new URLSearchParams();
  for (const [name, value] of params) kept.append(name, names.has(name.toLowerCase()) ? REDACTED : value);
  return kept.toString();
}

/** A response as it is stored for replay to whoever holds the results URL: without `Set-Cookie`. */
export function withoutSetCookie(response: HttpResponse): HttpResponse {
  const drop = (map: Record<string, unknown> | undefined) => map && Object.fromEntries(Object.entries(map).filter(([name]) => name.toLowerCase() !== 'set-cookie'));
  const { cookies: _cookies, ...rest } = response;
  return { ...rest, headers: drop(response.headers) as Record<string, string> | undefined, multiValueHeaders: drop(response.multiValueHeaders) as Record<string, string[]> | undefined };
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
