import { ApiException, AuthorizationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { CallerIdentity } from '../auth/identity.js';
import type {
  AccessReviewer,
  AccessReviewStatus,
  PodLocator,
  PodPlacement,
  ResourceAttributes,
} from './kubernetes-authorizer.js';

/** A SubjectAccessReview (POST /apis/authorization.k8s.io/v1/subjectaccessreviews) through @kubernetes/client-node. */
export function kubeAccessReviewer(kc: KubeConfig): AccessReviewer {
  const api = kc.makeApiClient(AuthorizationV1Api);
  return {
    async review(caller: CallerIdentity, resourceAttributes: ResourceAttributes): Promise<AccessReviewStatus> {
      const answer = await api.createSubjectAccessReview({
        body: {
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
      });
      const s = answer.status;
      return {
        allowed: s?.allowed === true,
        ...(s?.denied !== undefined ? { denied: s.denied } : {}),
        ...(s?.reason ? { reason: s.reason } : {}),
        ...(s?.evaluationError ? { evaluationError: s.evaluationError } : {}),
      };
    },
  };
}

/** Reads a pod's node and UID (GET /api/v1/namespaces/NS/pods/NAME); a 404 means no such pod. */
export function kubePodLocator(kc: KubeConfig): PodLocator {
  const core = kc.makeApiClient(CoreV1Api);
  return {
    async locate(namespace: string, name: string): Promise<PodPlacement | undefined> {
      try {
        const pod = await core.readNamespacedPod({ namespace, name });
        return {
          ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
          ...(pod.metadata?.uid ? { uid: pod.metadata.uid } : {}),
        };
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return undefined;
        throw err;
      }
    },
  };
}
