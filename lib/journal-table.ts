import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';

export interface JournalTableProps {
  /** Customer-managed key for the table. Default: the AWS managed key `aws/dynamodb`. */
  readonly encryptionKey?: IKey;
  /** What `cdk destroy` does with the table. Default `RETAIN`: runs and their results survive a deleted stack. */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The journal: one DynamoDB table holding runs, steps, waiters and events under string keys
 * `pk`/`sk`, on demand, with TTL on `ttl` and point-in-time recovery. Its grants allow exactly the
 * calls each of the kit's functions makes, and with a customer-managed key exact KMS actions, not
 * `grantReadWriteData`'s `kms:ReEncrypt*` and `kms:GenerateDataKey*` wildcards.
 *
 * ```ts
 * const journal = new JournalTable(stack, 'Journal');
 * journal.grantEndpointAccess(fn);
 * ```
 */
export class JournalTable extends Table {
  constructor(scope: Construct, id: string, props: JournalTableProps = {}) {
    super(scope, id, {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'ttl',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: props.encryptionKey ? TableEncryption.CUSTOMER_MANAGED : TableEncryption.AWS_MANAGED,
      encryptionKey: props.encryptionKey,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
  }

  /** What a durable endpoint calls: it reads and writes its runs, in batches and transactions. */
  grantEndpointAccess(grantee: IGrantable): Grant {
    // TransactWriteItems is authorized per contained item: Put, Update, ConditionCheck, and Delete
    // (a waitForEvent that times out removes its waiter).
    const table = this.grant(
      grantee,
      'dynamodb:Query',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
      'dynamodb:BatchWriteItem',
      'dynamodb:ConditionCheckItem',
    );
    return this.withKey(table, grantee, 'kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey');
  }

  /** What the results route calls: `GetItem` on the run item, read-only. */
  grantResultsAccess(grantee: IGrantable): Grant {
    return this.withKey(this.grant(grantee, 'dynamodb:GetItem'), grantee, 'kms:Decrypt');
  }

  /**
   * What the events route calls: it records an event (PutItem), queries waiters and recent events,
   * completes a waiting step in a transaction of UpdateItem (the step) and DeleteItem (the waiter),
   * then reads the step back (GetItem).
   */
  grantEventsAccess(grantee: IGrantable): Grant {
    const table = this.grant(grantee, 'dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
    return this.withKey(table, grantee, 'kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey');
  }

  private withKey(grant: Grant, grantee: IGrantable, ...actions: string[]): Grant {
    return this.encryptionKey ? grant.combine(this.encryptionKey.grant(grantee, ...actions)) : grant;
  }
}
