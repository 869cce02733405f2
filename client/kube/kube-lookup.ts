/**
 * The Kubernetes reads podflame needs — one pod, pods by selector, a workload's selector — through
 * @kubernetes/client-node, with the API's errors (ApiException: `.code`, `.body` a v1.Status JSON string) turned into
 * PodflameErrors that say what to do.
 */
import { ApiException, AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig, V1LabelSelector, V1Pod } from '@kubernetes/client-node';
import { PodflameError } from '../../shared/errors.js';

export type WorkloadKind = 'deploy' | 'sts' | 'ds';

export const WORKLOAD_NAMES: Record<WorkloadKind, string> = {
  deploy: 'deployment',
  sts: 'statefulset',
  ds: 'daemonset',
};

/** What a failed API call was trying to read, for the error message. */
interface Subject {
  /** e.g. `pod "shop-1" in namespace "shop"` */
  describe: string;
  /** Resource name for a kubectl hint, e.g. `pods`. */
  resource: string;
  namespace: string;
  /** Code for a 404. */
  notFound: 'POD_NOT_FOUND' | 'NO_AGENT_ON_NODE';
}

export class KubeLookup {
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly server: string;

  constructor(kubeConfig: KubeConfig) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.apps = kubeConfig.makeApiClient(AppsV1Api);
    this.server = kubeConfig.getCurrentCluster()?.server ?? 'the API server';
  }

  async readPod(namespace: string, name: string): Promise<V1Pod> {
    return this.call(() => this.core.readNamespacedPod({ namespace, name }), {
      describe: `pod "${name}" in namespace "${namespace}"`,
      resource: 'pods',
      namespace,
      notFound: 'POD_NOT_FOUND',
    });
  }

  async listPods(namespace: string, selectors: { labelSelector?: string; fieldSelector?: string }): Promise<V1Pod[]> {
    const list = await this.call(() => this.core.listNamespacedPod({ namespace, ...selectors }), {
      describe: `pods in namespace "${namespace}"`,
      resource: 'pods',
      namespace,
      notFound: 'POD_NOT_FOUND',
    });
    return list.items;
  }

  /** Every node's name, sorted; undefined when the caller may not list nodes (a cluster-scoped permission). */
  async listNodeNames(): Promise<string[] | undefined> {
    try {
      const list = await this.core.listNode();
      return list.items.map((n) => n.metadata?.name ?? '?').sort();
    } catch (err) {
      if (err instanceof ApiException && err.code === 403) return undefined;
      throw this.translate(err, { describe: 'nodes', resource: 'nodes', namespace: '', notFound: 'NO_AGENT_ON_NODE' });
    }
  }

  /** The label selector (`k=v,...`) of a deployment, statefulset or daemonset. */
  async workloadSelector(namespace: string, kind: WorkloadKind, name: string): Promise<string> {
    const subject: Subject = {
      describe: `${WORKLOAD_NAMES[kind]} "${name}" in namespace "${namespace}"`,
      resource: `${WORKLOAD_NAMES[kind]}s`,
      namespace,
      notFound: 'POD_NOT_FOUND',
    };
    const workload = await this.call(() => {
      if (kind === 'deploy') return this.apps.readNamespacedDeployment({ namespace, name });
      if (kind === 'sts') return this.apps.readNamespacedStatefulSet({ namespace, name });
      return this.apps.readNamespacedDaemonSet({ namespace, name });
    }, subject);
    const selector = selectorToString(workload.spec?.selector);
    if (selector === '') {
      throw new PodflameError('POD_NOT_FOUND', `The ${subject.describe} has an empty selector: name its pods with -l`);
    }
    return selector;
  }

  private async call<T>(fn: () => Promise<T>, subject: Subject): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.translate(err, subject);
    }
  }

  private translate(err: unknown, subject: Subject): PodflameError {
    if (!(err instanceof ApiException)) {
      return new PodflameError(
        'KUBERNETES_API_ERROR',
        `Could not reach the Kubernetes API server at ${this.server} reading the ${subject.describe}: ` +
          `${(err as Error)?.message ?? String(err)}; check the cluster address and your network (kubectl cluster-info)`,
        { cause: err },
      );
    }
    const status = parseStatus(err.body);
    const said = status?.message ?? `HTTP ${err.code}`;
    const details = { httpStatus: err.code, reason: status?.reason, namespace: subject.namespace };
    switch (err.code) {
      case 404:
        return new PodflameError(
          subject.notFound,
          `There is no ${subject.describe}: check the name and namespace (kubectl -n ${subject.namespace} get ${subject.resource})`,
          { details, cause: err },
        );
      case 401:
        return new PodflameError(
          'UNAUTHENTICATED',
          `The Kubernetes API server at ${this.server} refused your credentials (${said}): ` +
            'log in again or check the user in your kubeconfig (kubectl auth whoami)',
          { details, cause: err },
        );
      case 403:
        return new PodflameError(
          'FORBIDDEN',
          `The Kubernetes API server does not let you read the ${subject.describe}: ${said}`,
          { details, cause: err },
        );
      default:
        return new PodflameError(
          'KUBERNETES_API_ERROR',
          `The Kubernetes API server at ${this.server} failed reading the ${subject.describe}: ${said}`,
          { details, cause: err },
        );
    }
  }
}

/** `{"kind":"Status",...,"message":"pods \"x\" not found","reason":"NotFound","code":404}` */
function parseStatus(body: unknown): { message?: string; reason?: string } | undefined {
  try {
    const parsed = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: unknown; reason?: unknown };
    if (parsed === null || typeof parsed !== 'object') return undefined;
    return {
      ...(typeof parsed.message === 'string' ? { message: parsed.message } : {}),
      ...(typeof parsed.reason === 'string' ? { reason: parsed.reason } : {}),
    };
  } catch {
    return undefined;
  }
}

/** matchLabels and matchExpressions in the API's selector syntax, e.g. `app=shop,tier in (api,web)`. */
export function selectorToString(selector: V1LabelSelector | undefined): string {
  if (!selector) return '';
  const parts = Object.entries(selector.matchLabels ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`);
  for (const e of selector.matchExpressions ?? []) {
    const values = [...(e.values ?? [])].sort().join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}
