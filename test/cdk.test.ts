/**
 * The CloudFormation the DurableEndpoints construct synthesizes. Bundling is skipped (the
 * `aws:cdk:bundling-stacks` context): these tests read the template, not the code.
 */
import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { RestApi } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AccountRootPrincipal, Role } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { DefinitionBody, Pass, StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DurableEndpoints, type DurableEndpointsProps } from '../lib/index.ts';
import { RESUME_EVENT_TYPE, isResumeEvent, type TimerMessage } from '../sdk/index.ts';
import { actionsOf, cycleIn, logicalId, statementsOf, type Resource, type Statement } from './support/template.ts';

const ENTRY = fileURLToPath(new URL('../examples/process.ts', import.meta.url));

function synth(props: (stack: Stack) => DurableEndpointsProps = () => ({})) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Test');
  const durable = new DurableEndpoints(stack, 'Durable', props(stack));
  const fn = durable.addEndpoint('POST /process', { entry: ENTRY });
  return { stack, durable, fn, template: Template.fromStack(stack) };
}

describe('DurableEndpoints', () => {
  const { stack, durable, fn, template } = synth();
  const fnRole = logicalId(stack, fn.role as never);
  const resultsRole = logicalId(stack, durable.resultsFunction.role as never);

  it('creates the journal table: pk/sk strings, on demand, TTL on ttl, point-in-time recovery, encrypted, retained', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: {
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
          { AttributeName: 'dueShard', AttributeType: 'S' }, // the due index's keys
          { AttributeName: 'dueAt', AttributeType: 'N' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true }, // the AWS managed key aws/dynamodb
      },
    });
  });

  it('creates an HTTP API with access logs, the endpoint route, GET /runs/{runId} and POST /events', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      AccessLogSettings: { DestinationArn: Match.anyValue() },
    });
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map((r) => (r as Resource).Properties.RouteKey);
    expect(routes.sort()).toEqual(['GET /runs/{runId}', 'POST /events', 'POST /process']);
    expect(durable.apiType).toBe('http');
  });

  it('deploys the endpoint, the results, the events and the sweeper Lambda on Node.js 24, arm64, with source maps and their own log groups', () => {
    const functions = Object.values(template.findResources('AWS::Lambda::Function')) as Resource[];
    expect(functions).toHaveLength(4);
    for (const f of functions) {
      expect(f.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Environment: { Variables: { NODE_OPTIONS: '--enable-source-maps' } },
        LoggingConfig: { LogGroup: { Ref: expect.any(String) } },
      });
    }
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    template.resourceCountIs('AWS::Logs::LogGroup', 6); // four functions, the API's access logs, the timer
  });

  it('wires the endpoint to the journal, the secret and the timers through its environment', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      Timeout: 29,
      Environment: {
        Variables: {
          DURABLE_TABLE: { Ref: logicalId(stack, durable.table) },
          DURABLE_TOKEN_SECRET_ARN: { Ref: logicalId(stack, durable.tokenSecret) },
          DURABLE_TIMER_STATE_MACHINE_ARN: { Ref: logicalId(stack, durable.timerStateMachine) },
          DURABLE_SCHEDULER_GROUP: Match.anyValue(),
          DURABLE_SCHEDULER_ROLE_ARN: { 'Fn::GetAtt': [logicalId(stack, durable.schedulerRole), 'Arn'] },
        },
      },
    });
  });

  it('gives the results Lambda only the table, the secret and the payload bucket', () => {
    const variables = (template.toJSON().Resources[logicalId(stack, durable.resultsFunction)] as Resource).Properties.Environment as {
      Variables: Record<string, unknown>;
    };
    expect(Object.keys(variables.Variables).sort()).toEqual(['DURABLE_BLOB_BUCKET', 'DURABLE_TABLE', 'DURABLE_TOKEN_SECRET_ARN', 'NODE_OPTIONS']);
  });

  it('keeps large payloads in a bucket: encrypted, public access blocked, TLS 1.2 only, expired per retention class, readable by presigned URL from pages', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      LifecycleConfiguration: {
        Rules: [
          ...[31, 92, 366, 1098].map((days) => ({ Id: `keep-${days}d`, Status: 'Enabled', ExpirationInDays: days, TagFilters: [{ Key: 'durable-keep', Value: `${days}d` }] })),
          { Id: 'abort-incomplete-uploads', Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } },
        ],
      },
      CorsConfiguration: { CorsRules: [{ AllowedMethods: ['GET', 'HEAD'], AllowedOrigins: ['*'], MaxAge: 600 }] },
    });
    const [policy] = Object.values(template.findResources('AWS::S3::BucketPolicy')) as Resource[];
    const denies = (policy!.Properties.PolicyDocument as { Statement: Statement[] }).Statement.filter((statement) => statement.Effect === 'Deny');
    expect(denies.map((statement) => statement.Condition)).toEqual([{ Bool: { 'aws:SecureTransport': 'false' } }, { NumericLessThan: { 's3:TlsVersion': 1.2 } }]);
    const [bucket] = Object.values(template.findResources('AWS::S3::Bucket')) as Resource[];
    expect((bucket as Resource & { DeletionPolicy?: string }).DeletionPolicy).toBe('Retain');
  });

  it('generates the token secret', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: { PasswordLength: 48, ExcludePunctuation: true },
    });
  });

  it('runs short timers on an Express state machine that waits until wakeAt, then invokes the function asynchronously with the resume event, field by field', () => {
    const [machine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine')) as Resource[];
    expect(machine!.Properties).toMatchObject({ StateMachineType: 'EXPRESS', LoggingConfiguration: { Level: 'ALL' } });
    const definition = JSON.parse(stack.resolve(machine!.Properties.DefinitionString)['Fn::Join'][1].map((p: unknown) => (typeof p === 'string' ? p : '<token>')).join(''));
    const start = definition.States[definition.StartAt];
    expect(start).toMatchObject({ Type: 'Wait', TimestampPath: '$.wakeAt' });
    const invoke = definition.States[start.Next];
    expect(invoke).toMatchObject({
      Type: 'Task',
      Resource: 'arn:<token>:states:::lambda:invoke',
      Parameters: { 'FunctionName.$': '$.functionName', InvocationType: 'Event', Payload: { type: RESUME_EVENT_TYPE } },
      End: true,
    });

    // The payload the task sends for a message our timers start it with is exactly a resume event.
    const message: TimerMessage = {
      functionName: 'fn',
      wakeAt: '2030-01-01T00:00:00Z',
      event: { type: RESUME_EVENT_TYPE, endpoint: 'POST /process', functionName: 'fn', runId: '01JABCDEFGHJKMNPQRSTVWXYZ0', attempt: 1, reason: 'retry', at: '2030-01-01T00:00:00Z' },
    };
    const at = (path: string) => path.slice(2).split('.').reduce<unknown>((value, key) => (value as Record<string, unknown>)[key], message);
    const payload = Object.fromEntries(Object.entries(invoke.Parameters.Payload as Record<string, string>).map(([k, v]) => (k.endsWith('.$') ? [k.slice(0, -2), at(v)] : [k, v])));
    expect(isResumeEvent(payload)).toBe(true);
    expect(payload).toEqual(message.event);
  });

  it('creates the schedule group and a scheduler role that may only start the timer state machine', () => {
    template.resourceCountIs('AWS::Scheduler::ScheduleGroup', 1);
    const role = logicalId(stack, durable.schedulerRole);
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          {
            Action: 'sts:AssumeRole',
            Principal: { Service: 'scheduler.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          },
        ],
      },
    });
    expect(statementsOf(template, role)).toEqual([
      { Action: 'states:StartExecution', Effect: 'Allow', Resource: { Ref: logicalId(stack, durable.timerStateMachine) } },
    ]);
  });

  it('grants no wildcard action anywhere', () => {
    const policies = Object.values(template.findResources('AWS::IAM::Policy')) as Resource[];
    const actions = policies.flatMap((p) => actionsOf((p.Properties.PolicyDocument as { Statement: Statement[] }).Statement));
    expect(actions.length).toBeGreaterThan(10);
    expect(actions.filter((a) => a.includes('*'))).toEqual([]);
    expect(Object.values(template.findResources('AWS::IAM::Role')).flatMap((r) => (r as Resource).Properties.ManagedPolicyArns ?? [])).toEqual([]);
  });

  it('lets the endpoint read and write the journal and its runs\' payloads, read the secret, arm timers and invoke itself, and nothing else', () => {
    expect(actionsOf(statementsOf(template, fnRole))).toEqual([
      'dynamodb:BatchWriteItem',
      'dynamodb:ConditionCheckItem',
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
      'iam:PassRole',
      'lambda:InvokeFunction',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      's3:GetObject',
      's3:ListBucket',
      's3:PutObject',
      's3:PutObjectTagging',
      'scheduler:CreateSchedule',
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
      'states:StartExecution',
    ]);
    const bucket = logicalId(stack, durable.payloads.bucket);
    const s3 = statementsOf(template, fnRole).filter((s) => [s.Action].flat().some((a) => String(a).startsWith('s3:')));
    expect(s3).toEqual([
      expect.objectContaining({ Action: ['s3:PutObject', 's3:PutObjectTagging', 's3:GetObject'], Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, '/runs/*']] } }),
      expect.objectContaining({ Action: 's3:ListBucket', Resource: { 'Fn::GetAtt': [bucket, 'Arn'] }, Condition: { StringLike: { 's3:prefix': ['runs/*'] } } }),
    ]);
    const passRole = statementsOf(template, fnRole).find((s) => s.Action === 'iam:PassRole')!;
    expect(passRole.Resource).toEqual({ 'Fn::GetAtt': [logicalId(stack, durable.schedulerRole), 'Arn'] });
  });

  it('lets the results Lambda read, and not write, the table and the secret', () => {
    const actions = actionsOf(statementsOf(template, resultsRole));
    expect(actions).toEqual(['dynamodb:GetItem', 'logs:CreateLogStream', 'logs:PutLogEvents', 's3:GetObject', 'secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']);
    const writes = actions.filter((a) => /^(dynamodb|secretsmanager|s3):(Put|Update|Delete|BatchWrite|Create|Restore|TransactWrite)/.test(a));
    expect(writes).toEqual([]);
  });

  it('has no dependency cycle between resources', () => {
    expect(cycleIn(template)).toEqual([]);
  });

  it('describes each endpoint for the dev server', () => {
    expect(durable.endpoints).toEqual([
      { routeKey: 'POST /process', entry: ENTRY, handler: 'handler', apiType: 'http', timeoutMs: 29_000, functionName: 'Test/Durable/POST-process', streaming: false, function: fn },
    ]);
  });

  it('refuses a route key it cannot route, or one already routed', () => {
    expect(() => durable.addEndpoint('/process', { entry: ENTRY })).toThrow(/should look like 'POST \/process'/);
    expect(() => durable.addEndpoint('POST /process', { entry: ENTRY })).toThrow(/already routed/);
    expect(() => durable.addEndpoint('GET /runs/{runId}', { entry: ENTRY })).toThrow(/already routed/);
    expect(() => durable.addEndpoint('POST /events', { entry: ENTRY })).toThrow(/already routed/);
  });
});

