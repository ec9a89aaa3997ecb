import type { SchedulerClient } from '@aws-sdk/client-scheduler';
import { required, timerError, timerMessage, wakeUpName, wholeSecondsUtc } from './delivery.ts';
import type { ResumeEvent } from '../core/resume.ts';
import type { Timer } from './timer.ts';
import { ENV } from '../core/contract.ts';

export interface SchedulerTimerOptions {
  /** The schedule group. Default: `DURABLE_SCHEDULER_GROUP`, set by the construct. */
  group?: string;
  /** The role Scheduler assumes to start the timer state machine. Default: `DURABLE_SCHEDULER_ROLE_ARN`. */
  roleArn?: string;
  /** The schedules' target. Default: `DURABLE_TIMER_STATE_MACHINE_ARN`. */
  stateMachineArn?: string;
  /** The Lambda to resume when the resume event names none (`functionName`). Default: `AWS_LAMBDA_FUNCTION_NAME`, the function running this code. */
  functionName?: string;
  /** Default: a client for the Lambda's region and credentials, created on first use. */
  client?: SchedulerClient;
}

const SCHEDULE_NAME_MAX = 64;

/**
 * Long timers (a minute up to a year) as one-time EventBridge Scheduler schedules that delete
 * themselves after firing. Scheduler's precision is a minute, so the schedule starts the timer
 * state machine rather than the Lambda: its Wait state holds the resume until the exact second
 * (a schedule that fires late passes straight through). Targeting the state machine also keeps
 * the endpoint's own ARN out of its environment, which CloudFormation could not resolve (the
 * function would depend on itself), and leaves one place that invokes endpoints.
 */
export class SchedulerTimer implements Timer {
  private readonly options: SchedulerTimerOptions;
  private client: SchedulerClient | undefined;

  constructor(options: SchedulerTimerOptions = {}) {
    this.options = options;
    this.client = options.client;
  }

  async schedule(event: ResumeEvent, at: Date): Promise<void> {
    const env = process.env;
    const group = required(this.options.group ?? env[ENV.schedulerGroup], ENV.schedulerGroup, 'group');
    const roleArn = required(this.options.roleArn ?? env[ENV.schedulerRoleArn], ENV.schedulerRoleArn, 'roleArn');
    const stateMachineArn = required(this.options.stateMachineArn ?? env[ENV.timerStateMachineArn], ENV.timerStateMachineArn, 'stateMachineArn');
    const functionName = required(event.functionName ?? this.options.functionName ?? env.AWS_LAMBDA_FUNCTION_NAME, 'AWS_LAMBDA_FUNCTION_NAME', 'functionName');
    const name = wakeUpName(event, SCHEDULE_NAME_MAX);
    // Loaded on the first long suspension, not at cold start: the happy path never needs it.
    const { SchedulerClient, CreateScheduleCommand } = await import('@aws-sdk/client-scheduler');
    this.client ??= new SchedulerClient({});
    try {
      await this.client.send(
        new CreateScheduleCommand({
          Name: name,
          GroupName: group,
          ClientToken: name,
          ScheduleExpression: `at(${wholeSecondsUtc(at)})`,
          ScheduleExpressionTimezone: 'UTC',
          FlexibleTimeWindow: { Mode: 'OFF' },
          ActionAfterCompletion: 'DELETE',
          Target: { Arn: stateMachineArn, RoleArn: roleArn, Input: JSON.stringify(timerMessage(functionName, event, at)) },
        }),
      );
    } catch (error) {
      // Same name = same wake-up: a repeated create (a retried suspension) finds it armed.
      if ((error as Error).name === 'ConflictException') return;
      throw timerError('EventBridge Scheduler CreateSchedule', event, error);
    }
  }
}
