/** Messages between the dev server and its handler worker. */
import type { EndpointDefinition, payloadFormat } from '../sdk/core/contract.ts';
import type { CorsOptions } from '../sdk/core/cors.ts';
import type { Level, LogFields, ResumeEvent } from '../sdk/index.ts';

/** An endpoint as the app's constructs declared it, with API Gateway's payload format for its API type. */
export interface DevEndpoint extends Omit<EndpointDefinition, 'apiType'> {
  format: ReturnType<typeof payloadFormat>;
}

export interface WorkerConfig {
  endpoints: DevEndpoint[];
  dynamoEndpoint: string;
  tableName: string;
  tokenSecret: string;
  /** The construct's `cors` setting: the handlers add CORS headers to their answers, as on AWS. */
  cors?: CorsOptions;
  /** Where the handlers' large payloads go (`FileBlobStore`), in place of the construct's S3 bucket. */
  blobsDir: string;
}

export type ToWorker =
  | { type: 'invoke'; id: number; functionName: string; event: unknown; timeoutMs: number }
  /** The caller of a streamed response went away: stop reading its body. */
  | { type: 'cancel'; id: number };

export interface WorkerError {
  name: string;
  message: string;
  stack?: string;
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; error: WorkerError }
  /** With `streamed`, the result's body follows as `chunk` messages and an `end` (a `ReadableStream` in the worker). */
  | { type: 'result'; id: number; ok: true; result: unknown; streamed?: true }
  | { type: 'chunk'; id: number; bytes: Uint8Array }
  | { type: 'end'; id: number; error?: string }
  | { type: 'result'; id: number; ok: false; error: WorkerError }
  | { type: 'schedule'; event: ResumeEvent; at: number }
  | { type: 'log'; level: Level; message: string; fields: LogFields };
