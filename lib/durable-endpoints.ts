import { ArnFormat, Aws, CfnElement, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import { AuthorizationType, LambdaIntegration, type IAuthorizer, type IRestApi } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, HttpMethod, HttpStage, LogGroupLogDestination, type IHttpRouteAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Policy, PolicyStatement, Role, ServicePrincipal, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { ScheduleGroup } from 'aws-cdk-lib/aws-scheduler';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { CustomState, DefinitionBody, LogLevel, StateMachine, StateMachineType, Wait, WaitTime, type IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface DurableEndpointsProps {
  /**
   * The API the endpoints and the results route `GET /runs/{runId}` are added to: an `HttpApi`
   * (payload 2.0) or a `RestApi` (payload 1.0). Default: a new HTTP API with access logs.
   */
  readonly api?: HttpApi | IRestApi;
  /**
   * Customer-managed key for the journal table and the token secret. Default: the AWS managed
   * keys (`aws/dynamodb`, `aws/secretsmanager`).
   */
  readonly encryptionKey?: IKey;
  /**
   * What `cdk destroy` does with the state: the journal table, the token secret and the log groups.
   * Default `RETAIN`: runs and their results survive a deleted stack.
   */
  readonly removalPolicy?: RemovalPolicy;
  /** How long the functions', the API's and the timer's logs are kept. Default one month. */
  readonly logRetention?: RetentionDays;
}

export interface DurableEndpointProps {
  /** The handler's source file (TypeScript or JavaScript); relative paths are from the working directory. */
  readonly entry: string;
  /** The export that is the handler. Default `'handler'`. */
  readonly handler?: string;
  /**
   * Default 29 seconds: API Gateway stops waiting at 30 (HTTP API) or 29 (REST) seconds, and the
   * endpoint decides how long to retry inline from the Lambda's remaining time, so the function
   * must not outlive the gateway.
   */
  readonly timeout?: Duration;
  /** Default 512 MB. */
  readonly memorySize?: number;
  /** Added to the environment the construct sets (`DURABLE_*`). */
  readonly environment?: Record<string, string>;
  /** esbuild options, merged over the construct's (ESM, source maps, minified, `source` condition). */
  readonly bundling?: BundlingOptions;
  /** Authorizer for the route: `IHttpRouteAuthorizer` on an HTTP API, `IAuthorizer` on a REST API. Default none. */
  readonly authorizer?: IHttpRouteAuthorizer | IAuthorizer;
  /**
   * The Standard workflows the handler starts with `step.startExecution`: the function may
   * `states:StartExecution` exactly these, and their executions' ends reach `step.waitForExecution`
   * (see `watchExecutions`). Default none.
   */
  readonly stateMachines?: IStateMachine[];
}

/**
 * What the local dev server needs to serve an endpoint the way API Gateway and Lambda would.
 * A contract with `dev/`: keep the shape.
 */
export interface DurableEndpointDefinition {
  /** `'POST /process'`. */
  routeKey: string;
  /** Absolute path of the handler's source file. */
  entry: string;
  /** The handler's export name. */
  handler: string;
  apiType: 'http' | 'rest';
  timeoutMs: number;
  /** The function's construct path, e.g. `'DurableEndpointsExample/Durable/POST-process'`. */
  functionName: string;
  function: NodejsFunction;
}

const REGISTRY = Symbol.for('durable-endpoints.constructs');

/** Every `DurableEndpoints` constructed in this process, in order: how `durable dev` finds the app's endpoints. */
export function registeredDurableEndpoints(): DurableEndpoints[] {
  return [...registry()];
}

function registry(): DurableEndpoints[] {
  const global = globalThis as Record<symbol, unknown>;
  return (global[REGISTRY] ??= []) as DurableEndpoints[];
}

const ROUTE_KEY = /^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|ANY) (\/\S*)$/;
const RESULTS_ROUTE = 'GET /runs/{runId}';
const EVENTS_ROUTE = 'POST /events';
const FINAL_EXECUTION_STATUSES = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'];

/**
 * Everything durable endpoints need in one AWS account: the journal table, the results route,
 * the IAM-authorized events route, the secret that signs result URLs, the timers that resume runs
 * (an Express state machine for short delays, EventBridge Scheduler for long ones) and, once an
 * endpoint declares the state machines it starts, the EventBridge rule reporting their executions' ends. `addEndpoint` adds an endpoint with
 * exactly the permissions it uses.
 *
 * ```ts
 * const durable = new DurableEndpoints(stack, 'Durable');
 * durable.addEndpoint('POST /process', { entry: 'src/process.ts' });
 * ```
 */
export class DurableEndpoints extends Construct {
  /** The journal: runs and steps, `pk`/`sk` strings, TTL on `ttl`. */
  readonly table: Table;
  readonly api: HttpApi | IRestApi;
  readonly apiType: 'http' | 'rest';
  /** The API's stage when the construct created the API. */
  readonly stage?: HttpStage;
  /** The base URL of the endpoints and result URLs, when known (a created HTTP API or a `RestApi`). */
  readonly url?: string;
  /** `GET /runs/{runId}`: reads the table and the secret, nothing else. */
  readonly resultsFunction: NodejsFunction;
  /**
   * `POST /events` (IAM-authorized) and the target of `executionEvents`: records events, completes
   * the waiting steps they match and invokes those runs' endpoints. Callers need
   * `execute-api:Invoke` on the route (`grantSendEvents`).
   */
  readonly eventsFunction: NodejsFunction;
  /** Signs result URLs; generated at deploy time and read once per cold start. */
  readonly tokenSecret: Secret;
  /** Holds the one-time schedules of long timers. */
  readonly scheduleGroup: ScheduleGroup;
  /** The role EventBridge Scheduler assumes: it may start the timer state machine, nothing else. */
  readonly schedulerRole: Role;
  /** Express workflow: waits until `wakeAt`, then invokes the endpoint asynchronously with the resume event. */
  readonly timerStateMachine: StateMachine;
  readonly accessLogGroup?: LogGroup;
  readonly timerLogGroup: LogGroup;
  /**
   * The EventBridge rule that sends the final status changes of the watched state machines'
   * executions to `eventsFunction`. Created with the first state machine an endpoint declares
   * (or `watchExecutions` names): until then there is nothing to watch.
   */
  get executionEvents(): Rule | undefined {
    return this.executionRule;
  }
  /** One per `addEndpoint`, in order: what the dev server serves. */
  readonly endpoints: DurableEndpointDefinition[] = [];

  private readonly props: DurableEndpointsProps;
  // Kept apart from the state machine's role policy: the state machine must not depend on it,
  // since the endpoints' environment names the state machine (a CloudFormation cycle otherwise).
  // Created with the first endpoint: an empty policy does not synthesize.
  private timerInvokePolicy?: Policy;
  private readonly timerRole: Role;
  private executionRule?: Rule;

  constructor(scope: Construct, id: string, props: DurableEndpointsProps = {}) {
    super(scope, id);
    this.props = props;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    this.table = new Table(this, 'Journal', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'ttl',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: props.encryptionKey ? TableEncryption.CUSTOMER_MANAGED : TableEncryption.AWS_MANAGED,
      encryptionKey: props.encryptionKey,
      removalPolicy,
    });

    this.tokenSecret = new Secret(this, 'TokenSecret', {
      description: 'Signs durable-endpoints result URLs (HMAC-SHA256). Rotating it invalidates result URLs already handed out.',
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
      encryptionKey: props.encryptionKey,
      removalPolicy,
    });
    Validations.of(this.tokenSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Not rotated automatically: result URLs are HMACs under this secret and stay valid for tokenTtl (7 days); a rotation would ' +
        'need both secrets accepted for that long. Rotate by hand when needed (old result URLs then answer 401).',
    });

    this.timerLogGroup = this.logGroup('TimerLogs');
    const timerRole = (this.timerRole = new Role(this, 'TimerRole', { assumedBy: new ServicePrincipal('states.amazonaws.com') }));
    const wait = new Wait(this, 'WaitUntilWakeAt', { time: WaitTime.timestampPath('$.wakeAt') });
    // A plain task state, because the function to invoke comes from the input: one state machine
    // serves every endpoint of the construct, and its role may invoke exactly those functions.
    const invoke = new CustomState(this, 'ResumeEndpoint', {
      stateJson: {
        Type: 'Task',
        Resource: `arn:${Aws.PARTITION}:states:::lambda:invoke`,
        Parameters: { 'FunctionName.$': '$.functionName', InvocationType: 'Event', 'Payload.$': '$.event' },
        Retry: [
          {
            ErrorEquals: ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException', 'Lambda.TooManyRequestsException'],
            IntervalSeconds: 1,
            MaxAttempts: 5,
            BackoffRate: 2,
          },
        ],
        End: true,
      },
    });
    this.timerStateMachine = new StateMachine(this, 'Timer', {
      stateMachineType: StateMachineType.EXPRESS,
      definitionBody: DefinitionBody.fromChainable(wait.next(invoke)),
      role: timerRole,
      timeout: Duration.minutes(5),
      logs: { destination: this.timerLogGroup, level: LogLevel.ALL, includeExecutionData: false },
    });
    Validations.of(timerRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Added by the StateMachine construct for logging: the CloudWatch Logs log-delivery actions (logs:CreateLogDelivery and friends) ' +
        'do not support resource-level permissions. No action is a wildcard.',
    });
    Validations.of(this.timerStateMachine).acknowledge({
      id: 'AwsSolutions-SF2',
      reason:
        'X-Ray is off: the state machine is a Wait and one async invoke, a trace would show nothing the execution log does not, ' +
        'and tracing needs xray:Put* on "*" plus a cost per trace. The endpoint function can enable tracing itself.',
    });

    this.scheduleGroup = new ScheduleGroup(this, 'Schedules', { removalPolicy: RemovalPolicy.DESTROY });
    this.schedulerRole = new Role(this, 'SchedulerRole', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        // Only schedules of this account may use the role (confused-deputy protection).
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    });
    this.timerStateMachine.grantStartExecution(this.schedulerRole);

    if (props.api) {
      this.api = props.api;
      this.apiType = 'addRoutes' in props.api ? 'http' : 'rest';
      this.url = 'addRoutes' in props.api ? (props.api.url ?? props.api.apiEndpoint) : (props.api as { url?: string }).url;
    } else {
      const api = new HttpApi(this, 'Api', { createDefaultStage: false, description: 'durable-endpoints' });
      this.accessLogGroup = this.logGroup('AccessLogs');
      this.stage = api.addStage('DefaultStage', {
        stageName: '$default',
        autoDeploy: true,
        accessLogSettings: { destination: new LogGroupLogDestination(this.accessLogGroup) },
      });
      this.api = api;
      this.apiType = 'http';
      this.url = this.stage.url;
    }

    this.resultsFunction = this.nodejsFunction('Results', {
      entry: kitFile('lambdas/results'),
      handler: 'handler',
      timeout: Duration.seconds(29), // long-polls up to 25 s, within API Gateway's 29-30 s
      memorySize: 256,
      environment: { DURABLE_TABLE: this.table.tableName, DURABLE_TOKEN_SECRET_ARN: this.tokenSecret.secretArn },
    });
    // Read-only, and only what the results route calls: GetItem on the run item, the secret.
    this.table.grant(this.resultsFunction, 'dynamodb:GetItem');
    props.encryptionKey?.grantDecrypt(this.resultsFunction);
    this.tokenSecret.grantRead(this.resultsFunction);
    this.addRoute(RESULTS_ROUTE, this.resultsFunction);
    const resultsRoute = Validations.of(this.routeScope(RESULTS_ROUTE));
    for (const id of this.apiType === 'http' ? ['AwsSolutions-APIG4'] : ['AwsSolutions-APIG4', 'AwsSolutions-COG4']) {
      resultsRoute.acknowledge({
        id,
        reason: 'The results route authenticates each request itself: the URL carries an HMAC token over the run id and its expiry (401 otherwise).',
      });
    }

    this.eventsFunction = this.nodejsFunction('Events', {
      entry: kitFile('lambdas/events'),
      handler: 'handler',
      timeout: Duration.seconds(29),
      memorySize: 256,
      // The timer's state machine ARN makes AwsTimer the default timer; the events Lambda resumes
      // runs only "now", which AwsTimer sends as an async invoke of the endpoint (granted per endpoint).
      environment: { DURABLE_TABLE: this.table.tableName, DURABLE_TIMER_STATE_MACHINE_ARN: this.timerStateMachine.stateMachineArn },
    });
    // recordEvent: PutItem; waiters and recent events: Query; completing a waiting step: a transaction
    // of UpdateItem (the step) and DeleteItem (the waiter), then GetItem of the step.
    this.table.grant(this.eventsFunction, 'dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
    this.grantKeyUse(this.eventsFunction);
    this.addRoute(EVENTS_ROUTE, this.eventsFunction, 'iam');
    if (this.apiType === 'rest') {
      Validations.of(this.routeScope(EVENTS_ROUTE)).acknowledge({
        id: 'AwsSolutions-COG4',
        reason: 'POST /events is called by services, not users: it is authorized with IAM (SigV4), so no Cognito user pool applies.',
      });
    }

    registry().push(this);
  }

  /**
   * Lets `grantee` send events to `POST /events` (`execute-api:Invoke` on that route only): the
   * events route is IAM-authorized.
   */
  grantSendEvents(grantee: IGrantable): void {
    const stack = Stack.of(this);
    const resourceName =
      this.apiType === 'http' ? `${(this.api as HttpApi).apiId}/*/POST/events` : `${(this.api as IRestApi).restApiId}/*/POST/events`;
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['execute-api:Invoke'],
        resources: [stack.formatArn({ service: 'execute-api', resource: resourceName, arnFormat: ArnFormat.NO_RESOURCE_NAME })],
      }),
    );
  }

  /**
   * Delivers the end (SUCCEEDED, FAILED, TIMED_OUT, ABORTED) of these Standard workflows'
   * executions to `step.waitForExecution`, through one EventBridge rule on the default bus scoped to
   * the state machines named here and in `addEndpoint`'s `stateMachines`. Express workflows send no
   * such events.
   */
  watchExecutions(...stateMachines: IStateMachine[]): void {
    if (stateMachines.length === 0) return;
    const detail = { status: FINAL_EXECUTION_STATUSES, stateMachineArn: stateMachines.map((m) => m.stateMachineArn) };
    if (this.executionRule) {
      this.executionRule.addEventPattern({ detail });
      return;
    }
    this.executionRule = new Rule(this, 'ExecutionEvents', {
      description: 'durable-endpoints: ends of Step Functions executions, for step.waitForExecution',
      eventPattern: { source: ['aws.states'], detailType: ['Step Functions Execution Status Change'], detail },
      // EventBridge invokes asynchronously: a failure gets Lambda's two retries (about 3 minutes), then
      // the event is dropped and the wait ends at its timeout (see the known limits in ARCHITECTURE.md).
      targets: [new LambdaFunction(this.eventsFunction)],
    });
  }

  /**
   * What a function that reads and writes the journal needs of a customer-managed key: exact actions,
   * not `grantEncryptDecrypt`'s `kms:ReEncrypt*` and `kms:GenerateDataKey*` wildcards.
   */
  private grantKeyUse(grantee: IGrantable): void {
    this.props.encryptionKey?.grant(grantee, 'kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey');
  }

  /**
   * Adds a durable endpoint: a Node.js 24 arm64 function bundled by esbuild, wired to the journal,
   * the secret and the timers, and routed at `routeKey` (e.g. `'POST /process'`).
   */
  addEndpoint(routeKey: string, props: DurableEndpointProps): NodejsFunction {
    if (!ROUTE_KEY.test(routeKey)) {
      throw new Error(`DurableEndpoints.addEndpoint: route key ${JSON.stringify(routeKey)} should look like 'POST /process' (method, one space, path).`);
    }
    if (routeKey === RESULTS_ROUTE || routeKey === EVENTS_ROUTE || this.endpoints.some((e) => e.routeKey === routeKey)) {
      throw new Error(`DurableEndpoints.addEndpoint: ${routeKey} is already routed on this API; each route key can be added once.`);
    }
    const entry = resolve(props.entry);
    const handler = props.handler ?? 'handler';
    const timeout = props.timeout ?? Duration.seconds(29);
    const fn = this.nodejsFunction(routeKey.replace(/[^A-Za-z0-9{}_-]+/g, '-'), {
      entry,
      handler,
      timeout,
      memorySize: props.memorySize ?? 512,
      bundling: props.bundling,
      environment: {
        ...props.environment,
        DURABLE_TABLE: this.table.tableName,
        DURABLE_TOKEN_SECRET_ARN: this.tokenSecret.secretArn,
        DURABLE_TIMER_STATE_MACHINE_ARN: this.timerStateMachine.stateMachineArn,
        DURABLE_SCHEDULER_GROUP: this.scheduleGroup.scheduleGroupName,
        DURABLE_SCHEDULER_ROLE_ARN: this.schedulerRole.roleArn,
      },
    });

    // The journal calls exactly these; TransactWriteItems is authorized per contained item: Put,
    // Update, ConditionCheck, and Delete (a waitForEvent that times out removes its waiter).
    this.table.grant(
      fn,
      'dynamodb:Query',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
      'dynamodb:BatchWriteItem',
      'dynamodb:ConditionCheckItem',
    );
    this.grantKeyUse(fn);
    this.tokenSecret.grantRead(fn);
    this.timerStateMachine.grantStartExecution(fn);
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['scheduler:CreateSchedule'],
        resources: [
          Stack.of(this).formatArn({
            service: 'scheduler',
            resource: 'schedule',
            resourceName: `${this.scheduleGroup.scheduleGroupName}/*`,
            arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
          }),
        ],
      }),
    );
    Validations.of(fn.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/${this.scheduleGroupInFindings()}/*]`,
      reason: 'Schedules are named per run at run time (<runId>-<attempt>-<reason>), so CreateSchedule is allowed in this group only, for any name.',
    });
    this.schedulerRole.grantPassRole(fn.grantPrincipal);
    // Immediate resumes invoke the function itself. Granted in a policy of its own: the function
    // resource depends on its role's default policy, which therefore cannot name the function.
    new Policy(fn, 'InvokeSelf', {
      roles: [fn.role!],
      statements: [new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] })],
    });
    this.timerInvokePolicy ??= new Policy(this, 'TimerInvokePolicy', { roles: [this.timerRole] });
    this.timerInvokePolicy.addStatements(new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] }));
    // An event resumes the runs it completes with an async invoke of their endpoint.
    this.eventsFunction.addToRolePolicy(new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] }));
    for (const stateMachine of props.stateMachines ?? []) stateMachine.grantStartExecution(fn);
    this.watchExecutions(...(props.stateMachines ?? []));

    this.addRoute(routeKey, fn, props.authorizer);
    this.endpoints.push({ routeKey, entry, handler, apiType: this.apiType, timeoutMs: timeout.toMilliseconds(), functionName: fn.node.path, function: fn });
    return fn;
  }

  private nodejsFunction(
    id: string,
    props: { entry: string; handler: string; timeout: Duration; memorySize: number; environment: Record<string, string>; bundling?: BundlingOptions },
  ): NodejsFunction {
    const logGroup = this.logGroup(`${id}Logs`);
    // An own role with log writes to its own log group only, instead of the managed
    // AWSLambdaBasicExecutionRole (logs:CreateLogGroup and PutLogEvents on every log group).
    const role = new Role(this, `${id}Role`, { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    logGroup.grantWrite(role);
    const fn = new NodejsFunction(this, id, {
      entry: props.entry,
      handler: props.handler,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      timeout: props.timeout,
      memorySize: props.memorySize,
      role,
      logGroup,
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node24',
        sourceMap: true,
        minify: true,
        mainFields: ['module', 'main'],
        // The kit's own imports (`durable-endpoints`) resolve to its TypeScript sources.
        esbuildArgs: { '--conditions': 'source' },
        // Bundled, not taken from the runtime: the versions tested are the versions deployed, and
        // clients only the timers need are evaluated on first use.
        externalModules: [],
        // Some bundled CommonJS code calls require() for Node built-ins, which ESM does not define.
        banner: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
        ...props.bundling,
      },
    });
    return fn;
  }

  private logGroup(id: string): LogGroup {
    return new LogGroup(this, id, {
      retention: this.props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: this.props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
  }

  /** `'iam'`: callers sign their requests (SigV4) and need `execute-api:Invoke` on the route. */
  private addRoute(routeKey: string, fn: NodejsFunction, authorizer?: IHttpRouteAuthorizer | IAuthorizer | 'iam'): void {
    const [, method, path] = ROUTE_KEY.exec(routeKey)!;
    if (this.apiType === 'http') {
      (this.api as HttpApi).addRoutes({
        path: path!,
        methods: [method as HttpMethod],
        integration: new HttpLambdaIntegration(`${routeKey}Integration`, fn),
        authorizer: authorizer === 'iam' ? new HttpIamAuthorizer() : (authorizer as IHttpRouteAuthorizer | undefined),
      });
    } else {
      (this.api as IRestApi).root.resourceForPath(path!).addMethod(
        method!,
        new LambdaIntegration(fn),
        authorizer === 'iam' ? { authorizationType: AuthorizationType.IAM } : { authorizer: authorizer as IAuthorizer | undefined },
      );
    }
  }

  /** The construct cdk-nag reports a route's findings on. */
  private routeScope(routeKey: string): Construct {
    const [, method, path] = ROUTE_KEY.exec(routeKey)!;
    if (this.apiType === 'http') return (this.api as HttpApi).node.findChild(`${method}${path}`);
    return (this.api as IRestApi).root.resourceForPath(path!).node.findChild(method!);
  }

  /** How cdk-nag spells the group's name in a finding: the name, or `<LogicalId>` when CloudFormation names it. */
  private scheduleGroupInFindings(): string {
    const name = this.scheduleGroup.scheduleGroupName;
    if (!Token.isUnresolved(name)) return name;
    const stack = Stack.of(this);
    return `<${stack.resolve(stack.getLogicalId(this.scheduleGroup.node.defaultChild as CfnElement))}>`;
  }
}

/** A file of this package: the TypeScript source next to `lib/`, or the compiled one under `dist/`. */
function kitFile(path: string): string {
  for (const candidate of [`../${path}.ts`, `../../${path}.ts`, `../${path}.js`]) {
    const file = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(file)) return file;
  }
  throw new Error(`durable-endpoints: ${path} is missing from the installed package; reinstall durable-endpoints.`);
}
