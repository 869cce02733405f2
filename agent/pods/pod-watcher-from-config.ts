/**
 * The pods of this node from the Kubernetes API, for main.ts: built whenever the agent has its own access to the API
 * (`--kubeconfig FILE`, else the in-cluster service account when it runs in a pod), whatever `--auth` is. Host mode
 * names containers with it and schedules match label selectors against it; without access there is none, and host
 * mode knows containers by ID only. The Kubernetes client is loaded only here, on demand (it is large).
 */
import type { AgentConfig } from '../config.js';
import type { PodWatcher, PodWatcherOptions } from '../schedules/pod-watcher.js';

export interface PodWatcherFromConfigDeps {
  /** True when the agent runs in a pod with a service account (main.ts reads KUBERNETES_SERVICE_HOST). */
  inCluster: boolean;
  logger?: PodWatcherOptions['logger'];
}

/** A PodWatcher (not started) for this node, or undefined when the agent has no Kubernetes API access. */
export async function podWatcherFromConfig(
  config: Pick<AgentConfig, 'kubeconfig' | 'nodeName'>,
  deps: PodWatcherFromConfigDeps,
): Promise<PodWatcher | undefined> {
  if (config.kubeconfig === undefined && !deps.inCluster) return undefined;
  const { loadAgentKubeConfig } = await import('../auth/kube-config.js');
  const { PodWatcher } = await import('../schedules/pod-watcher.js');
  return new PodWatcher({
    kubeConfig: loadAgentKubeConfig(config.kubeconfig),
    nodeName: config.nodeName,
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
}
