/**
 * Building blocks for tests of durable endpoints: API Gateway events, a Lambda context with a real
 * deadline, and a timer whose resumes the test delivers itself.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import type { ResumeEvent } from '../core/resume.ts';
import type { Timer } from '../timers/timer.ts';

export interface RequestInit {
  method?: string;
  /** Path with an optional query string, e.g. `'/process?dryRun=1'`. */
  path?: string;
  /** Route key as API Gateway would match it; default `'<METHOD> <path without query>'`. */
  routeKey?: string;
  headers?: Record<string, string>;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  pathParameters?: Record<string, string>;
  /** Default `'localhost:3000'` (result URLs become `http://localhost:3000/...`). */
  domainName?: string;
  stage?: string;
  /** The body is base64 (a binary payload), as API Gateway sends non-text content. */
  isBase64Encoded?: boolean;
  sourceIp?: string;
  /** REST only: whether `requestContext.path` starts with the stage, as on `execute-api` URLs. Default true. */
  stageInPath?: boolean;
}

function split(init: RequestInit) {
  const method = (init.method ?? 'GET').toUpperCase();
  const url = new URL(init.path ?? '/', 'http://placeholder');
  const headers = Object.fromEntries(Object.entries(init.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const body = init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
  if (body !== undefined && typeof init.body !== 'string') headers['content-type'] ??= 'application/json';
  return { method, url, headers, body, routeKey: init.routeKey ?? `${method} ${url.pathname}`, domainName: init.domainName ?? 'localhost:3000' };
}

/** An HTTP API (payload format 2.0) event. */
export function httpApiEvent(init: RequestInit = {}): APIGatewayProxyEventV2 {
  const { method, url, headers: all, body, routeKey, domainName } = split(init);
  // Payload 2.0 moves cookies out of the headers into their own list.
  const { cookie, ...headers } = all;
  const cookies = cookie?.split(/;\s*/).filter(Boolean);
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = k in query ? `${query[k]},${v}` : v;
  const now = Date.now();
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    ...(cookies?.length ? { cookies } : {}),
    headers: { host: domainName, ...headers },
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    ...(init.pathParameters ? { pathParameters: init.pathParameters } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName,
      domainPrefix: domainName.split('.')[0]!,
      http: { method, path: url.pathname, protocol: 'HTTP/1.1', sourceIp: init.sourceIp ?? '127.0.0.1', userAgent: headers['user-agent'] ?? 'test' },
      requestId: randomUUID(),
      routeKey,
      stage: init.stage ?? '$default',
      time: new Date(now).toUTCString(),
      timeEpoch: now,
    },
    ...(body === undefined ? {} : { body }),
    isBase64Encoded: init.isBase64Encoded ?? false,
  };
}

/** A REST API (payload format 1.0) event. */
export function restApiEvent(init: RequestInit = {}): APIGatewayProxyEvent {
  const { method, url, headers, body, routeKey, domainName } = split(init);
  const stage = init.stage ?? 'test';
  const multiQuery: Record<string, string[]> = {};
  for (const [k, v] of url.searchParams) (multiQuery[k] ??= []).push(v);
  const hasQuery = Object.keys(multiQuery).length > 0;
  const resource = routeKey.slice(routeKey.indexOf(' ') + 1);
  const withHost = 'host' in headers ? headers : { Host: domainName, ...headers };
  return {
    resource,
    path: url.pathname,
    httpMethod: method,
    headers: withHost,
    multiValueHeaders: Object.fromEntries(Object.entries(withHost).map(([k, v]) => [k, [v]])),
    queryStringParameters: hasQuery ? Object.fromEntries(Object.entries(multiQuery).map(([k, v]) => [k, v[v.length - 1]!])) : null,
    multiValueQueryStringParameters: hasQuery ? multiQuery : null,
    pathParameters: init.pathParameters ?? null,
    stageVariables: null,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer: null,
      domainName,
      httpMethod: method,
      identity: { sourceIp: init.sourceIp ?? '127.0.0.1', userAgent: headers['user-agent'] ?? 'test' } as APIGatewayProxyEvent['requestContext']['identity'],
      path: init.stageInPath === false ? url.pathname : `/${stage}${url.pathname}`,
      protocol: 'HTTP/1.1',
      requestId: randomUUID(),
      requestTimeEpoch: Date.now(),
      resourceId: 'local',
      resourcePath: resource,
      stage,
    },
    body: body ?? null,
    isBase64Encoded: init.isBase64Encoded ?? false,
  };
}

/** A Lambda context whose `getRemainingTimeInMillis` counts down from `timeoutMs` (default 30 s). */
export function lambdaContext(options: { timeoutMs?: number; functionName?: string } = {}): Context {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  const functionName = options.functionName ?? 'durable-endpoint';
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** A timer that only records: the test decides when (and how often) each resume is delivered. */
export class ManualTimer implements Timer {
  readonly scheduled: { event: ResumeEvent; at: Date }[] = [];

  async schedule(event: ResumeEvent, at: Date): Promise<void> {
    this.scheduled.push({ event, at });
  }

  /** Removes and returns the resume scheduled first; throws if none is. */
  take(): ResumeEvent {
    const next = this.scheduled.shift();
    if (!next) throw new Error('ManualTimer: no resume is scheduled.');
    return next.event;
  }
}
