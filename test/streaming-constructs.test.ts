/**
 * Streaming on AWS, as the template says it: `addEndpoint(…, { streaming: true })` on a REST API,
 * the results route on REST and HTTP APIs, the grants API Gateway needs to invoke a function with
 * `InvokeWithResponseStream`, and cdk-nag. Bundling is skipped: these tests read the template.
 */
import { Annotations as AssertAnnotations, Match, Template } from 'aws-cdk-lib/assertions';
import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { EndpointType, RestApi } from 'aws-cdk-lib/aws-apigateway';
import nag from 'cdk-nag';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DurableEndpoints } from '../lib/index.ts';
import { actionsOf, logicalId, statementsOf, type Resource } from './support/template.ts';

const ENTRY = fileURLToPath(new URL('../examples/research/handler.ts', import.meta.url));
const PUBLIC = 'A test route, public so that cdk-nag has nothing to say about its authorization.';

function restStack(endpointTypes: EndpointType[] = [EndpointType.REGIONAL]) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Rest');
  const api = new RestApi(stack, 'Api', { endpointTypes });
  const durable = new DurableEndpoints(stack, 'Durable', { api });
  return { app, stack, api, durable };
}

/** The REST method at `path` (e.g. `'research'`, `'{runId}'`), by its resource's last path part. */
function methodAt(template: Template, pathPart: string, httpMethod = 'GET'): Resource['Properties'] {
  const resources = template.findResources('AWS::ApiGateway::Resource', { Properties: { PathPart: pathPart } });
  const [resourceId] = Object.keys(resources);
  const methods = Object.values(template.findResources('AWS::ApiGateway::Method', { Properties: { HttpMethod: httpMethod, ResourceId: { Ref: resourceId } } }));
  expect(methods).toHaveLength(1);
  return (methods[0] as Resource).Properties;
}

type Integration = { Type: string; ResponseTransferMode?: string; TimeoutInMillis?: number; Uri: { 'Fn::Join': [string, unknown[]] } };
const integrationOf = (method: Resource['Properties']) => method.Integration as Integration;
/** The invocation URI with the function's ARN written as `<fn>`. */
const uriOf = (stack: Stack, fnLogicalId: string, method: Resource['Properties']) =>
  (integrationOf(method).Uri['Fn::Join'][1] as unknown[])
    .map((part) => (JSON.stringify(part) === JSON.stringify({ 'Fn::GetAtt': [fnLogicalId, 'Arn'] }) ? '<fn>' : typeof part === 'string' ? part : '<ref>'))
    .join('');

const functionProps = (template: Template, stack: Stack, fn: { node: { defaultChild?: unknown } }) =>
  (template.toJSON().Resources[logicalId(stack, fn)] as Resource).Properties as { Timeout: number; Environment: { Variables: Record<string, unknown> } };

describe('addEndpoint(…, { streaming: true }) on a REST API', () => {
  const { stack, durable } = restStack();
  const research = durable.addEndpoint('GET /research', { entry: ENTRY, streaming: true, public: PUBLIC });
  const short = durable.addEndpoint('GET /short', { entry: ENTRY, streaming: true, timeout: Duration.minutes(5), public: PUBLIC });
  const plain = durable.addEndpoint('POST /process', { entry: ENTRY, public: PUBLIC });
  const template = Template.fromStack(stack);
  const researchId = logicalId(stack, research);

  it('streams: response transfer mode STREAM, invoked through Lambda’s response-streaming invocation URI', () => {
    const method = methodAt(template, 'research');

    expect(integrationOf(method)).toMatchObject({ Type: 'AWS_PROXY', ResponseTransferMode: 'STREAM' });
    expect(uriOf(stack, researchId, method)).toBe('arn:<ref>:apigateway:<ref>:lambda:path/2021-11-15/functions/<fn>/response-streaming-invocations');
  });

  it('raises the integration’s and the function’s timeout to 15 minutes, or to the `timeout` given', () => {
    expect(integrationOf(methodAt(template, 'research')).TimeoutInMillis).toBe(900_000);
    expect(functionProps(template, stack, research).Timeout).toBe(900);
    expect(integrationOf(methodAt(template, 'short')).TimeoutInMillis).toBe(300_000);
    expect(functionProps(template, stack, short).Timeout).toBe(300);
  });

  it('tells the function it may stream: DURABLE_STREAMING=1, and nothing else changes in its environment', () => {
    const streaming = functionProps(template, stack, research).Environment.Variables;
    const buffered = functionProps(template, stack, plain).Environment.Variables;

    expect(streaming.DURABLE_STREAMING).toBe('1');
    expect(buffered).not.toHaveProperty('DURABLE_STREAMING');
    const { DURABLE_STREAMING: _, ...rest } = streaming;
    expect(rest).toEqual(buffered);
  });

  it('leaves an endpoint without `streaming` buffered: the 2015-03-31 invocation, 29 seconds', () => {
    const method = methodAt(template, 'process', 'POST');

    expect(integrationOf(method).ResponseTransferMode).toBeUndefined();
    expect(integrationOf(method).TimeoutInMillis).toBeUndefined(); // API Gateway's default, 29 s
    expect(uriOf(stack, logicalId(stack, plain), method)).toMatch(/:lambda:path\/2015-03-31\/functions\/<fn>\/invocations$/);
    expect(functionProps(template, stack, plain).Timeout).toBe(29);
  });

  it('lets API Gateway invoke the function with lambda:InvokeFunction, which authorizes InvokeWithResponseStream: no other action', () => {
    const permissions = Object.values(template.findResources('AWS::Lambda::Permission', { Properties: { FunctionName: { 'Fn::GetAtt': [researchId, 'Arn'] } } })) as Resource[];

    expect(permissions.map((p) => [p.Properties.Action, p.Properties.Principal])).toEqual([
      ['lambda:InvokeFunction', 'apigateway.amazonaws.com'], // the deployed stages
      ['lambda:InvokeFunction', 'apigateway.amazonaws.com'], // the console's test-invoke
    ]);
    const sourceArns = permissions.map((p) => JSON.stringify(p.Properties.SourceArn));
    expect(sourceArns.every((arn) => arn.includes('/GET/research'))).toBe(true);
  });

  it('tells the dev server which endpoints stream', () => {
    expect(durable.endpoints.map((e) => [e.routeKey, e.streaming, e.timeoutMs])).toEqual([
      ['GET /research', true, 900_000],
      ['GET /short', true, 300_000],
      ['POST /process', false, 29_000],
    ]);
  });

  it('refuses a timeout past API Gateway’s 15 minutes, and DURABLE_STREAMING set by hand', () => {
    expect(() => durable.addEndpoint('GET /long', { entry: ENTRY, streaming: true, timeout: Duration.minutes(16) })).toThrow(/at most 15 minutes/);
    expect(() => durable.addEndpoint('GET /hand', { entry: ENTRY, environment: { DURABLE_STREAMING: '1' } })).toThrow(/pass `streaming: true`/);
  });
});

