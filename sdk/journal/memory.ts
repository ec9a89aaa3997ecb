import { LeaseLostError } from '../core/errors.ts';
import type { RequestSnapshot } from '../core/http.ts';
import {
  LIVE_STATUSES,
  runDueAt,
  type EventWaiter,
  type FlowRef,
  type FlowState,
  type IdempotencyClaim,
  type LoadedRun,
  type QueueEntry,
  type ReceivedEvent,
  type RunProgress,
  type RunRecord,
  type RunStatus,
  type StepRecord,
  type TailEvent,
} from '../core/records.ts';
import { flowRefAttributes as refAttributes, toFlowState, fencedTransactions, reopenedRun, type Fence, type Journal, type JournalWrite, type RunFilter, type SlotGrant, type SlotRelease, type SlotRequest, type StartGrant, type StartRequest } from './journal.ts';
import { attributes, checkSize, itemsOf, MemoryTable, queueItem, toEvent, toQueueEntry, toRun, toStep, turn, type Entry, type Item } from './memory-table.ts';
import { eventPk, FLOW_PREFIX, flowPk, idempotencyPk, pk, QUEUE_PREFIX, queueSk, RATE_SK, seenSk, SLOTS_SK, stepSk, TAIL_PREFIX, waiterSk } from './keys.ts';

export interface MemoryJournalOptions {
  /** Epoch ms, for every lease expiry, TTL and timestamp. Default `Date.now`; a harness passes its virtual clock. */
  now?: () => number;
}

// BatchWriteItem takes 25 items: unfenced writes land in groups of that size, as on DynamoDB.
const BATCH_ITEMS = 25;

/**
 * The journal in process memory, for tests and the harness: the items, keys and conditions of
 * `DynamoJournal`, so code that passes on it behaves the same on DynamoDB. Every call answers on a
 * later macrotask, and calls DynamoJournal makes in several requests take several turns here, so
 * concurrent calls interleave as they can on AWS. Items past their `ttl` are deleted when next
 * touched, without DynamoDB's lag.
 */
export class MemoryJournal implements Journal {
  private readonly table: MemoryTable;
  private readonly now: () => number;

  constructor(options: MemoryJournalOptions = {}) {
    this.now = options.now ?? Date.now;
    this.table = new MemoryTable(this.now);
  }

  /** How many items the journal holds (of every kind), as a table scan would count them. */
  get itemCount(): number {
    return this.table.itemCount;
  }

  async load(runId: string): Promise<LoadedRun | undefined> {
    await turn();
    return this.loadNow(runId);
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    await turn();
    const item = this.table.get(pk(runId), 'RUN');
    return item && toRun(item);
  }

  async write(items: JournalWrite[], fence?: Fence): Promise<void> {
    if (items.length === 0) return;
    if (fence) {
      for (const chunk of fencedTransactions(items)) {
        await turn();
        const stored = itemsOf(chunk);
        const runWrite = chunk.find((w) => w.type === 'run');
        this.checkLease(runWrite ? runWrite.run.runId : fence.runId, fence);
        for (const [pkValue, sk, item] of stored) this.table.put(pkValue, sk, item);
      }
      return;
    }
    // As DynamoJournal: batches of 25, the run item in the last one, stored after the others.
    const ordered = [...items.filter((w) => w.type !== 'run'), ...items.filter((w) => w.type === 'run')];
    const batches: JournalWrite[][] = [];
    for (let i = 0; i < ordered.length; i += BATCH_ITEMS) batches.push(ordered.slice(i, i + BATCH_ITEMS));
    const store = async (batch: JournalWrite[]) => {
      await turn();
      for (const [pkValue, sk, item] of itemsOf(batch)) this.table.put(pkValue, sk, item);
    };
    const last = batches.pop()!;
    await Promise.all(batches.map(store));
    await store(last);
  }

