/**
 * The journal's ports, one per concern, and `Journal`, all of them: what the engine, the routes and
 * the tools need from wherever runs are kept. `DynamoJournal` is the production adapter,
 * `MemoryJournal` the one for tests and the harness; both pass test/journal-contract*.test.ts.
 *
 * Rules every method follows:
 * - Every item carries `ttl` (epoch seconds). It is kept at least until then; after that it may
 *   vanish at any moment (DynamoDB's TTL deletes within about two days, `MemoryJournal` at once),
 *   and until it does it reads and conditions like any other item. Code that must not act on an
 *   expired item checks `ttl` itself, as the claim of an idempotency key does.
 * - What a method returns is a copy: changing it changes nothing stored.
 * - "Atomic" means all or none, and no reader sees a part. Reads are strongly consistent unless
 *   said otherwise, but a read of several items is not a snapshot.
 */
import type { EventWaiter, FlowRef, FlowState, IdempotencyClaim, LoadedRun, QueueEntry, ReceivedEvent, RunProgress, RunRecord, RunStatus, StepRecord, TailEvent } from '../core/records.ts';
import type { RequestSnapshot } from '../core/http.ts';

export type JournalWrite =
  | { type: 'run'; run: RunRecord }
  | { type: 'request'; runId: string; request: RequestSnapshot; ttl: number }
  | { type: 'step'; runId: string; step: StepRecord; ttl: number }
  /** The `n`-th tail item of run attempt `attempt`: what it streamed since its previous one. */
  | { type: 'tail'; runId: string; attempt: number; n: number; events: TailEvent[]; ttl: number };

/**
 * Who must hold a run's lease for a write to apply: `owner` must still be the run's `leaseOwner`.
 * The lease's expiry is not checked: an owner whose lease ran out still writes until another
 * invocation takes the run over (`acquireLease`), which is what makes the attempt a fencing token.
 */
export interface Fence {
  runId: string;
  owner: string;
  /**
   * Also applies while the run is not stored yet: the fence of a run's first attempt, whose first
   * write creates the run (nobody else knows its id before that attempt answers).
   */
  orNew?: boolean;
}

/** The condition a fence puts on the run item, as a DynamoDB condition expression. */
export function fenceCondition(fence: Fence): { ConditionExpression: string; ExpressionAttributeValues: { ':owner': { S: string } } } {
  return {
    ConditionExpression: fence.orNew ? 'attribute_not_exists(pk) OR leaseOwner = :owner' : 'leaseOwner = :owner',
    ExpressionAttributeValues: { ':owner': { S: fence.owner } },
  };
}

export interface RunFilter {
  status?: RunStatus;
  endpoint?: string;
  /** At most this many, newest first. Default 100. */
  limit?: number;
}

/** A run's items: the run, its request, its steps. What an attempt reads and writes. */
export interface RunStore {
  /**
   * The run, its request and its steps (ordered by `seq`), or undefined unless both the run and its
   * request are stored. One strongly consistent query, but not a snapshot: a write landing meanwhile
   * may show in some items and not in others.
   */
  load(runId: string): Promise<LoadedRun | undefined>;
  /** The run item alone, strongly consistent: what the results route polls. */
  getRun(runId: string): Promise<RunRecord | undefined>;
  /**
   * What a results stream follows: the run item, its steps (ordered by `seq`), and the tail events
   * written after the tail item `since` (from the first when undefined), in the order they were
   * written, with the `since` to pass next. Undefined when the run is not stored. Strongly
   * consistent, not a snapshot; tail items older than `since` are not read again.
   */
  progress(runId: string, since?: string): Promise<RunProgress | undefined>;
  /**
   * Stores the items, each replacing the stored item of the same run and kind (steps: same `seq`
   * and `id`). An item may appear once per call and be at most DynamoDB's 400 KB: an item over it,
   * or twice in one transaction or batch of 25, is refused, and nothing of that transaction or
   * batch is stored.
   *
   * Without a fence: plain puts, each item atomic on its own, the run item stored after the
   * others (a reader that sees the run item sees every other item of the write); a failure
   * (`JournalError` when DynamoDB leaves items unprocessed) may leave some of them stored.
   *
   * With a fence: applied only while `fence.owner` is the `leaseOwner` of the fenced run (the run
   * of the first `run` item written, else `fence.runId`; a run not stored counts as not held),
   * else `LeaseLostError` and nothing of that transaction is stored. Up to
   * `FENCED_TRANSACTION_ITEMS` items (and ~3.5 MB) go in one atomic transaction; a larger write is
   * cut by `fencedTransactions` into several, applied one after the other, each fenced, the run
   * item in the last: a lease lost midway leaves the earlier steps stored, never the run item.
   */
  write(items: JournalWrite[], fence?: Fence): Promise<void>;
  /**
   * Takes the lease of the run and starts attempt `expectedAttempt + 1`, atomically, only if the
   * run's attempt is `expectedAttempt`, its status is live (running, sleeping, waiting or queued), and it has no
   * lease owner or a lease that expired (`leaseExpiresAt` before now). Sets `attempt`, status
   * `running` (an attempt is executing it: a run whose attempt dies shows as running, with an
   * expired lease), `leaseOwner`, `leaseExpiresAt = until` and `updatedAt`, removes `wakeAt`, and
   * returns the run as it now stands (a queued run still says what it was `limitedBy`). Undefined
   * when the run is unknown, moved on, ended or held, or, with `functionName`, belongs to another
   * function (a resume forged for a run the caller does not own).
   */
  acquireLease(runId: string, expectedAttempt: number, owner: string, until: number, functionName?: string): Promise<RunRecord | undefined>;
  /**
   * Keeps every item of the run (its run item, request, steps, and the waiters of its waiting steps)
   * at least until `ttl` (epoch seconds): raises each item's `ttl` that is lower, never lowers one.
   * For a wait that outlasts the retention; each item on its own (not atomic), unfenced (keeping
   * items longer is harmless whoever holds the run).
   */
  keepUntil(runId: string, ttl: number): Promise<void>;
}

