/**
 * cdk-nag's AwsSolutions pack on the example app (`lib/app.ts`, what `cdk synth` runs): no finding
 * may be left unacknowledged, and every acknowledgement says why. Bundling is skipped: the rules
 * read the template, not the code.
 */
import { App, Stack, Validations } from 'aws-cdk-lib';
import { RestApi } from 'aws-cdk-lib/aws-apigateway';
import { Key } from 'aws-cdk-lib/aws-kms';
import nag from 'cdk-nag';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DurableEndpoints } from '../lib/index.ts';

process.env.CDK_CONTEXT_JSON = JSON.stringify({ 'aws:cdk:bundling-stacks': [] });
const { app } = await import('../lib/app.ts');

interface Report {
  pluginReports: { pluginName: string; conclusion: string; violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[] }[];
}
const report = (outdir: string) => JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as Report;

describe('cdk-nag AwsSolutions on the example app', () => {
  it('leaves no finding unacknowledged', () => {
    const assembly = app.synth();

    expect(report(assembly.directory).pluginReports.flatMap((r) => r.violations)).toEqual([]);
  });

  it('gives a reason for every acknowledgement', () => {
    const acknowledged = app.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
      // Stored as { 'Annotation::<rule id>': reason } per construct.
      .flatMap((m) => Object.entries(m.data as Record<string, string>).map(([key, reason]) => ({ id: key.replace(/^Annotation::/, ''), reason })));

    expect(acknowledged.map((a) => a.id).sort()).toEqual([
      'AwsSolutions-APIG4', // the example routes: public on purpose (process, research, orders, remind)
      'AwsSolutions-APIG4',
      'AwsSolutions-APIG4',
      'AwsSolutions-APIG4',
      'AwsSolutions-APIG4', // the results route: HMAC token in the URL
      'AwsSolutions-IAM5[Resource::*]', // Step Functions log delivery
      ...Array(4).fill(expect.stringMatching(/^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:scheduler:.*:schedule\/.+\/\*\]$/)), // each endpoint's schedules
      'AwsSolutions-SF2', // no X-Ray on the timer
      'AwsSolutions-SMG4', // no automatic rotation of the token secret
      'AwsSolutions-SQS3', // the events dead-letter queue has none behind it
    ]);
    for (const { reason } of acknowledged) expect(reason.length).toBeGreaterThan(40);
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
