/**
 * A run suspended on AWS comes back through whichever service its delay picked, and the endpoint
 * recognises what each delivers. The journal is DynamoDB Local; Step Functions, EventBridge
 * Scheduler and Lambda have no local emulator, so their clients are stubbed with
 * aws-sdk-client-mock and the test plays the service: it hands the endpoint the payload the
 * service would (the timer state machine passes its input's `event` as the whole payload, as
 * test/cdk.test.ts checks on the synthesized definition).
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CreateScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { AwsTimer, RetryAfterError, step, type TimerMessage } from '../sdk/index.ts';
import { lambdaContext } from '../sdk/testing/index.ts';
import { body, durableFixture, httpApiEvent } from './support/fixture.ts';

const sfn = mockClient(SFNClient);
const scheduler = mockClient(SchedulerClient);
const lambda = mockClient(LambdaClient);

beforeEach(() => {
  sfn.reset().on(StartExecutionCommand).resolves({});
  scheduler.reset().on(CreateScheduleCommand).resolves({});
  lambda.reset().on(InvokeCommand).resolves({ StatusCode: 202 });
});

/** What each service hands the endpoint's Lambda, read from the request our timer sent it. */
const delivered = {
  lambda: () => JSON.parse(new TextDecoder().decode(lambda.commandCalls(InvokeCommand)[0]!.args[0].input.Payload as Uint8Array)),
  sfn: () => (JSON.parse(sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input.input!) as TimerMessage).event,
  scheduler: () => (JSON.parse(scheduler.commandCalls(CreateScheduleCommand)[0]!.args[0].input.Target!.Input!) as TimerMessage).event,
};

describe('resuming a run on AWS', () => {
  it.each([
    ['an async Lambda invoke', '10s', 'lambda'],
    ['the Step Functions timer', '90s', 'sfn'],
    ['an EventBridge Scheduler schedule', '10m', 'scheduler'],
  ] as const)('continues from the failed step when %s delivers the resume (retry after %s)', async (_service, delay, service) => {
    const timer = new AwsTimer({
      immediateMax: '30s',
      stepFunctionsMax: '2m',
      stateMachineArn: 'arn:aws:states:eu-west-1:123456789012:stateMachine:Timer',
      schedulerGroup: 'durable-schedules',
      schedulerRoleArn: 'arn:aws:iam::123456789012:role/SchedulerRole',
      functionName: 'process-function',
    });
    const { wrap, result } = await durableFixture({ timer, inlineDelayMax: 0 });
    const calls = { first: 0, flaky: 0 };
    const handler = wrap(async () => {
      await step.run('first', () => ++calls.first);
      const value = await step.run('flaky', () => {
        if (++calls.flaky === 1) throw new RetryAfterError('rate limited', delay);
        return 'done';
      });
      return { statusCode: 200, body: JSON.stringify({ value }) };
    });

    const answer = await handler(httpApiEvent({ method: 'POST', path: '/process', body: {} }));
    expect(answer.statusCode).toBe(303);
    expect({
      lambda: lambda.commandCalls(InvokeCommand).length,
      sfn: sfn.commandCalls(StartExecutionCommand).length,
      scheduler: scheduler.commandCalls(CreateScheduleCommand).length,
    }).toEqual({ lambda: 0, sfn: 0, scheduler: 0, [service]: 1 });

    const resumed = await handler(delivered[service](), lambdaContext());

    expect(resumed.statusCode).toBe(200);
    expect(calls).toEqual({ first: 1, flaky: 2 });
    const final = await result(answer.headers!.location!);
    expect(final.statusCode).toBe(200);
    expect(body(final)).toEqual({ value: 'done' });
  });
});
