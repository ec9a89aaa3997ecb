/**
 * What the construct refuses or restricts: dev-only fault injection on AWS, the scheduler role
 * handed to another service, and a timer state machine that could deliver more than a resume.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DurableEndpoints } from '../../lib/index.ts';
import { logicalId, statementsOf } from '../support/template.ts';

const ENTRY = fileURLToPath(new URL('../../examples/process.ts', import.meta.url));

function deployment() {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Security');
  const durable = new DurableEndpoints(stack, 'Durable');
  return { stack, durable };
}

describe('the construct', () => {
  it('refuses DURABLE_DEV in an endpoint’s environment: fault injection never runs on AWS', () => {
    const { durable } = deployment();

    expect(() => durable.addEndpoint('POST /process', { entry: ENTRY, environment: { DURABLE_DEV: '1' } })).toThrow(/DURABLE_DEV turns on fault injection/);
  });

  it('lets an endpoint pass the scheduler role to EventBridge Scheduler only', () => {
    const { stack, durable } = deployment();
    const fn = durable.addEndpoint('POST /process', { entry: ENTRY });
    const template = Template.fromStack(stack);

    const passRole = statementsOf(template, logicalId(stack, fn.role!)).filter((s) => [s.Action].flat().includes('iam:PassRole'));

    expect(passRole).toHaveLength(1);
    expect(passRole[0]!.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } });
  });

  it('has the timer state machine deliver a resume event built field by field, never its input as is', () => {
    const { stack, durable } = deployment();
    durable.addEndpoint('POST /process', { entry: ENTRY });
    const definition = JSON.stringify(Template.fromStack(stack).toJSON()).match(/"DefinitionString":(\{"Fn::Join":\["",\[.*?\]\]\})/)![1]!;
    const text = (JSON.parse(definition)['Fn::Join'][1] as unknown[]).map((part) => (typeof part === 'string' ? part : '<ref>')).join('');
    const task = JSON.parse(text).States.ResumeEndpoint;

    expect(task.Parameters.Payload).toEqual({
      type: 'durable-endpoints/resume',
      'endpoint.$': '$.event.endpoint',
      'functionName.$': '$.event.functionName',
      'runId.$': '$.event.runId',
      'attempt.$': '$.event.attempt',
      'reason.$': '$.event.reason',
      'at.$': '$.event.at',
    });
    expect(JSON.stringify(task.Parameters)).not.toContain('"Payload.$"');
  });
});
