import type { CallerIdentity } from '../auth/identity.js';
import { fieldOf, nonEmptyString } from '../kube/json-fields.js';
import { kubeApiStatus, type KubeApiClient } from '../kube/kube-api-client.js';
import type {
  AccessReviewer,
  AccessReviewStatus,
  PodLocator,
  PodPlacement,
  ResourceAttributes,
} from './kubernetes-authorizer.js';

/** A SubjectAccessReview (POST /apis/authorization.k8s.io/v1/subjectaccessreviews) for the caller. */
export function kubeAccessReviewer(api: KubeApiClient): AccessReviewer {
  return {
    async review(
      caller: CallerIdentity,
      resourceAttributes: ResourceAttributes,
      signal?: AbortSignal,
    ): Promise<AccessReviewStatus> {
      const answer = await api.json(
        'POST',
        '/apis/authorization.k8s.io/v1/subjectaccessreviews',
        {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            resourceAttributes,
            user: caller.username,
            groups: [...caller.groups],
            ...(caller.uid ? { uid: caller.uid } : {}),
            // Scoped credentials carry their limits here: without it the agent would grant what the API server would not.
            ...(caller.extra
              ? { extra: Object.fromEntries(Object.entries(caller.extra).map(([k, v]) => [k, [...v]])) }
              : {}),
          },
        },
        { maxAnswerBytes: REVIEW_ANSWER_BYTES, ...(signal ? { signal } : {}) },
      );
      const s = fieldOf(answer, 'status');
      const denied = fieldOf(s, 'denied');
      const reason = nonEmptyString(fieldOf(s, 'reason'));
      const evaluationError = nonEmptyString(fieldOf(s, 'evaluationError'));
      return {
        allowed: fieldOf(s, 'allowed') === true,
        ...(typeof denied === 'boolean' ? { denied } : {}),
        ...(reason !== undefined ? { reason } : {}),
        ...(evaluationError !== undefined ? { evaluationError } : {}),
      };
    },
  };
}

/** Reads a pod's node and UID (GET /api/v1/namespaces/NS/pods/NAME); a 404 means no such pod. */
export function kubePodLocator(api: KubeApiClient): PodLocator {
  return {
    async locate(namespace: string, name: string, signal?: AbortSignal): Promise<PodPlacement | undefined> {
      // Names come from container labels anyone with the engine can set: `..` would walk the URL's path to another
      // resource, so only names the API server could hold are asked for.
      if (!DNS_LABEL.test(namespace) || !DNS_SUBDOMAIN.test(name)) return undefined;
      let pod: unknown;
      try {
        pod = await api.json(
          'GET',
          `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`,
          undefined,
          { maxAnswerBytes: POD_ANSWER_BYTES, ...(signal ? { signal } : {}) },
        );
      } catch (err) {
        if (kubeApiStatus(err) === 404) return undefined;
        throw err;
      }
      const nodeName = nonEmptyString(fieldOf(fieldOf(pod, 'spec'), 'nodeName'));
      const uid = nonEmptyString(fieldOf(fieldOf(pod, 'metadata'), 'uid'));
      return { ...(nodeName !== undefined ? { nodeName } : {}), ...(uid !== undefined ? { uid } : {}) };
    },
  };
}

// The largest answers asked for here: a SubjectAccessReview repeats its small spec; a pod is stored within etcd's
// 1.5 MiB request limit, and its JSON is at most a few times that. Below the client's bound, made for a pod list.
const REVIEW_ANSWER_BYTES = 1024 ** 2;
const POD_ANSWER_BYTES = 8 * 1024 ** 2;

// A namespace is a DNS-1123 label, a pod name a DNS-1123 subdomain (Kubernetes' own validation).
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
