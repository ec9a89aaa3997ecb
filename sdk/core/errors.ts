import { toMs } from './duration.ts';

/**
 * The base of every error the kit throws on purpose, so callers can tell them from their own:
 * `error instanceof DurableError`. Each failure mode has its own class below; `sdk/http/answers.ts`
 * maps the ones a caller can see to HTTP answers.
 */
export class DurableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * Thrown by a step to fail it at once: no retry, whatever retries are left.
 * The handler sees it from `step.run`; if it does not catch it, the run fails.
 */
export class NonRetriableError extends DurableError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'NonRetriableError';
  }
}

/**
 * Thrown by a step to ask for the next attempt after `delay` (for example what a rate-limited API
 * said in its own Retry-After), instead of the endpoint's exponential backoff.
 */
export class RetryAfterError extends DurableError {
  readonly delayMs: number;
  constructor(message: string, delay: number | string | Date, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RetryAfterError';
    this.delayMs = delay instanceof Date ? Math.max(0, delay.getTime() - Date.now()) : toMs(delay, 'RetryAfterError delay');
  }
}

/** A step returned a value that cannot be journaled as JSON (plus Date). Never retried. */
export class SerializationError extends NonRetriableError {
  constructor(message: string) {
    super(message);
    this.name = 'SerializationError';
  }
}

/** The steps called in this attempt differ from the journaled ones: the code changed between attempts. */
export class NonDeterminismError extends NonRetriableError {
  constructor(message: string) {
    super(message);
    this.name = 'NonDeterminismError';
  }
}

/**
 * A step streamed more than its item can keep (`MAX_STEP_STREAM_BYTES`), or a chunk that is not
 * JSON: the step attempt fails at once, naming the endpoint, run and step.
 */
export class StreamError extends NonRetriableError {
  constructor(message: string) {
    super(message);
    this.name = 'StreamError';
  }
}

/** `step` was used where no durable run is active. */
export class DurableContextError extends DurableError {
  constructor(message: string) {
    super(message);
    this.name = 'DurableContextError';
  }
}

/** Another invocation holds (or took over) the run: this one must stop without writing. */
export class LeaseLostError extends DurableError {
  constructor(runId: string) {
    super(`Run ${runId} is held by another invocation; this one stops without writing.`);
    this.name = 'LeaseLostError';
  }
}

/** The journal could not be written after retries; nothing was reported as done that is not stored. */
export class JournalError extends DurableError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'JournalError';
  }
}

/**
 * A timer service refused to arm a resume. The run is saved but nothing will wake it: the message
 * names the run and the service, and the cause carries the service's own error.
 */
export class TimerError extends DurableError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TimerError';
  }
}

/** The sweep gave up on a run: it was re-armed again and again and made no progress (an attempt that keeps dying). */
export class RunStuckError extends NonRetriableError {
  constructor(message: string) {
    super(message);
    this.name = 'RunStuck';
  }
}

/** A request larger than a run can keep (as journaled): answered 413 at its first step, nothing stored. */
export class RequestTooLargeError extends NonRetriableError {
  readonly bytes: number;
  constructor(message: string, bytes: number) {
    super(message);
    this.name = 'RequestTooLargeError';
    this.bytes = bytes;
  }
}

/** An `Idempotency-Key` header that is not 1-255 visible ASCII characters: 400. */
export class IdempotencyKeyInvalidError extends DurableError {
  constructor() {
    super('Idempotency-Key must be 1-255 visible ASCII characters.');
    this.name = 'BadRequest';
  }
}

/** The key was used for a different request (method, path, query or body) to the endpoint: 422. */
export class IdempotencyKeyReusedError extends DurableError {
  constructor(endpoint: string) {
    super(`This Idempotency-Key was used for a different request to ${endpoint}; use a new key for a new request.`);
    this.name = 'IdempotencyKeyReused';
  }
}

/** The first request with this key has not reached its first step yet: 409 with Retry-After. */
export class RequestInProgressError extends DurableError {
  constructor() {
    super('A request with this Idempotency-Key is in progress; retry shortly.');
    this.name = 'RequestInProgress';
  }
}

/**
 * A request refused by flow control: 429 with `Retry-After`, no run. The message names the
 * endpoint, the limit and the key.
 */
export class FlowLimitError extends DurableError {
  /** When the caller may try again. */
  readonly retryAfterMs: number;
  /** The limited endpoint (its name, with `[n]` for its n-th limit of a kind) and the key. */
  readonly scope: string;
  readonly key: string;
  constructor(message: string, details: { retryAfterMs: number; scope: string; key: string }) {
    super(message);
    this.retryAfterMs = details.retryAfterMs;
    this.scope = details.scope;
    this.key = details.key;
  }
}

/** Over a `rateLimit`: the request is dropped (lossy), counted and logged. */
export class RateLimitedError extends FlowLimitError {
  constructor(message: string, details: { retryAfterMs: number; scope: string; key: string }) {
    super(message, details);
    this.name = 'RateLimited';
  }
}

/** Over a `concurrency` limit with `onLimit: 'reject'`, after waiting inline for a slot. */
export class ConcurrencyLimitedError extends FlowLimitError {
  constructor(message: string, details: { retryAfterMs: number; scope: string; key: string }) {
    super(message, details);
    this.name = 'ConcurrencyLimited';
  }
}

/** A flow-control `key` function threw or returned something other than a string: 400. */
export class FlowKeyError extends DurableError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BadRequest';
  }
}

/** The error as it is journaled and shown to callers: no stack, no cause chain. */
export interface SerializedError {
  name: string;
  message: string;
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: 'Error', message: typeof error === 'string' ? error : safeString(error) };
}

/** Rebuilds a journaled error so a replayed step throws what it threw the first time. */
export function deserializeError(error: SerializedError): Error {
  const rebuilt = new NonRetriableError(error.message);
  rebuilt.name = error.name;
  return rebuilt;
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
