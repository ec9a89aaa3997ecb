/**
 * The memory journal's table: partitions of items under DynamoJournal's keys, with DynamoDB's
 * item limits and TTL (an item past its `ttl` is gone when next touched, without DynamoDB's lag),
 * and how records become those items and back.
 */
import type { FlowRef, QueueEntry, ReceivedEvent, RunRecord, StepRecord } from '../core/records.ts';
import { flowRefAttributes as refAttributes, type JournalWrite } from './journal.ts';
import { pk, stepSk, tailSk } from './keys.ts';

/** An item as DynamoJournal keeps it: its attributes, with JSON text where DynamoJournal stores JSON text. */
export type Item = Record<string, unknown> & { ttl?: number };

// DynamoDB refuses items over 400 KB; counted here as JSON bytes, a little more than DynamoDB counts.
const MAX_ITEM_BYTES = 400 * 1024;

export class MemoryTable {
  private readonly partitions = new Map<string, Map<string, Item>>();
  private readonly now: () => number;

  constructor(now: () => number) {
    this.now = now;
  }

  get itemCount(): number {
    let count = 0;
    for (const partition of this.partitions.values()) count += partition.size;
    return count;
  }

  /** The partition keys, as a scan would find them. */
  partitionKeys(): string[] {
    return [...this.partitions.keys()];
  }

  get(pkValue: string, sk: string): Item | undefined {
    const partition = this.partitions.get(pkValue);
    const item = partition?.get(sk);
    if (!item) return undefined;
    if (typeof item.ttl === 'number' && item.ttl * 1_000 < this.now()) {
      partition!.delete(sk);
      if (partition!.size === 0) this.partitions.delete(pkValue);
      return undefined;
    }
    return item;
  }

  /** The live items of a partition in sort-key order, as a DynamoDB Query returns them. */
  query(pkValue: string, prefix = ''): [string, Item][] {
    const partition = this.partitions.get(pkValue);
    if (!partition) return [];
    const found: [string, Item][] = [];
    for (const sk of [...partition.keys()].sort()) {
      const item = sk.startsWith(prefix) ? this.get(pkValue, sk) : undefined;
      if (item) found.push([sk, item]);
    }
    return found;
  }

  put(pkValue: string, sk: string, item: Item): void {
    let partition = this.partitions.get(pkValue);
    if (!partition) this.partitions.set(pkValue, (partition = new Map()));
    partition.set(sk, item);
  }

  delete(pkValue: string, sk: string): void {
    const partition = this.partitions.get(pkValue);
    partition?.delete(sk);
    if (partition?.size === 0) this.partitions.delete(pkValue);
  }
}

export type Entry = [pk: string, sk: string, item: Item];

/** The items a write stores, checked as DynamoDB checks a request: each at most once, none over 400 KB. */
export function itemsOf(writes: JournalWrite[]): Entry[] {
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

export function toEntry(write: JournalWrite): Entry {
  switch (write.type) {
    case 'run': {
      const { response, ...run } = write.run;
      return [pk(run.runId), 'RUN', attributes({ ...run, response: response && JSON.stringify(response) })];
    }
    case 'request':
      return [pk(write.runId), 'REQUEST', { request: JSON.stringify(write.request), ttl: write.ttl }];
    case 'step':
      return [pk(write.runId), stepSk(write.step), attributes({ ...write.step, ttl: write.ttl })];
    case 'tail':
      return [pk(write.runId), tailSk(write.attempt, write.n), { events: JSON.stringify(write.events), ttl: write.ttl }];
  }
}

export function checkSize(item: Item): void {
  const bytes = Buffer.byteLength(JSON.stringify(item));
  if (bytes > MAX_ITEM_BYTES) throw new Error(`A journal item of ${bytes} bytes is over DynamoDB's 400 KB item limit.`);
}

/**
 * A deep copy without undefined properties, as DynamoJournal's `marshall(…, { removeUndefinedValues })`
 * stores it; being a copy, nothing the caller changes later reaches the journal.
 */
export function attributes(value: object): Item {
  return withoutUndefined(value) as Item;
}

export function withoutUndefined(value: unknown): unknown {
  if (Array.isArray(value)) return value.filter((v) => v !== undefined).map(withoutUndefined);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, withoutUndefined(v)]));
}

export function toRun(item: Item): RunRecord {
  const { response, ...run } = structuredClone(item);
  return { ...(run as unknown as RunRecord), response: typeof response === 'string' ? JSON.parse(response) : undefined };
}

export function toStep(item: Item): StepRecord {
  const { ttl: _ttl, ...step } = structuredClone(item);
  return step as unknown as StepRecord;
}

export function queueItem(entry: QueueEntry): Item {
  const { ref, ...rest } = entry;
  return attributes({ ...refAttributes(ref), ...rest });
}

export function toQueueEntry(item: Item): QueueEntry {
  const { scope, kind, key, ...rest } = structuredClone(item) as Record<string, unknown>;
  return { ...(rest as Omit<QueueEntry, 'ref'>), ref: { scope, kind, key } as FlowRef };
}

export function toEvent(item: Item): ReceivedEvent {
  const { id, name, data, receivedAt } = item as { id: string; name: string; data: string; receivedAt: string };
  return { id, name, data: JSON.parse(data), receivedAt };
}

/** A store answers on a later macrotask, never synchronously. */
export const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
