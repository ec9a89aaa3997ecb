/**
 * The constructs DurableEndpoints is composed of, and what it offers functions it did not create:
 * `grantEndpoint`, `endpointEnvironment()`, `grantSendEvents`. Bundling is skipped: these tests
 * read the template, not the code.
 */
import { App, Stack } from 'aws-cdk-lib';
import { RestApi } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { Template } from 'aws-cdk-lib/assertions';
import { AccountRootPrincipal, Role } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Code, Function as LambdaFunction, Runtime, type IFunction } from 'aws-cdk-lib/aws-lambda';
import { DefinitionBody, Pass, StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DurableEndpoints, EventsRoute, JournalTable, ResultsRoute, ResumeTimer, TokenSecret } from '../lib/index.ts';
import { actionsOf, cycleIn, logicalId, statementsOf, type Resource, type Statement } from './support/template.ts';

const ENTRY = fileURLToPath(new URL('../examples/process.ts', import.meta.url));

function newStack(): Stack {
  return new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Test');
}

function ownFunction(stack: Stack, id: string, environment?: Record<string, string>): LambdaFunction {
  return new LambdaFunction(stack, id, {
    runtime: Runtime.NODEJS_24_X,
    handler: 'index.handler',
    code: Code.fromInline('export const handler = async () => ({ statusCode: 200 });'),
    environment,
  });
}

const roleOf = (stack: Stack, fn: IFunction) => logicalId(stack, fn.role as never);
const arnOf = (stack: Stack, c: { node: { defaultChild?: unknown } }) => ({ 'Fn::GetAtt': [logicalId(stack, c), 'Arn'] });

/** A function's permissions beyond writing logs, with its own ARN written as 'itself'. */
function permissionsOf(template: Template, stack: Stack, fn: IFunction): Statement[] {
  const itself = JSON.stringify(arnOf(stack, fn));
  return statementsOf(template, roleOf(stack, fn))
    .filter((s) => ![s.Action].flat().every((a) => a.startsWith('logs:')))
    .map((s) => JSON.parse(JSON.stringify(s).replaceAll(itself, '"itself"')) as Statement);
}

const invokedBy = (template: Template, stack: Stack, role: string) =>
  statementsOf(template, role)
    .filter((s) => s.Action === 'lambda:InvokeFunction')
    .map((s) => s.Resource);

describe('a function of your own, made durable with grantEndpoint', () => {
  const stack = newStack();
  const key = new Key(stack, 'Key', { enableKeyRotation: true });
  const durable = new DurableEndpoints(stack, 'Durable', { encryptionKey: key });
  const endpoint = durable.addEndpoint('POST /process', { entry: ENTRY });
  const own = ownFunction(stack, 'Own', durable.endpointEnvironment());
  const grant = durable.grantEndpoint(own);
  const template = Template.fromStack(stack);

  it('gets exactly the permissions of an endpoint added with addEndpoint, key use included', () => {
    const permissions = permissionsOf(template, stack, own);

    expect(permissions).toEqual(permissionsOf(template, stack, endpoint));
    expect(actionsOf(permissions)).toEqual([
      'dynamodb:BatchWriteItem',
      'dynamodb:ConditionCheckItem',
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
      'iam:PassRole',
      'kms:Decrypt', // the table's and the secret's use of the key
      'kms:Decrypt', // the payload bucket's (its own statement)
      'kms:DescribeKey',
      'kms:Encrypt',
      'kms:GenerateDataKey',
      'kms:GenerateDataKey',
      'lambda:InvokeFunction',
      's3:GetObject',
      's3:ListBucket',
      's3:PutObject',
      's3:PutObjectTagging',
      'scheduler:CreateSchedule',
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
      'states:StartExecution',
    ]);
    expect(permissions.find((s) => s.Action === 'lambda:InvokeFunction')!.Resource).toBe('itself');
  });

  it('may be invoked by the timer and by the events route, as endpoints are, to resume its runs', () => {
    const timer = invokedBy(template, stack, logicalId(stack, durable.timer.role));
    const events = invokedBy(template, stack, roleOf(stack, durable.eventsFunction));

    expect(timer).toEqual([arnOf(stack, endpoint), arnOf(stack, own)]);
    expect(events).toEqual([arnOf(stack, endpoint), arnOf(stack, own)]);
  });

  it('runs with the environment an endpoint gets, from endpointEnvironment()', () => {
    const variables = (fn: IFunction) =>
      ((template.toJSON().Resources[logicalId(stack, fn)] as Resource).Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    const { NODE_OPTIONS: _, ...endpointVariables } = variables(endpoint);

    expect(variables(own)).toEqual(endpointVariables);
    expect(Object.keys(endpointVariables).sort()).toEqual([
      'DURABLE_BLOB_BUCKET',
      'DURABLE_SCHEDULER_GROUP',
      'DURABLE_SCHEDULER_ROLE_ARN',
      'DURABLE_TABLE',
      'DURABLE_TIMER_STATE_MACHINE_ARN',
      'DURABLE_TOKEN_SECRET_ARN',
    ]);
  });

  it('leaves no dependency cycle: its self-invoke is in a policy of its own, not the role default policy the function depends on', () => {
    expect(cycleIn(template)).toEqual([]);
    const selfInvoke = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify((p as Resource).Properties.PolicyDocument).includes(JSON.stringify(arnOf(stack, own))),
    ) as Resource[];
    // Its own InvokeSelf policy, the timer's invoke policy, the events Lambda's and the sweeper's default policies.
    expect(selfInvoke.map((p) => (p.Properties.Roles as { Ref: string }[])[0]!.Ref).sort()).toEqual(
      [roleOf(stack, own), logicalId(stack, durable.timer.role), roleOf(stack, durable.eventsFunction), roleOf(stack, durable.sweeperFunction)].sort(),
    );
  });

  it('returns one grant holding every statement it added', () => {
    expect(grant.success).toBe(true);
    expect(grant.principalStatements.flatMap((s) => s.actions).sort()).toEqual(
      [...actionsOf(permissionsOf(template, stack, own)), 'lambda:InvokeFunction', 'lambda:InvokeFunction', 'lambda:InvokeFunction'].sort(), // + the timer's, the events route's and the sweeper's
    );
  });
});

