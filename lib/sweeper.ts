import { Aws, Duration, type RemovalPolicy } from 'aws-cdk-lib';
import { Grant, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Schedule, ScheduleExpression, type IScheduleTarget } from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';
import { ENV } from '../sdk/core/contract.ts';
import type { JournalTable } from './journal-table.ts';
import { kitFile, kitFunction, type LogOptions } from './kit-function.ts';
import type { ResumeTimer } from './resume-timer.ts';

export interface SweeperProps {
  /** The journal whose `due` index the sweeper reads. */
  readonly table: JournalTable;
  /** Its state machine makes the AWS timer the sweeper's default timer, which resumes runs "now" by an async invoke. */
  readonly timer: ResumeTimer;
  /**
   * How long past its wake time or lease expiry a live run must be before the sweeper re-arms it.
   * Default 2 minutes: EventBridge Scheduler fires up to a minute late, and a shorter grace only
   * re-arms runs whose timer is on its way (each costs a refused invocation).
   */
  readonly grace?: Duration;
  /** How long the function's logs are kept. Default one month. */
  readonly logRetention?: LogOptions['logRetention'];
  /** What `cdk destroy` does with the function's log group. Default `RETAIN`. */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The sweep of stuck runs: the kit's sweeper Lambda, invoked every minute by an EventBridge
 * Scheduler schedule, re-arms live runs that are overdue by `grace` (their timer never fired, their
 * attempt died) and gives up on runs that make no progress. It reads the journal's `due` index and
 * resumes runs by invoking their functions asynchronously: each function needs `allowInvoke`.
 *
 * ```ts
 * const sweeper = new Sweeper(stack, 'Sweeper', { table, timer });
 * sweeper.allowInvoke(endpointFunction);
 * ```
 */
export class Sweeper extends Construct {
  /** The sweeper Lambda. */
  readonly function: NodejsFunction;
  /** Invokes the function every minute. */
  readonly schedule: Schedule;
  /** The role the schedule runs as: it may invoke the sweeper function, nothing else. */
  readonly scheduleRole: Role;
  /** The grace the sweeper is deployed with. */
  readonly grace: Duration;

  constructor(scope: Construct, id: string, props: SweeperProps) {
    super(scope, id);
    this.grace = props.grace ?? Duration.minutes(2);
    this.function = kitFunction(this, { function: 'Function', role: 'Role', logGroup: 'Logs' }, {
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      entry: kitFile('lambdas/sweeper'),
      handler: 'handler',
      // A sweep looks at 100 runs at most (a Query, a PutItem and an invoke each): seconds. Within
      // the minute, so sweeps rarely overlap; when they do, the conditional PutItem lets one win.
      timeout: Duration.minutes(1),
      memorySize: 256,
      // The timer's state machine ARN makes AwsTimer the default timer; the sweeper resumes runs
      // only "now", which AwsTimer sends as an async invoke of the run's function (allowInvoke).
      environment: {
        [ENV.table]: props.table.tableName,
        [ENV.timerStateMachineArn]: props.timer.stateMachine.stateMachineArn,
        [ENV.sweepGrace]: durationString(this.grace),
      },
    });
    props.table.grantSweeperAccess(this.function);
    // A failed sweep is not retried, by Lambda or by the schedule: the next minute's sweep is the
    // retry, and it sees the journal as it is then.
    this.function.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(1) });

    // EventBridge Scheduler rather than a scheduled EventBridge rule: AWS now calls scheduled rules
    // legacy, and Scheduler's price is plain (43,200 invocations a month, within its free 14 million).
    // The kit already depends on it for long timers. Its own target, not `LambdaInvoke`, whose
    // `grantInvoke` also allows every version of the function (`<arn>:*`): the schedule invokes
    // the unqualified function, and its role may do exactly that.
    this.scheduleRole = new Role(this, 'ScheduleRole', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        // Only schedules of this account may use the role (confused-deputy protection).
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    });
    const invoke = Grant.addToPrincipal({ grantee: this.scheduleRole, actions: ['lambda:InvokeFunction'], resourceArns: [this.function.functionArn] });
    const target: IScheduleTarget = {
      bind: () => ({
        arn: this.function.functionArn,
        role: this.scheduleRole,
        // Scheduler invokes Lambda asynchronously, so a delivery failure is the invoke call itself
        // failing; the next minute's invocation retries it.
        retryPolicy: { maximumRetryAttempts: 0, maximumEventAgeInSeconds: 60 },
      }),
    };
    this.schedule = new Schedule(this, 'Schedule', {
      schedule: ScheduleExpression.rate(Duration.minutes(1)),
      target,
      description: 'durable-endpoints: sweeps stuck runs every minute',
    });
    // Its first invocation finds the permission in place.
    invoke.applyBefore(this.schedule);
  }

  /**
   * Lets the sweeper invoke `fn`, asynchronously: how it resumes the overdue runs of `fn`. In the
   * sweeper's default policy, which the sweeper function depends on: `fn`'s environment must not
   * name the sweeper (an endpoint's never does).
   */
  allowInvoke(fn: IFunction): Grant {
    return Grant.addToPrincipal({ grantee: this.function, actions: ['lambda:InvokeFunction'], resourceArns: [fn.functionArn] });
  }
}

/** A CDK duration as the sdk reads it (`'2m'`, `'90s'`, `'1500ms'`). */
function durationString(duration: Duration): string {
  const ms = duration.toMilliseconds();
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}
