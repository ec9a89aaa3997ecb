/**
 * Answering an event stream at once while the handler goes on. Middy awaits the handler before it
 * returns anything, and a middleware cannot reach the handler to run it itself; so whoever calls
 * the whole handler (`streamingHandler`) offers a slot, through `AsyncLocalStorage`, in which
 * `durable()` publishes its stream as soon as it has one, and returns that while the handler runs.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { ENV } from '../core/contract.ts';
import type { StreamingResponse } from '../core/http.ts';
import { processDefaults } from './deployment.ts';

/** Where the endpoint hands its event stream over, as soon as it has one. */
export interface StreamSlot {
  publish(response: StreamingResponse): void;
  /** Set by the endpoint: the invocation failed after the stream was published. */
  abort?: (error: unknown) => void;
  /** Set once an endpoint took the slot: a handler called by the handler does not take it again. */
  taken?: boolean;
}

// One store per process even if two copies of this module load (a bundled handler and the dev server).
const SLOTS_KEY = Symbol.for('durable-endpoints.stream-slots');
const slots = ((globalThis as Record<symbol, unknown>)[SLOTS_KEY] ??= new AsyncLocalStorage<StreamSlot>()) as AsyncLocalStorage<StreamSlot>;

/** The slot of the invocation being handled, once: undefined when nobody can answer before the handler ends. */
export function takeStreamSlot(): StreamSlot | undefined {
  const slot = slots.getStore();
  if (!slot || slot.taken) return undefined;
  slot.taken = true;
  return slot;
}

/** Whether this function's responses are streamed by the platform: `DURABLE_STREAMING=1`, or the dev server. */
export function platformStreams(): boolean {
  return processDefaults().streaming ?? process.env[ENV.streaming] === '1';
}

// The invocation's work, awaited after the body was sent (Lambda freezes a function that returned).
const WORK = Symbol.for('durable-endpoints.work');

/** `response`, with the work that goes on while its body streams. */
export function withWork(response: StreamingResponse, work: Promise<unknown>): StreamingResponse {
  return Object.assign(response, { [WORK]: work.catch(() => undefined) });
}

/** What goes on after `result` was returned (`withWork`), to await before the function returns. */
export function workOf(result: unknown): Promise<unknown> | undefined {
  return (result as { [WORK]?: Promise<unknown> } | null | undefined)?.[WORK];
}

/**
 * Calls `handler` with a slot and resolves with the stream it publishes, or with its result if it
 * publishes none. The handler goes on after a stream was published.
 */
export function respondAtOnce<A extends unknown[]>(handler: (...args: A) => Promise<unknown>, ...args: A): Promise<unknown> {
  let publish!: (response: StreamingResponse) => void;
  const published = new Promise<StreamingResponse>((resolve) => (publish = resolve));
  const slot: StreamSlot = { publish };
  const done = slots.run(slot, () => handler(...args));
  done.catch((error) => slot.abort?.(error));
  return Promise.race([published.then((response) => withWork(response, done)), done]);
}
