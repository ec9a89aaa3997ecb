/** Messages between the dev server and its handler worker. */
import type { Level, LogFields, ResumeEvent } from '../sdk/index.ts';

export interface DevEndpoint {
  routeKey: string;
  /** Absolute path of the handler module. */
  entry: string;
  /** Export name of the handler. */
  handler: string;
  format: '2.0' | '1.0';
  timeoutMs: number;
  functionName: string;
}

export interface WorkerConfig {
  endpoints: DevEndpoint[];
  dynamoEndpoint: string;
  tableName: string;
  tokenSecret: string;
}

export type ToWorker = { type: 'invoke'; id: number; functionName: string; event: unknown; timeoutMs: number };

export interface WorkerError {
  name: string;
  message: string;
  stack?: string;
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; error: WorkerError }
  | { type: 'result'; id: number; ok: true; result: unknown }
  | { type: 'result'; id: number; ok: false; error: WorkerError }
  | { type: 'schedule'; event: ResumeEvent; at: number }
  | { type: 'log'; level: Level; message: string; fields: LogFields };
