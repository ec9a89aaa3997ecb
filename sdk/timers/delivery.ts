/**
 * What the AWS timer adapters share: the message the timer state machine takes, wake-up names and
 * the error a refused timer raises.
 */
import { TimerError } from '../core/errors.ts';
import type { ResumeEvent } from '../core/resume.ts';

/**
 * The input of the timer state machine the `DurableEndpoints` construct deploys: it waits until
 * `wakeAt`, then invokes `functionName` asynchronously with `event` as the whole payload, so the
 * endpoint receives exactly the {@link ResumeEvent} it would get from any other timer.
 */
export interface TimerMessage {
  functionName: string;
  /** ISO 8601 UTC in whole seconds: the Wait state's `TimestampPath`. */
  wakeAt: string;
  event: ResumeEvent;
}

export function timerMessage(functionName: string, event: ResumeEvent, at: Date): TimerMessage {
  // Every field present: the state machine copies each one into the resume it delivers.
  return { functionName, wakeAt: `${wholeSecondsUtc(at)}Z`, event: { ...event, functionName: event.functionName ?? functionName, at: event.at ?? at.toISOString() } };
}

/**
 * `yyyy-mm-ddThh:mm:ss` in UTC, rounded up to the next whole second: a resume may come a little
 * late, never early (a `RetryAfterError` from a rate-limited API means "not before").
 */
export function wholeSecondsUtc(at: Date): string {
  return new Date(Math.ceil(at.getTime() / 1_000) * 1_000).toISOString().slice(0, 19);
}

/**
 * `<runId>-<attempt>-<reason>`: one name per wake-up, readable in the console, within both Step
 * Functions' execution names (80 of `[0-9A-Za-z_-]`) and Scheduler's (64 of `[0-9a-zA-Z-_.]`).
 */
export function wakeUpName(event: ResumeEvent, maxLength: number): string {
  return `${event.runId}-${event.attempt}-${event.reason}`.replace(/[^0-9A-Za-z_-]/g, '_').slice(0, maxLength);
}

export function required(value: string | undefined, env: string, option: string): string {
  if (value) return value;
  throw new TimerError(
    `durable-endpoints: the AWS timer needs ${env}. Deploy the endpoint with the DurableEndpoints construct (it sets it) or pass \`${option}\`.`,
  );
}

export function timerError(call: string, event: ResumeEvent, cause: unknown): TimerError {
  const why = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
  return new TimerError(
    `durable-endpoints: ${call} failed for run ${event.runId} (${event.endpoint}, attempt ${event.attempt}, ${event.reason}): ${why}. ` +
      'The run is saved but no resume is armed: check the function role and the service quota.',
    { cause },
  );
}
