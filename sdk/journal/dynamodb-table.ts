/**
 * The journal table's shape where the kit creates it itself (the dev server, tests, the bench); on
 * AWS the `JournalTable` construct declares the same keys, TTL attribute and `due` index.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
} from '@aws-sdk/client-dynamodb';
import { DUE_INDEX } from './keys.ts';

const DUE_INDEX_DEFINITION: GlobalSecondaryIndex = {
  IndexName: DUE_INDEX,
  KeySchema: [
    { AttributeName: 'dueShard', KeyType: 'HASH' },
    { AttributeName: 'dueAt', KeyType: 'RANGE' },
  ],
  Projection: { ProjectionType: 'ALL' },
};

/** Creates the table (on-demand, TTL on `ttl`, the `due` index) if it does not exist, and adds the index to a table from an older release. */
export async function ensureJournalTable(client: DynamoDBClient, tableName: string): Promise<void> {
  const attributes = [
    { AttributeName: 'pk', AttributeType: 'S' as const },
    { AttributeName: 'sk', AttributeType: 'S' as const },
    { AttributeName: 'dueShard', AttributeType: 'S' as const },
    { AttributeName: 'dueAt', AttributeType: 'N' as const },
  ];
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: attributes,
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [DUE_INDEX_DEFINITION],
      }),
    );
    await client.send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true } }));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
  if (!Table?.GlobalSecondaryIndexes?.some((index) => index.IndexName === DUE_INDEX)) {
    // A journal kept by `durable dev --persist` before the sweep existed.
    await client.send(new UpdateTableCommand({ TableName: tableName, AttributeDefinitions: attributes, GlobalSecondaryIndexUpdates: [{ Create: DUE_INDEX_DEFINITION }] }));
  }
}
