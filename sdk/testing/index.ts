/**
 * `durable-endpoints/testing`: the harness that runs durable handlers in-process on a memory
 * journal and a virtual clock, and the building blocks it is made of.
 */
export { createHarness, DurableHarness, HarnessRun, VirtualClock, type CallInit, type DurableLambda, type HarnessOptions, type HarnessStep } from './harness.ts';
export { httpApiEvent, restApiEvent, lambdaContext, ManualTimer, type RequestInit } from './events.ts';
export { MemoryJournal, type MemoryJournalOptions } from '../journal/memory.ts';
export { headerFaults, injectFailures, parseInjectedFailures, type InjectedFailure } from '../endpoint/fault-injection.ts';
