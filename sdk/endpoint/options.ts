import type { Clock } from '../core/clock.ts';
import { toMs, type Duration } from '../core/duration.ts';
import type { SerializedError } from '../core/errors.ts';
import type { HttpResponse } from '../core/http.ts';
import type { HttpEvent, Redaction } from './api-gateway.ts';
import { resolveBackoff, type BackoffOptions, type RetryPolicy } from '../engine/retries.ts';
import type { Journal } from '../journal/journal.ts';
import type { BlobStore } from '../payloads/blob-store.ts';
import type { Timer } from '../timers/timer.ts';
import type { StepFunctions } from '../workflows/step-functions.ts';
import { corsFromEnv, resolveCors, type CorsOptions, type ResolvedCors } from '../core/cors.ts';
import { defaultBlobs, defaultClock, defaultFaults, defaultJournal, defaultStepFunctions, defaultTimer, processDefaults, secretSource, type FaultSource, type SecretOption, type TokenSecrets } from './deployment.ts';
import { resolveLimits, type EndpointLimits, type FlowOptions } from './flow-control.ts';

export interface FailureInfo {
  runId: string;
  endpoint: string;
  error: SerializedError;
}

export interface DurableOptions extends FlowOptions {
  /** The endpoint's name in the journal and in resume events. Default: the route key, e.g. `'POST /process'`. */
  name?: string;
  /** Retries per step after its first attempt. Default 4. */
  retries?: number;
  /** Exponential backoff between attempts, with jitter. Default 1 s, factor 2, capped at 10 min. */
  backoff?: BackoffOptions;
  /** Longest single delay that is waited inline while the caller stays connected. Default `'2s'`. */
  inlineDelayMax?: Duration;
  /** Total inline waiting one request may spend before the run goes asynchronous (303). Default `'5s'`. */
  inlineBudget?: Duration;
  /** Headers left out of the journaled request (added to `DEFAULT_REDACT_HEADERS`, case-insensitive). */
  redactHeaders?: string[];
  /**
   * Query parameters whose values are journaled as `REDACTED` (added to `DEFAULT_REDACT_QUERY`,
   * case-insensitive). A resumed attempt sees the parameter with that value, not the secret.
   */
  redactQuery?: string[];
  /**
   * Keep `Set-Cookie` in the stored response that the results URL replays. Default false: the live
   * answer carries it, the stored one does not, because whoever holds the results URL (a shared
   * link, a log line, a proxy) would receive the session.
   */
  storeSetCookie?: boolean;
  /**
   * When a run still working hands off to a new invocation (303 to the caller, the run goes on):
   * this long after the request arrived, or shortly before the Lambda's timeout if that is sooner.
   * Default `'25s'` (API Gateway HTTP APIs cut requests at 30 s).
   */
  handoffAfter?: Duration;
  /**
   * The same for a request answered with a live event stream (`Accept: text/event-stream` where the
   * platform streams responses: REST APIs with transfer mode STREAM allow up to 15 minutes). Default:
   * none, so the run hands off only shortly before the Lambda's timeout.
   */
  streamHandoffAfter?: Duration;
  /** How long result URLs stay valid. Default `'7d'`. */
  tokenTtl?: Duration;
  /** How long a run's journal items are kept (DynamoDB TTL). Default `'30d'`. */
  retention?: Duration;
  /**
   * The secret that signs result URLs. Default: `DURABLE_TOKEN_SECRET`, else the Secrets Manager
   * secret whose ARN is `DURABLE_TOKEN_SECRET_ARN` (what the construct sets). A function is called
   * once and cached.
   */
  tokenSecret?: SecretOption;
  /** Origin and stage prefix of result URLs, e.g. `'https://api.example.com/v1'`. Default: derived from the request. */
  resultsBaseUrl?: string;
  /** Maps a failed run to the response its caller gets. Default: 500 `{ runId, status: 'failed', error }`. */
  onFailure?: (failure: FailureInfo) => HttpResponse | Promise<HttpResponse>;
  /**
   * `Idempotency-Key` settings. `scope` names who a key belongs to (a tenant, a user): keys are
   * per endpoint and per scope. Default: the principal API Gateway authenticated (a JWT's issuer and
   * subject, a Cognito user, the IAM caller, a Lambda authorizer's principal, the REST API key id),
   * else the credentials the request carries (Authorization, x-api-key, cookies).
   */
  idempotency?: { scope?: (event: HttpEvent) => string };
  /**
   * CORS headers on this endpoint's answers, for pages on other origins (preflights are the API's).
   * Default: the one set by `configureDurable` (the dev server), else `DURABLE_CORS` (the construct's `cors`).
   */
  cors?: CorsOptions;
  /** Default: `DynamoJournal` on the table named by `DURABLE_TABLE`. */
  journal?: Journal;
  /**
   * Where payloads over 100 KB go (step results, request bodies, stored responses), the journal
   * keeping a pointer: request bodies up to API Gateway's 10 MB, step results and responses of many
   * MB. Default: the one set by `configureDurable` (the dev server's files), else `S3BlobStore` on
   * the construct's bucket (`DURABLE_BLOB_BUCKET`), else none: such payloads are refused.
   */
  blobs?: BlobStore;
  /** Default: the timer set by `configureDurable` (the dev server), else `AwsTimer` from the deployment's environment. */
  timer?: Timer;
  /** What `step.startExecution` starts workflows with. Default: the one set by `configureDurable`, else `AwsStepFunctions`. */
  stepFunctions?: StepFunctions;
}

