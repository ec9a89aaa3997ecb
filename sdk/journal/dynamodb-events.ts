/** The journal's events on DynamoDB: waiters (`EVENT#<name>` / `WAITER#…`) and received events (`SEEN#<id>`). */
import { ConditionalCheckFailedException, GetItemCommand, PutItemCommand, type DynamoDBClient, type TransactWriteItem } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { LeaseLostError } from '../core/errors.ts';
import type { EventWaiter, ReceivedEvent, StepRecord } from '../core/records.ts';
import { key, queryPartition, toEvent, toItem, toStep, waiterItem } from './dynamodb-items.ts';
import { conditionFailed, transactWrite } from './dynamodb-transact.ts';
import { fenceCondition, type EventStore, type Fence } from './journal.ts';
import { eventPk, seenSk, stepSk, waiterSk } from './keys.ts';

export class DynamoEvents implements EventStore {
  private readonly client: DynamoDBClient;
  private readonly tableName: string;

  constructor(client: DynamoDBClient, tableName: string) {
    this.client = client;
    this.tableName = tableName;
  }

  async registerWaiter(waiter: EventWaiter, step: StepRecord, fence?: Fence): Promise<void> {
    const items: TransactWriteItem[] = [
      { Put: { TableName: this.tableName, Item: waiterItem(waiter) } },
      { Put: { TableName: this.tableName, Item: toItem({ type: 'step', runId: waiter.runId, step, ttl: waiter.ttl }) } },
    ];
    if (fence) {
      items.push({
        ConditionCheck: {
          TableName: this.tableName,
          Key: key(fence.runId, 'RUN'),
          ...fenceCondition(fence),
        },
      });
    }
    try {
      await transactWrite(this.client, items);
    } catch (error) {
      if (fence && conditionFailed(error)) throw new LeaseLostError(fence.runId);
      throw error;
    }
  }

  async waiters(eventName: string): Promise<EventWaiter[]> {
    const items = await queryPartition(this.client, this.tableName, eventPk(eventName), 'WAITER#');
    return items.map((item) => {
      const { pk: _pk, sk: _sk, match, ...rest } = unmarshall(item);
      return { ...rest, match: JSON.parse(match) } as EventWaiter;
    });
  }

  async recordEvent(event: ReceivedEvent, ttl: number): Promise<{ fresh: boolean; event: ReceivedEvent }> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall({ pk: eventPk(event.name), sk: seenSk(event.id), id: event.id, name: event.name, data: JSON.stringify(event.data ?? null), receivedAt: event.receivedAt, ttl }),
          ConditionExpression: 'attribute_not_exists(sk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { fresh: true, event };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // The condition's failure carries the first recording: no second read.
      return { fresh: false, event: error.Item ? toEvent(error.Item) : event };
    }
  }

  async recentEvents(eventName: string, since: Date): Promise<ReceivedEvent[]> {
    const items = await queryPartition(this.client, this.tableName, eventPk(eventName), 'SEEN#');
    return items
      .map(toEvent)
      // TTL deletes lazily (up to days later): the window is enforced here.
      .filter((event) => Date.parse(event.receivedAt) >= since.getTime())
      .sort((a, b) => a.receivedAt.localeCompare(b.receivedAt));
  }

  async resolveWaiting(waiter: Pick<EventWaiter, 'name' | 'runId' | 'stepId' | 'seq'>, output: string): Promise<{ resolved: boolean; step: StepRecord | undefined }> {
    const stepKey = key(waiter.runId, stepSk({ id: waiter.stepId, seq: waiter.seq }));
    const endedAt = new Date().toISOString();
    let resolved = true;
    try {
      await transactWrite(this.client, [
        {
          Update: {
            TableName: this.tableName,
            Key: stepKey,
            UpdateExpression: 'SET #status = :completed, #output = :output, endedAt = :endedAt',
            ConditionExpression: '#status = :waiting',
            ExpressionAttributeNames: { '#status': 'status', '#output': 'output' },
            ExpressionAttributeValues: marshall({ ':completed': 'completed', ':waiting': 'waiting', ':output': output, ':endedAt': endedAt }),
          },
        },
        { Delete: { TableName: this.tableName, Key: { pk: { S: eventPk(waiter.name) }, sk: { S: waiterSk(waiter) } } } },
      ]);
    } catch (error) {
      if (!conditionFailed(error)) throw error;
      resolved = false; // someone else completed it first: what they wrote is the answer
    }
    const { Item } = await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: stepKey, ConsistentRead: true }));
    return { resolved, step: Item ? toStep(Item) : undefined };
  }
}
