/**
 * The streaming protocol (docs/streaming.md): the events a run's event stream carries, how they are
 * written as Server-Sent Events, and their ids.
 *
 * Ids are positions in what the run committed, so the endpoint's own stream, the results URL's
 * replay and a stream resumed with `Last-Event-ID` agree on them:
 * - `n`: the commit of the n-th step that streamed (steps count in the order they were journaled);
 * - `n.i`: chunk i of that step, replayed from the journal before its commit;
 * - `n~…`: everything else (provisional chunks, rollbacks, metadata, redirect, response), after n
 *   commits; a reconnect with one of these resumes after commit n, and what was provisional then
 *   comes again when it is committed.
 */
import { RUN_ID_HEADER } from './contract.ts';
import type { HttpResponse } from './http.ts';

export type RunStreamEvent =
  | { event: 'metadata'; id: string; data: { runId: string; resultUrl: string } }
  | { event: 'stream'; id: string; data: { step: string; data: unknown } }
  | { event: 'commit'; id: string; data: { step: string } }
  | { event: 'rollback'; id: string; data: { step: string } }
  | { event: 'redirect'; id: string; data: { url: string } }
  | { event: 'response'; id: string; data: StreamedResponse };

/** The final response as the `response` event carries it. */
export interface StreamedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Only when `body` is base64 (a binary response). */
  isBase64Encoded?: true;
}

/** Where a reader of the stream is: the commits it has, and how many chunks of the next one it was replayed. */
export interface Position {
  commits: number;
  chunks: number;
}

export const START: Position = { commits: 0, chunks: 0 };

/** A step attempt's chunk or rollback as ids name it: the step's position, the run attempt, the step attempt. */
export interface ChunkSource {
  seq: number;
  attempt: number;
  try: number;
}

export const ids = {
  commit: (n: number) => String(n),
  replayed: (n: number, index: number) => `${n}.${index}`,
  provisional: (commits: number, source: ChunkSource, index: number) => `${commits}~s${source.seq}.${source.attempt}.${source.try}.${index}`,
  rollback: (commits: number, source: ChunkSource) => `${commits}~r${source.seq}.${source.attempt}.${source.try}`,
  metadata: (commits: number) => `${commits}~metadata`,
  redirect: (commits: number, attempt: number) => `${commits}~redirect${attempt}`,
  response: (commits: number) => `${commits}~response`,
};

/** The position after the event with this id; the start for a missing or foreign id. */
export function positionAfter(lastEventId: string | null | undefined): Position {
  const match = /^(\d{1,9})(?:\.(\d{1,9}))?(?:~|$)/.exec(lastEventId?.trim() ?? '');
  if (!match) return START;
  const n = Number(match[1]);
  // `n.i`: chunks 0..i of commit n were replayed, commit n itself not yet.
  return match[2] === undefined ? { commits: n, chunks: 0 } : { commits: Math.max(0, n - 1), chunks: Number(match[2]) + 1 };
}

/** One event as Server-Sent Events text. JSON never contains a raw line break, so `data` is one line. */
export function encodeEvent(event: RunStreamEvent): string {
  return `id: ${event.id}\nevent: ${event.event}\ndata: ${JSON.stringify(event.data)}\n\n`;
}

/** A comment line: keeps proxies and gateways from closing an idle stream. */
export const KEEP_ALIVE = ': keep-alive\n\n';

/** How often a stream with nothing to say sends `KEEP_ALIVE`. */
export const KEEP_ALIVE_MS = 15_000;

/** The final response as a `response` event carries it: one header map (multi-value headers joined, as fetch's Headers would). */
export function streamedResponse(response: HttpResponse): StreamedResponse {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers ?? {})) headers[name.toLowerCase()] = String(value);
  for (const [name, values] of Object.entries(response.multiValueHeaders ?? {})) {
    if (name.toLowerCase() !== 'set-cookie') headers[name.toLowerCase()] = values.join(', ');
  }
  return { status: response.statusCode, headers, body: response.body ?? '', ...(response.isBase64Encoded ? { isBase64Encoded: true as const } : {}) };
}

/** Response headers of an event stream. */
export function eventStreamHeaders(runId: string): Record<string, string> {
  return { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no', [RUN_ID_HEADER]: runId };
}
