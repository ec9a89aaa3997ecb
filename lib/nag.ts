import { Stack, Validations } from 'aws-cdk-lib';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/**
 * Acknowledges cdk-nag's `AwsSolutions-IAM5` finding on `grantee` for a wildcard in `resourceArn`
 * (the ARN the grant names), with `reason`. The finding's id spells the ARN as cdk-nag does: a
 * `Ref` as `<LogicalId>`, a `Fn::GetAtt` as `<LogicalId.Attribute>`, a `Fn::Join` joined.
 */
export function acknowledgeWildcard(grantee: IGrantable, resourceArn: string, reason: string): void {
  const principal = grantee.grantPrincipal;
  if (!Construct.isConstruct(principal)) return;
  const resource = inFindings(Stack.of(principal).resolve(resourceArn));
  Validations.of(principal).acknowledge({ id: `AwsSolutions-IAM5[Resource::${resource}]`, reason });
}

function inFindings(value: unknown): string {
  if (typeof value === 'string') return value;
  const intrinsic = value as { Ref?: string; 'Fn::GetAtt'?: [string, string]; 'Fn::Join'?: [string, unknown[]] };
  if (intrinsic.Ref !== undefined) return `<${intrinsic.Ref}>`;
  if (intrinsic['Fn::GetAtt']) return `<${intrinsic['Fn::GetAtt'].join('.')}>`;
  if (intrinsic['Fn::Join']) return intrinsic['Fn::Join'][1].map(inFindings).join(intrinsic['Fn::Join'][0]);
  return JSON.stringify(value);
}
