import { AsyncLocalStorage } from 'node:async_hooks';
import type { StepOptions } from './options.ts';
import { outsideError, type Run } from './run.ts';

/** Holds the run of one invocation; filled once the run is loaded (see the Middy middleware). */
export interface RunSlot {
  run?: Run;
}

// One store per process even if two copies of this module load (a bundled handler and the dev server).
const STORAGE_KEY = Symbol.for('durable-endpoints.run-storage');
export const runStorage = ((globalThis as Record<symbol, unknown>)[STORAGE_KEY] ??= new AsyncLocalStorage<RunSlot>()) as AsyncLocalStorage<RunSlot>;

function currentRun(stepId: string): Run {
  const run = runStorage.getStore()?.run;
  if (!run || run.closed) throw outsideError(stepId);
  return run;
}

/** The steps of the durable run the current handler invocation belongs to. */
export const step = {
  /**
   * Runs `fn` once per run: its result is journaled, and later attempts of the run return the
   * journaled result without calling `fn`. Failures are retried (default 4 times, backoff from 1 s);
   * after the last retry, or on a `NonRetriableError`, the error is thrown here.
   */
  run<T>(id: string, fn: () => T | Promise<T>, options?: StepOptions): Promise<Awaited<T>> {
    return currentRun(id).step(id, fn, options);
  },
};
