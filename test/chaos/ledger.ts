/**
 * The chaos run's ledger: one JSON line per step attempt event, appended by the chaos endpoint's
 * steps (in the dev server's worker threads) to a file the runner owns, outside the journal. It is
 * the record of side effects the journal is checked against.
 *
 * Each line is one `appendFileSync` (one `write(2)` on an `O_APPEND` file), so lines from several
 * threads never interleave; a line cut short by a SIGKILL of the dev server is skipped on reading.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import type { StepStatus } from 'durable-endpoints';

export type LedgerEvent =
  /** The step function was entered; `journaled` is what the journal held for this step just before. */
  | 'started'
  /** The side effect is done and the function is about to return its result. */
  | 'done'
  /** The function throws (the injected 20 %, or the doomed step by design). */
  | 'failed'
  /** The function is about to end its worker with process.exit(1). */
  | 'kill';

export interface LedgerEntry {
  event: LedgerEvent;
  /** The client's key for the run (its Idempotency-Key). */
  key: string;
  runId: string;
  /** The run's attempt (invocation) this step function runs in: 1 for the request, 2+ for resumes. */
  runAttempt: number;
  step: string;
  /** Unique per call of the step function: the result carries it, so the journal says which call it kept. */
  call: string;
  /** Epoch ms. */
  at: number;
  /**
   * `started` only: the step's status in the journal, read (strongly consistent, straight from
   * DynamoDB Local, not through the faulty proxy) after the function was entered and before its
   * side effect; null when the journal held no record of the step, 'unreadable' when the read failed.
   */
  journaled?: StepStatus | null | 'unreadable';
  /** `kill` only: where in the step the worker is ended. */
  point?: KillPoint;
}

/** Where a step ends its worker: before its side effect, after it (before returning), or just after returning. */
export type KillPoint = 'before-effect' | 'after-effect' | 'after-return';

export function appendLedger(file: string, entry: LedgerEntry): void {
  appendFileSync(file, `${JSON.stringify(entry)}\n`);
}

export function readLedger(file: string): { entries: LedgerEntry[]; torn: number } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { entries: [], torn: 0 };
  }
  const entries: LedgerEntry[] = [];
  let torn = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      entries.push(JSON.parse(line) as LedgerEntry);
    } catch {
      torn++;
    }
  }
  return { entries, torn };
}
