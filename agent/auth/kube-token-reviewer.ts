import type { KubeApiClient } from '../kube/kube-api-client.js';
import type { TokenReviewer, TokenReviewStatus } from './token-review.js';

/** A TokenReview (POST /apis/authentication.k8s.io/v1/tokenreviews); its answer read field by field. */
export function kubeTokenReviewer(api: KubeApiClient): TokenReviewer {
  return {
    async review(token: string, audiences?: readonly string[]): Promise<TokenReviewStatus> {
      const answer = await api.json('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, ...(audiences && audiences.length > 0 ? { audiences: [...audiences] } : {}) },
      });
      const s = objectAt(answer, 'status') ?? {};
      const user = objectAt(s, 'user');
      const audiencesValid = stringsOf(s.audiences);
      return {
        authenticated: s.authenticated === true,
        ...(user ? { user: userInfo(user) } : {}),
        ...(audiencesValid ? { audiences: audiencesValid } : {}),
        ...(typeof s.error === 'string' && s.error !== '' ? { error: s.error } : {}),
      };
    },
  };
}

type JsonObject = Record<string, unknown>;

function objectAt(value: unknown, key: string): JsonObject | undefined {
  const inner = typeof value === 'object' && value !== null ? (value as JsonObject)[key] : undefined;
  return typeof inner === 'object' && inner !== null && !Array.isArray(inner) ? (inner as JsonObject) : undefined;
}

function stringsOf(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : undefined;
}

// authentication.k8s.io/v1 UserInfo; a field of another type is left out, as if the API server had not sent it.
function userInfo(user: JsonObject): NonNullable<TokenReviewStatus['user']> {
  const groups = stringsOf(user.groups);
  const extra = objectAt(user, 'extra');
  const extraLists = extra
    ? Object.entries(extra).flatMap(([k, v]) => {
        const list = stringsOf(v);
        return list ? [[k, list] as const] : [];
      })
    : [];
  return {
    ...(typeof user.username === 'string' ? { username: user.username } : {}),
    ...(typeof user.uid === 'string' && user.uid !== '' ? { uid: user.uid } : {}),
    ...(groups ? { groups } : {}),
    ...(extraLists.length > 0 ? { extra: Object.fromEntries(extraLists) } : {}),
  };
}