  async progress(runId: string, since?: string): Promise<RunProgress | undefined> {
    await turn();
    const run = this.table.get(pk(runId), 'RUN');
    if (!run) return undefined;
    const steps = this.table.query(pk(runId), 'STEP#').map(([, item]) => toStep(item)).sort((a, b) => a.seq - b.seq);
    const tail = this.table.query(pk(runId), TAIL_PREFIX).filter(([sk]) => since === undefined || sk > since);
    return { run: toRun(run), steps, tail: tail.flatMap(([, item]) => JSON.parse(item.events as string) as TailEvent[]), since: tail.at(-1)?.[0] ?? since };
  }

  async acquireLease(runId: string, expectedAttempt: number, owner: string, until: number, functionName?: string): Promise<RunRecord | undefined> {
    await turn();
    const now = this.now();
    const run = this.table.get(pk(runId), 'RUN');
    if (!run || run.attempt !== expectedAttempt || !LIVE_STATUSES.includes(run.status as RunStatus)) return undefined;
    if (functionName !== undefined && run.functionName !== undefined && run.functionName !== functionName) return undefined;
    // DynamoJournal's condition: no owner, or an expiry before now (an owner without one holds it for good).
    if (run.leaseOwner !== undefined && !(typeof run.leaseExpiresAt === 'number' && run.leaseExpiresAt < now)) return undefined;
    const { wakeAt: _wakeAt, ...rest } = run;
    const next = { ...rest, status: 'running', attempt: expectedAttempt + 1, leaseOwner: owner, leaseExpiresAt: until, updatedAt: new Date(now).toISOString() };
    this.table.put(pk(runId), 'RUN', next);
    return toRun(next);
  }

  async keepUntil(runId: string, ttl: number): Promise<void> {
    await turn();
    const raise = (pkValue: string, sk: string) => {
      const item = this.table.get(pkValue, sk);
      if (item && typeof item.ttl === 'number' && item.ttl < ttl) this.table.put(pkValue, sk, { ...item, ttl });
    };
    for (const [sk, item] of this.table.query(pk(runId))) {
      raise(pk(runId), sk);
      if (item.status === 'waiting' && typeof item.event === 'string') raise(eventPk(item.event), waiterSk({ runId, stepId: item.id as string }));
    }
  }

  async dueRuns(before: number, limit = 100): Promise<RunRecord[]> {
    await turn();
    const due: [number, RunRecord][] = [];
    for (const pkValue of this.table.partitionKeys()) {
      const item = pkValue.startsWith('RUN#') ? this.table.get(pkValue, 'RUN') : undefined;
      if (!item) continue;
      const run = toRun(item);
      const at = runDueAt(run);
      if (at !== undefined && at < before) due.push([at, run]);
    }
    return due.sort((a, b) => a[0] - b[0]).slice(0, limit).map(([, run]) => run);
  }

  async replaceRun(expected: Pick<RunRecord, 'attempt' | 'updatedAt'>, run: RunRecord): Promise<boolean> {
    await turn();
    const stored = this.table.get(pk(run.runId), 'RUN');
    if (!stored || stored.attempt !== expected.attempt || stored.updatedAt !== expected.updatedAt || !LIVE_STATUSES.includes(stored.status as RunStatus)) return false;
    const [[pkValue, sk, item]] = itemsOf([{ type: 'run', run }]) as [Entry];
    this.table.put(pkValue, sk, item);
    return true;
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    await turn();
    const runs: RunRecord[] = [];
    for (const pkValue of this.table.partitionKeys()) {
      if (!pkValue.startsWith('RUN#')) continue;
      const item = this.table.get(pkValue, 'RUN');
      if (!item || (filter.status && item.status !== filter.status) || (filter.endpoint && item.endpoint !== filter.endpoint)) continue;
      runs.push({ ...toRun(item), response: undefined });
    }
    // ULIDs sort by creation time.
    runs.sort((a, b) => (a.runId < b.runId ? 1 : a.runId > b.runId ? -1 : 0));
    return runs.slice(0, filter.limit ?? 100);
  }