/** Which run an `Idempotency-Key` belongs to. */
export interface IdempotencyStore {
  /**
   * Ties the key (endpoint, caller, key) to `claim.runId` if it is free, atomically; else returns,
   * unchanged, the claim that holds it. With `replacing`, also takes it over from a claim of that
   * run (one whose request died before its first step, or past its `ttl`), and from no other.
   * Of concurrent claims of one free key, exactly one is claimed.
   */
  claimIdempotencyKey(claim: IdempotencyClaim, replacing?: string): Promise<{ claimed: true } | { claimed: false; holder: IdempotencyClaim }>;
  /** Frees a key whose request did not become a run, atomically and only if `claim.runId` still holds it; else does nothing. */
  releaseIdempotencyKey(claim: Pick<IdempotencyClaim, 'endpoint' | 'caller' | 'key' | 'runId'>): Promise<void>;
}

/** Runs waiting for events, and the events received. */
export interface EventStore {
  /**
   * Stores the waiter (found by event name; one per run and step id) and its step, atomically.
   * With a fence, only while `fence.owner` is the run's `leaseOwner`, else `LeaseLostError` and
   * neither is stored.
   */
  registerWaiter(waiter: EventWaiter, step: StepRecord, fence?: Fence): Promise<void>;
  /** The waiters of an event name, strongly consistent, in no promised order. */
  waiters(eventName: string): Promise<EventWaiter[]>;
  /**
   * Keeps an event until `ttl`, atomically and once per (name, id), and returns it as given
   * (`fresh: true`). If that id was kept before, nothing is stored and the result is the event as
   * first recorded, whatever data came this time (`fresh: false`). The data is kept as JSON.
   */
  recordEvent(event: ReceivedEvent, ttl: number): Promise<{ fresh: boolean; event: ReceivedEvent }>;
  /** Events of that name received at or after `since`, oldest first, strongly consistent. */
  recentEvents(eventName: string, since: Date): Promise<ReceivedEvent[]>;
  /**
   * Completes a waiting step (status `completed`, `output`, `endedAt` now) and drops its waiter,
   * atomically, only if the step is stored and still `waiting`. The event route and the step's
   * timeout both go through here, so of concurrent calls exactly one resolves it.
   * Returns the step as read right after (a later write may already show), and whether this call
   * completed it.
   */
  resolveWaiting(waiter: Pick<EventWaiter, 'name' | 'runId' | 'stepId' | 'seq'>, output: string): Promise<{ resolved: boolean; step: StepRecord | undefined }>;
}