describe('grantSendEvents', () => {
  const resolvedStatement = (stack: Stack, grant: ReturnType<DurableEndpoints['grantSendEvents']>) =>
    grant.principalStatements.map((s) => stack.resolve(s.toStatementJson()) as Statement);

  it('returns a grant of execute-api:Invoke on POST /events only, on any stage', () => {
    const stack = newStack();
    const durable = new DurableEndpoints(stack, 'Durable');
    const caller = new Role(stack, 'Caller', { assumedBy: new AccountRootPrincipal() });

    const grant = durable.grantSendEvents(caller);

    const [statement, ...others] = resolvedStatement(stack, grant);
    expect(others).toEqual([]);
    expect(statement).toMatchObject({ Action: 'execute-api:Invoke', Effect: 'Allow' });
    const parts = (statement!.Resource as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
    expect(parts.slice(-2)).toEqual([{ Ref: logicalId(stack, durable.api as HttpApi) }, '/*/POST/events']);
    expect(statementsOf(Template.fromStack(stack), logicalId(stack, caller))).toEqual([statement]);
  });

  it('names the REST API and the same route on a RestApi', () => {
    const stack = newStack();
    const api = new RestApi(stack, 'Rest');
    const durable = new DurableEndpoints(stack, 'Durable', { api });

    const [statement] = resolvedStatement(stack, durable.grantSendEvents(new Role(stack, 'Caller', { assumedBy: new AccountRootPrincipal() })));

    expect((statement!.Resource as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1].slice(-2)).toEqual([{ Ref: logicalId(stack, api) }, '/*/POST/events']);
  });
});

describe('the constructs DurableEndpoints is made of, on their own', () => {
  it('JournalTable: the results route may only GetItem (and decrypt); an endpoint gets exact KMS actions, no wildcard', () => {
    const stack = newStack();
    const journal = new JournalTable(stack, 'Journal', { encryptionKey: new Key(stack, 'Key') });
    const results = new Role(stack, 'Results', { assumedBy: new AccountRootPrincipal() });
    const endpoint = new Role(stack, 'Endpoint', { assumedBy: new AccountRootPrincipal() });

    journal.grantResultsAccess(results);
    journal.grantEndpointAccess(endpoint);

    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::DynamoDB::Table', { KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }] });
    expect(actionsOf(statementsOf(template, logicalId(stack, results)))).toEqual(['dynamodb:GetItem', 'kms:Decrypt']);
    const endpointActions = actionsOf(statementsOf(template, logicalId(stack, endpoint)));
    expect(endpointActions.filter((a) => a.startsWith('kms:'))).toEqual(['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey']);
    expect(endpointActions.filter((a) => a.includes('*'))).toEqual([]);
  });

  it('JournalTable: the sweeper may Query the table and the due index and PutItem on the table, with exact KMS actions; the others never touch an index', () => {
    const stack = newStack();
    const journal = new JournalTable(stack, 'Journal', { encryptionKey: new Key(stack, 'Key') });
    const sweeper = new Role(stack, 'Sweeper', { assumedBy: new AccountRootPrincipal() });
    const endpoint = new Role(stack, 'Endpoint', { assumedBy: new AccountRootPrincipal() });

    journal.grantSweeperAccess(sweeper);
    journal.grantEndpointAccess(endpoint);

    const template = Template.fromStack(stack);
    const table = arnOf(stack, journal);
    expect(statementsOf(template, logicalId(stack, sweeper)).filter((s) => [s.Action].flat().some((a) => a.startsWith('dynamodb:')))).toEqual([
      { Action: 'dynamodb:Query', Effect: 'Allow', Resource: [table, { 'Fn::Join': ['', [table, '/index/due']] }] },
      { Action: 'dynamodb:PutItem', Effect: 'Allow', Resource: table },
    ]);
    expect(actionsOf(statementsOf(template, logicalId(stack, sweeper))).filter((a) => a.startsWith('kms:'))).toEqual(['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey']);
    expect(JSON.stringify(statementsOf(template, logicalId(stack, endpoint)))).not.toContain('/index/');
  });

  it('ResumeTimer: arming timers is starting its state machine, creating schedules in its group, passing its scheduler role', () => {
    const stack = newStack();
    const timer = new ResumeTimer(stack, 'Timer');
    const armer = new Role(stack, 'Armer', { assumedBy: new AccountRootPrincipal() });

    const grant = timer.grantArm(armer);

    const statements = statementsOf(Template.fromStack(stack), logicalId(stack, armer));
    expect(statements.map((s) => s.Action)).toEqual(['states:StartExecution', 'scheduler:CreateSchedule', 'iam:PassRole']);
    expect(statements[0]!.Resource).toEqual({ Ref: logicalId(stack, timer.stateMachine) });
    const group = stack.resolve(timer.scheduleGroup.scheduleGroupName) as string; // a name generated at synth
    expect(JSON.stringify(statements[1]!.Resource)).toMatch(new RegExp(`:schedule/${group}/\\*"\\]\\]\\}$`));
    expect(statements[2]!.Resource).toEqual(arnOf(stack, timer.schedulerRole));
    expect(grant.principalStatements).toHaveLength(3);
  });

  it('ResumeTimer: a function whose environment names the state machine can be invoked by it without a dependency cycle', () => {
    const stack = newStack();
    const timer = new ResumeTimer(stack, 'Timer');
    const fn = ownFunction(stack, 'Resumed', { DURABLE_TIMER_STATE_MACHINE_ARN: timer.stateMachine.stateMachineArn });

    timer.allowInvoke(fn);

    const template = Template.fromStack(stack);
    expect(invokedBy(template, stack, logicalId(stack, timer.role))).toEqual([arnOf(stack, fn)]);
    expect(cycleIn(template)).toEqual([]);
  });

  it('ResultsRoute: routes GET /runs/{runId} to a function that knows only the table and the secret', () => {
    const stack = newStack();
    const api = new HttpApi(stack, 'Api');
    const table = new JournalTable(stack, 'Journal');
    const tokenSecret = new TokenSecret(stack, 'Secret');

    const results = new ResultsRoute(stack, 'Results', { api, table, tokenSecret });

    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'GET /runs/{runId}', AuthorizationType: 'NONE' });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: { NODE_OPTIONS: '--enable-source-maps', DURABLE_TABLE: { Ref: logicalId(stack, table) }, DURABLE_TOKEN_SECRET_ARN: { Ref: logicalId(stack, tokenSecret) } } },
    });
    expect(results.routeKey).toBe('GET /runs/{runId}');
    expect(actionsOf(statementsOf(template, roleOf(stack, results.function)))).toEqual([
      'dynamodb:GetItem',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
    ]);
  });

  it('EventsRoute: routes POST /events with IAM, creates its rule with the first watched state machine, invokes only what it is allowed to', () => {
    const stack = newStack();
    const events = new EventsRoute(stack, 'Events', { api: new HttpApi(stack, 'Api'), table: new JournalTable(stack, 'Journal'), timer: new ResumeTimer(stack, 'Timer') });
    const before = events.executionEvents;
    const workflow = new StateMachine(stack, 'Workflow', { definitionBody: DefinitionBody.fromChainable(new Pass(stack, 'Done')) });
    const endpoint = ownFunction(stack, 'Endpoint');

    events.watchExecutions(workflow);
    events.allowInvoke(endpoint);

    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'POST /events', AuthorizationType: 'AWS_IAM' });
    expect(before).toBeUndefined();
    expect(events.executionEvents).toBeDefined();
    template.hasResourceProperties('AWS::Events::Rule', { EventPattern: { detail: { stateMachineArn: [{ Ref: logicalId(stack, workflow) }] } } });
    expect(invokedBy(template, stack, roleOf(stack, events.function))).toEqual([arnOf(stack, endpoint)]);
  });
});
