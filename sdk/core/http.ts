/** The HTTP shapes every layer shares: a response as API Gateway's proxy integration takes it, and what a run keeps of its request. */

/** An HTTP response as API Gateway's Lambda proxy integration takes it. */
export interface HttpResponse {
  statusCode: number;
  headers?: Record<string, string>;
  multiValueHeaders?: Record<string, string[]>;
  cookies?: string[];
  body?: string;
  isBase64Encoded?: boolean;
}

/** What is kept of the request that started a run, so an attempt can rebuild the event exactly. */
export interface RequestSnapshot {
  /** API Gateway payload format: 2.0 (HTTP API) or 1.0 (REST API). */
  format: '2.0' | '1.0';
  method: string;
  path: string;
  /** The query string without `?`, as the client sent it. */
  rawQuery: string;
  /** Lower-case names; the endpoint's `redactHeaders` are left out. */
  headers: Record<string, string>;
  cookies?: string[];
  body: string | null;
  isBase64Encoded: boolean;
  routeKey: string;
  pathParameters?: Record<string, string>;
  stageVariables?: Record<string, string>;
  requestContext: Record<string, unknown>;
}

/**
 * A response whose body is sent as it is produced (Lambda response streaming, the dev server): what
 * an event stream is answered with. The platform sends status and headers at once.
 */
export interface StreamingResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: ReadableStream<Uint8Array>;
}

/** Whether `value` is a web `ReadableStream`: by shape, not `instanceof`, so that a stream made in another realm (a worker, a bundled copy of a polyfill) is one too. */
export function isReadableStream<T = unknown>(value: unknown): value is ReadableStream<T> {
  return typeof value === 'object' && value !== null && typeof (value as ReadableStream).getReader === 'function';
}
