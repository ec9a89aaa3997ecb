/**
 * cdk-nag's AwsSolutions pack on the example app (`lib/app.ts`, what `cdk synth` runs): no finding
 * may be left unacknowledged, and every acknowledgement says why. Bundling is skipped: the rules
 * read the template, not the code.
 */
import { App, Stack, Validations } from 'aws-cdk-lib';
import { RestApi } from 'aws-cdk-lib/aws-apigateway';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { Key } from 'aws-cdk-lib/aws-kms';
import nag from 'cdk-nag';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { routeScope } from '../lib/api.ts';
import { DurableEndpoints } from '../lib/index.ts';

process.env.CDK_CONTEXT_JSON = JSON.stringify({ 'aws:cdk:bundling-stacks': [] });
const { app, durable } = await import('../lib/app.ts');

interface Report {
  pluginReports: { pluginName: string; conclusion: string; violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[] }[];
}
const report = (outdir: string) => JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as Report;

describe('cdk-nag AwsSolutions on the example app', () => {
  it('leaves no finding unacknowledged', () => {
    const assembly = app.synth();

    expect(report(assembly.directory).pluginReports.flatMap((r) => r.violations)).toEqual([]);
  });

  it('acknowledges only what the kit and the public example routes leave open on purpose, each with its reason', () => {
    const acknowledged = app.node.findAll().flatMap((c) =>
      c.node.metadata
        .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        // Stored as { 'Annotation::<rule id>': reason } per construct.
        .flatMap((m) => Object.entries(m.data as Record<string, string>).map(([key, reason]) => ({ path: c.node.path, id: key.replace(/^Annotation::/, ''), reason }))),
    );
    // Routes you add to lib/app.ts with `public` are acknowledged too: this pins what the kit and
    // the examples need, not the app's whole route list.
    const routes = durable.endpoints.length;
    const scheduleWildcard = /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:scheduler:.*:schedule\/.+\/\*\]$/;
    const runPayloads = /^AwsSolutions-IAM5\[Resource::<DurablePayloads[0-9A-F]{8}\.Arn>\/runs\/\*\]$/;
    const kind = (id: string) => (scheduleWildcard.test(id) ? 'IAM5 schedules' : runPayloads.test(id) ? 'IAM5 run payloads' : id);

    expect([...new Set(acknowledged.map((a) => kind(a.id)))].sort()).toEqual([
      'AwsSolutions-APIG4', // the results route (HMAC token in the URL) and the public routes
      'AwsSolutions-IAM5[Resource::*]', // Step Functions log delivery
      'AwsSolutions-S1', // no server access logs on the payload bucket unless payloadAccessLogs names one
      'AwsSolutions-SF2', // no X-Ray on the timer
      'AwsSolutions-SMG4', // no automatic rotation of the token secret
      'AwsSolutions-SQS3', // the events dead-letter queue has none behind it
      'IAM5 run payloads', // objects under runs/<runId>/ of the payload bucket
      'IAM5 schedules', // each endpoint's schedules
    ]);
    expect(acknowledged.filter((a) => scheduleWildcard.test(a.id))).toHaveLength(routes);
    // Each endpoint's role, and the results route's.
    expect(acknowledged.filter((a) => runPayloads.test(a.id))).toHaveLength(routes + 1);
    const open = acknowledged.filter((a) => a.id === 'AwsSolutions-APIG4');
    expect(open).toHaveLength(1 + routes);
    expect(open.map((a) => a.path)).toEqual(
      expect.arrayContaining(['GET--runs--{runId}', 'POST--process', 'GET--research', 'POST--orders', 'GET--remind'].map((route) => `DurableEndpointsExample/Durable/Api/${route}`)),
    );
    // The kit's own reasons; a route's `public` reason is the app author's (addEndpoint checks it says something).
    const publicRoutes = durable.endpoints.map((e) => routeScope(durable.api, e.routeKey).node.path);
    for (const { path, reason } of acknowledged.filter((a) => !publicRoutes.includes(a.path))) expect(reason.length, path).toBeGreaterThan(40);
  });

  it('acknowledges an open route added with `public`, with its reason, and refuses `public` with an authorizer', () => {
    const other = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const durable = new DurableEndpoints(new Stack(other, 'Public'), 'Durable');
    const entry = fileURLToPath(new URL('../examples/process.ts', import.meta.url));
    durable.addEndpoint('GET /hello', { entry, public: 'A demo route: anyone may call it.' });
    Validations.of(other).addPlugins(new nag.AwsSolutionsChecks(other));

    other.synth();

    expect(report(other.outdir).pluginReports.flatMap((r) => r.violations)).toEqual([]);
    expect(durable.api.node.findChild('GET/hello').node.metadata.find((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)?.data).toEqual({
      'Annotation::AwsSolutions-APIG4': 'A demo route: anyone may call it.',
    });
    const authorizer = new HttpIamAuthorizer();
    expect(() => durable.addEndpoint('GET /private', { entry, public: 'A demo route: anyone may call it.', authorizer })).toThrow(/has an authorizer, so it is not public/);
    expect(() => durable.addEndpoint('GET /terse', { entry, public: 'ok' })).toThrow(/say why in a sentence/);
  });

  it('reports what a new endpoint leaves open, so the check can fail', () => {
    const other = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const durable = new DurableEndpoints(new Stack(other, 'Open'), 'Durable');
    durable.addEndpoint('POST /open', { entry: fileURLToPath(new URL('../examples/process.ts', import.meta.url)) });
    Validations.of(other).addPlugins(new nag.AwsSolutionsChecks(other));

    expect(() => other.synth()).toThrow(/does not implement authorization/);
    const violations = report(other.outdir).pluginReports.flatMap((r) => r.violations);
    expect(violations.map((v) => [v.ruleName, v.violatingConstructs.map((c) => c.constructPath)])).toEqual([
      ['AwsSolutions-APIG4', ['Open/Durable/Api/POST--open/Resource']],
    ]);
  });
});