  async reopen(runId: string): Promise<RunRecord | undefined> {
    await turn();
    const loaded = this.loadNow(runId);
    if (!loaded || loaded.run.status !== 'failed') return undefined;
    const writes = reopenedRun(loaded, new Date(this.now()).toISOString());
    const run = (writes.at(-1) as Extract<JournalWrite, { type: 'run' }>).run;
    // As DynamoJournal: transactions after the read, each only while the run is still failed at the attempt read.
    for (const chunk of fencedTransactions(writes)) {
      await turn();
      const stored = itemsOf(chunk);
      const current = this.table.get(pk(runId), 'RUN');
      if (current?.status !== 'failed' || current.attempt !== run.attempt) return undefined;
      for (const [pkValue, sk, item] of stored) this.table.put(pkValue, sk, item);
    }
    return run;
  }

  async claimIdempotencyKey(claim: IdempotencyClaim, replacing?: string): Promise<{ claimed: true } | { claimed: false; holder: IdempotencyClaim }> {
    await turn();
    const claimPk = idempotencyPk(claim);
    const held = this.table.get(claimPk, 'CLAIM');
    if (held && (replacing === undefined || held.runId !== replacing)) return { claimed: false, holder: structuredClone(held) as unknown as IdempotencyClaim };
    this.table.put(claimPk, 'CLAIM', attributes(claim));
    return { claimed: true };
  }

  async releaseIdempotencyKey(claim: Pick<IdempotencyClaim, 'endpoint' | 'caller' | 'key' | 'runId'>): Promise<void> {
    await turn();
    const claimPk = idempotencyPk(claim);
    if (this.table.get(claimPk, 'CLAIM')?.runId === claim.runId) this.table.delete(claimPk, 'CLAIM');
  }

  async registerWaiter(waiter: EventWaiter, step: StepRecord, fence?: Fence): Promise<void> {
    await turn();
    const [[stepPk, stepKey, stepItem]] = itemsOf([{ type: 'step', runId: waiter.runId, step, ttl: waiter.ttl }]) as [Entry];
    const waiterItem = attributes({ ...waiter, match: JSON.stringify(waiter.match) });
    checkSize(waiterItem);
    if (fence) this.checkLease(fence.runId, fence);
    this.table.put(eventPk(waiter.name), waiterSk(waiter), waiterItem);
    this.table.put(stepPk, stepKey, stepItem);
  }

  async waiters(eventName: string): Promise<EventWaiter[]> {
    await turn();
    return this.table.query(eventPk(eventName), 'WAITER#').map(([, item]) => ({ ...structuredClone(item), match: JSON.parse(item.match as string) }) as EventWaiter);
  }

  async recordEvent(event: ReceivedEvent, ttl: number): Promise<{ fresh: boolean; event: ReceivedEvent }> {
    await turn();
    const first = this.table.get(eventPk(event.name), seenSk(event.id));
    if (first) return { fresh: false, event: toEvent(first) };
    const item = { id: event.id, name: event.name, data: JSON.stringify(event.data ?? null), receivedAt: event.receivedAt, ttl };
    checkSize(item);
    this.table.put(eventPk(event.name), seenSk(event.id), item);
    return { fresh: true, event };
  }

  async recentEvents(eventName: string, since: Date): Promise<ReceivedEvent[]> {
    await turn();
    return this.table.query(eventPk(eventName), 'SEEN#')
      .map(([, item]) => toEvent(item))
      .filter((event) => Date.parse(event.receivedAt) >= since.getTime())
      .sort((a, b) => a.receivedAt.localeCompare(b.receivedAt));
  }

