import { LeaseLostError } from '../core/errors.ts';
import type { RequestSnapshot } from '../core/http.ts';
import { runDueAt, type EventWaiter, type IdempotencyClaim, type LoadedRun, type ReceivedEvent, type RunRecord, type StepRecord } from '../core/records.ts';
import { fencedTransactions, reopenedRun, type Fence, type Journal, type JournalWrite, type RunFilter } from './journal.ts';
import { eventPk, idempotencyPk, pk, seenSk, stepSk, waiterSk } from './keys.ts';

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
    if (!run || run.attempt !== expectedAttempt || !['running', 'sleeping', 'waiting'].includes(run.status as string)) return undefined;
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
    if (!stored || stored.attempt !== expected.attempt || stored.updatedAt !== expected.updatedAt || !['running', 'sleeping', 'waiting'].includes(stored.status as string)) return false;
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

function toEvent(item: Item): ReceivedEvent {
  const { id, name, data, receivedAt } = item as { id: string; name: string; data: string; receivedAt: string };
  return { id, name, data: JSON.parse(data), receivedAt };
}

// The same keys as DynamoJournal, so the same writes collide and the same queries find them.

/** A store answers on a later macrotask, never synchronously. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
