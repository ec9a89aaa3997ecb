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
  type RunRecord,
  type RunStatus,
  type StepRecord,
} from '../core/records.ts';
import { flowRefAttributes as refAttributes, toFlowState, fencedTransactions, reopenedRun, type Fence, type Journal, type JournalWrite, type RunFilter, type SlotGrant, type SlotRelease, type SlotRequest, type StartGrant, type StartRequest } from './journal.ts';
import { eventPk, FLOW_PREFIX, flowPk, idempotencyPk, pk, QUEUE_PREFIX, queueSk, RATE_SK, seenSk, SLOTS_SK, stepSk, waiterSk } from './keys.ts';

export interface MemoryJournalOptions {
  /** Epoch ms, for every lease expiry, TTL and timestamp. Default `Date.now`; a harness passes its virtual clock. */
  now?: () => number;
}

/** An item as DynamoJournal keeps it: its attributes, with JSON text where DynamoJournal stores JSON text. */
type Item = Record<string, unknown> & { ttl?: number };

// BatchWriteItem takes 25 items: unfenced writes land in groups of that size, as on DynamoDB.
const BATCH_ITEMS = 25;
// DynamoDB refuses items over 400 KB; counted here as JSON bytes, a little more than DynamoDB counts.
const MAX_ITEM_BYTES = 400 * 1024;

/**
 * The journal in process memory, for tests and the harness: the items, keys and conditions of
 * `DynamoJournal`, so code that passes on it behaves the same on DynamoDB. Every call answers on a
 * later macrotask, and calls DynamoJournal makes in several requests take several turns here, so
 * concurrent calls interleave as they can on AWS. Items past their `ttl` are deleted when next
 * touched, without DynamoDB's lag.
 */
export class MemoryJournal implements Journal {
  private readonly table = new Map<string, Map<string, Item>>();
  private readonly now: () => number;

