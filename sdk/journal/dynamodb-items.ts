/** How records become DynamoDB items and back: JSON text for what must replay byte for byte (responses, requests, waiter matches, event data). */
import { QueryCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { runDueAt, type EventWaiter, type ReceivedEvent, type RunRecord, type StepRecord, type TailEvent } from '../core/records.ts';
import type { JournalWrite } from './journal.ts';
import { dueShard, eventPk, pk, stepSk, tailSk, waiterSk } from './keys.ts';

export type Item = Record<string, AttributeValue>;

export const key = (runId: string, sk: string): Item => ({ pk: { S: pk(runId) }, sk: { S: sk } });

export function waiterItem(waiter: EventWaiter): Item {
  return marshall({ pk: eventPk(waiter.name), sk: waiterSk(waiter), ...waiter, match: JSON.stringify(waiter.match) }, { removeUndefinedValues: true });
}

export function toItem(write: JournalWrite): Item {
  switch (write.type) {
    case 'run': {
      const { response, ...run } = write.run;
      // In the due index while live, out of it once ended: the sweep sees exactly the live runs.
      const due = runDueAt(run);
      return marshall(
        { pk: pk(run.runId), sk: 'RUN', ...run, response: response && JSON.stringify(response), ...(due === undefined ? {} : { dueShard: dueShard(run.runId), dueAt: due }) },
        { removeUndefinedValues: true },
      );
    }
    case 'request':
      return marshall({ pk: pk(write.runId), sk: 'REQUEST', request: JSON.stringify(write.request), ttl: write.ttl });
    case 'step':
      return marshall({ pk: pk(write.runId), sk: stepSk(write.step), ...write.step, ttl: write.ttl }, { removeUndefinedValues: true });
    case 'tail':
      // Chunks are any JSON: kept as text, as they were pushed.
      return marshall({ pk: pk(write.runId), sk: tailSk(write.attempt, write.n), events: JSON.stringify(write.events), ttl: write.ttl });
  }
}

export function toTailEvents(item: Item): TailEvent[] {
  return JSON.parse(item.events!.S!) as TailEvent[];
}

export function toEvent(item: Item): ReceivedEvent {
  const { id, name, data, receivedAt } = unmarshall(item);
  return { id, name, data: JSON.parse(data), receivedAt };
}

export function toRun(item: Item): RunRecord {
  const { pk: _pk, sk: _sk, response, dueShard: _shard, dueAt: _due, ...run } = unmarshall(item);
  return { ...(run as RunRecord), response: typeof response === 'string' ? JSON.parse(response) : undefined };
}

export function toStep(item: Item): StepRecord {
  const { pk: _pk, sk: _sk, ttl: _ttl, ...step } = unmarshall(item);
  return step as StepRecord;
}

/** Sort keys of a query: those starting with a prefix, those below one, or those between two (inclusive). */
export type SortKeys = string | { below: string } | { from: string; to: string };

function sortKeyCondition(keys: SortKeys | undefined): { condition: string; values: Item } {
  if (keys === undefined) return { condition: '', values: {} };
  if (typeof keys === 'string') return { condition: ' AND begins_with(sk, :prefix)', values: { ':prefix': { S: keys } } };
  if ('below' in keys) return { condition: ' AND sk < :below', values: { ':below': { S: keys.below } } };
  return { condition: ' AND sk BETWEEN :from AND :to', values: { ':from': { S: keys.from }, ':to': { S: keys.to } } };
}

/** Every item of a partition (optionally only some sort keys), in sort-key order, strongly consistent. */
export async function queryPartition(client: DynamoDBClient, tableName: string, pkValue: string, keys?: SortKeys): Promise<Item[]> {
  const items: Item[] = [];
  const { condition, values } = sortKeyCondition(keys);
  let cursor: Item | undefined;
  do {
    const page = await client.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: `pk = :pk${condition}`,
        ExpressionAttributeValues: { ':pk': { S: pkValue }, ...values },
        ConsistentRead: true,
        ExclusiveStartKey: cursor,
      }),
    );
    items.push(...(page.Items ?? []));
    cursor = page.LastEvaluatedKey;
  } while (cursor);
  return items;
}
