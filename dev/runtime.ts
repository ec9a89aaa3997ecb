/**
 * The handler worker, as the server sees it: invoke by function name, reload on code changes
 * (a new worker takes new invocations; the old one finishes what it has, then stops).
 */
import { extname } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Level, LogFields, ResumeEvent } from '../sdk/index.ts';
import type { DevEndpoint, FromWorker, WorkerConfig, WorkerError } from './protocol.ts';

export interface RuntimeHooks {
  schedule: (event: ResumeEvent, at: Date) => void;
  log: (level: Level, message: string, fields: LogFields) => void;
}

interface Generation {
  worker: Worker;
  pending: Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>;
  /** Response bodies the worker is still streaming, by invocation. */
  streams: Map<number, ReadableStreamDefaultController<Uint8Array>>;
}

export class HandlerRuntime {
  private current: Generation | undefined;
  private loading: Promise<void> | undefined;
  private closed = false;
  private nextId = 1;
  private config: WorkerConfig;
  private readonly hooks: RuntimeHooks;

  constructor(config: WorkerConfig, hooks: RuntimeHooks) {
    this.config = config;
    this.hooks = hooks;
  }

  get endpoints(): DevEndpoint[] {
    return this.config.endpoints;
  }

  /**
   * Starts a worker with the current code (serving `endpoints` from now on, if given); the previous
   * one (if any) drains and stops. If the new code fails to load, the previous worker goes on.
   */
  async load(endpoints?: DevEndpoint[]): Promise<void> {
    const config = endpoints ? { ...this.config, endpoints } : this.config;
    const generation = await this.spawn(config);
    if (this.closed) {
      await generation.worker.terminate();
      return;
    }
    this.config = config;
    const previous = this.current;
    this.current = generation;
    if (previous) void this.drain(previous);
  }

  async invoke(functionName: string, event: unknown, timeoutMs: number): Promise<unknown> {
    // A worker that died (an unhandled rejection, process.exit in a handler) is replaced on demand,
    // once: the invocations that arrive while the new one loads wait for that one.
    if (!this.current && !this.closed) await (this.loading ??= this.load().finally(() => (this.loading = undefined)));
    const generation = this.current;
    if (!generation) throw new Error('The handler runtime is closed.');
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      generation.pending.set(id, { resolve, reject });
      generation.worker.postMessage({ type: 'invoke', id, functionName, event, timeoutMs });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const generation = this.current;
    this.current = undefined;
    if (generation) await generation.worker.terminate();
  }

  private spawn(config: WorkerConfig): Promise<Generation> {
    const worker = new Worker(new URL(`./worker${extname(import.meta.url)}`, import.meta.url), { workerData: config });
    const generation: Generation = { worker, pending: new Map(), streams: new Map() };
    return new Promise((resolve, reject) => {
      worker.on('message', (message: FromWorker) => {
        switch (message.type) {
          case 'ready':
            return resolve(generation);
          case 'failed':
            void worker.terminate();
            return reject(errorFrom(message.error));
          case 'schedule':
            return this.hooks.schedule(message.event, new Date(message.at));
          case 'log':
            return this.hooks.log(message.level, message.message, message.fields);
          case 'result': {
            const waiter = generation.pending.get(message.id);
            generation.pending.delete(message.id);
            if (!message.ok) return waiter?.reject(errorFrom(message.error));
            waiter?.resolve(message.streamed ? { ...(message.result as object), body: this.streamedBody(generation, message.id) } : message.result);
            return;
          }
          case 'chunk':
            return generation.streams.get(message.id)?.enqueue(message.bytes);
          case 'end': {
            const controller = generation.streams.get(message.id);
            generation.streams.delete(message.id);
            if (message.error === undefined) controller?.close();
            else controller?.error(new Error(message.error));
            return;
          }
        }
      });
      // The next request goes to a new worker as soon as this one is known to be dying.
      const retire = (error: Error) => {
        if (this.current !== generation) return;
        this.current = undefined;
        this.hooks.log('error', `the handler worker died (${error.message}); the next request starts a new one`, {});
      };
      const died = (error: Error) => {
        for (const waiter of generation.pending.values()) waiter.reject(error);
        generation.pending.clear();
        // A streamed response is cut, as a Lambda's is when its function dies.
        for (const controller of generation.streams.values()) controller.error(error);
        generation.streams.clear();
        retire(error);
        reject(error);
      };
      // An uncaught error is reported at once, but results the worker posted before it may still be
      // on their way: answer them first, and fail only what is still pending once the worker has exited.
      let failure: Error | undefined;
      worker.on('error', (error) => {
        failure ??= error;
        retire(error);
      });
      worker.on('exit', (code) => died(failure ?? new Error(`exited with code ${code}`)));
    });
  }

  /** The body of a streamed response, fed by the worker's `chunk` messages. */
  private streamedBody(generation: Generation, id: number): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>({
      start: (controller) => void generation.streams.set(id, controller),
      cancel: () => {
        generation.streams.delete(id);
        generation.worker.postMessage({ type: 'cancel', id });
      },
    });
  }

  private async drain(generation: Generation): Promise<void> {
    while (generation.pending.size > 0 || generation.streams.size > 0) await new Promise((resolve) => setTimeout(resolve, 50));
    await generation.worker.terminate();
  }
}

function errorFrom(error: WorkerError): Error {
  const rebuilt = new Error(error.message);
  rebuilt.name = error.name;
  if (error.stack) rebuilt.stack = error.stack;
  return rebuilt;
}
