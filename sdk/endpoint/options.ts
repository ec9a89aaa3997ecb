import type { Clock } from '../core/clock.ts';
import { toMs, type Duration } from '../core/duration.ts';
import type { SerializedError } from '../core/errors.ts';
import type { HttpResponse } from '../core/http.ts';
import { resolveBackoff, type BackoffOptions, type RetryPolicy } from '../engine/retries.ts';
import type { Journal } from '../journal/journal.ts';
import type { Timer } from '../timers/timer.ts';
import type { StepFunctions } from '../workflows/step-functions.ts';
import { defaultClock, defaultFaults, defaultJournal, defaultStepFunctions, defaultTimer, secretSource, type FaultSource, type SecretOption } from './deployment.ts';
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
  /** Headers left out of the journaled request (added to the defaults, case-insensitive). */
  redactHeaders?: string[];
  /**
   * When a run still working hands off to a new invocation (303 to the caller, the run goes on):
   * this long after the request arrived, or shortly before the Lambda's timeout if that is sooner.
   * Default `'25s'` (API Gateway HTTP APIs cut requests at 30 s).
   */
  handoffAfter?: Duration;
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
  /** Default: `DynamoJournal` on the table named by `DURABLE_TABLE`. */
  journal?: Journal;
  /** Default: the timer set by `configureDurable` (the dev server), else `AwsTimer` from the deployment's environment. */
  timer?: Timer;
  /** What `step.startExecution` starts workflows with. Default: the one set by `configureDurable`, else `AwsStepFunctions`. */
  stepFunctions?: StepFunctions;
}

/** Headers never journaled: credentials the replay must not need and the journal must not hold. */
export const DEFAULT_REDACT_HEADERS = ['authorization', 'cookie', 'proxy-authorization', 'x-api-key', 'x-amz-security-token'];

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
  redactHeaders: ReadonlySet<string>;
  handoffAfter: number;
  tokenTtl: number;
  retention: number;
  resultsBaseUrl: string | undefined;
  onFailure: DurableOptions['onFailure'];
  secret: () => Promise<string>;
  journal: () => Journal;
  timer: () => Timer;
  stepFunctions: () => StepFunctions;
  clock: () => Clock;
  faults: FaultSource;
  /** Flow control: `concurrency`, `throttle` and `rateLimit`, checked. */
  limits: EndpointLimits;
}

/** Every default of `durable()` in one place, checked once when the endpoint is created. */
export function resolveOptions(options: DurableOptions = {}): ResolvedOptions {
  const duration = (value: Duration | undefined, fallback: number, what: string) => (value === undefined ? fallback : toMs(value, what));
  const retries = options.retries ?? DEFAULTS.retries;
  if (!Number.isInteger(retries) || retries < 0) throw new TypeError(`durable(): retries must be a whole number >= 0, got ${options.retries}.`);
  return {
    name: options.name,
    policy: {
      retries,
      backoff: resolveBackoff(DEFAULTS.backoff, options.backoff),
      inlineDelayMax: duration(options.inlineDelayMax, DEFAULTS.inlineDelayMax, 'inlineDelayMax'),
      inlineBudget: duration(options.inlineBudget, DEFAULTS.inlineBudget, 'inlineBudget'),
    },
    redactHeaders: new Set([...DEFAULT_REDACT_HEADERS, ...(options.redactHeaders ?? []).map((h) => h.toLowerCase())]),
    handoffAfter: duration(options.handoffAfter, DEFAULTS.handoffAfter, 'handoffAfter'),
    tokenTtl: duration(options.tokenTtl, DEFAULTS.tokenTtl, 'tokenTtl'),
    retention: duration(options.retention, DEFAULTS.retention, 'retention'),
    resultsBaseUrl: options.resultsBaseUrl,
    onFailure: options.onFailure,
    secret: secretSource(options.tokenSecret),
    journal: () => options.journal ?? defaultJournal(),
    timer: () => options.timer ?? defaultTimer(),
    stepFunctions: () => options.stepFunctions ?? defaultStepFunctions(),
    clock: defaultClock,
    faults: (request, where) => defaultFaults()?.(request, where),
    limits: resolveLimits(options),
  };
}
