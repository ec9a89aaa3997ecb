import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { BlockPublicAccess, Bucket, BucketEncryption, HttpMethods, ObjectOwnership, type IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledgeWildcard } from './nag.ts';
import { KEEP_CLASSES_DAYS, KEEP_TAG } from '../sdk/payloads/retention.ts';

export interface PayloadBucketProps {
  /** Customer-managed key. Default: S3-managed keys (SSE-S3). */
  readonly encryptionKey?: IKey;
  /** What `cdk destroy` does with the bucket. Default `RETAIN`, as the journal. */
  readonly removalPolicy?: RemovalPolicy;
  /** A bucket for S3 server access logs (your organisation's log bucket). Default none; see the acknowledgement. */
  readonly accessLogs?: IBucket;
}

/** The objects the kit writes: every run's payloads under `runs/<runId>/`. */
const RUNS = 'runs/*';

/**
 * Payloads too large for a journal item: request bodies, step results and responses over 100 KB,
 * under `runs/<runId>/`, the journal keeping a pointer (`S3BlobStore`). Encrypted, public access
 * blocked, TLS 1.2 or later only, objects owned by the bucket. Objects expire by their
 * `durable-keep` tag, which follows their run's ttl: 31 days for the journal's default retention,
 * longer for runs that wait longer (one lifecycle rule per class). Browsers may read an object with
 * a presigned URL from any origin (a response over Lambda's 6 MB is served so): the URL is the
 * credential, and CORS only lets a page's script read what the URL already gives anyone.
 */
export class PayloadBucket extends Construct {
  readonly bucket: Bucket;
  private readonly key: IKey | undefined;

  constructor(scope: Construct, id: string, props: PayloadBucketProps = {}) {
    super(scope, id);
    this.key = props.encryptionKey;
    this.bucket = new Bucket(this, 'Default', {
      encryption: props.encryptionKey ? BucketEncryption.KMS : BucketEncryption.S3_MANAGED,
      encryptionKey: props.encryptionKey,
      bucketKeyEnabled: props.encryptionKey ? true : undefined,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      serverAccessLogsBucket: props.accessLogs,
      serverAccessLogsPrefix: props.accessLogs ? 'durable-payloads/' : undefined,
      lifecycleRules: [
        ...KEEP_CLASSES_DAYS.map((days) => ({ id: `keep-${days}d`, tagFilters: { [KEEP_TAG]: `${days}d` }, expiration: Duration.days(days) })),
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      cors: [{ allowedMethods: [HttpMethods.GET, HttpMethods.HEAD], allowedOrigins: ['*'], maxAge: 600 }],
    });
    if (!props.accessLogs) {
      Validations.of(this.bucket).acknowledge({
        id: 'AwsSolutions-S1',
        reason:
          'Only the kit\'s functions write and read this bucket, under IAM, and the journal records every run a payload belongs to. Pass `payloadAccessLogs` (your log bucket) for server access logs, or use CloudTrail data events.',
      });
    }
  }

  get bucketName(): string {
    return this.bucket.bucketName;
  }

  /** What a durable endpoint does: put its runs' payloads (tagged with how long to keep them), read them, and tag them again, listing a run's prefix. */
  grantEndpointAccess(grantee: IGrantable): Grant {
    const objects = Grant.addToPrincipal({ grantee, actions: ['s3:PutObject', 's3:PutObjectTagging', 's3:GetObject'], resourceArns: [this.bucket.arnForObjects(RUNS)] });
    const list = Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [RUNS] } },
    });
    acknowledgeWildcard(grantee, this.bucket.arnForObjects(RUNS), 'A durable endpoint stores and reads payloads of runs created at run time, each under runs/<runId>/: object actions on that prefix only.');
    const grant = objects.combine(list);
    // Exact KMS actions, not grantEncryptDecrypt's kms:ReEncrypt* and kms:GenerateDataKey* wildcards.
    return this.key ? grant.combine(Grant.addToPrincipal({ grantee, actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resourceArns: [this.key.keyArn] })) : grant;
  }

  /** What the results route does: read (and presign reads of) stored responses. */
  grantResultsAccess(grantee: IGrantable): Grant {
    const read = Grant.addToPrincipal({ grantee, actions: ['s3:GetObject'], resourceArns: [this.bucket.arnForObjects(RUNS)] });
    acknowledgeWildcard(grantee, this.bucket.arnForObjects(RUNS), 'The results route reads (and presigns reads of) the stored responses of runs created at run time, under runs/<runId>/ only.');
    return this.key ? read.combine(Grant.addToPrincipal({ grantee, actions: ['kms:Decrypt'], resourceArns: [this.key.keyArn] })) : read;
  }
}
