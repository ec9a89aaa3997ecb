/**
 * The AWS timer adapters, request by request. No local emulator exists for Step Functions,
 * EventBridge Scheduler or Lambda's Invoke API, so these tests stub the SDK clients with
 * aws-sdk-client-mock (and, for the SDK's own retries, a loopback server speaking the Step
 * Functions wire protocol) and assert the exact requests our adapters send.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { ConflictException, CreateScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AwsTimer,
  isResumeEvent,
  LambdaInvokeTimer,
  RESUME_EVENT_TYPE,
  SchedulerTimer,
  StepFunctionsTimer,
  TimerError,
  type ResumeEvent,
} from '../sdk/index.ts';

const sfn = mockClient(SFNClient);
const scheduler = mockClient(SchedulerClient);
const lambda = mockClient(LambdaClient);

const STATE_MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:Timer';
const ROLE = 'arn:aws:iam::123456789012:role/SchedulerRole';
const GROUP = 'durable-schedules';
const FUNCTION = 'DurableEndpointsExample-DurablePOSTprocess-AbC123';

const event: ResumeEvent = { type: RESUME_EVENT_TYPE, endpoint: 'POST /process', runId: '01JABCDEFGHJKMNPQRSTVWXYZ0', attempt: 2, reason: 'retry' };
const throttled = () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });

beforeEach(() => {
  sfn.reset();
  scheduler.reset();
  lambda.reset();
});

describe('StepFunctionsTimer', () => {
  const timer = () => new StepFunctionsTimer({ stateMachineArn: STATE_MACHINE, functionName: FUNCTION });

  it('starts the timer state machine once per wake-up, named after run, attempt and reason, with the wake time rounded up to the second', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:execution', startDate: new Date() });

    await timer().schedule(event, new Date('2030-01-02T03:04:05.001Z'));

    const calls = sfn.commandCalls(StartExecutionCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toEqual({
      stateMachineArn: STATE_MACHINE,
      name: '01JABCDEFGHJKMNPQRSTVWXYZ0-2-retry',
      input: expect.any(String),
    });
    expect(JSON.parse(calls[0]!.args[0].input.input!)).toEqual({ functionName: FUNCTION, wakeAt: '2030-01-02T03:04:06Z', event: { ...event, functionName: FUNCTION, at: '2030-01-02T03:04:05.001Z' } });
  });

  it('treats ExecutionAlreadyExists as already armed', async () => {
    sfn.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'exists', $metadata: {} }));

    await expect(timer().schedule(event, new Date(Date.now() + 10_000))).resolves.toBeUndefined();
  });

  it('fails with a TimerError naming the run and the call when the service still throttles after the SDK retries', async () => {
    sfn.on(StartExecutionCommand).rejects(throttled());

    const failure = timer().schedule(event, new Date(Date.now() + 10_000));

    await expect(failure).rejects.toThrow(TimerError);
    await expect(failure).rejects.toThrow(/Step Functions StartExecution failed for run 01JABCDEFGHJKMNPQRSTVWXYZ0 \(POST \/process, attempt 2, retry\): ThrottlingException/);
  });

  it('says which setting is missing outside a deployment', async () => {
    await expect(new StepFunctionsTimer({ functionName: FUNCTION }).schedule(event, new Date())).rejects.toThrow(/DURABLE_TIMER_STATE_MACHINE_ARN/);
  });

  it('leaves throttling to the SDK client, which retries it (against a loopback stand-in for the Step Functions API)', async () => {
    const seen: { target: string | undefined; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk));
      req.on('end', () => {
        seen.push({ target: req.headers['x-amz-target'] as string | undefined, body });
        res.setHeader('content-type', 'application/x-amz-json-1.0');
        if (seen.length <= 2) {
          res.statusCode = 400;
          res.end(JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded' }));
        } else {
          res.end(JSON.stringify({ executionArn: 'arn:execution', startDate: 1_900_000_000 }));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    sfn.restore(); // this test uses the real client end to end
    try {
      const client = new SFNClient({
        endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        region: 'eu-west-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      });
      await new StepFunctionsTimer({ stateMachineArn: STATE_MACHINE, functionName: FUNCTION, client }).schedule(event, new Date(Date.now() + 5_000));
    } finally {
      server.close();
    }
    expect(seen.map((s) => s.target)).toEqual(Array(3).fill('AWSStepFunctions.StartExecution'));
    expect(new Set(seen.map((s) => s.body)).size).toBe(1); // the same request each time
  });
});

describe('SchedulerTimer', () => {
  const timer = () => new SchedulerTimer({ group: GROUP, roleArn: ROLE, stateMachineArn: STATE_MACHINE, functionName: FUNCTION });

  it('creates a one-time UTC schedule that starts the timer state machine and deletes itself', async () => {
    scheduler.on(CreateScheduleCommand).resolves({ ScheduleArn: 'arn:schedule' });

    await timer().schedule({ ...event, reason: 'sleep' }, new Date('2030-06-30T23:59:59.500Z'));

    const calls = scheduler.commandCalls(CreateScheduleCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect(input).toEqual({
      Name: '01JABCDEFGHJKMNPQRSTVWXYZ0-2-sleep',
      GroupName: GROUP,
      ClientToken: '01JABCDEFGHJKMNPQRSTVWXYZ0-2-sleep',
      ScheduleExpression: 'at(2030-07-01T00:00:00)',
      ScheduleExpressionTimezone: 'UTC',
      FlexibleTimeWindow: { Mode: 'OFF' },
      ActionAfterCompletion: 'DELETE',
      Target: { Arn: STATE_MACHINE, RoleArn: ROLE, Input: expect.any(String) },
    });
    expect(JSON.parse(input.Target!.Input!)).toEqual({ functionName: FUNCTION, wakeAt: '2030-07-01T00:00:00Z', event: { ...event, reason: 'sleep', functionName: FUNCTION, at: '2030-06-30T23:59:59.500Z' } });
  });

  it('keeps schedule names within 64 characters of [0-9a-zA-Z-_.]', async () => {
    scheduler.on(CreateScheduleCommand).resolves({});
    const odd = { ...event, runId: `${'R'.repeat(60)}/#x`, attempt: 123_456 };

    await timer().schedule(odd, new Date(Date.now() + 3_600_000));

    const name = scheduler.commandCalls(CreateScheduleCommand)[0]!.args[0].input.Name!;
    expect(name).toMatch(/^[0-9a-zA-Z\-_.]{1,64}$/);
  });

  it('treats ConflictException as already scheduled', async () => {
    scheduler.on(CreateScheduleCommand).rejects(new ConflictException({ Message: 'exists', message: 'exists', $metadata: {} }));

    await expect(timer().schedule(event, new Date(Date.now() + 600_000))).resolves.toBeUndefined();
  });

  it('fails with a TimerError naming the run when Scheduler throttles', async () => {
    scheduler.on(CreateScheduleCommand).rejects(throttled());

    await expect(timer().schedule(event, new Date(Date.now() + 600_000))).rejects.toThrow(
      /EventBridge Scheduler CreateSchedule failed for run 01JABCDEFGHJKMNPQRSTVWXYZ0 .*ThrottlingException/,
    );
  });
});

describe('LambdaInvokeTimer', () => {
  it('invokes the function asynchronously with exactly the resume event as the payload', async () => {
    lambda.on(InvokeCommand).resolves({ StatusCode: 202 });

    await new LambdaInvokeTimer({ functionName: FUNCTION }).schedule(event, new Date());

    const { input } = lambda.commandCalls(InvokeCommand)[0]!.args[0];
    expect(input).toMatchObject({ FunctionName: FUNCTION, InvocationType: 'Event' });
    const payload = JSON.parse(new TextDecoder().decode(input.Payload as Uint8Array));
    expect(payload).toEqual(event);
    expect(isResumeEvent(payload)).toBe(true);
  });

  it('fails with a TimerError naming the run when Lambda throttles', async () => {
    lambda.on(InvokeCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' }));

    await expect(new LambdaInvokeTimer({ functionName: FUNCTION }).schedule(event, new Date())).rejects.toThrow(/Lambda Invoke failed .*TooManyRequestsException/);
  });

  it('resumes the function running the code by default (AWS_LAMBDA_FUNCTION_NAME)', async () => {
    lambda.on(InvokeCommand).resolves({ StatusCode: 202 });
    process.env.AWS_LAMBDA_FUNCTION_NAME = 'from-the-runtime';
    try {
      await new LambdaInvokeTimer().schedule(event, new Date());
    } finally {
      delete process.env.AWS_LAMBDA_FUNCTION_NAME;
    }
    expect(lambda.commandCalls(InvokeCommand)[0]!.args[0].input.FunctionName).toBe('from-the-runtime');
  });
});

describe('AwsTimer', () => {
  const ENV = {
    DURABLE_TIMER_STATE_MACHINE_ARN: STATE_MACHINE,
    DURABLE_SCHEDULER_GROUP: GROUP,
    DURABLE_SCHEDULER_ROLE_ARN: ROLE,
    AWS_LAMBDA_FUNCTION_NAME: FUNCTION,
  };
  beforeEach(() => {
    Object.assign(process.env, ENV);
    sfn.on(StartExecutionCommand).resolves({});
    scheduler.on(CreateScheduleCommand).resolves({});
    lambda.on(InvokeCommand).resolves({ StatusCode: 202 });
  });
  afterEach(() => {
    for (const name of Object.keys(ENV)) delete process.env[name];
  });

  const services = () => ({
    lambda: lambda.commandCalls(InvokeCommand).length,
    sfn: sfn.commandCalls(StartExecutionCommand).length,
    scheduler: scheduler.commandCalls(CreateScheduleCommand).length,
  });

  it.each([
    ['a resume already due', -1_000, { lambda: 1, sfn: 0, scheduler: 0 }],
    ['30 seconds', 30_000, { lambda: 0, sfn: 1, scheduler: 0 }],
    ['just under a minute', 59_000, { lambda: 0, sfn: 1, scheduler: 0 }],
    ['a minute', 61_000, { lambda: 0, sfn: 0, scheduler: 1 }],
    ['30 days', 30 * 86_400_000, { lambda: 0, sfn: 0, scheduler: 1 }],
  ])('sends %s to the right service with the default thresholds, configured from the environment', async (_case, delay, expected) => {
    await new AwsTimer().schedule(event, new Date(Date.now() + delay));

    expect(services()).toEqual(expected);
  });

  it('takes its thresholds as options', async () => {
    const timer = new AwsTimer({ immediateMax: '2s', stepFunctionsMax: '4m' });

    await timer.schedule(event, new Date(Date.now() + 1_000));
    await timer.schedule({ ...event, attempt: 3 }, new Date(Date.now() + 200_000));
    await timer.schedule({ ...event, attempt: 4 }, new Date(Date.now() + 241_000));

    expect(services()).toEqual({ lambda: 1, sfn: 1, scheduler: 1 });
  });

  it('refuses a Step Functions threshold an Express execution could not wait out', () => {
    expect(() => new AwsTimer({ stepFunctionsMax: '5m' })).toThrow(/Express state machine runs at most 5 minutes/);
    expect(() => new AwsTimer({ immediateMax: '2m', stepFunctionsMax: '1m' })).toThrow(/immediateMax/);
  });
});
