import {
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  UpdateItemCommand,
  type ConditionCheck,
  type TransactWriteItem,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { JournalError, LeaseLostError } from '../core/errors.ts';
import type { EventWaiter, FlowRef, FlowState, IdempotencyClaim, LoadedRun, QueueEntry, ReceivedEvent, RunProgress, RunRecord, StepRecord } from '../core/records.ts';
import {
  fenceCondition,
  fencedTransactions,
  reopenedRun,
  type Fence,
  type Journal,
  type JournalWrite,
  type RunFilter,
  type SlotGrant,
  type SlotRelease,
  type SlotRequest,
  type StartGrant,
  type StartRequest,
} from './journal.ts';
import type { RequestSnapshot } from '../core/http.ts';
import { key, queryPartition, toItem, toRun, toStep, toTailEvents, type Item, type SortKeys } from './dynamodb-items.ts';
import { DynamoFlow } from './dynamodb-flow.ts';
import { DynamoEvents } from './dynamodb-events.ts';
import { ensureJournalTable } from './dynamodb-table.ts';
import { conditionFailed, transactWrite } from './dynamodb-transact.ts';
import { DUE_INDEX, DUE_SHARDS, dueShard, eventPk, idempotencyPk, pk, TAIL_END, TAIL_PREFIX, waiterSk } from './keys.ts';

export interface DynamoJournalOptions {
  tableName: string;
  /** Defaults to a client for the Lambda's region and credentials. */
  client?: DynamoDBClient;
}


// DynamoDB's own limit: BatchWriteItem takes 25 items (TransactWriteItems: see fencedTransactions).
const BATCH_LIMIT = 25;
const UNPROCESSED_RETRIES = 6;

/**
 * The journal on one DynamoDB table (`pk`, `sk` strings; TTL on `ttl`):
 * `RUN#<runId>` holds `RUN` (status, attempt, lease, response), `REQUEST` (the immutable request
 * snapshot, kept apart so the often-rewritten RUN item stays small) and `STEP#<seq>#<id>` items.
 */
export class DynamoJournal implements Journal {
  readonly tableName: string;
  readonly client: DynamoDBClient;
  /** Flow control's items, in a module of their own (sdk/journal/dynamodb-flow.ts). */
  private readonly flow: DynamoFlow;
  /** Event waiters and received events (sdk/journal/dynamodb-events.ts). */
  private readonly events: DynamoEvents;

  constructor(options: DynamoJournalOptions) {
    this.tableName = options.tableName;
    this.client = options.client ?? new DynamoDBClient({});
    this.flow = new DynamoFlow(this.client, this.tableName);
    this.events = new DynamoEvents(this.client, this.tableName);
  }

  async load(runId: string): Promise<LoadedRun | undefined> {
    // The tail is for results streams: a resume does not read it.
    const items = await this.query(pk(runId), { below: TAIL_PREFIX });
    let run: RunRecord | undefined;
    let request: RequestSnapshot | undefined;
    const steps: StepRecord[] = [];
    for (const item of items) {
      const sk = item.sk?.S ?? '';
      if (sk === 'RUN') run = toRun(item);
      else if (sk === 'REQUEST') request = JSON.parse(item.request!.S!) as RequestSnapshot;
      else if (sk.startsWith('STEP#')) steps.push(toStep(item));
    }
    if (!run || !request) return undefined;
    steps.sort((a, b) => a.seq - b.seq);
    return { run, request, steps };
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: key(runId, 'RUN'), ConsistentRead: true }),
    );
    return Item ? toRun(Item) : undefined;
  }

  async progress(runId: string, since?: string): Promise<RunProgress | undefined> {
    const [items, tail] = await Promise.all([
      // RUN, then the STEP# items: one query that skips the request snapshot and the tail.
      this.query(pk(runId), { from: 'RUN', to: 'STEP$' }),
      this.query(pk(runId), { from: since ?? TAIL_PREFIX, to: TAIL_END }),
    ]);
    const runItem = items.find((item) => item.sk?.S === 'RUN');
    if (!runItem) return undefined;
    const fresh = tail.filter((item) => item.sk!.S !== since);
    return {
      run: toRun(runItem),
      steps: items.filter((item) => item.sk?.S?.startsWith('STEP#')).map(toStep).sort((a, b) => a.seq - b.seq),
      tail: fresh.flatMap(toTailEvents),
      since: fresh.at(-1)?.sk!.S ?? since,
    };
  }

  async write(items: JournalWrite[], fence?: Fence): Promise<void> {
    if (items.length === 0) return;
    if (fence) {
      for (const chunk of fencedTransactions(items)) {
        if (!(await this.transactIf(chunk, fence.runId, fenceCondition(fence)))) throw new LeaseLostError(fence.runId);
      }
      return;
    }
    // The run item in the last batch, sent after the others: a reader that sees the run ended
    // sees every step written with it. One request unless the write is over 25 items.
    const ordered = [...items.filter((w) => w.type !== 'run'), ...items.filter((w) => w.type === 'run')];
    const chunks: WriteRequest[][] = [];
    for (let i = 0; i < ordered.length; i += BATCH_LIMIT) {
      chunks.push(ordered.slice(i, i + BATCH_LIMIT).map((w) => ({ PutRequest: { Item: toItem(w) } })));
    }
    const last = chunks.pop()!;
    await Promise.all(chunks.map((chunk) => this.batchWrite(chunk)));
    await this.batchWrite(last);
  }

  async acquireLease(runId: string, expectedAttempt: number, owner: string, until: number, functionName?: string): Promise<RunRecord | undefined> {
    const now = Date.now();
    try {
      const { Attributes } = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: key(runId, 'RUN'),
          // Running from now on, and due (for the sweep) when the lease expires.
          UpdateExpression:
            'SET attempt = :next, #status = :running, leaseOwner = :owner, leaseExpiresAt = :until, updatedAt = :now, dueShard = :shard, dueAt = :until REMOVE wakeAt',
          ConditionExpression:
            'attempt = :expected AND #status IN (:running, :sleeping, :waiting, :queued) AND (attribute_not_exists(leaseOwner) OR leaseExpiresAt < :nowMs)' +
            (functionName === undefined ? '' : ' AND (attribute_not_exists(functionName) OR functionName = :fn)'),
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: marshall({
            ':next': expectedAttempt + 1,
            ':expected': expectedAttempt,
            ':owner': owner,
            ':until': until,
            ':now': new Date(now).toISOString(),
            ':nowMs': now,
            ':shard': dueShard(runId),
            ...(functionName === undefined ? {} : { ':fn': functionName }),
            ':running': 'running',
            ':sleeping': 'sleeping',
            ':waiting': 'waiting',
            ':queued': 'queued',
          }),
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return Attributes ? toRun(Attributes) : undefined;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // Our own lease: the update landed, its answer was lost, and the SDK's retry met it.
      const held = error.Item ? toRun(error.Item) : undefined;
      return held?.leaseOwner === owner && held.attempt === expectedAttempt + 1 ? held : undefined;
    }
  }

  /** A Scan: fine for the dev server and occasional CLI use; it reads the whole table. */
  async keepUntil(runId: string, ttl: number): Promise<void> {
    const raise = async (itemKey: Item) => {
      try {
        await this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: itemKey,
            UpdateExpression: 'SET #ttl = :ttl',
            ConditionExpression: 'attribute_exists(pk) AND #ttl < :ttl',
            ExpressionAttributeNames: { '#ttl': 'ttl' },
            ExpressionAttributeValues: { ':ttl': { N: String(ttl) } },
          }),
        );
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    };
    const items = await this.query(pk(runId));
    await Promise.all(
      items.flatMap((item) => {
        const own = raise({ pk: item.pk!, sk: item.sk! });
        const waiting = item.status?.S === 'waiting' && item.event?.S ? [raise({ pk: { S: eventPk(item.event.S) }, sk: { S: waiterSk({ runId, stepId: item.id!.S! }) } })] : [];
        return [own, ...waiting];
      }),
    );
  }

  async dueRuns(before: number, limit = 100): Promise<RunRecord[]> {
    const shards = Array.from({ length: DUE_SHARDS }, (_, n) =>
      this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: DUE_INDEX,
          KeyConditionExpression: 'dueShard = :shard AND dueAt < :before',
          ExpressionAttributeValues: { ':shard': { S: `DUE#${n}` }, ':before': { N: String(before) } },
          Limit: limit,
        }),
      ),
    );
    const due = (await Promise.all(shards)).flatMap((page) => (page.Items ?? []).map((item) => [Number(item.dueAt!.N), toRun(item)] as const));
    return due.sort((a, b) => a[0] - b[0]).slice(0, limit).map(([, run]) => run);
  }

  async replaceRun(expected: Pick<RunRecord, 'attempt' | 'updatedAt'>, run: RunRecord): Promise<boolean> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: toItem({ type: 'run', run }),
          ConditionExpression: 'attempt = :attempt AND updatedAt = :updatedAt AND #status IN (:running, :sleeping, :waiting, :queued)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: marshall({ ':attempt': expected.attempt, ':updatedAt': expected.updatedAt, ':running': 'running', ':sleeping': 'sleeping', ':waiting': 'waiting', ':queued': 'queued' }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':run': 'RUN' };
    const conditions = ['sk = :run'];
    if (filter.status) {
      conditions.push('#status = :status');
      names['#status'] = 'status';
      values[':status'] = filter.status;
    }
    if (filter.endpoint) {
      conditions.push('endpoint = :endpoint');
      values[':endpoint'] = filter.endpoint;
    }
    const runs: RunRecord[] = [];
    let cursor: Item | undefined;
    do {
      const page = await this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: conditions.join(' AND '),
          ExpressionAttributeNames: filter.status ? names : undefined,
          ExpressionAttributeValues: marshall(values),
          ExclusiveStartKey: cursor,
        }),
      );
      for (const item of page.Items ?? []) runs.push({ ...toRun(item), response: undefined });
      cursor = page.LastEvaluatedKey;
    } while (cursor);
    // ULIDs sort by creation time.
    runs.sort((a, b) => (a.runId < b.runId ? 1 : a.runId > b.runId ? -1 : 0));
    return runs.slice(0, filter.limit ?? 100);
  }

  async reopen(runId: string): Promise<RunRecord | undefined> {
    const loaded = await this.load(runId);
    if (!loaded || loaded.run.status !== 'failed') return undefined;
    const writes = reopenedRun(loaded, new Date().toISOString());
    const run = (writes.at(-1) as Extract<JournalWrite, { type: 'run' }>).run;
    // More steps than one transaction takes go in several, the run item in the last, each only while
    // the run is still failed at the attempt read: a concurrent reopen that got there first stops
    // this one, and no step is reset under an attempt that is running.
    const stillFailed = {
      ConditionExpression: '#status = :failed AND attempt = :attempt',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: marshall({ ':failed': 'failed', ':attempt': run.attempt }),
    };
    for (const chunk of fencedTransactions(writes)) {
      if (!(await this.transactIf(chunk, runId, stillFailed))) return undefined;
    }
    return run;
  }

  async claimIdempotencyKey(claim: IdempotencyClaim, replacing?: string): Promise<{ claimed: true } | { claimed: false; holder: IdempotencyClaim }> {
    const item = { pk: idempotencyPk(claim), sk: 'CLAIM', ...claim };
    // The run being replaced may have freed the key since the caller saw it hold it: a free key is
    // claimed then too (a condition on `runId` alone fails on a missing item, with no holder to show).
    const condition =
      replacing === undefined
        ? { ConditionExpression: 'attribute_not_exists(pk)' }
        : { ConditionExpression: 'attribute_not_exists(pk) OR runId = :replacing', ExpressionAttributeValues: { ':replacing': { S: replacing } } };
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall(item),
          ...condition,
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { claimed: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // The condition's failure carries the claim that holds the key, so no second read is needed
      // (an emulator that leaves it out gets one).
      const held =
        error.Item ??
        (await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: { pk: { S: item.pk }, sk: { S: 'CLAIM' } }, ConsistentRead: true }))).Item ??
        {};
      const { pk: _pk, sk: _sk, ...holder } = unmarshall(held);
      // Our own claim: the put landed, its answer was lost, and the SDK's retry met it.
      if (holder.runId === claim.runId) return { claimed: true };
      return { claimed: false, holder: holder as IdempotencyClaim };
    }
  }

  async releaseIdempotencyKey(claim: Pick<IdempotencyClaim, 'endpoint' | 'caller' | 'key' | 'runId'>): Promise<void> {
    try {
      await this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: idempotencyPk(claim) }, sk: { S: 'CLAIM' } },
          ConditionExpression: 'runId = :runId',
          ExpressionAttributeValues: { ':runId': { S: claim.runId } },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  registerWaiter(waiter: EventWaiter, step: StepRecord, fence?: Fence): Promise<void> {
    return this.events.registerWaiter(waiter, step, fence);
  }

  waiters(eventName: string): Promise<EventWaiter[]> {
    return this.events.waiters(eventName);
  }

  recordEvent(event: ReceivedEvent, ttl: number): Promise<{ fresh: boolean; event: ReceivedEvent }> {
    return this.events.recordEvent(event, ttl);
  }

  recentEvents(eventName: string, since: Date): Promise<ReceivedEvent[]> {
    return this.events.recentEvents(eventName, since);
  }

  resolveWaiting(waiter: Pick<EventWaiter, 'name' | 'runId' | 'stepId' | 'seq'>, output: string): Promise<{ resolved: boolean; step: StepRecord | undefined }> {
    return this.events.resolveWaiting(waiter, output);
  }

  acquireSlot(request: SlotRequest): Promise<SlotGrant> {
    return this.flow.acquireSlot(request);
  }

  enqueue(entry: QueueEntry, limit: number): Promise<boolean> {
    return this.flow.enqueue(entry, limit);
  }

  releaseSlot(release: SlotRelease): Promise<QueueEntry | undefined> {
    return this.flow.releaseSlot(release);
  }

  reserveStart(request: StartRequest): Promise<StartGrant> {
    return this.flow.reserveStart(request);
  }

  countRejection(ref: FlowRef, at: number, ttl: number): Promise<void> {
    return this.flow.countRejection(ref, at, ttl);
  }

  listFlow(): Promise<FlowState[]> {
    return this.flow.listFlow();
  }

  private query(pkValue: string, keys?: SortKeys): Promise<Item[]> {
    return queryPartition(this.client, this.tableName, pkValue, keys);
  }

  /** Creates the table if it does not exist: for the dev server and tests; on AWS the construct owns it. */
  ensureTable(): Promise<void> {
    return ensureJournalTable(this.client, this.tableName);
  }


  private transact(items: TransactWriteItem[]): Promise<void> {
    return transactWrite(this.client, items);
  }

  private async batchWrite(requests: WriteRequest[]): Promise<void> {
    let pending = requests;
    for (let round = 0; pending.length > 0; round++) {
      if (round > UNPROCESSED_RETRIES) {
        throw new JournalError(`DynamoDB left ${pending.length} journal item(s) unprocessed in ${this.tableName} after ${UNPROCESSED_RETRIES} retries.`);
      }
      if (round > 0) await sleep(Math.min(1_000, 25 * 2 ** round));
      const { UnprocessedItems } = await this.client.send(
        new BatchWriteItemCommand({ RequestItems: { [this.tableName]: pending } }),
      );
      pending = UnprocessedItems?.[this.tableName] ?? [];
    }
  }

  /**
   * Puts the items in one transaction if the item of run `runId` meets `condition` (on the run item
   * written, if one is, else by a condition check). False when the condition failed.
   */
  private async transactIf(items: JournalWrite[], runId: string, condition: Pick<ConditionCheck, 'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'>): Promise<boolean> {
    const runWrite = items.find((w) => w.type === 'run');
    const transact: TransactWriteItem[] = items.map((w) =>
      w === runWrite
        ? { Put: { TableName: this.tableName, Item: toItem(w), ...condition } }
        : { Put: { TableName: this.tableName, Item: toItem(w) } },
    );
    if (!runWrite) transact.push({ ConditionCheck: { TableName: this.tableName, Key: key(runId, 'RUN'), ...condition } });
    try {
      await this.transact(transact);
      return true;
    } catch (error) {
      if (conditionFailed(error)) return false;
      throw error;
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
