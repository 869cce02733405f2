/**
 * The API path of each kind an install holds, e.g. DaemonSet podflame/podflame-agent →
 * `/apis/apps/v1/namespaces/podflame/daemonsets/podflame-agent`. Fixed, rather than asked of the API's discovery:
 * these are stable v1 kinds every supported cluster serves.
 */
import { PodflameError } from '../../shared/errors.js';
import { isNamespaced, type KubeObject } from './bundled-manifests.js';

const PLURALS: Readonly<Record<string, string>> = {
  Namespace: 'namespaces',
  ServiceAccount: 'serviceaccounts',
  ConfigMap: 'configmaps',
  ClusterRole: 'clusterroles',
  ClusterRoleBinding: 'clusterrolebindings',
  Role: 'roles',
  RoleBinding: 'rolebindings',
  NetworkPolicy: 'networkpolicies',
  DaemonSet: 'daemonsets',
};

/** `/api/v1` or `/apis/GROUP/VERSION` for an apiVersion. */
function groupPrefix(apiVersion: string): string {
  return apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
}

/** The collection an object belongs to, e.g. `/apis/apps/v1/namespaces/podflame/daemonsets`. */
export function collectionPath(apiVersion: string, kind: string, namespace: string | undefined): string {
  const plural = PLURALS[kind];
  if (!plural) throw new PodflameError('INTERNAL', `podflame install does not know the API path of kind ${kind}`);
  const ns = namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${groupPrefix(apiVersion)}${ns}/${plural}`;
}

/** The path of one object. */
export function objectPath(obj: KubeObject): string {
  const ns = isNamespaced(obj) ? String(obj.metadata.namespace) : undefined;
  return `${collectionPath(String(obj.apiVersion), String(obj.kind), ns)}/${encodeURIComponent(String(obj.metadata.name))}`;
}