  async resolveWaiting(waiter: Pick<EventWaiter, 'name' | 'runId' | 'stepId' | 'seq'>, output: string): Promise<{ resolved: boolean; step: StepRecord | undefined }> {
    await turn();
    const stepPk = pk(waiter.runId);
    const stepKey = stepSk({ id: waiter.stepId, seq: waiter.seq });
    const step = this.table.get(stepPk, stepKey);
    const resolved = step?.status === 'waiting';
    if (resolved) {
      this.table.put(stepPk, stepKey, { ...step, status: 'completed', output, endedAt: new Date(this.now()).toISOString() });
      this.table.delete(eventPk(waiter.name), waiterSk(waiter));
    }
    // DynamoJournal reads the step back in a request of its own.
    await turn();
    const after = this.table.get(stepPk, stepKey);
    return { resolved, step: after && toStep(after) };
  }

  async acquireSlot(request: SlotRequest): Promise<SlotGrant> {
    await turn();
    const flowKey = flowPk(request.ref);
    const slots = this.table.get(flowKey, SLOTS_SK);
    if (!slots) {
      this.table.put(flowKey, SLOTS_SK, { ...refAttributes(request.ref), holders: { [request.holder]: request.expiresAt }, queued: 0, limit: request.limit, ttl: request.ttl });
      return { acquired: true };
    }
    const holders = { ...(slots.holders as Record<string, number>) };
    const queued = slots.queued as number;
    const store = (changes: Item) => this.table.put(flowKey, SLOTS_SK, { ...slots, holders, ...changes, limit: request.limit, ttl: Math.max(request.ttl, slots.ttl ?? 0) });
    if (request.holder in holders) {
      holders[request.holder] = request.expiresAt;
      store({});
      return { acquired: true };
    }
    const live = Object.values(holders).filter((expiresAt) => expiresAt > request.now);
    const inQueue = request.queued === true && this.table.get(flowKey, queueSk(request.holder)) !== undefined;
    if (live.length >= request.limit || (!inQueue && queued > 0)) return { acquired: false, queued, freesBy: live.length > 0 ? Math.min(...live) : undefined };
    for (const [holder, expiresAt] of Object.entries(holders)) if (expiresAt <= request.now) delete holders[holder];
    holders[request.holder] = request.expiresAt;
    store(inQueue ? { queued: queued - 1 } : {});
    if (inQueue) this.table.delete(flowKey, queueSk(request.holder));
    return { acquired: true };
  }

  async enqueue(entry: QueueEntry, limit: number): Promise<boolean> {
    await turn();
    const flowKey = flowPk(entry.ref);
    const queuedItem = this.table.get(flowKey, queueSk(entry.holder));
    if (queuedItem) {
      this.table.put(flowKey, queueSk(entry.holder), { ...queuedItem, attempt: entry.attempt, ttl: entry.ttl });
      return true;
    }
    const slots = this.table.get(flowKey, SLOTS_SK);
    // As DynamoDB's condition can count them: every holder, expired or not.
    if (!slots || Object.keys(slots.holders as Record<string, number>).length < limit) return false;
    this.table.put(flowKey, queueSk(entry.holder), queueItem(entry));
    this.table.put(flowKey, SLOTS_SK, { ...slots, queued: (slots.queued as number) + 1 });
    return true;
  }