describe('cdk-nag with a customer-managed key', () => {
  it('finds no wildcard KMS action: the functions get exact key actions', () => {
    const other = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(other, 'Kms');
    const durable = new DurableEndpoints(stack, 'Durable', { encryptionKey: new Key(stack, 'Key', { enableKeyRotation: true }) });
    durable.addEndpoint('POST /x', { entry: fileURLToPath(new URL('../examples/process.ts', import.meta.url)) });
    Validations.of(other).addPlugins(new nag.AwsSolutionsChecks(other));

    expect(() => other.synth()).toThrow(); // the route's APIG4, left open on purpose here
    const rules = report(other.outdir).pluginReports.flatMap((r) => r.violations.map((v) => v.ruleName));
    expect(rules).toEqual(['AwsSolutions-APIG4']);
  });
});

describe('cdk-nag on a REST API', () => {
  it('synthesizes with no endpoint yet, and finds nothing to say about the results route (its token) or the events route (IAM)', () => {
    const other = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(other, 'Rest');
    new DurableEndpoints(stack, 'Durable', { api: new RestApi(stack, 'Api') });
    Validations.of(other).addPlugins(new nag.AwsSolutionsChecks(other));

    expect(() => other.synth()).toThrow(/AwsSolutions-APIG/); // the bare RestApi itself has findings (logging, WAF, validation)
    const paths = report(other.outdir).pluginReports.flatMap((r) => r.violations.flatMap((v) => v.violatingConstructs.map((c) => c.constructPath)));
    expect(paths.filter((p) => p.includes('runs') || p.includes('events'))).toEqual([]);
  });

  it('finds nothing to say about the CORS preflights it adds (OPTIONS on the results route and each endpoint)', () => {
    const other = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(other, 'RestCors');
    const durable = new DurableEndpoints(stack, 'Durable', { api: new RestApi(stack, 'Api'), cors: { allowOrigins: ['https://app.example.com'] } });
    durable.addEndpoint('POST /x', { entry: fileURLToPath(new URL('../examples/process.ts', import.meta.url)), authorizer: undefined });
    Validations.of(other).addPlugins(new nag.AwsSolutionsChecks(other));

    expect(() => other.synth()).toThrow(/AwsSolutions-APIG/);
    const paths = report(other.outdir).pluginReports.flatMap((r) => r.violations.flatMap((v) => v.violatingConstructs.map((c) => c.constructPath)));
    expect(paths.filter((p) => p.includes('OPTIONS'))).toEqual([]);
    expect(paths.filter((p) => p.includes('runs'))).toEqual([]);
  });
});
