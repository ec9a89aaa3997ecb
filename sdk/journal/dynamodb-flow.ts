/**
 * `FlowStore` on DynamoDB, for `DynamoJournal`: one partition per limited key. The slots are one
 * item (`SLOTS`: a map of holder → expiry, and the count of queued entries) changed by conditional
 * updates; queue entries are items sorted by holder (oldest run first) that change with the count
 * in a transaction; a throttle's or rate limit's GCRA state is one number (`tat`) on `RATE`.
 */
import {
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  TransactionCanceledException,
  UpdateItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { JournalError } from '../core/errors.ts';
import type { FlowRef, FlowState, QueueEntry } from '../core/records.ts';
import type { Item } from './dynamodb-items.ts';
import { conditionFailed, failedConditions, transactWrite } from './dynamodb-transact.ts';
import { flowRefAttributes, toFlowState, type FlowStore, type SlotGrant, type SlotRelease, type SlotRequest, type StartGrant, type StartRequest } from './journal.ts';
import { FLOW_PREFIX, flowPk, QUEUE_PREFIX, queueSk, RATE_SK, SLOTS_SK } from './keys.ts';

// Each round is one conditional write that lost to another writer of the same item; a few suffice.
const ROUNDS = 8;
// Entries read at the head of a queue: those past their ttl (DynamoDB deletes lazily) are skipped.
const QUEUE_PAGE = 25;
// What this process last saw of each key's GCRA state, to pick the right conditional write first.
const MAX_HINTS = 10_000;

type Attributes = Record<string, unknown>;

export class DynamoFlow implements FlowStore {
  private readonly client: DynamoDBClient;
  private readonly tableName: string;
  private readonly hints = new Map<string, number>();

  constructor(client: DynamoDBClient, tableName: string) {
    this.client = client;
    this.tableName = tableName;
  }

  async acquireSlot(request: SlotRequest): Promise<SlotGrant> {
    const { ref, holder, limit, expiresAt, now, ttl } = request;
    const Key = flowKey(ref, SLOTS_SK);
    // The item as the last refused write saw it: undefined before the first, null when there is none.
    let seen: Attributes | null | undefined;
    let inQueue = request.queued === true;
    for (let round = 0; round < ROUNDS; round++) {
      if (seen === null) {
        // The key's first holder creates its item.
        try {
          await this.client.send(
            new PutItemCommand({
              TableName: this.tableName,
              Item: marshall({ ...unmarshall(Key), ...flowRefAttributes(ref), holders: { [holder]: expiresAt }, queued: 0, limit, ttl }),
              ConditionExpression: 'attribute_not_exists(pk)',
            }),
          );
          return { acquired: true };
        } catch (error) {
          if (!(error instanceof ConditionalCheckFailedException)) throw error;
          seen = undefined;
          continue;
        }
      }
      const holders = (seen?.holders ?? {}) as Record<string, number>;
      // A queued holder is most often resumed because a slot was handed to it: renewing is tried first.
      if ((seen && holder in holders) || (seen === undefined && inQueue)) {
        // Handed to it while it was queued, or its own holding from an earlier attempt: renewed.
        try {
          await this.update(Key, 'SET holders.#me = :exp, #ttl = :ttl', 'attribute_exists(holders.#me)', { '#me': holder, '#ttl': 'ttl' }, { ':exp': expiresAt, ':ttl': ttl });
          return { acquired: true };
        } catch (error) {
          seen = await this.refused(error, Key);
          continue;
        }
      }
      const held = Object.entries(holders);
      const live = held.filter(([, at]) => at > now).map(([, at]) => at);
      const queued = Number(seen?.queued ?? 0);
      if (seen && (live.length >= limit || (!inQueue && queued > 0))) return { acquired: false, queued, freesBy: live.length > 0 ? Math.min(...live) : undefined };
      // Holdings past their expiry make room, each only as it was read (a renewed one stays).
      const expired = held.filter(([, at]) => at <= now);
      const names: Record<string, string> = { '#me': holder, '#ttl': 'ttl', '#limit': 'limit' };
      const values: Attributes = { ':exp': expiresAt, ':ttl': ttl, ':limit': limit, ':cap': limit + expired.length };
      expired.forEach(([name, at], i) => {
        names[`#x${i}`] = name;
        values[`:x${i}`] = at;
      });
      const removed = expired.map((_, i) => `holders.#x${i}`);
      const unchanged = expired.map((_, i) => ` AND holders.#x${i} = :x${i}`).join('');
      let expression = 'SET holders.#me = :exp, #ttl = :ttl, #limit = :limit';
      let condition = `size(holders) < :cap${unchanged}`;
      if (inQueue) {
        expression += ' ADD queued :minus';
        values[':minus'] = -1;
      } else {
        // Nobody waits: a slot freed while runs are queued is handed to the oldest, not taken here.
        condition += ' AND (attribute_not_exists(queued) OR queued <= :zero)';
        values[':zero'] = 0;
      }
      if (removed.length > 0) expression += ` REMOVE ${removed.join(', ')}`;
      const slots = { TableName: this.tableName, Key, UpdateExpression: expression, ConditionExpression: condition, ExpressionAttributeNames: names, ExpressionAttributeValues: marshall(values) };
      if (!inQueue) {
        try {
          await this.client.send(new UpdateItemCommand({ ...slots, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }));
          return { acquired: true };
        } catch (error) {
          seen = await this.refused(error, Key);
          continue;
        }
      }
      // A queued holder takes a free slot and leaves the queue in one transaction.
      try {
        await transactWrite(this.client, [
          { Update: { ...slots, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } },
          { Delete: { TableName: this.tableName, Key: flowKey(ref, queueSk(holder)), ConditionExpression: 'attribute_exists(pk)' } },
        ]);
        return { acquired: true };
      } catch (error) {
        if (!conditionFailed(error)) throw error;
        const [slotsRefused, notQueued] = failedConditions(error);
        // Its entry is gone: handed a slot (it holds one now), or never stored.
        if (notQueued) inQueue = false;
        const item = (error as TransactionCanceledException).CancellationReasons?.[0]?.Item;
        seen = slotsRefused ? (item ? unmarshall(item) : await this.read(Key)) : undefined;
      }
    }
    throw new JournalError(`Taking a concurrency slot of ${describe(ref)} kept losing to other writers; try again.`);
  }

  async enqueue(entry: QueueEntry, limit: number): Promise<boolean> {
    const { ref, ...rest } = entry;
    const queueKey = flowKey(ref, queueSk(entry.holder));
    for (let round = 0; round < ROUNDS; round++) {
      try {
        await transactWrite(this.client, [
          {
            Put: {
              TableName: this.tableName,
              Item: marshall({ ...unmarshall(queueKey), ...flowRefAttributes(ref), ...rest }, { removeUndefinedValues: true }),
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
          {
            Update: {
              TableName: this.tableName,
              Key: flowKey(ref, SLOTS_SK),
              UpdateExpression: 'ADD queued :one',
              // Every holding counts here, expired or not: the condition cannot tell them apart.
              ConditionExpression: 'size(holders) >= :limit',
              ExpressionAttributeValues: marshall({ ':one': 1, ':limit': limit }),
            },
          },
        ]);
        return true;
      } catch (error) {
        if (!conditionFailed(error)) throw error;
        const [alreadyQueued, free] = failedConditions(error);
        if (alreadyQueued) {
          try {
            await this.update(queueKey, 'SET attempt = :attempt, #ttl = :ttl', 'attribute_exists(pk)', { '#ttl': 'ttl' }, { ':attempt': entry.attempt, ':ttl': entry.ttl });
            return true;
          } catch (error) {
            if (!(error instanceof ConditionalCheckFailedException)) throw error;
            continue; // it left the queue meanwhile
          }
        }
        if (free) return false;
      }
    }
    throw new JournalError(`Queueing run ${entry.runId} on ${describe(ref)} kept losing to other writers.`);
  }

  async releaseSlot(release: SlotRelease): Promise<QueueEntry | undefined> {
    const { ref, holder, expiresAt, now, reserveMs, ttl } = release;
    const Key = flowKey(ref, SLOTS_SK);
    for (let round = 0; round < ROUNDS; round++) {
      let seen: Attributes | null;
      try {
        await this.update(Key, 'REMOVE holders.#me', 'holders.#me = :exp AND (attribute_not_exists(queued) OR queued <= :zero)', { '#me': holder }, { ':exp': expiresAt, ':zero': 0 });
        return undefined;
      } catch (error) {
        seen = await this.refused(error, Key);
      }
      if (!seen || (seen.holders as Record<string, number> | undefined)?.[holder] !== expiresAt) return undefined; // not its holding any more
      const head = await this.queueHead(ref, now);
      try {
        if (!head || head.holder === holder) {
          // The count outlived its entries (expired ones): nobody is queued.
          await this.update(Key, 'REMOVE holders.#me SET queued = :zero', 'holders.#me = :exp AND queued = :queued', { '#me': holder }, { ':exp': expiresAt, ':zero': 0, ':queued': seen.queued });
          return undefined;
        }
        await transactWrite(this.client, [
          {
            Update: {
              TableName: this.tableName,
              Key,
              UpdateExpression: 'REMOVE holders.#me SET holders.#next = :reserved, #ttl = :ttl ADD queued :minus',
              ConditionExpression: 'holders.#me = :exp',
              ExpressionAttributeNames: { '#me': holder, '#next': head.holder, '#ttl': 'ttl' },
              ExpressionAttributeValues: marshall({ ':reserved': now + reserveMs, ':ttl': ttl, ':minus': -1, ':exp': expiresAt }),
            },
          },
          {
            Delete: {
              TableName: this.tableName,
              Key: flowKey(ref, queueSk(head.holder)),
              // As read: an entry re-queued at a later attempt since is woken at that attempt.
              ConditionExpression: 'attempt = :attempt',
              ExpressionAttributeValues: marshall({ ':attempt': head.attempt }),
            },
          },
        ]);
        return head;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException) && !conditionFailed(error)) throw error;
      }
    }
    throw new JournalError(`Giving back a concurrency slot of ${describe(ref)} kept losing to other writers; it comes back when its holding expires.`);
  }

  async reserveStart(request: StartRequest): Promise<StartGrant> {
    const { ref, intervalMs, toleranceMs, now, lossy } = request;
    const Key = flowKey(ref, RATE_SK);
    const pk = flowPk(ref);
    const names = { '#scope': 'scope', '#kind': 'kind', '#key': 'key', '#limit': 'limit', '#period': 'periodMs', '#ttl': 'ttl' };
    const described = '#scope = :scope, #kind = :kind, #key = :key, #limit = :limit, #period = :period, #ttl = :ttl';
    const values = { ...prefixed(flowRefAttributes(ref)), ':limit': request.limit, ':period': request.periodMs, ':ttl': request.ttl, ':now': now };
    // Idle (tat in the past: start now) and busy (tat ahead: the next start is later) are two
    // conditions that cannot both hold; the one this process saw last is tried first.
    let busy = (this.hints.get(pk) ?? 0) > now;
    for (let round = 0; round < ROUNDS; round++) {
      try {
        if (!busy) {
          await this.update(Key, `SET tat = :next, ${described}`, 'attribute_not_exists(tat) OR tat <= :now', names, { ...values, ':next': now + intervalMs });
          this.hint(pk, now + intervalMs);
          return { ok: true, at: now };
        }
        const condition = lossy ? 'tat > :now AND tat <= :latest' : 'tat > :now';
        const { Attributes } = await this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key,
            UpdateExpression: `SET tat = tat + :interval, ${described}`,
            ConditionExpression: condition,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: marshall({ ...values, ':interval': intervalMs, ...(lossy ? { ':latest': now + toleranceMs } : {}) }),
            ReturnValues: 'UPDATED_NEW',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        const next = Number(Attributes!.tat!.N);
        this.hint(pk, next);
        return { ok: true, at: lossy ? now : Math.max(now, next - intervalMs - toleranceMs) };
      } catch (error) {
        const seen = await this.refused(error, Key);
        const tat = seen?.tat === undefined ? undefined : Number(seen.tat);
        if (tat === undefined || tat <= now) {
          busy = false;
          continue;
        }
        this.hint(pk, tat);
        if (lossy && tat - toleranceMs > now) return { ok: false, retryAt: tat - toleranceMs };
        busy = true;
      }
    }
    throw new JournalError(`Booking a start of ${describe(ref)} kept losing to other writers; try again.`);
  }

  async countRejection(ref: FlowRef, at: number, ttl: number): Promise<void> {
    const slots = ref.kind === 'concurrency';
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: flowKey(ref, slots ? SLOTS_SK : RATE_SK),
        UpdateExpression: `SET #scope = :scope, #kind = :kind, #key = :key, lastRejectedAt = :at, #ttl = :ttl${slots ? ', holders = if_not_exists(holders, :none), queued = if_not_exists(queued, :zero)' : ''} ADD rejected :one`,
        ExpressionAttributeNames: { '#scope': 'scope', '#kind': 'kind', '#key': 'key', '#ttl': 'ttl' },
        ExpressionAttributeValues: marshall({ ...prefixed(flowRefAttributes(ref)), ':at': new Date(at).toISOString(), ':ttl': ttl, ':one': 1, ...(slots ? { ':none': {}, ':zero': 0 } : {}) }),
      }),
    );
  }

  /** A Scan: for the dev server's dashboard and occasional CLI use. */
  async listFlow(): Promise<FlowState[]> {
    const states: FlowState[] = [];
    let cursor: Item | undefined;
    do {
      const page = await this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: 'begins_with(pk, :flow) AND (sk = :slots OR sk = :rate)',
          ExpressionAttributeValues: marshall({ ':flow': FLOW_PREFIX, ':slots': SLOTS_SK, ':rate': RATE_SK }),
          ExclusiveStartKey: cursor,
        }),
      );
      for (const item of page.Items ?? []) states.push(toFlowState(unmarshall(item)));
      cursor = page.LastEvaluatedKey;
    } while (cursor);
    return states;
  }

  /** The oldest live entry of the key's queue, if any. */
  private async queueHead(ref: FlowRef, now: number): Promise<QueueEntry | undefined> {
    const { Items } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :queue)',
        ExpressionAttributeValues: marshall({ ':pk': flowPk(ref), ':queue': QUEUE_PREFIX }),
        ConsistentRead: true,
        Limit: QUEUE_PAGE,
      }),
    );
    for (const item of Items ?? []) {
      const { pk: _pk, sk: _sk, scope, kind, key, ...entry } = unmarshall(item);
      // TTL deletes lazily: an entry past its ttl belongs to a run that is gone.
      if (typeof entry.ttl === 'number' && entry.ttl * 1_000 < now) continue;
      return { ...(entry as Omit<QueueEntry, 'ref'>), ref: { scope, kind, key } };
    }
    return undefined;
  }

  private async update(Key: Item, expression: string, condition: string, names: Record<string, string>, values: Attributes): Promise<void> {
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key,
        UpdateExpression: expression,
        ConditionExpression: condition,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: marshall(values),
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
  }

  /** The item a refused conditional write met (from the refusal itself when DynamoDB returns it), or null when there is none. */
  private async refused(error: unknown, Key: Item): Promise<Attributes | null> {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
    return error.Item ? unmarshall(error.Item) : this.read(Key);
  }

  private async read(Key: Item): Promise<Attributes | null> {
    const { Item } = await this.client.send(new GetItemCommand({ TableName: this.tableName, Key, ConsistentRead: true }));
    return Item ? unmarshall(Item) : null;
  }

  private hint(pk: string, tat: number): void {
    if (this.hints.size >= MAX_HINTS) this.hints.clear();
    this.hints.set(pk, tat);
  }
}

function flowKey(ref: FlowRef, sk: string): Item {
  return { pk: { S: flowPk(ref) }, sk: { S: sk } };
}

function prefixed(attributes: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(attributes).map(([name, value]) => [`:${name}`, value]));
}

function describe(ref: FlowRef): string {
  return `${ref.scope} ${ref.kind} key ${JSON.stringify(ref.key)}`;
}