  async releaseSlot(release: SlotRelease): Promise<QueueEntry | undefined> {
    await turn();
    const flowKey = flowPk(release.ref);
    const holds = () => {
      const slots = this.table.get(flowKey, SLOTS_SK);
      return slots && (slots.holders as Record<string, number>)[release.holder] === release.expiresAt ? slots : undefined;
    };
    const without = (slots: Item) => {
      const holders = { ...(slots.holders as Record<string, number>) };
      delete holders[release.holder];
      return holders;
    };
    const first = holds();
    if (!first) return undefined;
    if ((first.queued as number) <= 0) {
      this.table.put(flowKey, SLOTS_SK, { ...first, holders: without(first) });
      return undefined;
    }
    // DynamoJournal reads the head of the queue in a request of its own, then hands the slot over.
    await turn();
    const slots = holds();
    if (!slots) return undefined;
    const head = this.table.query(flowKey, QUEUE_PREFIX)[0];
    if (!head) {
      // The count outlived its entries (expired ones): nobody is queued.
      this.table.put(flowKey, SLOTS_SK, { ...slots, holders: without(slots), queued: 0 });
      return undefined;
    }
    const entry = toQueueEntry(head[1]);
    this.table.put(flowKey, SLOTS_SK, {
      ...slots,
      holders: { ...without(slots), [entry.holder]: release.now + release.reserveMs },
      queued: (slots.queued as number) - 1,
      ttl: Math.max(release.ttl, slots.ttl ?? 0),
    });
    this.table.delete(flowKey, head[0]);
    return entry;
  }

  async reserveStart(request: StartRequest): Promise<StartGrant> {
    await turn();
    const flowKey = flowPk(request.ref);
    const item = this.table.get(flowKey, RATE_SK);
    const tat = item?.tat as number | undefined;
    const store = (next: number) =>
      this.table.put(flowKey, RATE_SK, { ...refAttributes(request.ref), ...item, tat: next, limit: request.limit, periodMs: request.periodMs, ttl: Math.max(request.ttl, item?.ttl ?? 0) });
    if (tat === undefined || tat <= request.now) {
      store(request.now + request.intervalMs);
      return { ok: true, at: request.now };
    }
    if (request.lossy && tat - request.toleranceMs > request.now) return { ok: false, retryAt: tat - request.toleranceMs };
    store(tat + request.intervalMs);
    return { ok: true, at: Math.max(request.now, tat - request.toleranceMs) };
  }

  async countRejection(ref: FlowRef, at: number, ttl: number): Promise<void> {
    await turn();
    const flowKey = flowPk(ref);
    const sk = ref.kind === 'concurrency' ? SLOTS_SK : RATE_SK;
    const item = this.table.get(flowKey, sk) ?? { ...refAttributes(ref), ...(sk === SLOTS_SK ? { holders: {}, queued: 0 } : {}) };
    this.table.put(flowKey, sk, { ...item, rejected: ((item.rejected as number | undefined) ?? 0) + 1, lastRejectedAt: new Date(at).toISOString(), ttl: Math.max(ttl, item.ttl ?? 0) });
  }

  async listFlow(): Promise<FlowState[]> {
    await turn();
    const states: FlowState[] = [];
    for (const pkValue of this.table.partitionKeys()) {
      if (!pkValue.startsWith(FLOW_PREFIX)) continue;
      for (const sk of [SLOTS_SK, RATE_SK]) {
        const item = this.table.get(pkValue, sk);
        if (item) states.push(toFlowState(structuredClone(item)));
      }
    }
    return states;
  }

  private loadNow(runId: string): LoadedRun | undefined {
    let run: RunRecord | undefined;
    let request: RequestSnapshot | undefined;
    const steps: StepRecord[] = [];
    for (const [sk, item] of this.table.query(pk(runId))) {
      if (sk === 'RUN') run = toRun(item);
      else if (sk === 'REQUEST') request = JSON.parse(item.request as string) as RequestSnapshot;
      else if (sk.startsWith('STEP#')) steps.push(toStep(item));
    }
    if (!run || !request) return undefined;
    steps.sort((a, b) => a.seq - b.seq);
    return { run, request, steps };
  }

  /** DynamoJournal's fence: a condition that the run's stored `leaseOwner` is the fence's owner (or, with `orNew`, that no run is stored). */
  private checkLease(runId: string, fence: Fence): void {
    const run = this.table.get(pk(runId), 'RUN');
    if (run === undefined && fence.orNew) return;
    if (run?.leaseOwner !== fence.owner) throw new LeaseLostError(fence.runId);
  }
}
