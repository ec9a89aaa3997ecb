import type { LambdaClient } from '@aws-sdk/client-lambda';
import { required, timerError } from './delivery.ts';
import type { ResumeEvent } from '../core/resume.ts';
import type { Timer } from './timer.ts';

export interface LambdaInvokeTimerOptions {
  /** The Lambda to resume when the resume event names none (`functionName`). Default: `AWS_LAMBDA_FUNCTION_NAME`, the function running this code. */
  functionName?: string;
  /** Default: a client for the Lambda's region and credentials, created on first use. */
  client?: LambdaClient;
}

/**
 * Resumes at once with an asynchronous invoke (`InvocationType: 'Event'`) of the endpoint, the
 * resume event as the payload; `at` is not waited for. Lambda queues the event and retries a
 * failed invocation twice, so this is at-least-once like the other timers.
 */
export class LambdaInvokeTimer implements Timer {
  private readonly options: LambdaInvokeTimerOptions;
  private client: LambdaClient | undefined;

  constructor(options: LambdaInvokeTimerOptions = {}) {
    this.options = options;
    this.client = options.client;
  }

  async schedule(event: ResumeEvent, _at?: Date): Promise<void> {
    const functionName = required(event.functionName ?? this.options.functionName ?? process.env.AWS_LAMBDA_FUNCTION_NAME, 'AWS_LAMBDA_FUNCTION_NAME', 'functionName');
    const { LambdaClient, InvokeCommand } = await import('@aws-sdk/client-lambda');
    this.client ??= new LambdaClient({});
    try {
      await this.client.send(
        new InvokeCommand({ FunctionName: functionName, InvocationType: 'Event', Payload: new TextEncoder().encode(JSON.stringify(event)) }),
      );
    } catch (error) {
      throw timerError('Lambda Invoke', event, error);
    }
  }
}
