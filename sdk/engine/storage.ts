/**
 * What the ambient APIs find through `AsyncLocalStorage`: the run of the current handler invocation
 * (`step`), and the step attempt whose function is running (`stream`).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Attempt } from './attempt.ts';
import type { StepChunks } from './stream.ts';

/** Holds the attempt of one invocation; filled once the run is loaded (see the Middy middleware). */
export interface RunSlot {
  run?: Attempt;
}

// One store per process even if two copies of this module load (a bundled handler and the dev server).
const RUN_KEY = Symbol.for('durable-endpoints.run-storage');
const STEP_KEY = Symbol.for('durable-endpoints.step-storage');
const global = globalThis as Record<symbol, unknown>;

export const runStorage = (global[RUN_KEY] ??= new AsyncLocalStorage<RunSlot>()) as AsyncLocalStorage<RunSlot>;
export const stepStorage = (global[STEP_KEY] ??= new AsyncLocalStorage<StepChunks>()) as AsyncLocalStorage<StepChunks>;
