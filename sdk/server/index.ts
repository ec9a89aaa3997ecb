export { durable, durableHandler, type DurableMiddleware } from './middleware.ts';
export { step } from './step.ts';
export {
  NonRetriableError,
  RetryAfterError,
  SerializationError,
  NonDeterminismError,
  DurableContextError,
  LeaseLostError,
  JournalError,
  TimerError,
  type SerializedError,
} from './errors.ts';
export { configureDurable, type DurableOptions, type StepOptions, type BackoffOptions, type FailureInfo } from './options.ts';
export { createResultsHandler, type ResultsOptions } from './results.ts';
export { replayRun } from './replay.ts';
export { createEventsHandler, type EventsOptions } from './events.ts';
export type { DurableEvent, WaitForEventOptions, StartExecutionOptions, WaitForExecutionOptions, ExecutionResult } from './run.ts';
export {
  AwsStepFunctions,
  EXECUTION_EVENT,
  type AwsStepFunctionsOptions,
  type StepFunctions,
  type StartExecutionRequest,
  type StartedExecution,
  type ExecutionStatus,
  type ExecutionEventData,
} from '../workflows/step-functions.ts';
export { setLogSink, type LogSink, type LogFields, type Level } from './log.ts';
export { signToken, verifyToken } from './token.ts';
export { RUN_ID_HEADER, IDEMPOTENCY_KEY_HEADER, INJECT_FAILURE_HEADER } from './http.ts';
export type { Duration } from './duration.ts';
export { DynamoJournal, type DynamoJournalOptions } from '../journal/dynamodb.ts';
export type {
  Journal,
  JournalWrite,
  RunRecord,
  StepRecord,
  RunStatus,
  StepStatus,
  RequestSnapshot,
  HttpResponse,
  LoadedRun,
  Fence,
  RunFilter,
  EventWaiter,
  ReceivedEvent,
} from '../journal/journal.ts';
export { LocalTimer, type LocalTimerOptions } from '../timers/local.ts';
export { isResumeEvent, RESUME_EVENT_TYPE, type ResumeEvent, type ResumeReason, type Timer } from '../timers/timer.ts';
export { AwsTimer, type AwsTimerOptions } from '../timers/aws.ts';
export { StepFunctionsTimer, type StepFunctionsTimerOptions } from '../timers/step-functions.ts';
export { SchedulerTimer, type SchedulerTimerOptions } from '../timers/scheduler.ts';
export { LambdaInvokeTimer, type LambdaInvokeTimerOptions } from '../timers/lambda-invoke.ts';
export type { TimerMessage } from '../timers/delivery.ts';