/** Headers never journaled: credentials the replay must not need and the journal must not hold. */
export const DEFAULT_REDACT_HEADERS = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'x-api-key',
  'x-amz-security-token',
  'x-auth-token',
  'x-access-token',
  'x-refresh-token',
  'x-id-token',
  'x-session-token',
  'x-csrf-token',
  'x-xsrf-token',
];

/** Query parameters whose values are never journaled: tokens that some clients put in URLs. */
export const DEFAULT_REDACT_QUERY = [
  'access_token',
  'id_token',
  'refresh_token',
  'token',
  'api_key',
  'apikey',
  'password',
  'client_secret',
  'signature',
  'sig',
  'x-amz-signature',
  'x-amz-credential',
  'x-amz-security-token',
];

export const DEFAULTS = {
  retries: 4,
  backoff: { initial: 1_000, factor: 2, max: 600_000 },
  inlineDelayMax: 2_000,
  inlineBudget: 5_000,
  tokenTtl: 7 * 86_400_000,
  retention: 30 * 86_400_000,
  handoffAfter: 25_000,
} as const;

/** An endpoint's options with every default resolved: numbers once, adapters on use (they may be configured later). */
export interface ResolvedOptions {
  name: string | undefined;
  policy: RetryPolicy;
  redaction: Redaction;
  storeSetCookie: boolean;
  handoffAfter: number;
  /** Infinity when not set: only the Lambda's timeout bounds a live stream. */
  streamHandoffAfter: number;
  tokenTtl: number;
  retention: number;
  resultsBaseUrl: string | undefined;
  onFailure: DurableOptions['onFailure'];
  secret: () => Promise<string>;
  secrets: TokenSecrets;
  journal: () => Journal;
  timer: () => Timer;
  stepFunctions: () => StepFunctions;
  clock: () => Clock;
  faults: FaultSource;
  idempotencyScope: ((event: HttpEvent) => string) | undefined;
  /** Flow control: `concurrency`, `throttle` and `rateLimit`, checked. */
  limits: EndpointLimits;
  cors: ResolvedCors | undefined;
  blobs: () => BlobStore | undefined;
}

/** Every default of `durable()` in one place, checked once when the endpoint is created. */
export function resolveOptions(options: DurableOptions = {}): ResolvedOptions {
  const duration = (value: Duration | undefined, fallback: number, what: string) => (value === undefined ? fallback : toMs(value, what));
  const retries = options.retries ?? DEFAULTS.retries;
  const secrets = secretSource(options.tokenSecret);
  if (!Number.isInteger(retries) || retries < 0) throw new TypeError(`durable(): retries must be a whole number >= 0, got ${options.retries}.`);
  return {
    name: options.name,
    policy: {
      retries,
      backoff: resolveBackoff(DEFAULTS.backoff, options.backoff),
      inlineDelayMax: duration(options.inlineDelayMax, DEFAULTS.inlineDelayMax, 'inlineDelayMax'),
      inlineBudget: duration(options.inlineBudget, DEFAULTS.inlineBudget, 'inlineBudget'),
    },
    redaction: {
      headers: new Set([...DEFAULT_REDACT_HEADERS, ...(options.redactHeaders ?? []).map((h) => h.toLowerCase())]),
      query: new Set([...DEFAULT_REDACT_QUERY, ...(options.redactQuery ?? []).map((q) => q.toLowerCase())]),
    },
    storeSetCookie: options.storeSetCookie ?? false,
    handoffAfter: duration(options.handoffAfter, DEFAULTS.handoffAfter, 'handoffAfter'),
    streamHandoffAfter: duration(options.streamHandoffAfter, Infinity, 'streamHandoffAfter'),
    tokenTtl: duration(options.tokenTtl, DEFAULTS.tokenTtl, 'tokenTtl'),
    retention: duration(options.retention, DEFAULTS.retention, 'retention'),
    resultsBaseUrl: options.resultsBaseUrl,
    onFailure: options.onFailure,
    secrets,
    secret: () => secrets.current(),
    journal: () => options.journal ?? defaultJournal(),
    timer: () => options.timer ?? defaultTimer(),
    stepFunctions: () => options.stepFunctions ?? defaultStepFunctions(),
    clock: defaultClock,
    faults: (request, where) => defaultFaults()?.(request, where),
    idempotencyScope: options.idempotency?.scope,
    limits: resolveLimits(options),
    cors: resolveCors(options.cors ?? processDefaults().cors ?? corsFromEnv()),
    blobs: () => options.blobs ?? defaultBlobs(),
  };
}
