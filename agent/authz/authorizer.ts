import type { ResolvedTarget } from '../../shared/api.js';
import { PodflameError } from '../../shared/errors.js';
import type { CallerIdentity } from '../auth/identity.js';

/** Refusals of a target that speak to a caller already allowed in its namespace (see `refusalToldAsIs`). */
const toldAsIs = new WeakSet<PodflameError>();

/**
 * Marks a refusal of a target as one the caller may read: they may profile pods of the target's namespace, and the
 * refusal is about this pod (it runs on another node, its labels do not match the API server). Every other refusal
 * of a target (no permission in its namespace, a container of no pod) is answered as if the target did not exist,
 * so that its namespace, pod and containers are told to nobody who may not use them; unmarked is the safe default.
 */
export function refusalToldAsIs(error: PodflameError): PodflameError {
  toldAsIs.add(error);
  return error;
}

/** True for a FORBIDDEN the caller may not read: the HTTP layer answers it as the "not found" of what was named. */
export function hidesTarget(err: unknown): err is PodflameError {
  return err instanceof PodflameError && err.code === 'FORBIDDEN' && !toldAsIs.has(err);
}

/**
 * Decides whether a caller may act on a target. The HTTP layer asks after it has resolved the target container
 * (so the pod's namespace and name come from the container that would be profiled, not from the request) and
 * before any capture container starts.
 */
export interface Authorizer {
  /**
   * Rejects with FORBIDDEN naming the missing permission, or KUBERNETES_API_ERROR (502). A FORBIDDEN not marked with
   * `refusalToldAsIs` reaches the caller as the target's "not found" (see `hidesTarget`).
   */
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
