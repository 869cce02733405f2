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

/**
 * A name as one path segment. `.` and `..` would be resolved away by URL parsing (DELETE of `.../configmaps/..` is a
 * DELETE of the namespace) and `/` would add a segment, so they are refused rather than escaped.
 */
function segment(name: string, what: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/')) {
    throw new PodflameError(
      'INTERNAL',
      `podflame install will not put the ${what} '${name}' in a Kubernetes API path: it is no object name; check ` +
        'the manifests it installs',
    );
  }
  return encodeURIComponent(name);
}

/** The collection an object belongs to, e.g. `/apis/apps/v1/namespaces/podflame/daemonsets`. */
export function collectionPath(apiVersion: string, kind: string, namespace: string | undefined): string {
  const plural = PLURALS[kind];
  if (!plural) throw new PodflameError('INTERNAL', `podflame install does not know the API path of kind ${kind}`);
  const ns = namespace !== undefined ? `/namespaces/${segment(namespace, 'namespace')}` : '';
  return `${groupPrefix(apiVersion)}${ns}/${plural}`;
}

/** The path of one object. */
export function objectPath(obj: KubeObject): string {
  const ns = isNamespaced(obj) ? String(obj.metadata.namespace) : undefined;
  return `${collectionPath(String(obj.apiVersion), String(obj.kind), ns)}/${segment(String(obj.metadata.name), 'name')}`;
}
