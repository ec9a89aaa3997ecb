/**
 * What the reliability release adds to the constructs: the `due` index of the journal, the sweeper
 * that reads it every minute and resumes the runs it finds overdue, and the dead-letter queue of
 * the events Lambda. Bundling is skipped: these tests read the template, not the code.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { DefinitionBody, Pass, StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DurableEndpoints, JournalTable, ResumeTimer, Sweeper, type DurableEndpointsProps } from '../lib/index.ts';
import { actionsOf, cycleIn, logicalId, statementsOf, type Resource, type Statement } from './support/template.ts';

const ENTRY = fileURLToPath(new URL('../examples/process.ts', import.meta.url));

/** A deployment with two endpoints, a function of the user's own made durable, and a watched workflow. */
function deployment(props: (stack: Stack) => DurableEndpointsProps = () => ({})) {
  const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Test');
  const durable = new DurableEndpoints(stack, 'Durable', props(stack));
  const processEndpoint = durable.addEndpoint('POST /process', { entry: ENTRY });
  const ordersEndpoint = durable.addEndpoint('POST /orders', { entry: ENTRY });
  const own = new LambdaFunction(stack, 'Own', {
    runtime: Runtime.NODEJS_24_X,
    handler: 'index.handler',
    code: Code.fromInline('export const handler = async () => ({ statusCode: 200 });'),
    environment: durable.endpointEnvironment(),
  });
  durable.grantEndpoint(own);
  durable.watchExecutions(new StateMachine(stack, 'Workflow', { definitionBody: DefinitionBody.fromChainable(new Pass(stack, 'Done')) }));
  return { stack, durable, processEndpoint, ordersEndpoint, own, template: Template.fromStack(stack) };
}

const resourcesOf = (template: Template, type: string) => Object.values(template.findResources(type)) as Resource[];

