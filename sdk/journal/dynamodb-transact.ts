/** DynamoDB transactions as every part of the DynamoDB adapter sends them. */
import { TransactionCanceledException, TransactWriteItemsCommand, type DynamoDBClient, type TransactWriteItem } from '@aws-sdk/client-dynamodb';

const CONFLICT_RETRIES = 5;

/**
 * TransactWriteItems. DynamoDB cancels a transaction that collides with another one on an item
 * (reason TransactionConflict) whether or not its conditions hold, and the SDK does not retry it:
 * it is sent again here, so a conflict is never read as a failed condition (a lost lease, a waiter
 * someone else resolved, a slot someone else took).
 */
export async function transactWrite(client: DynamoDBClient, items: TransactWriteItem[]): Promise<void> {
  for (let round = 0; ; round++) {
    try {
      await client.send(new TransactWriteItemsCommand({ TransactItems: items }));
      return;
    } catch (error) {
      if (round >= CONFLICT_RETRIES || conditionFailed(error) || !conflicted(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 20 * 2 ** round) * (0.5 + Math.random())));
    }
  }
}

/** A transaction cancelled because a condition did not hold (not for a conflict, throttling or a bad item). */
export function conditionFailed(error: unknown): boolean {
  return error instanceof TransactionCanceledException && (error.CancellationReasons ?? []).some((reason) => reason.Code === 'ConditionalCheckFailed');
}

/** Which items of a cancelled transaction failed their condition, by position. */
export function failedConditions(error: unknown): boolean[] {
  return error instanceof TransactionCanceledException ? (error.CancellationReasons ?? []).map((reason) => reason.Code === 'ConditionalCheckFailed') : [];
}

function conflicted(error: unknown): boolean {
  return error instanceof TransactionCanceledException && (error.CancellationReasons ?? []).some((reason) => reason.Code === 'TransactionConflict');
}
