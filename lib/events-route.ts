import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { ENV, ROUTES } from '../sdk/core/contract.ts';
import { addRoute, apiTypeOf, grantInvokeRoute, routeScope, type DurableApi } from './api.ts';
import type { JournalTable } from './journal-table.ts';
import { kitFile, kitFunction, type LogOptions } from './kit-function.ts';
import type { ResumeTimer } from './resume-timer.ts';

export interface EventsRouteProps {
  /** The API the route is added to. */
  readonly api: DurableApi;
  readonly table: JournalTable;
  /** Its state machine makes the AWS timer the events Lambda's default timer. */
  readonly timer: ResumeTimer;
  /** How long the function's logs are kept. Default one month. */
  readonly logRetention?: LogOptions['logRetention'];
  /** What `cdk destroy` does with the function's log group and the dead-letter queue. Default `RETAIN`. */
  readonly removalPolicy?: RemovalPolicy;
}

const FINAL_EXECUTION_STATUSES = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'];

/**
 * `POST /events`, IAM-authorized: the kit's events Lambda records an event, completes the waiting
 * steps it matches and resumes their runs by invoking their functions (`allowInvoke`). It is also
 * the target of the rule reporting the ends of watched Step Functions executions
 * (`watchExecutions`); the ends it cannot take, after every retry, land in `deadLetterQueue`.
 * Callers need `grantSendEvents`.
 */
export class EventsRoute extends Construct {
  /** The route key, `POST /events`. */
  readonly routeKey: string = ROUTES.events;
  /** The events Lambda. */
  readonly function: NodejsFunction;
  /**
   * Where the execution ends that never reached `step.waitForExecution` are kept, 14 days: those
   * EventBridge could not deliver to the events Lambda, and those whose invocation failed after
   * Lambda's two retries. Redeliver a message's event to the events Lambda once the cause is fixed.
   */
  readonly deadLetterQueue: Queue;
  private readonly api: DurableApi;
  private rule?: Rule;

  constructor(scope: Construct, id: string, props: EventsRouteProps) {
    super(scope, id);
    this.api = props.api;
    // 'Default' leaves the construct's own id out of the function's logical ID: it keeps the
    // one it had before this construct existed, and with it its name.
    this.function = kitFunction(this, { function: 'Default', role: 'Role', logGroup: 'Logs' }, {
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      entry: kitFile('lambdas/events'),
      handler: 'handler',
      timeout: Duration.seconds(29),
      memorySize: 256,
      // The timer's state machine ARN makes AwsTimer the default timer; the events Lambda resumes
      // runs only "now", which AwsTimer sends as an async invoke of the endpoint (allowInvoke).
      environment: { [ENV.table]: props.table.tableName, [ENV.timerStateMachineArn]: props.timer.stateMachine.stateMachineArn },
    });
    props.table.grantEventsAccess(this.function);

    // SQS-managed encryption, not the deployment's key: EventBridge can send to a queue under a
    // customer-managed key only if the key policy lets events.amazonaws.com use it.
    this.deadLetterQueue = new Queue(this, 'DeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is the dead-letter queue itself, of the events Lambda (on-failure destination) and of the execution-events rule: ' +
        'nothing consumes it, so a queue behind it would never receive anything.',
    });
    // POST /events invokes synchronously (the caller sees a failure); EventBridge invokes
    // asynchronously, and an execution end that fails Lambda's two retries would otherwise be lost.
    this.function.configureAsyncInvoke({ onFailure: new SqsDestination(this.deadLetterQueue) });

    addRoute(this.api, this.routeKey, this.function, 'iam');
    if (apiTypeOf(this.api) === 'rest') {
      Validations.of(routeScope(this.api, this.routeKey)).acknowledge({
        id: 'AwsSolutions-COG4',
        reason: 'POST /events is called by services, not users: it is authorized with IAM (SigV4), so no Cognito user pool applies.',
      });
    }
  }

  /**
   * The EventBridge rule that sends the final status changes of the watched state machines'
   * executions to the events Lambda. Created by the first `watchExecutions`: until then there is
   * nothing to watch.
   */
  get executionEvents(): Rule | undefined {
    return this.rule;
  }

  /** Lets `grantee` send events: `execute-api:Invoke` on `POST /events` only, on any stage. */
  grantSendEvents(grantee: IGrantable): Grant {
    return grantInvokeRoute(this.api, this.routeKey, grantee);
  }

  /** Lets the events Lambda invoke `fn`, asynchronously: how an event resumes the runs of `fn` it completes. */
  allowInvoke(fn: IFunction): Grant {
    return Grant.addToPrincipal({ grantee: this.function, actions: ['lambda:InvokeFunction'], resourceArns: [fn.functionArn] });
  }

  /**
   * Delivers the end (SUCCEEDED, FAILED, TIMED_OUT, ABORTED) of these Standard workflows'
   * executions to `step.waitForExecution`, through one rule on the default bus scoped to the state
   * machines named. Express workflows send no such events.
   */
  watchExecutions(...stateMachines: IStateMachine[]): void {
    if (stateMachines.length === 0) return;
    const detail = { status: FINAL_EXECUTION_STATUSES, stateMachineArn: stateMachines.map((m) => m.stateMachineArn) };
    if (this.rule) {
      this.rule.addEventPattern({ detail });
      return;
    }
    this.rule = new Rule(this, 'ExecutionEvents', {
      description: 'durable-endpoints: ends of Step Functions executions, for step.waitForExecution',
      eventPattern: { source: ['aws.states'], detailType: ['Step Functions Execution Status Change'], detail },
      // Two ways to lose an execution's end, both ending in the dead-letter queue instead: EventBridge
      // failing to hand it to Lambda (retried here for up to a day, EventBridge's maximum), and the
      // invocation failing Lambda's two retries (the function's on-failure destination).
      targets: [new LambdaFunction(this.function, { deadLetterQueue: this.deadLetterQueue, retryAttempts: 185, maxEventAge: Duration.hours(24) })],
    });
  }
}
