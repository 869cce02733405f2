/**
 * `--auth kubernetes` assembled: TokenReview authentication and SubjectAccessReview authorization through
 * @kubernetes/client-node. Kept in a module of its own that access-control.ts imports on demand, because loading the
 * Kubernetes client costs the agent a second of start-up and tens of MB when another mode is configured.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { kubeAccessReviewer, kubePodLocator } from '../authz/kube-api.js';
import { KubernetesAuthorizer } from '../authz/kubernetes-authorizer.js';
import { DEFAULT_AUTHZ_RESOURCE } from '../authz/resource.js';
import type { AccessControl, AccessControlOptions } from './access-options.js';
import { loadAgentKubeConfig } from '../auth/kube-config.js';
import { kubeTokenReviewer } from '../auth/kube-token-reviewer.js';
import { KubernetesAuthenticator } from '../auth/token-review.js';

export function kubernetesAccessControl(options: AccessControlOptions, kubeConfig?: KubeConfig): AccessControl {
  const kc = kubeConfig ?? loadAgentKubeConfig(options.kubeconfig);
  return {
    authenticator: new KubernetesAuthenticator(
      kubeTokenReviewer(kc),
      options.tokenAudiences ? { audiences: options.tokenAudiences } : {},
    ),
    authorizer: new KubernetesAuthorizer(kubeAccessReviewer(kc), kubePodLocator(kc), {
      nodeName: options.nodeName,
      resource: options.authzResource ?? DEFAULT_AUTHZ_RESOURCE,
    }),
  };
}