/** What the dashboard, the CLI, the sweep of stuck runs and replays need. */
export interface RunAdmin {
  /**
   * Runs matching the filter, newest first (run ids are ULIDs), at most `limit`, without their
   * responses. May read the whole journal, and may miss writes of the last moment (DynamoDB: an
   * eventually consistent scan).
   */
  listRuns(filter?: RunFilter): Promise<RunRecord[]>;
  /**
   * Makes a failed run due again: status running, `wakeAt` now, no lease, response or error; every
   * failed step becomes `retrying` with `attempts` 0, the rest stay memoized. Returns the run as
   * stored, or undefined unless the run is failed. The caller delivers the resume.
   * Written after a read, in transactions cut as a fenced write's (the run item in the last), each
   * only while the run is still failed at the attempt read: of concurrent reopens, one reopens it.
   */
  reopen(runId: string): Promise<RunRecord | undefined>;
  /**
   * Live runs due before `before` (epoch ms: the wake time of a suspended run, the lease expiry of
   * a running one), earliest first, at most `limit` (default 100): what the sweep of stuck runs
   * looks at. DynamoDB: a query of each shard of the sparse `due` index (eventually consistent).
   */
  dueRuns(before: number, limit?: number): Promise<RunRecord[]>;
  /**
   * Stores `run` as the run item only while the stored one is live and still as `expected` was read
   * (the same attempt and `updatedAt`), atomically; false otherwise. For the sweep's bookkeeping and
   * for failing a run no attempt could finish: any attempt that wrote the run meanwhile wins.
   */
  replaceRun(expected: Pick<RunRecord, 'attempt' | 'updatedAt'>, run: RunRecord): Promise<boolean>;
}

/** A concurrency slot asked for (`FlowStore.acquireSlot`). Times are epoch ms. */
export interface SlotRequest {
  ref: FlowRef;
  /** Who holds it: a run id, or `<runId>#<stepId>` for a step. */
  holder: string;
  limit: number;
  /** When the slot comes back by itself if it is never released: the holding attempt's lease expiry. */
  expiresAt: number;
  now: number;
  /** The holder is queued on this key (it leaves the queue when it takes the slot). */
  queued?: boolean;
  ttl: number;
}

export type SlotGrant =
  | { acquired: true }
  /** `queued`: runs queued on the key; `freesBy`: the earliest expiry of a live holder. */
  | { acquired: false; queued: number; freesBy: number | undefined };

/** A slot given back (`FlowStore.releaseSlot`). */
export interface SlotRelease {
  ref: FlowRef;
  holder: string;
  /** The expiry it was taken with: a later holding of the same holder is not this one's to release. */
  expiresAt: number;
  now: number;
  /** How long a slot handed to a queued run is kept for it (the time its resume needs to arrive). */
  reserveMs: number;
  ttl: number;
}

/** One start asked of a throttle or a rate limit (GCRA, `FlowStore.reserveStart`). Times are epoch ms. */
export interface StartRequest {
  ref: FlowRef;
  /** `period / limit`: the spacing of starts once the burst is spent. */
  intervalMs: number;
  /** How far ahead of its spacing a start may be: `(burst - 1) * intervalMs`. */
  toleranceMs: number;
  now: number;
  /** Lossy (a rate limit): a start that cannot be now is refused. Else (a throttle) it is booked for later. */
  lossy: boolean;
  /** Kept on the item for the dashboard. */
  limit: number;
  periodMs: number;
  ttl: number;
}

export type StartGrant = { ok: true; at: number } | { ok: false; retryAt: number };

/**
 * Flow control, one partition per limited key (`FLOW#<scope>#<kind>#<key>`): its concurrency slots
 * (`SLOTS`: the holders with their expiry, and how many are queued), its queue (`QUEUE#<holder>`,
 * oldest run first), and the GCRA state of a throttle or a rate limit (`RATE`). Every change is one
 * conditional write on one item, or one transaction where the queue changes with the slots.
 */
export interface FlowStore {
  /**
   * Takes a slot of the key for the holder until `expiresAt`, atomically, if the holder holds one
   * already (handed to it while queued, or its own from an earlier attempt: renewed), or if fewer
   * than `limit` holders hold one, holders past their expiry not counted (they are removed), and
   * nobody is queued, unless the holder is itself `queued` (it then leaves the queue). Else says
   * how many are queued and when the earliest live holding expires.
   */
  acquireSlot(request: SlotRequest): Promise<SlotGrant>;
  /**
   * Queues the entry (once per holder: an entry already queued only gets the new `attempt`), counted
   * with the slots atomically, only while at least `limit` holders hold a slot (expired or not);
   * false, and nothing queued, when a slot is free: take it instead.
   */
  enqueue(entry: QueueEntry, limit: number): Promise<boolean>;
  /**
   * Gives the holder's slot back, only if it still holds it as taken (`expiresAt`). If runs are
   * queued on the key, the slot goes to the oldest entry instead, held for it for `reserveMs`, and
   * the entry leaves the queue, atomically: it is returned, and the caller wakes its run.
   */
  releaseSlot(release: SlotRelease): Promise<QueueEntry | undefined>;
  /**
   * GCRA: books the next start of the key. Returns when it may start (`at` ≥ now; now unless a
   * throttle's burst is spent), or, for a lossy request that cannot start now, when one could.
   * One conditional write; two when the key changed between idle and busy since this process last saw it.
   */
  reserveStart(request: StartRequest): Promise<StartGrant>;
  /** Counts a refused request on the key (its `rejected` count and `lastRejectedAt`). */
  countRejection(ref: FlowRef, at: number, ttl: number): Promise<void>;
  /** Every limited key as stored, for the dashboard and the CLI. May read the whole journal (a scan). */
  listFlow(): Promise<FlowState[]>;
}

