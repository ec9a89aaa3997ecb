import { DynamoJournal } from '../journal/dynamodb.ts';
import type { HttpResponse } from '../core/http.ts';
import type { Journal } from '../journal/journal.ts';
import { AwsTimer } from '../timers/aws.ts';
import type { Timer } from '../timers/timer.ts';
import { AwsStepFunctions, type StepFunctions } from '../workflows/step-functions.ts';
import { toMs, type Duration } from '../core/duration.ts';
import type { SerializedError } from '../core/errors.ts';
import { ENV } from '../core/contract.ts';

export interface BackoffOptions {
  /** Delay before the first retry. Default `'1s'`. */
  initial?: Duration;
  /** Each further retry waits this many times longer. Default 2. */
  factor?: number;
  /** Cap on one delay. Default `'10m'`. */
  max?: Duration;
}

/** Options per step; each overrides the endpoint's option of the same name. */
export interface StepOptions {
  /** Retries after the first attempt. Default: the endpoint's `retries` (4). */
  retries?: number;
  backoff?: BackoffOptions;
}

export interface FailureInfo {
  runId: string;
  endpoint: string;
  error: SerializedError;
}

export interface DurableOptions {
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
  tokenSecret?: string | (() => Promise<string>);
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

/** Time kept in reserve after an inline wait to finish the attempt and answer. */
export const INLINE_SAFETY_MS = 2_000;

export interface ResolvedBackoff {
  initial: number;
  factor: number;
  max: number;
}

export function resolveBackoff(base: ResolvedBackoff, options?: BackoffOptions): ResolvedBackoff {
  return {
    initial: options?.initial === undefined ? base.initial : toMs(options.initial, 'backoff.initial'),
    factor: options?.factor ?? base.factor,
    max: options?.max === undefined ? base.max : toMs(options.max, 'backoff.max'),
  };
}

/** Delay before attempt `failures + 1`: exponential, capped, with "equal jitter" (half fixed, half random). */
export function backoffDelay(backoff: ResolvedBackoff, failures: number, random = Math.random): number {
  const exponential = Math.min(backoff.max, backoff.initial * backoff.factor ** Math.max(0, failures - 1));
  return Math.round(exponential / 2 + random() * (exponential / 2));
}

interface ProcessDefaults {
  journal?: Journal;
  timer?: Timer;
  stepFunctions?: StepFunctions;
  tokenSecret?: string;
  dev?: boolean;
}

// Shared through globalThis so that two copies of this module (a bundled handler and the dev
// server) see the same defaults.
const GLOBAL_KEY = Symbol.for('durable-endpoints.defaults');
const globalDefaults = ((globalThis as Record<symbol, unknown>)[GLOBAL_KEY] ??= {}) as ProcessDefaults;

/**
 * Sets process-wide defaults for endpoints that do not pass their own `journal`, `timer`,
 * `stepFunctions` or `tokenSecret`: what the dev server and test harnesses use to run unchanged handlers.
 */
export function configureDurable(defaults: ProcessDefaults): void {
  Object.assign(globalDefaults, defaults);
}

let envJournal: DynamoJournal | undefined;

export function defaultJournal(): Journal {
  if (globalDefaults.journal) return globalDefaults.journal;
  const tableName = process.env[ENV.table];
  if (!tableName) {
    throw new Error(
      'durable-endpoints: no journal configured. Deploy the endpoint with the DurableEndpoints construct (it sets DURABLE_TABLE), ' +
        'run it under `durable dev`, or pass `journal` to durable().',
    );
  }
  envJournal ??= new DynamoJournal({ tableName });
  return envJournal;
}

let awsStepFunctions: AwsStepFunctions | undefined;

export function defaultStepFunctions(): StepFunctions {
  return globalDefaults.stepFunctions ?? (awsStepFunctions ??= new AwsStepFunctions());
}

let envTimer: AwsTimer | undefined;

export function defaultTimer(): Timer {
  if (globalDefaults.timer) return globalDefaults.timer;
  // The DurableEndpoints construct sets this (and the scheduler's variables) on every endpoint.
  if (process.env[ENV.timerStateMachineArn]) return (envTimer ??= new AwsTimer());
  throw new Error(
    'durable-endpoints: no timer configured, so a run cannot be resumed later. Deploy with the DurableEndpoints construct, ' +
      'run under `durable dev`, or pass `timer` to durable().',
  );
}

export function secretSource(option: DurableOptions['tokenSecret']): () => Promise<string> {
  let cached: Promise<string> | undefined;
  return () => {
    cached ??= (async () => {
      const secret =
        typeof option === 'function'
          ? await option()
          : (option ?? globalDefaults.tokenSecret ?? process.env[ENV.tokenSecret] ?? (await deployedSecret()));
      if (!secret || secret.length < 16) {
        throw new Error(
          'durable-endpoints: no token secret (at least 16 characters) to sign result URLs. Deploy with the DurableEndpoints construct ' +
            '(it sets DURABLE_TOKEN_SECRET_ARN), set DURABLE_TOKEN_SECRET, or pass `tokenSecret`.',
        );
      }
      return secret;
    })();
    cached.catch(() => (cached = undefined));
    return cached;
  };
}

// One read per cold start for every endpoint and results handler in the process.
const deployedSecrets = new Map<string, Promise<string | undefined>>();

/** The secret the construct generated, from Secrets Manager by `DURABLE_TOKEN_SECRET_ARN`. */
function deployedSecret(): Promise<string | undefined> {
  const arn = process.env[ENV.tokenSecretArn];
  if (!arn) return Promise.resolve(undefined);
  let secret = deployedSecrets.get(arn);
  if (!secret) {
    secret = (async () => {
      // Loaded only where the secret lives in Secrets Manager, and only once.
      const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
      try {
        const { SecretString } = await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: arn }));
        return SecretString;
      } catch (error) {
        throw new Error(
          `durable-endpoints: could not read the token secret ${arn} from Secrets Manager (${(error as Error).name}: ${(error as Error).message}). ` +
            'Check that the function may call secretsmanager:GetSecretValue on it.',
          { cause: error },
        );
      }
    })();
    secret.catch(() => deployedSecrets.delete(arn));
    deployedSecrets.set(arn, secret);
  }
  return secret;
}

export function isDevMode(): boolean {
  return globalDefaults.dev === true || process.env[ENV.dev] === '1';
}
