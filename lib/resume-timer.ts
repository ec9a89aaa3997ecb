import { ArnFormat, Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Grant, Role, ServicePrincipal, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { LogGroup } from 'aws-cdk-lib/aws-logs';
import { ScheduleGroup } from 'aws-cdk-lib/aws-scheduler';
import { CustomState, DefinitionBody, LogLevel, StateMachine, StateMachineType, Wait, WaitTime } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { acknowledgeWildcard } from './nag.ts';
import { RESUME_EVENT_TYPE } from '../sdk/core/resume.ts';
import { logGroup, type LogOptions } from './kit-function.ts';
import { separatePolicy } from './separate-policy.ts';

export interface ResumeTimerProps {
  /** How long the state machine's execution logs are kept. Default one month. */
  readonly logRetention?: LogOptions['logRetention'];
  /** What `cdk destroy` does with the log group. Default `RETAIN`. The schedule group is always deleted. */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * What resumes a run later: an Express state machine that waits until the message's `wakeAt`,
 * then invokes the function it names asynchronously with the resume event (second precision, up
 * to 5 minutes), and an EventBridge Scheduler group whose one-time schedules start that state
 * machine for longer delays. A function that arms timers needs `grantArm`; a function the timer
 * resumes needs `allowInvoke`.
 *
 * ```ts
 * const timer = new ResumeTimer(stack, 'Timer');
 * timer.grantArm(fn);
 * timer.allowInvoke(fn);
 * ```
 */
export class ResumeTimer extends Construct {
  /** Express workflow: waits until `wakeAt`, then invokes `functionName` asynchronously with `event`. */
  readonly stateMachine: StateMachine;
  /** The state machine's role. */
  readonly role: Role;
  /** The state machine's execution logs (without execution data). */
  readonly logGroup: LogGroup;
  /** Holds the one-time schedules of long timers. */
  readonly scheduleGroup: ScheduleGroup;
  /** The role EventBridge Scheduler assumes: it may start the state machine, nothing else. */
  readonly schedulerRole: Role;

  // The construct ids below are those the resources had when DurableEndpoints created them itself:
  // they are part of the logical IDs, and a new one would replace the schedule group (deleting
  // the schedules of sleeping runs) and the state machine that in-flight waits run on.
  constructor(scope: Construct, id: string, props: ResumeTimerProps = {}) {
    super(scope, id);
    this.logGroup = logGroup(this, 'TimerLogs', props);
    this.role = new Role(this, 'TimerRole', { assumedBy: new ServicePrincipal('states.amazonaws.com') });
    const wait = new Wait(this, 'WaitUntilWakeAt', { time: WaitTime.timestampPath('$.wakeAt') });
    // A plain task state, because the function to invoke comes from the input: one state machine
    // serves every endpoint, and its role may invoke exactly the functions passed to allowInvoke.
    const invoke = new CustomState(this, 'ResumeEndpoint', {
      stateJson: {
        Type: 'Task',
        Resource: `arn:${Aws.PARTITION}:states:::lambda:invoke`,
        // The payload is a resume event built field by field, never the input's own object: whoever
        // can start this state machine cannot make it deliver an API Gateway request (with someone's
        // authorizer context) to an endpoint.
        Parameters: {
          'FunctionName.$': '$.functionName',
          InvocationType: 'Event',
          Payload: {
            type: RESUME_EVENT_TYPE,
            'endpoint.$': '$.event.endpoint',
            'functionName.$': '$.event.functionName',
            'runId.$': '$.event.runId',
            'attempt.$': '$.event.attempt',
            'reason.$': '$.event.reason',
            'at.$': '$.event.at',
          },
        },
        Retry: [
          {
            ErrorEquals: ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException', 'Lambda.TooManyRequestsException'],
            IntervalSeconds: 1,
            MaxAttempts: 5,
            BackoffRate: 2,
          },
        ],
        End: true,
      },
    });
    this.stateMachine = new StateMachine(this, 'Timer', {
      stateMachineType: StateMachineType.EXPRESS,
      definitionBody: DefinitionBody.fromChainable(wait.next(invoke)),
      role: this.role,
      timeout: Duration.minutes(5),
      logs: { destination: this.logGroup, level: LogLevel.ALL, includeExecutionData: false },
    });
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Added by the StateMachine construct for logging: the CloudWatch Logs log-delivery actions (logs:CreateLogDelivery and friends) ' +
        'do not support resource-level permissions. No action is a wildcard.',
    });
    Validations.of(this.stateMachine).acknowledge({
      id: 'AwsSolutions-SF2',
      reason:
        'X-Ray is off: the state machine is a Wait and one async invoke, a trace would show nothing the execution log does not, ' +
        'and tracing needs xray:Put* on "*" plus a cost per trace. The endpoint function can enable tracing itself.',
    });

    this.scheduleGroup = new ScheduleGroup(this, 'Schedules', { removalPolicy: RemovalPolicy.DESTROY });
    this.schedulerRole = new Role(this, 'SchedulerRole', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        // Only schedules of this account may use the role (confused-deputy protection).
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    });
    this.stateMachine.grantStartExecution(this.schedulerRole);
  }

  /**
   * Lets `grantee` arm timers: start the state machine, create schedules in the group (any name:
   * schedules are named per run at run time) and pass the scheduler role to them.
   */
  grantArm(grantee: IGrantable): Grant {
    const start = this.stateMachine.grantStartExecution(grantee);
    const schedules = Stack.of(this).formatArn({
      service: 'scheduler',
      resource: 'schedule',
      resourceName: `${this.scheduleGroup.scheduleGroupName}/*`,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
    const schedule = Grant.addToPrincipal({ grantee, actions: ['scheduler:CreateSchedule'], resourceArns: [schedules] });
    acknowledgeWildcard(grantee, schedules, 'Schedules are named per run at run time (<runId>-<attempt>-<reason>), so CreateSchedule is allowed in this group only, for any name.');
    // PassRole only to EventBridge Scheduler: the role cannot be handed to any other service.
    const pass = Grant.addToPrincipal({
      grantee,
      actions: ['iam:PassRole'],
      resourceArns: [this.schedulerRole.roleArn],
      conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
    });
    return start.combine(schedule).combine(pass);
  }

  /**
   * Lets the state machine invoke `fn`: the function it resumes. Granted in a policy of the
   * state machine's role apart from its default policy, which the state machine depends on, since
   * a resumed function's environment usually names the state machine.
   */
  allowInvoke(fn: IFunction): Grant {
    return Grant.addToPrincipal({
      grantee: separatePolicy(this.role, this, 'TimerInvokePolicy'),
      actions: ['lambda:InvokeFunction'],
      resourceArns: [fn.functionArn],
    });
  }
}
