/**
 * One JSON line per event, for CloudWatch. Only ids, names and timings go in: never request
 * headers, bodies, step outputs or secrets.
 */
type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LogFields {
  endpoint?: string;
  runId?: string;
  stepId?: string;
  [field: string]: unknown;
}

export type LogSink = (level: Level, message: string, fields: LogFields) => void;

let sink: LogSink | undefined;

/** Sends the kit's log lines somewhere else (the dev server prints them readably). */
export function setLogSink(next: LogSink | undefined): void {
  sink = next;
}

export function log(level: Level, message: string, fields: LogFields = {}): void {
  if (sink) return sink(level, message, fields);
  const threshold = (process.env.DURABLE_LOG_LEVEL as Level | undefined) ?? 'warn';
  if (ORDER[level] < (ORDER[threshold] ?? ORDER.warn)) return;
  const line = JSON.stringify({ level, source: 'durable-endpoints', message, ...fields });
  if (ORDER[level] >= ORDER.warn) console.error(line);
  else console.log(line);
}