  constructor(options: MemoryJournalOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  /** How many items the journal holds (of every kind), as a table scan would count them. */
  get itemCount(): number {
    let count = 0;
    for (const partition of this.table.values()) count += partition.size;
    return count;
  }

  async load(runId: string): Promise<LoadedRun | undefined> {
    await turn();
    return this.loadNow(runId);
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    await turn();
    const item = this.get(pk(runId), 'RUN');
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
        for (const [pkValue, sk, item] of stored) this.put(pkValue, sk, item);
      }
      return;
    }
    const batches: JournalWrite[][] = [];
    for (let i = 0; i < items.length; i += BATCH_ITEMS) batches.push(items.slice(i, i + BATCH_ITEMS));
    await Promise.all(
      batches.map(async (batch) => {
        await turn();
        for (const [pkValue, sk, item] of itemsOf(batch)) this.put(pkValue, sk, item);
      }),
    );
  }

  async acquireLease(runId: string, expectedAttempt: number, owner: string, until: number, functionName?: string): Promise<RunRecord | undefined> {
    await turn();
    const now = this.now();
    const run = this.get(pk(runId), 'RUN');
    if (!run || run.attempt !== expectedAttempt || !LIVE_STATUSES.includes(run.status as RunStatus)) return undefined;
    if (functionName !== undefined && run.functionName !== undefined && run.functionName !== functionName) return undefined;
    // DynamoJournal's condition: no owner, or an expiry before now (an owner without one holds it for good).
    if (run.leaseOwner !== undefined && !(typeof run.leaseExpiresAt === 'number' && run.leaseExpiresAt < now)) return undefined;
    const { wakeAt: _wakeAt, ...rest } = run;
    const next = { ...rest, status: 'running', attempt: expectedAttempt + 1, leaseOwner: owner, leaseExpiresAt: until, updatedAt: new Date(now).toISOString() };
    this.put(pk(runId), 'RUN', next);
    return toRun(next);
  }

  async keepUntil(runId: string, ttl: number): Promise<void> {
    await turn();
    const raise = (pkValue: string, sk: string) => {
      const item = this.get(pkValue, sk);
      if (item && typeof item.ttl === 'number' && item.ttl < ttl) this.put(pkValue, sk, { ...item, ttl });
    };
    for (const [sk, item] of this.query(pk(runId))) {
      raise(pk(runId), sk);
      if (item.status === 'waiting' && typeof item.event === 'string') raise(eventPk(item.event), waiterSk({ runId, stepId: item.id as string }));
    }
  }

  async dueRuns(before: number, limit = 100): Promise<RunRecord[]> {
    await turn();
    const due: [number, RunRecord][] = [];
    for (const pkValue of [...this.table.keys()]) {
      const item = pkValue.startsWith('RUN#') ? this.get(pkValue, 'RUN') : undefined;
      if (!item) continue;
      const run = toRun(item);
      const at = runDueAt(run);
      if (at !== undefined && at < before) due.push([at, run]);
    }
    return due.sort((a, b) => a[0] - b[0]).slice(0, limit).map(([, run]) => run);
  }

  async replaceRun(expected: Pick<RunRecord, 'attempt' | 'updatedAt'>, run: RunRecord): Promise<boolean> {
    await turn();
    const stored = this.get(pk(run.runId), 'RUN');
    if (!stored || stored.attempt !== expected.attempt || stored.updatedAt !== expected.updatedAt || !LIVE_STATUSES.includes(stored.status as RunStatus)) return false;
    const [[pkValue, sk, item]] = itemsOf([{ type: 'run', run }]) as [Entry];
    this.put(pkValue, sk, item);
    return true;
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    await turn();
    const runs: RunRecord[] = [];
    for (const pkValue of [...this.table.keys()]) {
      if (!pkValue.startsWith('RUN#')) continue;
      const item = this.get(pkValue, 'RUN');
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
      const current = this.get(pk(runId), 'RUN');
      if (current?.status !== 'failed' || current.attempt !== run.attempt) return undefined;
      for (const [pkValue, sk, item] of stored) this.put(pkValue, sk, item);
    }
    return run;
  }

  async claimIdempotencyKey(claim: IdempotencyClaim, replacing?: string): Promise<{ claimed: true } | { claimed: false; holder: IdempotencyClaim }> {
    await turn();
    const claimPk = idempotencyPk(claim);
    const held = this.get(claimPk, 'CLAIM');
    if (held && (replacing === undefined || held.runId !== replacing)) return { claimed: false, holder: structuredClone(held) as unknown as IdempotencyClaim };
    this.put(claimPk, 'CLAIM', attributes(claim));
    return { claimed: true };
  }

  async releaseIdempotencyKey(claim: Pick<IdempotencyClaim, 'endpoint' | 'caller' | 'key' | 'runId'>): Promise<void> {
    await turn();
    const claimPk = idempotencyPk(claim);
    if (this.get(claimPk, 'CLAIM')?.runId === claim.runId) this.delete(claimPk, 'CLAIM');
  }

  async registerWaiter(waiter: EventWaiter, step: StepRecord, fence?: Fence): Promise<void> {
    await turn();
    const [[stepPk, stepKey, stepItem]] = itemsOf([{ type: 'step', runId: waiter.runId, step, ttl: waiter.ttl }]) as [Entry];
    const waiterItem = attributes({ ...waiter, match: JSON.stringify(waiter.match) });
    checkSize(waiterItem);
    if (fence) this.checkLease(fence.runId, fence);
    this.put(eventPk(waiter.name), waiterSk(waiter), waiterItem);
    this.put(stepPk, stepKey, stepItem);
  }

  async waiters(eventName: string): Promise<EventWaiter[]> {
    await turn();
    return this.query(eventPk(eventName), 'WAITER#').map(([, item]) => ({ ...structuredClone(item), match: JSON.parse(item.match as string) }) as EventWaiter);
  }

  async recordEvent(event: ReceivedEvent, ttl: number): Promise<{ fresh: boolean; event: ReceivedEvent }> {
    await turn();
    const first = this.get(eventPk(event.name), seenSk(event.id));
    if (first) return { fresh: false, event: toEvent(first) };
    const item = { id: event.id, name: event.name, data: JSON.stringify(event.data ?? null), receivedAt: event.receivedAt, ttl };
    checkSize(item);
    this.put(eventPk(event.name), seenSk(event.id), item);
    return { fresh: true, event };
  }

  async recentEvents(eventName: string, since: Date): Promise<ReceivedEvent[]> {
    await turn();
    return this.query(eventPk(eventName), 'SEEN#')
      .map(([, item]) => toEvent(item))
      .filter((event) => Date.parse(event.receivedAt) >= since.getTime())
      .sort((a, b) => a.receivedAt.localeCompare(b.receivedAt));
  }

  async resolveWaiting(waiter: Pick<EventWaiter, 'name' | 'runId' | 'stepId' | 'seq'>, output: string): Promise<{ resolved: boolean; step: StepRecord | undefined }> {
    await turn();
    const stepPk = pk(waiter.runId);
    const stepKey = stepSk({ id: waiter.stepId, seq: waiter.seq });
    const step = this.get(stepPk, stepKey);
    const resolved = step?.status === 'waiting';
    if (resolved) {
      this.put(stepPk, stepKey, { ...step, status: 'completed', output, endedAt: new Date(this.now()).toISOString() });
      this.delete(eventPk(waiter.name), waiterSk(waiter));
    }
    // DynamoJournal reads the step back in a request of its own.
    await turn();
    const after = this.get(stepPk, stepKey);
    return { resolved, step: after && toStep(after) };
  }

  async acquireSlot(request: SlotRequest): Promise<SlotGrant> {
    await turn();
    const flowKey = flowPk(request.ref);
    const slots = this.get(flowKey, SLOTS_SK);
    if (!slots) {
      this.put(flowKey, SLOTS_SK, { ...refAttributes(request.ref), holders: { [request.holder]: request.expiresAt }, queued: 0, limit: request.limit, ttl: request.ttl });
      return { acquired: true };
    }
    const holders = { ...(slots.holders as Record<string, number>) };
    const queued = slots.queued as number;
    const store = (changes: Item) => this.put(flowKey, SLOTS_SK, { ...slots, holders, ...changes, limit: request.limit, ttl: Math.max(request.ttl, slots.ttl ?? 0) });
    if (request.holder in holders) {
      holders[request.holder] = request.expiresAt;
      store({});
      return { acquired: true };
    }
    const live = Object.values(holders).filter((expiresAt) => expiresAt > request.now);
    const inQueue = request.queued === true && this.get(flowKey, queueSk(request.holder)) !== undefined;
    if (live.length >= request.limit || (!inQueue && queued > 0)) return { acquired: false, queued, freesBy: live.length > 0 ? Math.min(...live) : undefined };
    for (const [holder, expiresAt] of Object.entries(holders)) if (expiresAt <= request.now) delete holders[holder];
    holders[request.holder] = request.expiresAt;
    store(inQueue ? { queued: queued - 1 } : {});
    if (inQueue) this.delete(flowKey, queueSk(request.holder));
    return { acquired: true };
  }

  async enqueue(entry: QueueEntry, limit: number): Promise<boolean> {
    await turn();
    const flowKey = flowPk(entry.ref);
    const queuedItem = this.get(flowKey, queueSk(entry.holder));
    if (queuedItem) {
      this.put(flowKey, queueSk(entry.holder), { ...queuedItem, attempt: entry.attempt, ttl: entry.ttl });
      return true;
    }
    const slots = this.get(flowKey, SLOTS_SK);
    // As DynamoDB's condition can count them: every holder, expired or not.
    if (!slots || Object.keys(slots.holders as Record<string, number>).length < limit) return false;
    this.put(flowKey, queueSk(entry.holder), queueItem(entry));
    this.put(flowKey, SLOTS_SK, { ...slots, queued: (slots.queued as number) + 1 });
    return true;
  }

  async releaseSlot(release: SlotRelease): Promise<QueueEntry | undefined> {
    await turn();
    const flowKey = flowPk(release.ref);
    const holds = () => {
      const slots = this.get(flowKey, SLOTS_SK);
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
      this.put(flowKey, SLOTS_SK, { ...first, holders: without(first) });
      return undefined;
    }
    // DynamoJournal reads the head of the queue in a request of its own, then hands the slot over.
    await turn();
    const slots = holds();
    if (!slots) return undefined;
    const head = this.query(flowKey, QUEUE_PREFIX)[0];
    if (!head) {
      // The count outlived its entries (expired ones): nobody is queued.
      this.put(flowKey, SLOTS_SK, { ...slots, holders: without(slots), queued: 0 });
      return undefined;
    }
    const entry = toQueueEntry(head[1]);
    this.put(flowKey, SLOTS_SK, {
      ...slots,
      holders: { ...without(slots), [entry.holder]: release.now + release.reserveMs },
      queued: (slots.queued as number) - 1,
      ttl: Math.max(release.ttl, slots.ttl ?? 0),
    });
    this.delete(flowKey, head[0]);
    return entry;
  }

  async reserveStart(request: StartRequest): Promise<StartGrant> {
    await turn();
    const flowKey = flowPk(request.ref);
    const item = this.get(flowKey, RATE_SK);
    const tat = item?.tat as number | undefined;
    const store = (next: number) =>
      this.put(flowKey, RATE_SK, { ...refAttributes(request.ref), ...item, tat: next, limit: request.limit, periodMs: request.periodMs, ttl: Math.max(request.ttl, item?.ttl ?? 0) });
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
    const item = this.get(flowKey, sk) ?? { ...refAttributes(ref), ...(sk === SLOTS_SK ? { holders: {}, queued: 0 } : {}) };
    this.put(flowKey, sk, { ...item, rejected: ((item.rejected as number | undefined) ?? 0) + 1, lastRejectedAt: new Date(at).toISOString(), ttl: Math.max(ttl, item.ttl ?? 0) });
  }

  async listFlow(): Promise<FlowState[]> {
    await turn();
    const states: FlowState[] = [];
    for (const pkValue of [...this.table.keys()]) {
      if (!pkValue.startsWith(FLOW_PREFIX)) continue;
      for (const sk of [SLOTS_SK, RATE_SK]) {
        const item = this.get(pkValue, sk);
        if (item) states.push(toFlowState(structuredClone(item)));
      }
    }
    return states;
  }

  private loadNow(runId: string): LoadedRun | undefined {
    let run: RunRecord | undefined;
    let request: RequestSnapshot | undefined;
    const steps: StepRecord[] = [];
    for (const [sk, item] of this.query(pk(runId))) {
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
    const run = this.get(pk(runId), 'RUN');
    if (run === undefined && fence.orNew) return;
    if (run?.leaseOwner !== fence.owner) throw new LeaseLostError(fence.runId);
  }

  private get(pkValue: string, sk: string): Item | undefined {
    const partition = this.table.get(pkValue);
    const item = partition?.get(sk);
    if (!item) return undefined;
    if (typeof item.ttl === 'number' && item.ttl * 1_000 < this.now()) {
      partition!.delete(sk);
      if (partition!.size === 0) this.table.delete(pkValue);
      return undefined;
    }
    return item;
  }

  /** The live items of a partition in sort-key order, as a DynamoDB Query returns them. */
  private query(pkValue: string, prefix = ''): [string, Item][] {
    const partition = this.table.get(pkValue);
    if (!partition) return [];
    const found: [string, Item][] = [];
    for (const sk of [...partition.keys()].sort()) {
      const item = sk.startsWith(prefix) ? this.get(pkValue, sk) : undefined;
      if (item) found.push([sk, item]);
    }
    return found;
  }

  private put(pkValue: string, sk: string, item: Item): void {
    let partition = this.table.get(pkValue);
    if (!partition) this.table.set(pkValue, (partition = new Map()));
    partition.set(sk, item);
  }

  private delete(pkValue: string, sk: string): void {
    const partition = this.table.get(pkValue);
    partition?.delete(sk);
    if (partition?.size === 0) this.table.delete(pkValue);
  }
}

