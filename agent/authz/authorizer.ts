import type { ResolvedTarget } from '../../shared/api.js';
import type { CallerIdentity } from '../auth/identity.js';

/**
 * Decides whether a caller may act on a target. The HTTP layer asks after it has resolved the target container
 * (so the pod's namespace and name come from the container that would be profiled, not from the request) and
 * before any capture container starts.
 */
export interface Authorizer {
  /** Rejects with FORBIDDEN (403) naming the missing permission, or KUBERNETES_API_ERROR (502). */
  authorizeTarget(caller: CallerIdentity, target: ResolvedTarget): Promise<void>;
  /** Rejects unless the caller may profile any pod in the namespace (schedules act on whole namespaces). */
  authorizeNamespace(caller: CallerIdentity, namespace: string): Promise<void>;
  /** Keeps the targets the caller may profile (for listings); the order is kept. */
  filterTargets<T extends Partial<ResolvedTarget>>(caller: CallerIdentity, targets: readonly T[]): Promise<T[]>;
}

/**
 * `--auth token` and `--auth none`: an authenticated caller may profile every container on the node. A token file
 * stands for one trusted operator; anonymous access exists only on loopback.
 */
export class AllowAllAuthorizer implements Authorizer {
  async authorizeTarget(): Promise<void> {}
  async authorizeNamespace(): Promise<void> {}
  async filterTargets<T>(_caller: CallerIdentity, targets: readonly T[]): Promise<T[]> {
    return [...targets];
  }
}
