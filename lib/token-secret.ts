import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';

export interface TokenSecretProps {
  /** Customer-managed key for the secret. Default: the AWS managed key `aws/secretsmanager`. */
  readonly encryptionKey?: IKey;
  /** What `cdk destroy` does with the secret. Default `RETAIN`: result URLs handed out stay valid. */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The secret that signs result URLs (an HMAC over the run id and its expiry): 48 random
 * characters generated at deploy time. Functions that sign or verify result URLs need
 * `grantRead`; the kit reads it once per cold start.
 */
export class TokenSecret extends Secret {
  constructor(scope: Construct, id: string, props: TokenSecretProps = {}) {
    super(scope, id, {
      description: 'Signs durable-endpoints result URLs (HMAC-SHA256). Rotating it invalidates result URLs already handed out.',
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
      encryptionKey: props.encryptionKey,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Not rotated automatically: result URLs are HMACs under this secret and stay valid for tokenTtl (7 days); a rotation would ' +
        'need both secrets accepted for that long. Rotate by hand when needed (old result URLs then answer 401).',
    });
  }
}
