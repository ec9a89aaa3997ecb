/**
 * CORS for the endpoints and the results route, for pages on another origin than the API. The
 * gateway answers preflights (HTTP API `corsPreflight`, REST `addCorsPreflight`, the dev server's
 * gateway); the Lambdas add `Access-Control-Allow-Origin` and `-Expose-Headers` to their own
 * answers, because a REST API's proxy integration passes a Lambda's headers through as they are.
 * One setting, given to the construct, reaches both: the construct passes it to the functions in
 * `DURABLE_CORS` and to the dev server in the endpoints' definitions.
 */
import { ENV, IDEMPOTENCY_KEY_HEADER, PREFER_HEADER, PREFERENCE_APPLIED_HEADER, RUN_ID_HEADER } from './contract.ts';

export interface CorsOptions {
  /** Origins allowed to call, exactly as browsers send them (`'https://app.example.com'`), or `['*']`. */
  readonly allowOrigins: readonly string[];
  /** Request headers a page may send. Default: `content-type`, `authorization`, `idempotency-key`, `prefer`. */
  readonly allowHeaders?: readonly string[];
  /** Response headers a page may read. Default: `location`, `retry-after`, `x-durable-run-id`, `preference-applied`. */
  readonly exposeHeaders?: readonly string[];
  /** Send cookies and `Authorization` cross-origin (`credentials: 'include'`). Not with `'*'`. Default false. */
  readonly allowCredentials?: boolean;
  /** How long a browser may cache a preflight, in seconds. Default 600. */
  readonly maxAge?: number;
}

export type ResolvedCors = Required<CorsOptions>;

export const CORS_DEFAULTS = {
  allowHeaders: ['content-type', 'authorization', IDEMPOTENCY_KEY_HEADER, PREFER_HEADER],
  exposeHeaders: ['location', 'retry-after', RUN_ID_HEADER, PREFERENCE_APPLIED_HEADER],
  maxAge: 600,
} as const;

/** The options with their defaults, or undefined without CORS. Throws on a setting browsers refuse. */
export function resolveCors(cors: CorsOptions | undefined): ResolvedCors | undefined {
  if (!cors) return undefined;
  if (cors.allowOrigins.length === 0) throw new TypeError('cors.allowOrigins must name at least one origin (or be [\'*\']).');
  if (cors.allowCredentials && cors.allowOrigins.includes('*')) {
    throw new TypeError('cors: allowCredentials cannot be used with allowOrigins [\'*\']: browsers refuse credentials for a wildcard origin. Name the origins.');
  }
  for (const origin of cors.allowOrigins) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) throw new TypeError(`cors.allowOrigins: ${JSON.stringify(origin)} is not an origin (scheme://host[:port], no path).`);
  }
  return {
    allowOrigins: [...cors.allowOrigins],
    allowHeaders: (cors.allowHeaders ?? CORS_DEFAULTS.allowHeaders).map((h) => h.toLowerCase()),
    exposeHeaders: (cors.exposeHeaders ?? CORS_DEFAULTS.exposeHeaders).map((h) => h.toLowerCase()),
    allowCredentials: cors.allowCredentials ?? false,
    maxAge: cors.maxAge ?? CORS_DEFAULTS.maxAge,
  };
}

/** The deployment's setting: `DURABLE_CORS` (JSON), as the construct sets it. */
export function corsFromEnv(env: Record<string, string | undefined> = process.env): CorsOptions | undefined {
  const value = env[ENV.cors];
  if (!value) return undefined;
  try {
    return JSON.parse(value) as CorsOptions;
  } catch (error) {
    throw new TypeError(`${ENV.cors} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}

function allowedOrigin(cors: ResolvedCors, origin: string | undefined): string | undefined {
  if (origin === undefined) return undefined;
  if (cors.allowOrigins.includes(origin)) return origin;
  return cors.allowOrigins.includes('*') ? '*' : undefined;
}

/** The headers of an actual (non-preflight) answer to a request from `origin`; none for an origin not allowed. */
export function corsHeaders(cors: ResolvedCors | undefined, origin: string | undefined): Record<string, string> {
  if (!cors) return {};
  const allowed = allowedOrigin(cors, origin);
  // Vary even when refused: a cache must not hand this answer to an allowed origin.
  const headers: Record<string, string> = cors.allowOrigins.includes('*') ? {} : { vary: 'Origin' };
  if (!allowed) return headers;
  headers['access-control-allow-origin'] = allowed;
  if (cors.exposeHeaders.length > 0) headers['access-control-expose-headers'] = cors.exposeHeaders.join(', ');
  if (cors.allowCredentials) headers['access-control-allow-credentials'] = 'true';
  return headers;
}

/** The answer's headers to a preflight (`OPTIONS` with `Access-Control-Request-Method`), or undefined when refused. */
export function preflightHeaders(cors: ResolvedCors | undefined, origin: string | undefined, methods: readonly string[]): Record<string, string> | undefined {
  if (!cors) return undefined;
  const allowed = allowedOrigin(cors, origin);
  if (!allowed) return undefined;
  const headers: Record<string, string> = {
    'access-control-allow-origin': allowed,
    'access-control-allow-methods': methods.join(', '),
    'access-control-allow-headers': cors.allowHeaders.join(', '),
    'access-control-max-age': String(cors.maxAge),
  };
  if (allowed !== '*') headers.vary = 'Origin';
  if (cors.allowCredentials) headers['access-control-allow-credentials'] = 'true';
  return headers;
}