/** Where runs are kept: every port at once. */
export interface Journal extends RunStore, IdempotencyStore, EventStore, RunAdmin, FlowStore {}

/** The items of one fenced transaction, the lease check aside: DynamoDB's TransactWriteItems takes 100. */
export const FENCED_TRANSACTION_ITEMS = 99;
// TransactWriteItems also stops at 4 MB; leave room for the lease check and request overhead.
const FENCED_TRANSACTION_BYTES = 3_500_000;

/**
 * How a fenced write is cut into transactions, the run item in the last one (so a run never says
 * more than its steps do). Every adapter cuts the same way, so a harness run interleaves as on AWS.
 */
export function fencedTransactions(items: JournalWrite[]): JournalWrite[][] {
  const ordered = [...items.filter((w) => w.type !== 'run'), ...items.filter((w) => w.type === 'run')];
  const chunks: JournalWrite[][] = [];
  let chunk: JournalWrite[] = [];
  let bytes = 0;
  for (const write of ordered) {
    const size = JSON.stringify(write).length;
    if (chunk.length > 0 && (chunk.length >= FENCED_TRANSACTION_ITEMS || bytes + size > FENCED_TRANSACTION_BYTES)) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(write);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

export function writeKey(write: JournalWrite): string {
  switch (write.type) {
    case 'run':
      return `${write.run.runId}/RUN`;
    case 'request':
      return `${write.runId}/REQUEST`;
    case 'step':
      return `${write.runId}/STEP/${write.step.id}`;
    case 'tail':
      return `${write.runId}/TAIL/${write.attempt}/${write.n}`;
  }
}

/**
 * What reopening a failed run writes (every adapter alike): the run due again now, marked replayed,
 * without lease, response or error, and its failed steps reset to a fresh set of retries; the run
 * item last.
 */
export function reopenedRun(loaded: LoadedRun, now: string): JournalWrite[] {
  const run: RunRecord = { ...loaded.run, status: 'running', wakeAt: now, updatedAt: now, replayedAt: now, response: undefined, error: undefined };
  delete run.leaseOwner;
  delete run.leaseExpiresAt;
  const retried = loaded.steps
    .filter((step) => step.status === 'failed')
    .map((step): JournalWrite => ({ type: 'step', runId: run.runId, step: { ...step, status: 'retrying', attempts: 0, retryAt: now, endedAt: undefined }, ttl: run.ttl }));
  return [...retried, { type: 'run', run }];
}

/** What a flow item says of its key (every adapter stores these attributes). */
export function flowRefAttributes(ref: FlowRef): { scope: string; kind: string; key: string } {
  // The key in full only names the partition (hashed when long): a very long one is kept short here.
  return { scope: ref.scope, kind: ref.kind, key: ref.key.slice(0, 1_024) };
}

/** A `SLOTS` or `RATE` item's attributes as the dashboard shows them. */
export function toFlowState(item: Record<string, unknown>): FlowState {
  const holders = Object.entries((item.holders as Record<string, number> | undefined) ?? {}).map(([holder, expiresAt]) => ({ holder, expiresAt: Number(expiresAt) }));
  return {
    ref: { scope: item.scope as string, kind: item.kind as FlowRef['kind'], key: item.key as string },
    ...(item.limit === undefined ? {} : { limit: Number(item.limit) }),
    ...(item.periodMs === undefined ? {} : { periodMs: Number(item.periodMs) }),
    holders: holders.sort((a, b) => a.expiresAt - b.expiresAt),
    queued: Number(item.queued ?? 0),
    ...(item.tat === undefined ? {} : { nextAt: Number(item.tat) }),
    rejected: Number(item.rejected ?? 0),
    ...(item.lastRejectedAt === undefined ? {} : { lastRejectedAt: item.lastRejectedAt as string }),
  };
}
