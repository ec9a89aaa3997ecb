import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import { DUE_INDEX } from '../sdk/journal/keys.ts';

export interface JournalTableProps {
  /** Customer-managed key for the table. Default: the AWS managed key `aws/dynamodb`. */
  readonly encryptionKey?: IKey;
  /** What `cdk destroy` does with the table. Default `RETAIN`: runs and their results survive a deleted stack. */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The journal: one DynamoDB table holding runs, steps, waiters and events under string keys
 * `pk`/`sk`, on demand, with TTL on `ttl` and point-in-time recovery, and the sparse index `due`
 * (`dueShard` string, `dueAt` number) of live runs by when they are due, which the sweeper reads.
 * Its grants allow exactly the calls each of the kit's functions makes, on the table or the index
 * it calls them on, and with a customer-managed key exact KMS actions, not
 * `grantReadWriteData`'s `kms:ReEncrypt*` and `kms:GenerateDataKey*` wildcards.
 *
 * ```ts
 * const journal = new JournalTable(stack, 'Journal');
 * journal.grantEndpointAccess(fn);
 * ```
 */
export class JournalTable extends Table {
  /** The name of the index of live runs by when they are due: `due`. */
  readonly dueIndexName: string = DUE_INDEX;

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
    // Sparse: only live run items carry `dueShard` and `dueAt` (sdk/journal/keys.ts). Eight shards
    // keep every write of due runs off one partition; the sweep queries each shard.
    this.addGlobalSecondaryIndex({
      indexName: DUE_INDEX,
      partitionKey: { name: 'dueShard', type: AttributeType.STRING },
      sortKey: { name: 'dueAt', type: AttributeType.NUMBER },
      projectionType: ProjectionType.ALL,
    });
  }

  /** The ARN of the `due` index. */
  get dueIndexArn(): string {
    return `${this.tableArn}/index/${this.dueIndexName}`;
  }

  /** What a durable endpoint calls: it reads and writes its runs, in batches and transactions. */
  grantEndpointAccess(grantee: IGrantable): Grant {
    // TransactWriteItems is authorized per contained item: Put, Update, ConditionCheck, and Delete
    // (a waitForEvent that times out removes its waiter).
    const table = this.onTable(
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
    return this.withKey(this.onTable(grantee, 'dynamodb:GetItem'), grantee, 'kms:Decrypt');
  }

  /**
   * What the results route calls when it streams (on a REST API): `GetItem` on the run item, and
   * `Query` on the run's items, which hold the streamed chunks it replays. Read-only.
   */
  grantResultsStreamAccess(grantee: IGrantable): Grant {
    return this.withKey(this.onTable(grantee, 'dynamodb:GetItem', 'dynamodb:Query'), grantee, 'kms:Decrypt');
  }

  /**
   * What the events route calls: it records an event (PutItem), queries waiters and recent events,
   * completes a waiting step in a transaction of UpdateItem (the step) and DeleteItem (the waiter),
   * then reads the step back (GetItem).
   */
  grantEventsAccess(grantee: IGrantable): Grant {
    const table = this.onTable(grantee, 'dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
    return this.withKey(table, grantee, 'kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey');
  }

  /**
   * What the sweeper calls: it queries the `due` index for overdue runs, loads each run with a
   * Query on the table, and replaces the run item with a conditional PutItem.
   */
  grantSweeperAccess(grantee: IGrantable): Grant {
    const query = Grant.addToPrincipal({ grantee, actions: ['dynamodb:Query'], resourceArns: [this.tableArn, this.dueIndexArn] });
    const put = this.onTable(grantee, 'dynamodb:PutItem');
    return this.withKey(query.combine(put), grantee, 'kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey');
  }

  // Not `Table.grant`: on a table with an index it also allows `<table>/index/*`, every index, to
  // every grantee; only the sweeper reads an index, and only `due`.
  private onTable(grantee: IGrantable, ...actions: string[]): Grant {
    return Grant.addToPrincipal({ grantee, actions, resourceArns: [this.tableArn] });
  }

  private withKey(grant: Grant, grantee: IGrantable, ...actions: string[]): Grant {
    return this.encryptionKey ? grant.combine(this.encryptionKey.grant(grantee, ...actions)) : grant;
  }
}
