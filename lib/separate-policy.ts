import { Policy, type IGrantable, type IPrincipal, type IRole } from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';

/**
 * `role`, as a grantee whose grants land in the policy `scope`/`id` instead of the role's default
 * policy. CloudFormation creates a function after its role's default policy, and a state machine
 * after its role's: a statement naming the function itself, or a function whose environment
 * names the state machine, would close a dependency cycle there. The policy is created with its
 * first statement (an empty policy does not synthesize) and shared by later grants.
 */
export function separatePolicy(role: IRole, scope: Construct, id: string): IGrantable {
  const principal: IPrincipal = {
    get grantPrincipal() {
      return principal;
    },
    assumeRoleAction: role.assumeRoleAction,
    policyFragment: role.policyFragment,
    principalAccount: role.principalAccount,
    addToPrincipalPolicy(statement) {
      const policy = (scope.node.tryFindChild(id) as Policy | undefined) ?? new Policy(scope, id, { roles: [role] });
      policy.addStatements(statement);
      return { statementAdded: true, policyDependable: policy };
    },
  };
  return principal;
}
