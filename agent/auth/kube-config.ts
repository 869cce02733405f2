import { KubeConfig } from '@kubernetes/client-node';
import { asPodflameError } from '../../shared/errors.js';

/**
 * The agent's own access to the API server (for TokenReview, SubjectAccessReview and reading pods): from
 * `--kubeconfig FILE` when given, otherwise the pod's in-cluster service account.
 */
export function loadAgentKubeConfig(kubeconfigFile: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (kubeconfigFile !== undefined) kc.loadFromFile(kubeconfigFile);
    else kc.loadFromCluster();
  } catch (err) {
    throw asPodflameError(
      err,
      'CONFIG_INVALID',
      kubeconfigFile !== undefined
        ? `cannot load the agent's kubeconfig ${kubeconfigFile}`
        : 'cannot load the in-cluster Kubernetes configuration (outside a cluster, pass --kubeconfig FILE)',
    );
  }
  if (!kc.getCurrentCluster()) {
    throw asPodflameError(
      new Error('no current cluster'),
      'CONFIG_INVALID',
      kubeconfigFile !== undefined
        ? `the kubeconfig ${kubeconfigFile} has no current context with a cluster`
        : 'no in-cluster Kubernetes configuration (KUBERNETES_SERVICE_HOST unset?); pass --kubeconfig FILE',
    );
  }
  return kc;
}
