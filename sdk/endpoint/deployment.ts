/**
 * What an endpoint, the results route and the events route use when their options name nothing:
 * the process defaults that `configureDurable` sets (the dev server, the test harness), else the
 * AWS adapters configured from the environment the `DurableEndpoints` construct sets. The one
 * module that names the AWS adapters.
 */
import type { CorsOptions } from '../core/cors.ts';
import type { BlobStore } from '../payloads/blob-store.ts';
import { S3BlobStore } from '../payloads/s3.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import { ENV } from '../core/contract.ts';
import type { RequestSnapshot } from '../core/http.ts';
import type { FaultInjector } from '../engine/attempt.ts';
import { DynamoJournal } from '../journal/dynamodb.ts';
import type { Journal } from '../journal/journal.ts';
import { AwsTimer } from '../timers/aws.ts';
import type { Timer } from '../timers/timer.ts';
import { AwsStepFunctions, type StepFunctions } from '../workflows/step-functions.ts';
import { headerFaults } from './fault-injection.ts';

/**
 * Makes steps fail on purpose for one request: given the request (and a description for log lines),
 * the injector for its attempt, or undefined. The dev server supplies one that reads
 * `x-durable-inject-failure`; nothing does on AWS.
 */
export type FaultSource = (request: RequestSnapshot, where: string) => FaultInjector | undefined;

export interface ProcessDefaults {
  journal?: Journal;
  timer?: Timer;
  stepFunctions?: StepFunctions;
  tokenSecret?: string;
  /** Time for the engine: the test harness passes a virtual clock. */
  clock?: Clock;
  /** Fault injection, for the dev server and the test harness only. */
  faults?: FaultSource;
  /**
   * Whether responses are streamed by the platform running the handlers (the dev server: yes).
   * Default: `DURABLE_STREAMING=1`, which the construct sets on streaming endpoints.
   */
  streaming?: boolean;
  /** CORS on the endpoints' answers: the dev server passes the construct's `cors` setting. */
  cors?: CorsOptions;
  /** Where large payloads go: the dev server's file store. */
  blobs?: BlobStore;
}

// Shared through globalThis so that two copies of this module (a bundled handler and the dev
// server) see the same defaults.
const GLOBAL_KEY = Symbol.for('durable-endpoints.defaults');
const globalDefaults = ((globalThis as Record<symbol, unknown>)[GLOBAL_KEY] ??= {}) as ProcessDefaults;

/**
 * Sets process-wide defaults for endpoints that do not pass their own `journal`, `timer`,
 * `stepFunctions` or `tokenSecret`: what the dev server and test harnesses use to run unchanged
 * handlers. A key set to undefined goes back to the deployment's default.
 */
export function configureDurable(defaults: ProcessDefaults): void {
  Object.assign(globalDefaults, defaults);
}

export function processDefaults(): Readonly<ProcessDefaults> {
  return globalDefaults;
}

/** The clock in force: the test harness's virtual one, else the system's. */
export function defaultClock(): Clock {
  return globalDefaults.clock ?? systemClock;
}

/** The fault source in force: the one configured, else the request header when `DURABLE_DEV=1` (the dev server's workers). */
export function defaultFaults(): FaultSource | undefined {
  return globalDefaults.faults ?? (process.env[ENV.dev] === '1' ? headerFaults : undefined);
}

let envJournal: DynamoJournal | undefined;
let envBlobs: S3BlobStore | undefined;

/** Where large payloads go: the configured store, else the construct's bucket (`DURABLE_BLOB_BUCKET`), else none (payloads must fit a journal item). */
export function defaultBlobs(): BlobStore | undefined {
  if (globalDefaults.blobs) return globalDefaults.blobs;
  const bucket = process.env[ENV.blobBucket];
  if (!bucket) return undefined;
  envBlobs ??= new S3BlobStore({ bucket });
  return envBlobs;
}

