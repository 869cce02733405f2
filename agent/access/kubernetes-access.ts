/**
 * `--auth kubernetes` assembled: TokenReview authentication and SubjectAccessReview authorization through the agent's
 * own access to the API server (agent/kube/). Kept in a module of its own that access-control.ts imports on demand.
 */
import { kubeAccessReviewer, kubePodLocator } from '../authz/kube-api.js';
import { KubernetesAuthorizer } from '../authz/kubernetes-authorizer.js';
import { DEFAULT_AUTHZ_RESOURCE } from '../authz/resource.js';
import type { AccessControl, AccessControlOptions } from './access-options.js';
import { kubeTokenReviewer } from '../auth/kube-token-reviewer.js';
import { KubernetesAuthenticator } from '../auth/token-review.js';
import type { KubeApiClient } from '../kube/kube-api-client.js';

export function kubernetesAccessControl(options: AccessControlOptions, api: KubeApiClient): AccessControl {
  return {
    authenticator: new KubernetesAuthenticator(
      kubeTokenReviewer(api),
      options.tokenAudiences ? { audiences: options.tokenAudiences } : {},
    ),
    authorizer: new KubernetesAuthorizer(kubeAccessReviewer(api), kubePodLocator(api), {
      nodeName: options.nodeName,
      resource: options.authzResource ?? DEFAULT_AUTHZ_RESOURCE,
    }),
  };
}
