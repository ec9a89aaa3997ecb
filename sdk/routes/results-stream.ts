/**
 * The results URL asked for `text/event-stream`: the run's committed chunks replayed from the
 * journal, then its later attempts followed live (the tail they write, their commits) until its
 * `response`. Polls the journal: every `pollMs` while the run may change, slower while it sleeps.
 */
import { ids, positionAfter, streamedResponse, type ChunkSource, type Position } from '../core/event-stream.ts';
import { TERMINAL_STATUSES, type RunProgress, type RunRecord, type StepRecord, type TailEvent } from '../core/records.ts';
import type { HttpResponse } from '../core/http.ts';
import type { EventSink } from '../endpoint/event-sink.ts';
import type { Journal } from '../journal/journal.ts';

/** A commit missing from a run that may still write it (writes of one batch land in any order) is waited for this long. */
const GAP_WAIT_MS = 3_000;
/** A suspended run is looked at this often, or at its wake time if sooner. */
const SUSPENDED_POLL_MS = 1_000;

export interface FollowOptions {
  journal: Journal;
  runId: string;
  /** The request's `Last-Event-ID`. */
  lastEventId: string | undefined;
  /** This URL, for `metadata` and for the `redirect` at the deadline. */
  self: string;
  /** Epoch ms: the stream ends with a `redirect` to `self` by then. */
  deadline: number;
  pollMs: number;
  /** The answer of a run that ended, as the plain results route gives it. */
  final: (run: RunRecord) => Promise<HttpResponse>;
}

/**
 * Writes the run's events to `sink` from `Last-Event-ID` on, until its response or the deadline,
 * then closes it. `first` is the run's progress as the caller read it (poll 0); each later poll
 * reads only the tail written since the one before. A buffered sink also ends (with a `redirect`)
 * once it has said something and a poll brings nothing new.
 */
export async function followRun(sink: EventSink, first: RunProgress, options: FollowOptions): Promise<void> {
  const follower = new Follower(sink, positionAfter(options.lastEventId));
  if (options.lastEventId === undefined) sink.send({ event: 'metadata', id: ids.metadata(0), data: { runId: options.runId, resultUrl: options.self } });
  let { run } = first;
  try {
    for (let polls = 0; ; polls++) {
      const sent = follower.sent;
      const progress = polls === 0 ? first : await options.journal.progress(options.runId, follower.since);
      if (progress) {
        run = progress.run;
        follower.take(progress.run, progress.steps, progress.tail);
        follower.since = progress.since;
      }
      if (sink.cancelled) return;
      if (TERMINAL_STATUSES.includes(run.status) && run.response) {
        follower.rollbackAll();
        sink.send({ event: 'response', id: ids.response(follower.position.commits), data: streamedResponse(await options.final(run)) });
        return;
      }
      const now = Date.now();
      const quiet = !sink.live && polls > 0 && follower.sent > 0 && follower.sent === sent;
      if (now >= options.deadline || quiet) {
        sink.send({ event: 'redirect', id: ids.redirect(follower.position.commits, run.attempt), data: { url: options.self } });
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(interval(run, now, options.pollMs), options.deadline - now)));
    }
  } finally {
    sink.close();
  }
}

/** Polls often while an attempt may stream, and until shortly before a suspended run's wake time. */
function interval(run: RunRecord, now: number, pollMs: number): number {
  const wakeAt = run.wakeAt === undefined ? undefined : Date.parse(run.wakeAt);
  if (wakeAt === undefined || wakeAt - now < 2 * SUSPENDED_POLL_MS) return pollMs;
  return Math.min(SUSPENDED_POLL_MS, wakeAt - now - SUSPENDED_POLL_MS);
}

