export { durable, durableHandler, type DurableMiddleware } from './endpoint/middleware.ts';
export { step } from './engine/step.ts';
export { stream, MAX_STEP_STREAM_BYTES } from './engine/stream.ts';
export {
  NonRetriableError,
  RetryAfterError,
  SerializationError,
  StreamError,
  NonDeterminismError,
  DurableContextError,
  LeaseLostError,
  JournalError,
  TimerError,
  DurableError,
  RequestTooLargeError,
  IdempotencyKeyInvalidError,
  IdempotencyKeyReusedError,
  RequestInProgressError,
  RunStuckError,
  FlowLimitError,
  RateLimitedError,
  ConcurrencyLimitedError,
  FlowKeyError,
  type SerializedError,
} from './core/errors.ts';
export { DEFAULT_REDACT_HEADERS, DEFAULT_REDACT_QUERY, type DurableOptions, type FailureInfo } from './endpoint/options.ts';
export type { ConcurrencyLimit, ThrottleLimit, RateLimit, FlowKey } from './endpoint/flow-control.ts';
export type { StepConcurrency, StepThrottle } from './engine/flow.ts';
export { configureDurable, type ProcessDefaults, type FaultSource } from './endpoint/deployment.ts';
export type { StepOptions, BackoffOptions } from './engine/retries.ts';
export type { FaultInjector } from './engine/attempt.ts';
export { systemClock, type Clock } from './core/clock.ts';
export { createResultsHandler, type ResultsOptions } from './routes/results.ts';
export { streamingHandler, type StreamableResponse } from './endpoint/lambda-streaming.ts';
export { replayRun } from './routes/replay.ts';
export { createEventsHandler, type EventsOptions } from './routes/events.ts';
export type { DurableEvent, WaitForEventOptions } from './engine/events.ts';
export type { StartExecutionOptions, WaitForExecutionOptions, ExecutionResult } from './engine/executions.ts';
export { sweepRuns, createSweeper, type SweepOptions, type SweepReport } from './routes/sweep.ts';
export {
  AwsStepFunctions,
  EXECUTION_EVENT,
  type AwsStepFunctionsOptions,
  type StepFunctions,
  type StartExecutionRequest,
  type StartedExecution,
  type ExecutionStatus,
  type ExecutionEventData,
} from './workflows/step-functions.ts';
export { setLogSink, type LogSink, type LogFields, type Level } from './core/log.ts';
export { signToken, verifyToken } from './core/token.ts';
export { RUN_ID_HEADER, IDEMPOTENCY_KEY_HEADER, INJECT_FAILURE_HEADER, EVENT_STREAM_TYPE } from './core/contract.ts';
export type { Duration } from './core/duration.ts';
export { DynamoJournal, type DynamoJournalOptions } from './journal/dynamodb.ts';
export type { Journal, JournalWrite, Fence, RunFilter } from './journal/journal.ts';
export { MemoryBlobStore, type BlobStore, type BlobEncoding, type BlobUrlOptions } from './payloads/blob-store.ts';
export { FileBlobStore, type FileBlobUrls } from './payloads/file.ts';
export { S3BlobStore, type S3BlobStoreOptions } from './payloads/s3.ts';
export type { RunRecord, StepRecord, RunStatus, StepStatus, LoadedRun, EventWaiter, ReceivedEvent, FlowKind, FlowRef, FlowState, LimitedBy, QueueEntry, RolledBack, TailEvent, RunProgress } from './core/records.ts';
export type { RequestSnapshot, HttpResponse, StreamingResponse } from './core/http.ts';
export type { RunStreamEvent, StreamedResponse } from './core/event-stream.ts';
export { LocalTimer, type LocalTimerOptions } from './timers/local.ts';
export { isResumeEvent, resumeEvent, RESUME_EVENT_TYPE, type ResumeEvent, type ResumeReason } from './core/resume.ts';
export { type Timer } from './timers/timer.ts';
export { AwsTimer, type AwsTimerOptions } from './timers/aws.ts';
export { StepFunctionsTimer, type StepFunctionsTimerOptions } from './timers/step-functions.ts';
export { SchedulerTimer, type SchedulerTimerOptions } from './timers/scheduler.ts';
export { LambdaInvokeTimer, type LambdaInvokeTimerOptions } from './timers/lambda-invoke.ts';
export type { TimerMessage } from './timers/delivery.ts';
