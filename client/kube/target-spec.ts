/**
 * What the user names on the command line, as kubectl spells it: `shop-7d9f` or `pod/shop-7d9f` (one pod),
 * `deploy/shop`, `sts/db`, `ds/logger` (and their long forms: `deployment/shop`, `deployments.apps/shop`), or a label
 * selector given with `-l`.
 */
import { PodflameError } from '../../shared/errors.js';
import type { WorkloadKind } from './kube-lookup.js';

export type TargetSpec =
  | { kind: 'pod'; name: string }
  | { kind: 'workload'; workload: WorkloadKind; name: string }
  | { kind: 'selector'; labelSelector: string };

const KIND_ALIASES: Record<string, 'pod' | WorkloadKind> = {
  po: 'pod',
  pod: 'pod',
  pods: 'pod',
  deploy: 'deploy',
  deployment: 'deploy',
  deployments: 'deploy',
  sts: 'sts',
  statefulset: 'sts',
  statefulsets: 'sts',
  ds: 'ds',
  daemonset: 'ds',
  daemonsets: 'ds',
};

// A DNS-1123 subdomain, which every pod and workload name is.
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export function parseTargetSpec(target: string | undefined, labelSelector: string | undefined): TargetSpec {
  if (labelSelector !== undefined) {
    if (target !== undefined) {
      throw new PodflameError('USAGE', `Give either a pod or workload (${target}) or -l SELECTOR, not both`);
    }
    if (labelSelector.trim() === '') throw new PodflameError('USAGE', '-l needs a label selector such as app=shop');
    return { kind: 'selector', labelSelector: labelSelector.trim() };
  }
  if (target === undefined || target === '') {
    throw new PodflameError('USAGE', 'Name a pod, deploy/NAME, sts/NAME or ds/NAME, or give -l SELECTOR');
  }
  const slash = target.indexOf('/');
  let kind: 'pod' | WorkloadKind = 'pod';
  let name = target;
  if (slash >= 0) {
    // `deployment.apps/shop` is how kubectl prints it; the group changes nothing here.
    const kindText = target
      .slice(0, slash)
      .toLowerCase()
      .replace(/\.apps$/, '');
    const aliased = KIND_ALIASES[kindText];
    if (!aliased) {
      throw new PodflameError(
        'USAGE',
        `Unknown kind "${target.slice(0, slash)}" in ${target}: use pod/NAME, deploy/NAME, sts/NAME or ds/NAME`,
      );
    }
    kind = aliased;
    name = target.slice(slash + 1);
  }
  if (!NAME.test(name)) {
    throw new PodflameError('USAGE', `"${name}" is not a Kubernetes object name (lowercase letters, digits, - and .)`);
  }
  return kind === 'pod' ? { kind: 'pod', name } : { kind: 'workload', workload: kind, name };
}

export function describeTargetSpec(spec: TargetSpec): string {
  if (spec.kind === 'pod') return `pod/${spec.name}`;
  if (spec.kind === 'workload') return `${spec.workload}/${spec.name}`;
  return `pods matching ${spec.labelSelector}`;
}
