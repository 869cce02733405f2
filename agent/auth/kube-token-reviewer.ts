import { isJsonObject, objectAt, stringsOf, type JsonObject } from '../kube/json-fields.js';
import { KubeApiError, type KubeApiClient } from '../kube/kube-api-client.js';
import type { TokenReviewer, TokenReviewStatus } from './token-review.js';

const TOKEN_REVIEWS = '/apis/authentication.k8s.io/v1/tokenreviews';
/**
 * A TokenReview's answer is a few KB (it repeats the token, which the agent's HTTP server bounds with its header
 * limit): 1 MiB leaves room, where the client's default bound is made for a list of a node's pods (64 MiB), and 16
 * reviews are in flight at most.
 */
export const TOKEN_REVIEW_ANSWER_BYTES = 1024 ** 2;

/** A TokenReview (POST /apis/authentication.k8s.io/v1/tokenreviews); its answer read field by field. */
export function kubeTokenReviewer(api: KubeApiClient): TokenReviewer {
  return {
    async review(token: string, audiences?: readonly string[], signal?: AbortSignal): Promise<TokenReviewStatus> {
      const answer = await api.json(
        'POST',
        TOKEN_REVIEWS,
        {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token, ...(audiences && audiences.length > 0 ? { audiences: [...audiences] } : {}) },
        },
        { maxAnswerBytes: TOKEN_REVIEW_ANSWER_BYTES, ...(signal ? { signal } : {}) },
      );
      const s = objectAt(answer, 'status') ?? {};
      const authenticated = s.authenticated === true;
      const user = objectAt(s, 'user');
      const audiencesValid = stringsOf(s.audiences);
      return {
        authenticated,
        // Who the caller is matters only once accepted; a refusal's leftovers are not read.
        ...(authenticated && user ? { user: userInfo(user) } : {}),
        ...(audiencesValid ? { audiences: audiencesValid } : {}),
        ...(typeof s.error === 'string' && s.error !== '' ? { error: s.error } : {}),
      };
    },
  };
}

/**
 * authentication.k8s.io/v1 UserInfo, every field as the API server's types have it, or the answer is not trusted:
 * `extra` may carry what limits the caller (a scoped token's scopes), and the SubjectAccessReview must be asked with
 * exactly that, so a key of another type is never left out (the review would then allow what the API server would
 * not). JSON null is Go's nil slice or map: none.
 */
function userInfo(user: JsonObject): NonNullable<TokenReviewStatus['user']> {
  const username = user.username;
  const uid = user.uid ?? '';
  if (typeof uid !== 'string') throw malformed('uid', 'a string');
  const groups = user.groups === null || user.groups === undefined ? [] : stringsOf(user.groups);
  if (groups === undefined) throw malformed('groups', 'a list of strings');
  const extraIn = user.extra ?? {};
  if (!isJsonObject(extraIn)) throw malformed('extra', 'an object of lists of strings');
  const extra = Object.entries(extraIn).map(([key, values]) => {
    const list = values === null ? [] : stringsOf(values);
    if (list === undefined) throw malformed(`extra[${JSON.stringify(key).slice(0, 100)}]`, 'a list of strings');
    return [key, list] as const;
  });
  return {
    ...(typeof username === 'string' ? { username } : {}),
    ...(uid !== '' ? { uid } : {}),
    groups,
    ...(extra.length > 0 ? { extra: Object.fromEntries(extra) } : {}),
  };
}

function malformed(field: string, expected: string): KubeApiError {
  return new KubeApiError(
    `POST ${TOKEN_REVIEWS}: the TokenReview accepted the token but its status.user.${field} is not ${expected}; ` +
      'the caller cannot be told apart from what the API server meant, so the token is not taken (check the API ' +
      "server's authenticator, e.g. its authentication webhook)",
  );
}