describe('the journal table', () => {
  const { template } = deployment();

  it('has the due index: live runs by shard (dueShard, a string) and time (dueAt, a number), every attribute projected', () => {
    const [table] = resourcesOf(template, 'AWS::DynamoDB::Table');
    expect(table!.Properties.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: 'due',
        KeySchema: [
          { AttributeName: 'dueShard', KeyType: 'HASH' },
          { AttributeName: 'dueAt', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ]);
    expect(table!.Properties.AttributeDefinitions).toEqual(
      expect.arrayContaining([
        { AttributeName: 'dueShard', AttributeType: 'S' },
        { AttributeName: 'dueAt', AttributeType: 'N' },
      ]),
    );
  });
});

describe('the sweeper', () => {
  const { stack, durable, processEndpoint, ordersEndpoint, own, template } = deployment();
  const sweeperRole = logicalId(stack, durable.sweeperFunction.role as never);
  const arnOf = (c: { node: { defaultChild?: unknown } }) => ({ 'Fn::GetAtt': [logicalId(stack, c), 'Arn'] });
  const ref = (c: { node: { defaultChild?: unknown } }) => ({ Ref: logicalId(stack, c) });

  it('is invoked every minute by an EventBridge Scheduler schedule, on time', () => {
    const schedules = resourcesOf(template, 'AWS::Scheduler::Schedule');
    expect(schedules).toHaveLength(1);
    expect(schedules[0]!.Properties).toMatchObject({
      ScheduleExpression: 'rate(1 minute)',
      FlexibleTimeWindow: { Mode: 'OFF' },
      State: 'ENABLED',
      Target: { Arn: arnOf(durable.sweeperFunction), RoleArn: arnOf(durable.sweeper.scheduleRole) },
    });
    expect(durable.sweeper.schedule).toBeDefined();
  });

  it('runs the schedule as a role that only this account\'s schedules may assume, and that may invoke the sweeper and nothing else', () => {
    const role = template.toJSON().Resources[logicalId(stack, durable.sweeper.scheduleRole)] as Resource;
    expect(role.Properties.AssumeRolePolicyDocument).toMatchObject({
      Statement: [{ Action: 'sts:AssumeRole', Principal: { Service: 'scheduler.amazonaws.com' }, Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } } }],
    });
    expect(statementsOf(template, logicalId(stack, durable.sweeper.scheduleRole))).toEqual([
      { Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: arnOf(durable.sweeperFunction) },
    ]);
  });

  it('does not retry a failed sweep: the next minute\'s sweep is the retry', () => {
    const [schedule] = resourcesOf(template, 'AWS::Scheduler::Schedule');
    expect((schedule!.Properties.Target as { RetryPolicy: unknown }).RetryPolicy).toEqual({ MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { FunctionName: ref(durable.sweeperFunction), MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 });
  });

  it('runs with the table, the timer state machine (which makes AwsTimer its timer) and a grace of 2 minutes', () => {
    const variables = ((template.toJSON().Resources[logicalId(stack, durable.sweeperFunction)] as Resource).Properties.Environment as { Variables: unknown }).Variables;
    expect(variables).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      DURABLE_TABLE: ref(durable.table),
      DURABLE_TIMER_STATE_MACHINE_ARN: ref(durable.timerStateMachine),
      DURABLE_SWEEP_GRACE: '2m',
    });
  });

  it('takes its grace from the sweep option, in a form the sdk reads', () => {
    const graceOf = (grace: Duration) => {
      const { stack: s, durable: d, template: t } = deployment(() => ({ sweep: { grace } }));
      return ((t.toJSON().Resources[logicalId(s, d.sweeperFunction)] as Resource).Properties.Environment as { Variables: Record<string, unknown> }).Variables.DURABLE_SWEEP_GRACE;
    };
    expect(graceOf(Duration.minutes(5))).toBe('5m');
    expect(graceOf(Duration.seconds(90))).toBe('90s');
  });

  it('may Query the table and the due index, PutItem, invoke exactly the endpoints, and nothing else', () => {
    const statements = statementsOf(template, sweeperRole);
    expect(actionsOf(statements)).toEqual([
      'dynamodb:PutItem',
      'dynamodb:Query',
      'lambda:InvokeFunction',
      'lambda:InvokeFunction',
      'lambda:InvokeFunction',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
    ]);
    const on = (action: string) => statements.filter((s) => s.Action === action).map((s) => s.Resource);
    expect(on('dynamodb:Query')).toEqual([[arnOf(durable.table), { 'Fn::Join': ['', [arnOf(durable.table), '/index/due']] }]]);
    expect(on('dynamodb:PutItem')).toEqual([arnOf(durable.table)]);
    expect(on('lambda:InvokeFunction')).toEqual([arnOf(processEndpoint), arnOf(ordersEndpoint), arnOf(own)]);
  });

  it('leaves the other functions\' access to the table as it was: the table itself, no index', () => {
    const tableResources = [durable.eventsFunction, durable.resultsFunction, processEndpoint, own].flatMap((fn) =>
      statementsOf(template, logicalId(stack, fn.role as never))
        .filter((s) => [s.Action].flat().some((a) => a.startsWith('dynamodb:')))
        .map((s) => s.Resource),
    );
    expect(tableResources.length).toBeGreaterThanOrEqual(4);
    for (const resource of tableResources) expect(resource).toEqual(arnOf(durable.table));
  });

  it('has no dependency cycle, with endpoints, a function of the user\'s own and a watched workflow', () => {
    expect(cycleIn(template)).toEqual([]);
  });

  it('gets exact KMS actions with a customer-managed key, as the other functions do', () => {
    const { stack: s, durable: d, template: t } = deployment((s) => ({ encryptionKey: new Key(s, 'Key', { enableKeyRotation: true }) }));
    const actions = actionsOf(statementsOf(t, logicalId(s, d.sweeperFunction.role as never)));
    expect(actions.filter((a) => a.startsWith('kms:'))).toEqual(['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey']);
    expect(actions.filter((a) => a.includes('*'))).toEqual([]);
  });
});

