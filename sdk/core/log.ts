/**
 * One JSON line per event, for CloudWatch. Only ids, names and timings go in: never request
 * headers, bodies, step outputs or secrets.
 */
import { ENV } from './contract.ts';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LogFields {
  endpoint?: string;
  runId?: string;
  stepId?: string;
  [field: string]: unknown;
}

export type LogSink = (level: Level, message: string, fields: LogFields) => void;

let sink: LogSink | undefined;
// Read once: log() sits on the step path, and process.env lookups are not free.
let threshold = ORDER[(process.env[ENV.logLevel] as Level | undefined) ?? 'warn'] ?? ORDER.warn;

/** Sends the kit's log lines somewhere else (the dev server prints them readably), from `level` up. */
export function setLogSink(next: LogSink | undefined, level: Level = 'debug'): void {
  sink = next;
  threshold = next ? ORDER[level] : (ORDER[(process.env[ENV.logLevel] as Level | undefined) ?? 'warn'] ?? ORDER.warn);
}

/** Whether `level` is logged: lets hot paths skip building fields nobody will see. */
export function logs(level: Level): boolean {
  return ORDER[level] >= threshold;
}

export function log(level: Level, message: string, fields: LogFields = {}): void {
  if (ORDER[level] < threshold) return;
  if (sink) return sink(level, message, fields);
  const line = JSON.stringify({ level, source: 'durable-endpoints', message, ...fields });
  if (ORDER[level] >= ORDER.warn) console.error(line);
  else console.log(line);
}
