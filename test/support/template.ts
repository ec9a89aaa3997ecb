/** Reading a synthesized template: the policies on a role, logical IDs, dependency cycles. */
import type { Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';

export type Resource = { Type: string; Properties: Record<string, unknown>; DependsOn?: string[] };
export type Statement = { Action: string | string[]; Resource: unknown; Effect: string; Condition?: unknown };

/** The policy statements on a role, from every AWS::IAM::Policy attached to it. */
export function statementsOf(template: Template, roleLogicalId: string): Statement[] {
  const policies = Object.values(template.findResources('AWS::IAM::Policy')) as Resource[];
  return policies
    .filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === roleLogicalId))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}
export const actionsOf = (statements: Statement[]) => statements.flatMap((s) => [s.Action].flat()).sort();

export function logicalId(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.resolve(stack.getLogicalId(construct.node.defaultChild as never)) as string;
}

/** The resources of a dependency cycle (Ref, GetAtt, DependsOn), or [] when there is none. */
export function cycleIn(template: Template): string[] {
  const resources = template.toJSON().Resources as Record<string, Resource>;
  const edges = new Map<string, Set<string>>();
  const refs = (value: unknown, into: Set<string>) => {
    if (Array.isArray(value)) value.forEach((v) => refs(v, into));
    else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        if (k === 'Ref' && typeof v === 'string' && v in resources) into.add(v);
        else if (k === 'Fn::GetAtt' && Array.isArray(v) && v[0] in resources) into.add(v[0]);
        else refs(v, into);
      }
    }
  };
  for (const [id, r] of Object.entries(resources)) {
    const deps = new Set<string>(r.DependsOn ?? []);
    refs(r.Properties, deps);
    edges.set(id, deps);
  }
  const state = new Map<string, 'visiting' | 'done'>();
  const cycle: string[] = [];
  const visit = (id: string): boolean => {
    if (state.get(id) === 'done') return false;
    if (state.get(id) === 'visiting') return cycle.push(id) > 0;
    state.set(id, 'visiting');
    for (const next of edges.get(id) ?? []) if (visit(next)) return cycle.push(id) > 0;
    state.set(id, 'done');
    return false;
  };
  for (const id of edges.keys()) visit(id);
  return cycle;
}