/** What a follower has sent: its position in the run's commits, and the chunks it sent provisionally. */
class Follower {
  position: Position;
  /** Where the next poll starts reading the tail (`RunProgress.since`). */
  since: string | undefined;
  /** Events sent so far. */
  sent = 0;
  private readonly sink: EventSink;
  private readonly provisional = new Map<string, { source: ChunkSource; sent: number }>();
  private gap: { seenAt: number; attempt: number } | undefined;

  constructor(sink: EventSink, position: Position) {
    this.sink = sink;
    this.position = position;
  }

  take(run: RunRecord, steps: StepRecord[], tail: TailEvent[]): void {
    const committed = steps.filter((step) => step.status === 'completed' && step.commit !== undefined).sort((a, b) => a.commit! - b.commit!);
    this.commits(run, committed);
    // Chunks of an attempt before the run's current one will never be committed: that attempt is over.
    for (const [step, { source }] of this.provisional) if (source.attempt < run.attempt) this.rollback(step);
    const done = new Set(committed.map((step) => step.id));
    for (const event of tail) if (!done.has(event.step) && event.attempt >= run.attempt) this.tailEvent(event);
  }

  rollbackAll(): void {
    for (const step of [...this.provisional.keys()]) this.rollback(step);
  }

  private commits(run: RunRecord, committed: StepRecord[]): void {
    for (const step of committed) {
      const n = step.commit!;
      if (n <= this.position.commits) continue;
      if (n > this.position.commits + 1 && !this.skipGap(run)) return;
      this.gap = undefined;
      const chunks = JSON.parse(step.chunks ?? '[]') as unknown[];
      let start = n === this.position.commits + 1 ? this.position.chunks : 0;
      const provisional = this.provisional.get(step.id);
      if (provisional) {
        const same = provisional.source.attempt === step.chunksAttempt && provisional.source.try === step.attempts;
        if (same) start = Math.max(start, provisional.sent);
        else this.rollback(step.id);
        this.provisional.delete(step.id);
      }
      for (let i = start; i < chunks.length; i++) this.send({ event: 'stream', id: ids.replayed(n, i), data: { step: step.id, data: chunks[i] } });
      this.send({ event: 'commit', id: ids.commit(n), data: { step: step.id } });
      this.position = { commits: n, chunks: 0 };
    }
  }

  /**
   * Whether a missing commit can be passed over: the run is no longer held by an attempt that could
   * still store it, or it stayed missing too long (its number was lost with a write that failed).
   */
  private skipGap(run: RunRecord): boolean {
    const held = run.status === 'running' && run.leaseOwner !== undefined && run.wakeAt === undefined;
    if (!held) return true;
    this.gap ??= { seenAt: Date.now(), attempt: run.attempt };
    return run.attempt !== this.gap.attempt || Date.now() - this.gap.seenAt > GAP_WAIT_MS;
  }

  private tailEvent(event: TailEvent): void {
    const source = { seq: event.seq, attempt: event.attempt, try: event.try };
    let provisional = this.provisional.get(event.step);
    const same = provisional !== undefined && provisional.source.attempt === source.attempt && provisional.source.try === source.try;
    if (event.type === 'rollback') {
      if (same) this.rollback(event.step);
      return;
    }
    if (provisional && !same) {
      this.rollback(event.step);
      provisional = undefined;
    }
    if (!provisional) this.provisional.set(event.step, (provisional = { source, sent: 0 }));
    if (event.index !== provisional.sent) return; // already sent (or a gap, which the commit fills)
    provisional.sent++;
    this.send({ event: 'stream', id: ids.provisional(this.position.commits, source, event.index), data: { step: event.step, data: event.data } });
  }

  private rollback(step: string): void {
    const provisional = this.provisional.get(step);
    if (!provisional) return;
    this.provisional.delete(step);
    if (provisional.sent > 0) this.send({ event: 'rollback', id: ids.rollback(this.position.commits, provisional.source), data: { step } });
  }

  private send(event: Parameters<EventSink['send']>[0]): void {
    this.sent++;
    this.sink.send(event);
  }
}