export function defaultJournal(): Journal {
  if (globalDefaults.journal) return globalDefaults.journal;
  const tableName = process.env[ENV.table];
  if (!tableName) {
    throw new Error(
      `durable-endpoints: no journal configured. Deploy the endpoint with the DurableEndpoints construct (it sets ${ENV.table}), ` +
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

/**
 * Where the token secret comes from. A list (or a function resolving to one) names the secret that
 * signs first, then older ones that still verify (during a rotation). A function is called once.
 */
export type SecretOption = string | string[] | (() => Promise<string | string[]>);

/** The secret that signs result URLs now, and (on demand) the previous one, which still verifies them. */
export interface TokenSecrets {
  current(): Promise<string>;
  /** The version before the current one, if any: read only when a token fails under the current one. */
  previous(): Promise<string[]>;
}

// Warm containers re-read the deployed secret this often, so a rotation reaches them.
const SECRET_REFRESH_MS = 5 * 60_000;

export function secretSource(option: SecretOption | undefined): TokenSecrets {
  let given: Promise<string[]> | undefined;
  const configured = (): Promise<string[]> | undefined => {
    if (typeof option === 'function') {
      given ??= option().then((value) => [value].flat());
      given.catch(() => (given = undefined));
      return given;
    }
    const value = option ?? globalDefaults.tokenSecret ?? process.env[ENV.tokenSecret];
    return value === undefined ? undefined : Promise.resolve([value].flat());
  };
  const checked = (secret: string | undefined): string => {
    if (!secret || secret.length < 16) {
      throw new Error(
        'durable-endpoints: no token secret (at least 16 characters) to sign result URLs. Deploy with the DurableEndpoints construct ' +
          `(it sets ${ENV.tokenSecretArn}), set ${ENV.tokenSecret}, or pass \`tokenSecret\`.`,
      );
    }
    return secret;
  };
  return {
    current: async () => checked((await configured())?.[0] ?? (await deployedSecret('AWSCURRENT'))),
    previous: async () => {
      const list = await configured();
      if (list) return list.slice(1);
      const previous = await deployedSecret('AWSPREVIOUS');
      return previous ? [previous] : [];
    },
  };
}

// One read per version and per refresh period for every endpoint and results handler in the process.
const deployedSecrets = new Map<string, { value: Promise<string | undefined>; readAt: number }>();

/**
 * A version of the secret the construct generated, from Secrets Manager by the ARN in the
 * environment: `AWSCURRENT`, or `AWSPREVIOUS` (undefined until the secret was rotated once).
 */
function deployedSecret(stage: 'AWSCURRENT' | 'AWSPREVIOUS'): Promise<string | undefined> {
  const arn = process.env[ENV.tokenSecretArn];
  if (!arn) return Promise.resolve(undefined);
  const key = `${arn}|${stage}`;
  const cached = deployedSecrets.get(key);
  if (cached && Date.now() - cached.readAt < SECRET_REFRESH_MS) return cached.value;
  const value = (async () => {
    // Loaded only where the secret lives in Secrets Manager, and only once.
    const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
    try {
      const { SecretString } = await new SecretsManagerClient({}).send(
        new GetSecretValueCommand({ SecretId: arn, ...(stage === 'AWSCURRENT' ? {} : { VersionStage: stage }) }),
      );
      return SecretString;
    } catch (error) {
      if (stage === 'AWSPREVIOUS' && (error as Error).name === 'ResourceNotFoundException') return undefined; // never rotated
      throw new Error(
        `durable-endpoints: could not read the token secret ${arn} from Secrets Manager (${(error as Error).name}: ${(error as Error).message}). ` +
          'Check that the function may call secretsmanager:GetSecretValue on it.',
        { cause: error },
      );
    }
  })();
  value.catch(() => deployedSecrets.delete(key));
  deployedSecrets.set(key, { value, readAt: Date.now() });
  return value;
}
