/**
 * What one attempt of a run streams: the chunks of its step attempts, told to whoever listens (the
 * caller's event stream) as they are pushed, rolled back when a step attempt fails, committed once
 * the step's item is stored; the numbers of its commits; and, when nobody is attached to the
 * attempt (a resume), its tail in the journal for results streams that follow the run.
 */
import type { ChunkSource } from '../core/event-stream.ts';
import type { RolledBack, StepRecord, TailEvent } from '../core/records.ts';
import type { JournalWrite } from '../journal/journal.ts';
import { StepChunks, type ChunkOwner, type Doom } from './stream.ts';

export interface StreamObserver {
  /** A chunk, provisional. */
  chunk(step: string, source: ChunkSource, index: number, data: unknown): void;
  /** The step attempt's chunks are withdrawn: it failed, or the run handed off while it worked. */
  rollback(step: string, source: ChunkSource): void;
  /** The step's result is stored, with its chunks and its `commit` number. */
  commit(step: StepRecord): void;
}

/** What a step's item keeps of rolled-back attempts: enough for the dashboard, not a replay. */
const ROLLED_BACK_BYTES = 32_000;
/** A tail item stays well within DynamoDB's 400 KB item, whatever several steps streamed meanwhile. */
const TAIL_ITEM_BYTES = 200_000;

export interface StreamingRun {
  runId: string;
  attempt: number;
  /** The run's items' ttl now (it may be raised while the attempt runs). */
  ttl(): number;
  describe(stepId: string): string;
}

export class AttemptStream implements ChunkOwner {
  private readonly run: StreamingRun;
  private commits: number;
  private readonly observers = new Set<StreamObserver>();
  private readonly open = new Set<StepChunks>();
  /** Chunks of this invocation's failed step attempts, by step. */
  private readonly failed = new Map<string, RolledBack[]>();
  private broadcasting = false;
  private tail: TailEvent[] = [];
  private tailItems = 0;
  private readonly poke: () => void;

  /** `poke` asks the checkpointer for a batch soon: the tail has events to write. */
  constructor(run: StreamingRun, steps: Iterable<StepRecord>, poke: () => void) {
    this.run = run;
    this.poke = poke;
    this.commits = Math.max(0, ...[...steps].map((step) => step.commit ?? 0));
  }

  describe(stepId: string): string {
    return this.run.describe(stepId);
  }

  /** Tells `observer` what happens from now on; returns how to stop. */
  observe(observer: StreamObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /** From now on, chunks and rollbacks also go to the journal's tail (nobody is attached to this attempt). */
  broadcast(): void {
    this.broadcasting = true;
  }

  begin(stepId: string, seq: number, attempt: number, doom?: Doom): StepChunks {
    const chunks = new StepChunks(this, stepId, { seq, attempt: this.run.attempt, try: attempt }, doom);
    this.open.add(chunks);
    return chunks;
  }

  chunk(chunks: StepChunks, index: number, data: unknown): void {
    for (const observer of this.observers) observer.chunk(chunks.stepId, chunks.source, index, data);
    this.toTail({ type: 'chunk', step: chunks.stepId, ...chunks.source, index, data });
  }

  /** The step attempt failed: its chunks are rolled back (kept, bounded, for the step's item). */
  rollback(chunks: StepChunks): void {
    if (chunks.state !== 'open') return; // rolled back at the hand-off already
    this.end(chunks, 'ended');
    if (chunks.count === 0) return;
    const list = this.failed.get(chunks.stepId) ?? [];
    list.push({ attempt: chunks.source.attempt, try: chunks.source.try, chunks: chunks.texts.map((text) => JSON.parse(text)) });
    this.failed.set(chunks.stepId, list);
    for (const observer of this.observers) observer.rollback(chunks.stepId, chunks.source);
    this.toTail({ type: 'rollback', step: chunks.stepId, ...chunks.source });
  }

  /** The fields of a step's record: the completed attempt's chunks, and what failed attempts streamed. */
  fields(stepId: string, prior: StepRecord | undefined, completed?: StepChunks): Partial<StepRecord> {
    if (completed) this.end(completed, 'ended');
    const rolledBack = boundRolledBack([...(prior?.rolledBack ? (JSON.parse(prior.rolledBack) as RolledBack[]) : []), ...(this.failed.get(stepId) ?? [])]);
    return {
      ...(completed && completed.count > 0 ? { chunks: `[${completed.texts.join(',')}]`, chunksAttempt: completed.source.attempt } : {}),
      ...(rolledBack.length > 0 ? { rolledBack: JSON.stringify(rolledBack) } : {}),
    };
  }

  /** Numbers a completed step that streamed, as it is journaled: the order of commits. */
  numbered(step: StepRecord): StepRecord {
    if (step.status !== 'completed' || step.chunks === undefined || step.commit !== undefined) return step;
    return { ...step, commit: ++this.commits };
  }

  /** A batch is stored: its committed steps are, in the order they were numbered. */
  stored(writes: JournalWrite[]): void {
    if (this.observers.size === 0) return;
    const committed = writes.flatMap((write) => (write.type === 'step' && write.step.commit !== undefined && write.step.status === 'completed' ? [write.step] : []));
    committed.sort((a, b) => a.commit! - b.commit!);
    for (const step of committed) for (const observer of this.observers) observer.commit(step);
  }

  /** The hand-off: step attempts still working are rolled back and what they push from now on is dropped. */
  handOff(): void {
    for (const chunks of [...this.open]) {
      this.rollback(chunks);
      chunks.state = 'abandoned';
    }
  }

  /** For the checkpointer: whether tail events wait to be written. */
  pending(): boolean {
    return this.tail.length > 0;
  }

  /** For the checkpointer: the tail events so far, as items to write with the next batch. */
  take(): JournalWrite[] {
    const writes: JournalWrite[] = [];
    let events: TailEvent[] = [];
    let bytes = 0;
    const seal = () => {
      if (events.length === 0) return;
      writes.push({ type: 'tail', runId: this.run.runId, attempt: this.run.attempt, n: ++this.tailItems, events, ttl: this.run.ttl() });
      events = [];
      bytes = 0;
    };
    for (const event of this.tail) {
      const size = JSON.stringify(event).length;
      if (bytes + size > TAIL_ITEM_BYTES) seal();
      events.push(event);
      bytes += size;
    }
    seal();
    this.tail = [];
    return writes;
  }

  private toTail(event: TailEvent): void {
    if (!this.broadcasting) return;
    this.tail.push(event);
    this.poke();
  }

  private end(chunks: StepChunks, state: StepChunks['state']): void {
    this.open.delete(chunks);
    if (chunks.state === 'open') chunks.state = state;
  }
}

/** The most recent rolled-back attempts that fit in `ROLLED_BACK_BYTES`, oldest first; the oldest that does not fit is cut. */
function boundRolledBack(list: RolledBack[]): RolledBack[] {
  const kept: RolledBack[] = [];
  let bytes = 0;
  for (const entry of [...list].reverse()) {
    const size = JSON.stringify(entry).length;
    if (bytes + size <= ROLLED_BACK_BYTES) {
      kept.unshift(entry);
      bytes += size;
      continue;
    }
    const chunks: unknown[] = [];
    for (const chunk of entry.chunks) {
      const chunkSize = JSON.stringify(chunk).length + 1;
      if (bytes + chunkSize + 64 > ROLLED_BACK_BYTES) break;
      chunks.push(chunk);
      bytes += chunkSize;
    }
    kept.unshift({ attempt: entry.attempt, try: entry.try, chunks, truncated: true });
    break;
  }
  return kept;
}
