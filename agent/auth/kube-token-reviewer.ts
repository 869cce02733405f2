import { AuthenticationV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { TokenReviewer, TokenReviewStatus } from './token-review.js';

/** A TokenReview (POST /apis/authentication.k8s.io/v1/tokenreviews) through @kubernetes/client-node. */
export function kubeTokenReviewer(kc: KubeConfig): TokenReviewer {
  const api = kc.makeApiClient(AuthenticationV1Api);
  return {
    async review(token: string, audiences?: readonly string[]): Promise<TokenReviewStatus> {
      const answer = await api.createTokenReview({
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token, ...(audiences && audiences.length > 0 ? { audiences: [...audiences] } : {}) },
        },
      });
      const s = answer.status ?? {};
      return {
        authenticated: s.authenticated === true,
        ...(s.user ? { user: s.user } : {}),
        ...(s.audiences ? { audiences: s.audiences } : {}),
        ...(s.error ? { error: s.error } : {}),
      };
    },
  };
}