type Entry = [pk: string, sk: string, item: Item];

/** The items a write stores, checked as DynamoDB checks a request: each at most once, none over 400 KB. */
function itemsOf(writes: JournalWrite[]): Entry[] {
  const entries = writes.map(toEntry);
  const keys = new Set<string>();
  for (const [pkValue, sk, item] of entries) {
    const itemKey = `${pkValue}\n${sk}`;
    if (keys.has(itemKey)) throw new Error(`One journal write names the item ${pkValue} ${sk} twice; DynamoDB refuses such a request.`);
    keys.add(itemKey);
    checkSize(item);
  }
  return entries;
}

function toEntry(write: JournalWrite): Entry {
  switch (write.type) {
    case 'run': {
      const { response, ...run } = write.run;
      return [pk(run.runId), 'RUN', attributes({ ...run, response: response && JSON.stringify(response) })];
    }
    case 'request':
      return [pk(write.runId), 'REQUEST', { request: JSON.stringify(write.request), ttl: write.ttl }];
    case 'step':
      return [pk(write.runId), stepSk(write.step), attributes({ ...write.step, ttl: write.ttl })];
  }
}

function checkSize(item: Item): void {
  const bytes = Buffer.byteLength(JSON.stringify(item));
  if (bytes > MAX_ITEM_BYTES) throw new Error(`A journal item of ${bytes} bytes is over DynamoDB's 400 KB item limit.`);
}

