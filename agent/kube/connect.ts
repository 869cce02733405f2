/**
 * The agent's own access to the Kubernetes API server: `--kubeconfig FILE` when given (client-node loaded for it),
 * else the in-cluster service account when the agent runs in a pod, else none.
 */
import { KubeApiClient } from './kube-api-client.js';
import { inClusterEndpoint, type InClusterService } from './in-cluster-endpoint.js';

export interface KubeAccessConfig {
  /** `--kubeconfig`. */
  kubeconfig?: string | undefined;
  /** Set when the agent runs in a pod (`KUBERNETES_SERVICE_HOST`); used without `--kubeconfig`. */
  inCluster?: InClusterService | undefined;
}

/** The client for the configured access; CONFIG_INVALID for an unusable kubeconfig; undefined without access. */
export async function connectKubeApi(config: KubeAccessConfig): Promise<KubeApiClient | undefined> {
  if (config.kubeconfig !== undefined) {
    const { loadKubeconfigEndpoint } = await import('./kubeconfig-endpoint.js');
    return new KubeApiClient(loadKubeconfigEndpoint(config.kubeconfig));
  }
  if (config.inCluster !== undefined) return new KubeApiClient(inClusterEndpoint(config.inCluster));
  return undefined;
}