describe('DurableEndpoints: the events route and Step Functions', () => {
  function synthWithWorkflows() {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Test');
    const durable = new DurableEndpoints(stack, 'Durable');
    const fulfil = new StateMachine(stack, 'Fulfil', { definitionBody: DefinitionBody.fromChainable(new Pass(stack, 'Ship')) });
    const refund = new StateMachine(stack, 'Refund', { definitionBody: DefinitionBody.fromChainable(new Pass(stack, 'PayBack')) });
    const orders = durable.addEndpoint('POST /orders', { entry: ENTRY, stateMachines: [fulfil] });
    const plain = durable.addEndpoint('POST /process', { entry: ENTRY });
    const refunds = durable.addEndpoint('POST /refunds', { entry: ENTRY, stateMachines: [refund] });
    const caller = new Role(stack, 'Caller', { assumedBy: new AccountRootPrincipal() });
    durable.grantSendEvents(caller);
    return { stack, durable, fulfil, refund, orders, plain, refunds, caller, template: Template.fromStack(stack) };
  }
  const { stack, durable, fulfil, refund, orders, plain, refunds, caller, template } = synthWithWorkflows();
  const eventsRole = logicalId(stack, durable.eventsFunction.role as never);
  const ref = (c: { node: { defaultChild?: unknown } }) => ({ Ref: logicalId(stack, c) });
  const arnOf = (c: { node: { defaultChild?: unknown } }) => ({ 'Fn::GetAtt': [logicalId(stack, c), 'Arn'] });

  it('routes POST /events to the events Lambda with IAM authorization, and only that route', () => {
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map((r) => (r as Resource).Properties);
    expect(routes.filter((r) => r.AuthorizationType === 'AWS_IAM').map((r) => r.RouteKey)).toEqual(['POST /events']);
    const integration = Object.entries(template.findResources('AWS::ApiGatewayV2::Integration')).find(([id]) =>
      routes.some((r) => r.RouteKey === 'POST /events' && JSON.stringify(r.Target).includes(id)),
    )![1] as Resource;
    expect(integration.Properties.IntegrationUri).toEqual(arnOf(durable.eventsFunction));
  });

  it('lets the events Lambda record events, complete waiting steps and invoke exactly the endpoints, with no wildcard action', () => {
    const statements = statementsOf(template, eventsRole);
    expect(actionsOf(statements)).toEqual([
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
      'lambda:InvokeFunction',
      'lambda:InvokeFunction',
      'lambda:InvokeFunction',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'sqs:GetQueueAttributes', // SqsDestination's grant: the on-failure destination of its async invocations
      'sqs:GetQueueUrl',
      'sqs:SendMessage',
    ]);
    expect(statements.filter((s) => s.Action === 'lambda:InvokeFunction').map((s) => s.Resource)).toEqual([arnOf(orders), arnOf(plain), arnOf(refunds)]);
    const table = statements.find((s) => [s.Action].flat().includes('dynamodb:PutItem'))!;
    expect([table.Resource].flat()).toEqual([arnOf(durable.table)]);
    const variables = (template.toJSON().Resources[logicalId(stack, durable.eventsFunction)] as Resource).Properties.Environment as { Variables: Record<string, unknown> };
    expect(variables.Variables).toEqual({ NODE_OPTIONS: '--enable-source-maps', DURABLE_TABLE: ref(durable.table), DURABLE_TIMER_STATE_MACHINE_ARN: ref(durable.timerStateMachine) });
  });

  it('lets an endpoint start exactly the state machines it declares', () => {
    const startsOf = (fn: typeof orders) =>
      statementsOf(template, logicalId(stack, fn.role as never))
        .filter((s) => s.Action === 'states:StartExecution')
        .map((s) => s.Resource);
    expect(startsOf(orders)).toEqual([ref(durable.timerStateMachine), ref(fulfil)]);
    expect(startsOf(plain)).toEqual([ref(durable.timerStateMachine)]);
    expect(startsOf(refunds)).toEqual([ref(durable.timerStateMachine), ref(refund)]);
  });

  it('sends the final status changes of the declared state machines\' executions to the events Lambda', () => {
    template.resourceCountIs('AWS::Events::Rule', 1);
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: { status: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [ref(fulfil), ref(refund)] },
      },
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: arnOf(durable.eventsFunction) })],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: arnOf(durable.eventsFunction),
      Principal: 'events.amazonaws.com',
      SourceArn: arnOf(durable.executionEvents!),
    });
  });

  it('creates no rule while no endpoint declares a state machine', () => {
    const { template: bare } = synth();
    bare.resourceCountIs('AWS::Events::Rule', 0);
  });

  it('grants a caller execute-api:Invoke on POST /events only', () => {
    const [statement] = statementsOf(template, logicalId(stack, caller));
    expect(statement).toMatchObject({ Action: 'execute-api:Invoke', Effect: 'Allow' });
    expect(JSON.stringify(stack.resolve(statement!.Resource))).toMatch(/\/\*\/POST\/events"\]\]\}$/);
  });

  it('has no dependency cycle, and lists only the endpoints for the dev server', () => {
    expect(cycleIn(template)).toEqual([]);
    expect(durable.endpoints.map((e) => e.routeKey)).toEqual(['POST /orders', 'POST /process', 'POST /refunds']);
  });
});

