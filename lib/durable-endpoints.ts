import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { IAuthorizer, IRestApi } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, LogGroupLogDestination, type HttpStage, type IHttpRouteAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2';
import type { Rule } from 'aws-cdk-lib/aws-events';
import { Grant, type IGrantable, type Role } from 'aws-cdk-lib/aws-iam';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { BundlingOptions, NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ScheduleGroup } from 'aws-cdk-lib/aws-scheduler';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import type { IStateMachine, StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { resolve } from 'node:path';
import { ENV, ROUTES, endpointRegistry, type EndpointDefinition } from '../sdk/core/contract.ts';
import { STREAMING_ENV } from '../sdk/endpoint/lambda-streaming.ts';
import { resolveCors, type CorsOptions, type ResolvedCors } from '../sdk/core/cors.ts';
import { acknowledgeOpenRoute, addPreflight, addRoute, apiTypeOf, isRouteKey, routeScope, urlOf } from './api.ts';
import { EventsRoute } from './events-route.ts';
import { JournalTable } from './journal-table.ts';
import { PayloadBucket } from './payload-bucket.ts';
import { kitFunction, logGroup } from './kit-function.ts';
import { ResultsRoute } from './results-route.ts';
import { ResumeTimer } from './resume-timer.ts';
import { separatePolicy } from './separate-policy.ts';
import { STREAMING_ENVIRONMENT, streamTimeout, warnIfEdgeOptimized } from './streaming.ts';
import { Sweeper } from './sweeper.ts';
import { TokenSecret } from './token-secret.ts';

export interface DurableEndpointsProps {
  /**
   * The API the endpoints and the results route `GET /runs/{runId}` are added to: an `HttpApi`
   * (payload 2.0) or a `RestApi` (payload 1.0). Default: a new HTTP API with access logs.
   */
  readonly api?: HttpApi | IRestApi;
  /**
   * Customer-managed key for the journal table and the token secret. Default: the AWS managed
   * keys (`aws/dynamodb`, `aws/secretsmanager`). The events dead-letter queue is encrypted with
   * SQS-managed keys either way.
   */
  readonly encryptionKey?: IKey;
  /**
   * What `cdk destroy` does with the state: the journal table, the token secret, the events
   * dead-letter queue and the log groups. Default `RETAIN`: runs and their results survive a
   * deleted stack.
   */
  readonly removalPolicy?: RemovalPolicy;
  /** How long the functions', the API's and the timer's logs are kept. Default one month. */
  readonly logRetention?: RetentionDays;
  /**
   * CORS for pages on other origins than the API: allowed origins, request headers (default
   * `content-type`, `authorization`, `idempotency-key`, `prefer`) and exposed response headers
   * (default `location`, `retry-after`, `x-durable-run-id`, `preference-applied`), for the
   * endpoints and the results route. API Gateway answers the preflights (an HTTP API's
   * `corsPreflight`, `OPTIONS` methods on a REST API's resources); the Lambdas add
   * `Access-Control-Allow-Origin` and `-Expose-Headers` to their answers (`DURABLE_CORS`), and the
   * dev server does both from this same setting. Not on `POST /events` (IAM-signed, server to
   * server). Default none: same-origin pages only.
   */
  readonly cors?: CorsOptions;
  /**
   * Your log bucket, for S3 server access logs of the payload bucket (`PayloadBucket`). Default
   * none: only the kit's functions use that bucket, under IAM.
   */
  readonly payloadAccessLogs?: IBucket;
  /** The sweep of stuck runs (`Sweeper`), every minute. */
  readonly sweep?: {
    /** How long past due a live run must be before the sweeper re-arms it. Default 2 minutes. */
    readonly grace?: Duration;
  };
}

export interface DurableEndpointProps {
  /** The handler's source file (TypeScript or JavaScript); relative paths are from the working directory. */
  readonly entry: string;
  /** The export that is the handler. Default `'handler'`. */
  readonly handler?: string;
  /**
   * Default 29 seconds: API Gateway stops waiting at 30 (HTTP API) or 29 (REST) seconds, and the
   * endpoint decides how long to retry inline from the Lambda's remaining time, so the function
   * must not outlive the gateway. With `streaming`, the function's and the integration's timeout:
   * default and at most 15 minutes, how long API Gateway lets a response stream.
   */
  readonly timeout?: Duration;
  /**
   * Stream the response (REST APIs only): the method's integration uses response transfer mode
   * STREAM and Lambda's response-streaming invocation, waits up to `timeout`, and the function gets
   * `DURABLE_STREAMING=1`, so that `durable()` answers a request with `Accept: text/event-stream`
   * as a stream of events. The handler must be exported through `streamingHandler` (see
   * docs/deploy.md). An HTTP API cannot stream: `addEndpoint` throws. Default false.
   */
  readonly streaming?: boolean;
  /** Default 512 MB. */
  readonly memorySize?: number;
  /** Added to the environment the construct sets (`endpointEnvironment()`). */
  readonly environment?: Record<string, string>;
  /** esbuild options, merged over the construct's (ESM, source maps, minified, `source` condition). */
  readonly bundling?: BundlingOptions;
  /** Authorizer for the route: `IHttpRouteAuthorizer` on an HTTP API, `IAuthorizer` on a REST API. Default none. */
  readonly authorizer?: IHttpRouteAuthorizer | IAuthorizer;
  /**
   * Why the route is open to anyone, for a route that is public on purpose (an example, a webhook
   * that checks its own signature): cdk-nag's findings about a route without authorization
   * (`AwsSolutions-APIG4`, and `AwsSolutions-COG4` on a REST API) are acknowledged with this
   * reason. Without it (and without `authorizer`), `cdk synth` with the AwsSolutions checks
   * reports the route. Not with `authorizer`.
   */
  readonly public?: string;
  /**
   * The Standard workflows the handler starts with `step.startExecution`: the function may
   * `states:StartExecution` exactly these, and their executions' ends reach `step.waitForExecution`
   * (see `watchExecutions`). Default none.
   */
  readonly stateMachines?: IStateMachine[];
}

/** An endpoint `addEndpoint` added: what the dev server serves (the contract's definition), and its function. */
export interface DurableEndpointDefinition extends EndpointDefinition {
  /** Whether the method streams (`streaming`): the dev server then streams it too. */
  streaming: boolean;
  function: NodejsFunction;
}

/**
 * Every `DurableEndpoints` of this copy of the package constructed in this process, in order. The
 * dev server reads `endpointRegistry()` instead, which also holds those of other copies.
 */
export function registeredDurableEndpoints(): DurableEndpoints[] {
  return endpointRegistry().filter((registrant): registrant is DurableEndpoints => registrant instanceof DurableEndpoints);
}

/**
 * Everything durable endpoints need in one AWS account, composed of small constructs: the journal
 * (`JournalTable`), the secret that signs result URLs (`TokenSecret`), the timers that resume runs
 * (`ResumeTimer`), the results route (`ResultsRoute`), the IAM-authorized events route with
 * the rule reporting the ends of Step Functions executions (`EventsRoute`) and the sweep of stuck
 * runs every minute (`Sweeper`). `addEndpoint` adds an
 * endpoint with exactly the permissions it uses; `grantEndpoint` makes a function of your own one.
 *
 * ```ts
 * const durable = new DurableEndpoints(stack, 'Durable');
 * durable.addEndpoint('POST /process', { entry: 'src/process.ts' });
 * ```
 */
export class DurableEndpoints extends Construct {
  /** The journal: runs and steps, `pk`/`sk` strings, TTL on `ttl`. */
  readonly table: JournalTable;
  /** Payloads too large for a journal item (`PayloadBucket`): request bodies, step results and responses over 100 KB. */
  readonly payloads: PayloadBucket;
  readonly api: HttpApi | IRestApi;
  readonly apiType: 'http' | 'rest';
  /** The API's stage when the construct created the API. */
  readonly stage?: HttpStage;
  /** The base URL of the endpoints and result URLs, when known (a created HTTP API or a `RestApi`). */
  readonly url?: string;
  /** Signs result URLs; generated at deploy time and read once per cold start. */
  readonly tokenSecret: TokenSecret;
  /** The state machine and the schedules that resume runs later. */
  readonly timer: ResumeTimer;
  /** `GET /runs/{runId}`. */
  readonly resultsRoute: ResultsRoute;
  /** `POST /events`, and the rule reporting the ends of watched executions. */
  readonly eventsRoute: EventsRoute;
  /** `GET /runs/{runId}`: reads the table and the secret, nothing else. */
  readonly resultsFunction: NodejsFunction;
  /**
   * `POST /events` (IAM-authorized) and the target of `executionEvents`: records events, completes
   * the waiting steps they match and invokes those runs' endpoints. Callers need
   * `execute-api:Invoke` on the route (`grantSendEvents`).
   */
  readonly eventsFunction: NodejsFunction;
  /**
   * The execution ends the events Lambda never took (EventBridge could not deliver them, or the
   * invocation failed after Lambda's two retries), kept 14 days. Empty when all is well.
   */
  readonly eventsDeadLetterQueue: Queue;
  /** The sweep of stuck runs: a Lambda invoked every minute that re-arms overdue runs. */
  readonly sweeper: Sweeper;
  /** Re-arms live runs overdue by the grace and gives up on runs that make no progress; invokes the endpoints. */
  readonly sweeperFunction: NodejsFunction;
  /** Holds the one-time schedules of long timers. */
  readonly scheduleGroup: ScheduleGroup;
  /** The role EventBridge Scheduler assumes: it may start the timer state machine, nothing else. */
  readonly schedulerRole: Role;
  /** Express workflow: waits until `wakeAt`, then invokes the endpoint asynchronously with the resume event. */
  readonly timerStateMachine: StateMachine;
  readonly accessLogGroup?: LogGroup;
  readonly timerLogGroup: LogGroup;
  /** One per `addEndpoint`, in order: what the dev server serves. */
  readonly endpoints: DurableEndpointDefinition[] = [];
  private readonly props: DurableEndpointsProps;
  private readonly cors?: ResolvedCors;

  constructor(scope: Construct, id: string, props: DurableEndpointsProps = {}) {
    super(scope, id);
    this.props = props;
    this.cors = resolveCors(props.cors);
    const { encryptionKey, removalPolicy = RemovalPolicy.RETAIN, logRetention } = props;

    this.table = new JournalTable(this, 'Journal', { encryptionKey, removalPolicy });
    this.tokenSecret = new TokenSecret(this, 'TokenSecret', { encryptionKey, removalPolicy });
    this.payloads = new PayloadBucket(this, 'Payloads', { encryptionKey, removalPolicy, accessLogs: props.payloadAccessLogs });
    // 'Default' leaves this construct out of the timer's logical IDs, which keep the values they
    // had before ResumeTimer existed: a new logical ID would replace the schedule group, deleting
    // the schedules of sleeping runs on the next deploy.
    this.timer = new ResumeTimer(this, 'Default', { logRetention, removalPolicy });
    this.timerStateMachine = this.timer.stateMachine;
    this.timerLogGroup = this.timer.logGroup;
    this.scheduleGroup = this.timer.scheduleGroup;
    this.schedulerRole = this.timer.schedulerRole;

    if (props.api) {
      this.api = props.api;
    } else {
      const api = new HttpApi(this, 'Api', {
        createDefaultStage: false,
        description: 'durable-endpoints',
      });
      this.accessLogGroup = logGroup(this, 'AccessLogs', props);
      this.stage = api.addStage('DefaultStage', {
        stageName: '$default',
        autoDeploy: true,
        accessLogSettings: { destination: new LogGroupLogDestination(this.accessLogGroup) },
      });
      this.api = api;
    }
    this.apiType = apiTypeOf(this.api);
    this.url = this.stage?.url ?? urlOf(this.api);

    const routeProps = { api: this.api, table: this.table, logRetention, removalPolicy };
    this.resultsRoute = new ResultsRoute(this, 'Results', { ...routeProps, tokenSecret: this.tokenSecret, payloads: this.payloads, cors: props.cors });
    this.resultsFunction = this.resultsRoute.function;
    this.eventsRoute = new EventsRoute(this, 'Events', { ...routeProps, timer: this.timer });
    this.eventsFunction = this.eventsRoute.function;
    this.eventsDeadLetterQueue = this.eventsRoute.deadLetterQueue;
    this.sweeper = new Sweeper(this, 'Sweeper', { table: this.table, timer: this.timer, grace: props.sweep?.grace, logRetention, removalPolicy });
    this.sweeperFunction = this.sweeper.function;

    endpointRegistry().push(this);
  }

  /**
   * The EventBridge rule that sends the final status changes of the watched state machines'
   * executions to `eventsFunction`. Created with the first state machine an endpoint declares
   * (or `watchExecutions` names): until then there is nothing to watch.
   */
  get executionEvents(): Rule | undefined {
    return this.eventsRoute.executionEvents;
  }

  /**
   * The environment a durable endpoint's function needs (the journal table, the token secret, the
   * timers): `durable()` reads it. `addEndpoint` sets it; pass it to a function you made durable
   * with `grantEndpoint`.
   */
  endpointEnvironment(): Record<string, string> {
    return {
      [ENV.table]: this.table.tableName,
      [ENV.tokenSecretArn]: this.tokenSecret.secretArn,
      [ENV.timerStateMachineArn]: this.timerStateMachine.stateMachineArn,
      [ENV.schedulerGroup]: this.scheduleGroup.scheduleGroupName,
      [ENV.schedulerRoleArn]: this.schedulerRole.roleArn,
      [ENV.blobBucket]: this.payloads.bucketName,
      ...(this.cors ? { [ENV.cors]: JSON.stringify(this.cors) } : {}),
    };
  }

  /**
   * Gives `fn` everything a durable endpoint is allowed: read and write the journal (and use its
   * key), read the token secret, arm timers, invoke itself for immediate resumes; and lets the
   * timer, the events route and the sweeper invoke it to resume its runs. IAM only: `fn` also needs
   * `endpointEnvironment()` in its environment, and a route if it is called over HTTP.
   */
  grantEndpoint(fn: IFunction): Grant {
    const journal = this.table.grantEndpointAccess(fn);
    const payloads = this.payloads.grantEndpointAccess(fn);
    const secret = this.tokenSecret.grantRead(fn);
    const timers = this.timer.grantArm(fn);
    // Immediate resumes invoke the function itself. In a policy of its own: the function depends
    // on its role's default policy, which therefore cannot name the function.
    const invokeSelf = Grant.addToPrincipal({
      grantee: fn.role ? separatePolicy(fn.role, fn, 'InvokeSelf') : fn,
      actions: ['lambda:InvokeFunction'],
      resourceArns: [fn.functionArn],
    });
    return journal
      .combine(payloads)
      .combine(secret)
      .combine(timers)
      .combine(invokeSelf)
      .combine(this.timer.allowInvoke(fn))
      .combine(this.eventsRoute.allowInvoke(fn))
      .combine(this.sweeper.allowInvoke(fn));
  }

  /**
   * Lets `grantee` send events to `POST /events` (`execute-api:Invoke` on that route only): the
   * events route is IAM-authorized.
   */
  grantSendEvents(grantee: IGrantable): Grant {
    return this.eventsRoute.grantSendEvents(grantee);
  }

  /**
   * Delivers the end (SUCCEEDED, FAILED, TIMED_OUT, ABORTED) of these Standard workflows'
   * executions to `step.waitForExecution`, through one EventBridge rule on the default bus scoped to
   * the state machines named here and in `addEndpoint`'s `stateMachines`. Express workflows send no
   * such events.
   */
  watchExecutions(...stateMachines: IStateMachine[]): void {
    this.eventsRoute.watchExecutions(...stateMachines);
  }

  /**
   * Adds a durable endpoint: a Node.js 24 arm64 function bundled by esbuild, made durable with
   * `grantEndpoint` and `endpointEnvironment()`, and routed at `routeKey` (e.g. `'POST /process'`).
   */
  addEndpoint(routeKey: string, props: DurableEndpointProps): NodejsFunction {
    if (!isRouteKey(routeKey)) {
      throw new Error(`DurableEndpoints.addEndpoint: route key ${JSON.stringify(routeKey)} should look like 'POST /process' (method, one space, path).`);
    }
    if (routeKey === ROUTES.results || routeKey === ROUTES.events || this.endpoints.some((e) => e.routeKey === routeKey)) {
      throw new Error(`DurableEndpoints.addEndpoint: ${routeKey} is already routed on this API; each route key can be added once.`);
    }
    if (props.environment && ENV.dev in props.environment) {
      throw new Error(
        `DurableEndpoints.addEndpoint(${routeKey}): ${ENV.dev} turns on fault injection, which only the local dev server may use; remove it from \`environment\`.`,
      );
    }
    if (props.environment && STREAMING_ENV in props.environment) {
      throw new Error(`DurableEndpoints.addEndpoint(${routeKey}): pass \`streaming: true\` instead of ${STREAMING_ENV}: the method's integration must stream too.`);
    }
    if (props.public !== undefined && props.authorizer) {
      throw new Error(`DurableEndpoints.addEndpoint: ${routeKey} has an authorizer, so it is not public: drop \`public\` or \`authorizer\`.`);
    }
    if (props.public !== undefined && props.public.trim().length < 10) {
      throw new Error(`DurableEndpoints.addEndpoint: ${routeKey}: \`public\` is the reason the route needs no authorization, for whoever reviews it; say why in a sentence.`);
    }
    const entry = resolve(props.entry);
    const handler = props.handler ?? 'handler';
    const streaming = props.streaming ?? false;
    const timeout = streaming ? streamTimeout(routeKey, this.apiType, props.timeout) : (props.timeout ?? Duration.seconds(29));
    const id = routeKey.replace(/[^A-Za-z0-9{}_-]+/g, '-');
    const fn = kitFunction(this, { function: id, role: `${id}Role`, logGroup: `${id}Logs` }, {
      logRetention: this.props.logRetention,
      removalPolicy: this.props.removalPolicy,
      entry,
      handler,
      timeout,
      memorySize: props.memorySize ?? 512,
      bundling: props.bundling,
      environment: { ...props.environment, ...this.endpointEnvironment(), ...(streaming ? STREAMING_ENVIRONMENT : {}) },
    });
    this.grantEndpoint(fn);
    for (const stateMachine of props.stateMachines ?? []) stateMachine.grantStartExecution(fn);
    this.watchExecutions(...(props.stateMachines ?? []));

    addRoute(this.api, routeKey, fn, props.authorizer, streaming ? timeout : undefined);
    if (streaming) warnIfEdgeOptimized(this.api as IRestApi, routeScope(this.api, routeKey));
    if (this.cors) addPreflight(this.api, routeKey, this.cors);
    if (props.public !== undefined) acknowledgeOpenRoute(this.api, routeKey, props.public);
    this.endpoints.push({
      routeKey,
      entry,
      handler,
      apiType: this.apiType,
      timeoutMs: timeout.toMilliseconds(),
      functionName: fn.node.path,
      streaming,
      function: fn,
      ...(this.cors ? { cors: this.cors } : {}),
    });
    return fn;
  }
}