/**
 * A deep copy without undefined properties, as DynamoJournal's `marshall(…, { removeUndefinedValues })`
 * stores it; being a copy, nothing the caller changes later reaches the journal.
 */
function attributes(value: object): Item {
  return withoutUndefined(value) as Item;
}

function withoutUndefined(value: unknown): unknown {
  if (Array.isArray(value)) return value.filter((v) => v !== undefined).map(withoutUndefined);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, withoutUndefined(v)]));
}

function toRun(item: Item): RunRecord {
  const { response, ...run } = structuredClone(item);
  return { ...(run as unknown as RunRecord), response: typeof response === 'string' ? JSON.parse(response) : undefined };
}

function toStep(item: Item): StepRecord {
  const { ttl: _ttl, ...step } = structuredClone(item);
  return step as unknown as StepRecord;
}

function queueItem(entry: QueueEntry): Item {
  const { ref, ...rest } = entry;
  return attributes({ ...refAttributes(ref), ...rest });
}

function toQueueEntry(item: Item): QueueEntry {
  const { scope, kind, key, ...rest } = structuredClone(item) as Record<string, unknown>;
  return { ...(rest as Omit<QueueEntry, 'ref'>), ref: { scope, kind, key } as FlowRef };
}

function toEvent(item: Item): ReceivedEvent {
  const { id, name, data, receivedAt } = item as { id: string; name: string; data: string; receivedAt: string };
  return { id, name, data: JSON.parse(data), receivedAt };
}

// The same keys as DynamoJournal, so the same writes collide and the same queries find them.

/** A store answers on a later macrotask, never synchronously. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