describe('DurableEndpoints options', () => {
  it('encrypts the table and the secret with a customer-managed key and lets the functions use it', () => {
    const { stack, durable, template } = synth((s) => ({ encryptionKey: new Key(s, 'Key', { enableKeyRotation: true }) }));
    const key = { 'Fn::GetAtt': [logicalId(stack, stack.node.findChild('Key') as never), 'Arn'] };
    template.hasResourceProperties('AWS::DynamoDB::Table', { SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: key } });
    template.hasResourceProperties('AWS::SecretsManager::Secret', { KmsKeyId: key });
    const resultsActions = actionsOf(statementsOf(template, logicalId(stack, durable.resultsFunction.role as never)));
    expect(resultsActions).toContain('kms:Decrypt');
    expect(resultsActions.filter((a) => /^kms:(Encrypt|ReEncrypt|GenerateDataKey)/.test(a))).toEqual([]);
  });

  it('applies the removal policy to the state', () => {
    const { template } = synth(() => ({ removalPolicy: RemovalPolicy.DESTROY }));
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete' });
    template.hasResource('AWS::SecretsManager::Secret', { DeletionPolicy: 'Delete' });
  });

  it('adds its routes to an existing HTTP API', () => {
    let api: HttpApi | undefined;
    const { durable, template } = synth((s) => ({ api: (api = new HttpApi(s, 'MyApi')) }));
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    expect(durable.api).toBe(api);
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map((r) => (r as Resource).Properties.RouteKey);
    expect(routes.sort()).toEqual(['GET /runs/{runId}', 'POST /events', 'POST /process']);
  });

  it('adds its routes to an existing REST API (payload 1.0), the events route IAM-authorized', () => {
    const { durable, template } = synth((s) => ({ api: new RestApi(s, 'MyRestApi', { deployOptions: { stageName: 'v1' } }) }));
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 0);
    const paths = Object.values(template.findResources('AWS::ApiGateway::Resource')).map((r) => (r as Resource).Properties.PathPart);
    expect(paths.sort()).toEqual(['events', 'process', 'runs', '{runId}']);
    const methods = Object.values(template.findResources('AWS::ApiGateway::Method')).map((r) => (r as Resource).Properties);
    expect(methods.map((m) => m.HttpMethod).sort()).toEqual(['GET', 'POST', 'POST']);
    const events = Object.values(template.findResources('AWS::ApiGateway::Resource')).find((r) => (r as Resource).Properties.PathPart === 'events')!;
    const eventsId = Object.entries(template.findResources('AWS::ApiGateway::Resource')).find(([, r]) => r === events)![0];
    expect(methods.filter((m) => m.AuthorizationType === 'AWS_IAM')).toEqual([expect.objectContaining({ HttpMethod: 'POST', ResourceId: { Ref: eventsId } })]);
    expect(durable.endpoints[0]!.apiType).toBe('rest');
  });

  it('with cors, lets the HTTP API answer preflights and passes the same setting to the endpoints, the results Lambda and the dev server', () => {
    const cors = { allowOrigins: ['https://app.example.com'] };
    const { durable, template } = synth(() => ({ cors }));
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: {
        AllowOrigins: ['https://app.example.com'],
        AllowHeaders: ['content-type', 'authorization', 'idempotency-key', 'prefer'],
        ExposeHeaders: ['location', 'retry-after', 'x-durable-run-id', 'preference-applied'],
        AllowMethods: ['*'],
      },
    });
    const variables = Object.values(template.findResources('AWS::Lambda::Function')).map((f) => ((f as Resource).Properties.Environment as { Variables?: Record<string, string> } | undefined)?.Variables ?? {});
    const withCors = variables.filter((v) => v.DURABLE_CORS);
    expect(withCors).toHaveLength(2); // the endpoint and the results Lambda; not the events Lambda or the sweeper
    expect(JSON.parse(withCors[0]!.DURABLE_CORS!)).toMatchObject({ allowOrigins: cors.allowOrigins, exposeHeaders: expect.arrayContaining(['location']) });
    expect(durable.endpoints[0]!.cors).toMatchObject(cors);
  });

  it('with cors, warns only about an HTTP API that has a CORS configuration of its own, not about the one it set itself', () => {
    const warnings = (stack: Stack) => Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('own CORS configuration'));
    const cors = { allowOrigins: ['https://app.example.com'] };

    expect(warnings(synth(() => ({ cors })).stack)).toEqual([]);
    expect(warnings(synth((s) => ({ api: new HttpApi(s, 'Mine'), cors })).stack)).toEqual([]);
    expect(warnings(synth((s) => ({ api: new HttpApi(s, 'Theirs', { corsPreflight: { allowOrigins: ['https://other.example.com'] } }), cors })).stack)).toHaveLength(1);
  });

  it('with cors on a REST API, adds an OPTIONS preflight to the results route and each endpoint, not to POST /events', () => {
    const { template } = synth((s) => ({ api: new RestApi(s, 'MyRestApi'), cors: { allowOrigins: ['https://app.example.com'] } }));
    const resources = template.findResources('AWS::ApiGateway::Resource');
    const options = Object.values(template.findResources('AWS::ApiGateway::Method')).map((r) => (r as Resource).Properties).filter((m) => m.HttpMethod === 'OPTIONS');
    const pathOf = (m: Resource['Properties']) => (resources[(m.ResourceId as { Ref: string }).Ref] as Resource).Properties.PathPart;
    expect(options.map(pathOf).sort()).toEqual(['process', '{runId}']);
    expect(JSON.stringify(options[0]!.Integration)).toContain("'https://app.example.com'");
  });

  it('refuses cors settings browsers would refuse', () => {
    expect(() => synth(() => ({ cors: { allowOrigins: ['*'], allowCredentials: true } }))).toThrow(/allowCredentials/);
    expect(() => synth(() => ({ cors: { allowOrigins: ['https://app.example.com/path'] } }))).toThrow(/not an origin/);
  });
});
