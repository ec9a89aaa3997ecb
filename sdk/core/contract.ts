/**
 * What `lib/` (the CDK constructs), `dev/` (the dev server) and the kit's Lambdas agree on: the
 * environment the construct sets, the kit's own routes and headers, and the shape in which a
 * construct tells the dev server about its endpoints. One definition each; nothing is copied.
 */
import type { CorsOptions } from './cors.ts';

/** Environment variables the `DurableEndpoints` construct sets on the functions it creates. */
export const ENV = {
  /** The journal's DynamoDB table. */
  table: 'DURABLE_TABLE',
  /** The Secrets Manager secret that signs result URLs. */
  tokenSecretArn: 'DURABLE_TOKEN_SECRET_ARN',
  /** The secret itself, for setups without Secrets Manager (tests, other deployments). */
  tokenSecret: 'DURABLE_TOKEN_SECRET',
  /** The Express state machine that waits and invokes the endpoint: short timers. */
  timerStateMachineArn: 'DURABLE_TIMER_STATE_MACHINE_ARN',
  /** EventBridge Scheduler's group and role: long timers. */
  schedulerGroup: 'DURABLE_SCHEDULER_GROUP',
  schedulerRoleArn: 'DURABLE_SCHEDULER_ROLE_ARN',
  /** `'1'` under the dev server only: enables fault injection. Refused on AWS. */
  dev: 'DURABLE_DEV',
  /** debug | info | warn | error; default warn. */
  logLevel: 'DURABLE_LOG_LEVEL',
  /** The sweeper's grace period (a duration such as `'2m'`). */
  sweepGrace: 'DURABLE_SWEEP_GRACE',
  /**
   * `'1'` on functions whose responses the platform streams (Lambda response streaming behind a
   * REST API method with transfer mode STREAM): event streams are then sent as they happen, and a
   * streaming request does not hand off at `handoffAfter`. Elsewhere they are sent buffered.
   */
  streaming: 'DURABLE_STREAMING',
  /** The construct's `cors` setting (JSON `CorsOptions`), for the endpoints' and the results route's answers. */
  cors: 'DURABLE_CORS',
  /** The S3 bucket of payloads too large for a journal item. */
  blobBucket: 'DURABLE_BLOB_BUCKET',
} as const;

/** The kit's routes, on the same API as the endpoints. */
export const ROUTES = {
  results: 'GET /runs/{runId}',
  events: 'POST /events',
} as const;

/** Headers of the HTTP protocol (DESIGN.md), lower-case. */
export const RUN_ID_HEADER = 'x-durable-run-id';
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
export const INJECT_FAILURE_HEADER = 'x-durable-inject-failure';
/** The media type of the streaming protocol (Server-Sent Events), asked for with `Accept`. */
export const EVENT_STREAM_TYPE = 'text/event-stream';
/** `Prefer: respond-async` (RFC 7240) asks for 202 instead of 303; the answer then says `Preference-Applied: respond-async`. */
export const PREFER_HEADER = 'prefer';
export const PREFERENCE_APPLIED_HEADER = 'preference-applied';

/** Event names under this prefix are the kit's own (e.g. Step Functions execution results). */
export const RESERVED_EVENT_PREFIX = 'durable-endpoints/';

/**
 * One durable endpoint as a construct declares it and the dev server serves it: the same handler
 * file and export that `cdk deploy` bundles, the same route and timeout.
 */
export interface EndpointDefinition {
  /** `'POST /process'`. */
  routeKey: string;
  /** Absolute path of the handler's source file. */
  entry: string;
  /** The handler's export name. */
  handler: string;
  /** The API it is routed on: an HTTP API (payload format 2.0) or a REST API (1.0). */
  apiType: 'http' | 'rest';
  timeoutMs: number;
  /** The function's construct path, e.g. `'DurableEndpointsExample/Durable/POST-process'`: how resumes name it locally. */
  functionName: string;
  /** Added with `streaming: true`: its responses are streamed (REST API, transfer mode STREAM). */
  streaming?: boolean;
  /** The construct's `cors` setting (`CorsOptions` in `cors.ts`): the dev server answers preflights with it. */
  cors?: CorsOptions;
}

/** What announces endpoints while a CDK app is built: each `DurableEndpoints` construct. */
export interface EndpointRegistrant {
  readonly endpoints: readonly EndpointDefinition[];
}

/** API Gateway's payload format for an API type. */
export function payloadFormat(apiType: EndpointDefinition['apiType']): '2.0' | '1.0' {
  return apiType === 'rest' ? '1.0' : '2.0';
}

// Shared through globalThis: the CDK app and the dev server's loader may hold two copies of the kit.
const REGISTRY_KEY = Symbol.for('durable-endpoints.constructs');

/** Every construct that declared endpoints in this process, in order: how `durable dev` finds an app's endpoints. */
export function endpointRegistry(): EndpointRegistrant[] {
  const global = globalThis as Record<symbol, unknown>;
  return (global[REGISTRY_KEY] ??= []) as EndpointRegistrant[];
}