describe('streaming on an HTTP API', () => {
  it('is refused at synth, saying that only REST APIs stream and how to give the construct one', () => {
    const durable = new DurableEndpoints(new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Http'), 'Durable');

    expect(() => durable.addEndpoint('GET /research', { entry: ENTRY, streaming: true })).toThrow(
      /GET \/research cannot stream on an HTTP API: API Gateway streams responses only from REST API methods.*RestApi/,
    );
    expect(durable.endpoints).toEqual([]);
  });
});

describe('an edge-optimized REST API (CDK’s default)', () => {
  it('gets a warning on each streaming method: API Gateway closes a stream idle for 30 seconds there', () => {
    const edge = restStack([EndpointType.EDGE]);
    edge.durable.addEndpoint('GET /research', { entry: ENTRY, streaming: true, public: PUBLIC });
    const regional = restStack();
    regional.durable.addEndpoint('GET /research', { entry: ENTRY, streaming: true, public: PUBLIC });

    const warnings = (stack: Stack) => AssertAnnotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('closes a stream that sends nothing for 30 seconds'));
    expect(warnings(edge.stack).map((w) => w.id)).toEqual(['/Rest/Api/Default/research/GET']);
    expect(warnings(regional.stack)).toEqual([]);
  });
});

describe('the results route GET /runs/{runId}', () => {
  it('streams on a REST API: STREAM, the response-streaming invocation, 15 minutes, DURABLE_STREAMING=1, and may Query the run’s items', () => {
    const { stack, durable } = restStack();
    const template = Template.fromStack(stack);
    const method = methodAt(template, '{runId}');
    const fn = durable.resultsFunction;

    expect(durable.resultsRoute.streaming).toBe(true);
    expect(integrationOf(method)).toMatchObject({ ResponseTransferMode: 'STREAM', TimeoutInMillis: 900_000 });
    expect(uriOf(stack, logicalId(stack, fn), method)).toMatch(/:lambda:path\/2021-11-15\/functions\/<fn>\/response-streaming-invocations$/);
    expect(functionProps(template, stack, fn)).toMatchObject({ Timeout: 900, Environment: { Variables: { DURABLE_STREAMING: '1' } } });
    const actions = actionsOf(statementsOf(template, logicalId(stack, fn.role as never))).filter((a) => !a.startsWith('logs:'));
    expect(actions).toEqual(['dynamodb:GetItem', 'dynamodb:Query', 's3:GetObject', 'secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']);
  });

  it('keeps the long-poll on an HTTP API: 29 seconds, no DURABLE_STREAMING, GetItem only', () => {
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Http');
    const durable = new DurableEndpoints(stack, 'Durable');
    const template = Template.fromStack(stack);
    const fn = durable.resultsFunction;

    expect(durable.resultsRoute.streaming).toBe(false);
    expect(functionProps(template, stack, fn).Timeout).toBe(29);
    expect(functionProps(template, stack, fn).Environment.Variables).not.toHaveProperty('DURABLE_STREAMING');
    const actions = actionsOf(statementsOf(template, logicalId(stack, fn.role as never))).filter((a) => !a.startsWith('logs:'));
    expect(actions).toEqual(['dynamodb:GetItem', 's3:GetObject', 'secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']);
  });
});

describe('cdk-nag AwsSolutions on a streaming REST endpoint', () => {
  it('finds nothing on the streaming method, its function, or the streaming results route', () => {
    const { app, durable } = restStack();
    durable.addEndpoint('GET /research', { entry: ENTRY, streaming: true, public: PUBLIC });
    Validations.of(app).addPlugins(new nag.AwsSolutionsChecks(app));

    expect(() => app.synth()).toThrow(/AwsSolutions-APIG/); // the bare RestApi itself has findings (logging, WAF, validation)
    const report = JSON.parse(readFileSync(join(app.outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[] }[];
    };
    const paths = report.pluginReports.flatMap((r) => r.violations.flatMap((v) => v.violatingConstructs.map((c) => `${v.ruleName} ${c.constructPath}`)));
    // Only the RestApi's own resources (its validation, stage logging and WAF, CloudWatch role).
    expect(paths.filter((p) => !/ Rest\/Api\/(Resource|DeploymentStage\.prod\/Resource|CloudWatchRole\/Resource)$/.test(p))).toEqual([]);
  });
});