describe('Sweeper, on its own', () => {
  it('returns the grant of allowInvoke, and a function whose environment names the table and the timer can be invoked by it without a cycle', () => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Test');
    const table = new JournalTable(stack, 'Journal');
    const timer = new ResumeTimer(stack, 'Timer');
    const sweeper = new Sweeper(stack, 'Sweeper', { table, timer, grace: Duration.minutes(3) });
    const fn = new LambdaFunction(stack, 'Resumed', {
      runtime: Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: Code.fromInline('export const handler = async () => ({});'),
      environment: { DURABLE_TABLE: table.tableName, DURABLE_TIMER_STATE_MACHINE_ARN: timer.stateMachine.stateMachineArn },
    });

    const grant = sweeper.allowInvoke(fn);

    const template = Template.fromStack(stack);
    expect(grant.principalStatements.map((s) => stack.resolve(s.toStatementJson()) as Statement)).toEqual([
      { Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: { 'Fn::GetAtt': [logicalId(stack, fn), 'Arn'] } },
    ]);
    expect(sweeper.grace.toMinutes()).toBe(3);
    expect(cycleIn(template)).toEqual([]);
  });
});

describe('the events Lambda\'s dead-letter queue', () => {
  const { stack, durable, template } = deployment();
  const queue = { 'Fn::GetAtt': [logicalId(stack, durable.eventsDeadLetterQueue), 'Arn'] };

  it('is encrypted, refuses requests without TLS, keeps messages 14 days and survives a deleted stack by default', () => {
    template.hasResource('AWS::SQS::Queue', { DeletionPolicy: 'Retain', Properties: { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 } });
    const [policy] = resourcesOf(template, 'AWS::SQS::QueuePolicy');
    const statements = (policy!.Properties.PolicyDocument as { Statement: Statement[] }).Statement;
    expect(statements).toContainEqual(expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }));
    expect(durable.eventsRoute.deadLetterQueue).toBe(durable.eventsDeadLetterQueue);
  });

  it('receives the events Lambda\'s asynchronous invocations that failed Lambda\'s retries', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalId(stack, durable.eventsFunction) },
      DestinationConfig: { OnFailure: { Destination: queue } },
    });
    const sends = statementsOf(template, logicalId(stack, durable.eventsFunction.role as never)).filter((s) => [s.Action].flat().includes('sqs:SendMessage'));
    expect(sends.map((s) => s.Resource)).toEqual([queue]);
  });

  it('receives the execution ends EventBridge could not deliver, after retrying for up to a day', () => {
    const [rule] = resourcesOf(template, 'AWS::Events::Rule');
    expect((rule!.Properties.Targets as unknown[])[0]).toMatchObject({
      Arn: { 'Fn::GetAtt': [logicalId(stack, durable.eventsFunction), 'Arn'] },
      DeadLetterConfig: { Arn: queue },
      RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86_400 },
    });
    // EventBridge may send to the queue for this rule only.
    const [policy] = resourcesOf(template, 'AWS::SQS::QueuePolicy');
    expect((policy!.Properties.PolicyDocument as { Statement: Statement[] }).Statement).toContainEqual(
      expect.objectContaining({
        Action: 'sqs:SendMessage',
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [logicalId(stack, durable.executionEvents!), 'Arn'] } } },
      }),
    );
  });
});

describe('the example app (lib/app.ts)', () => {
  it('synthesizes with the sweeper invoking each of its endpoints, and no dependency cycle', async () => {
    process.env.CDK_CONTEXT_JSON = JSON.stringify({ 'aws:cdk:bundling-stacks': [] });
    const { durable } = await import('../lib/app.ts');
    const template = Template.fromStack(Stack.of(durable));

    expect(cycleIn(template)).toEqual([]);
    template.resourceCountIs('AWS::Scheduler::Schedule', 1);
    expect(statementsOf(template, logicalId(Stack.of(durable), durable.sweeperFunction.role as never)).filter((s) => s.Action === 'lambda:InvokeFunction')).toHaveLength(durable.endpoints.length);
    expect(durable.endpoints.length).toBeGreaterThanOrEqual(6);
  });
});
