import type { ResolvedTarget } from '../../shared/api.js';
import { PodflameError, asPodflameError } from '../../shared/errors.js';
import type { CallerIdentity } from '../auth/identity.js';
import { TtlCache } from '../auth/ttl-cache.js';
import { withTimeout } from '../auth/with-timeout.js';
import { refusalToldAsIs, type Authorizer } from './authorizer.js';
import { DEFAULT_AUTHZ_RESOURCE, describeAuthzResource, type AuthzResource } from './resource.js';

/** `spec.resourceAttributes` of an authorization.k8s.io/v1 SubjectAccessReview. */
export interface ResourceAttributes {
  namespace: string;
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  name?: string;
}

/** `status` of a SubjectAccessReview, narrowed. */
export interface AccessReviewStatus {
  allowed: boolean;
  denied?: boolean;
  reason?: string;
  evaluationError?: string;
}

/** Sends one SubjectAccessReview for a user. The Kubernetes implementation is in kube-api.ts. */
export interface AccessReviewer {
  /** `signal`: the authorizer gave up (its timeout); the request should end. */
  review(caller: CallerIdentity, attributes: ResourceAttributes, signal?: AbortSignal): Promise<AccessReviewStatus>;
}

/** Where a pod runs according to the API server; undefined when the pod does not exist. */
export interface PodPlacement {
  nodeName?: string;
  uid?: string;
}

export interface PodLocator {
  /** `signal`: the authorizer gave up (its timeout); the request should end. */
  locate(namespace: string, name: string, signal?: AbortSignal): Promise<PodPlacement | undefined>;
}

export interface KubernetesAuthorizerOptions {
  /** This agent's node (`--node-name` / NODE_NAME); targets whose pod runs elsewhere are refused. Required. */
  nodeName: string;
  /** Permission checked on the target pod. Default: create pods/exec. */
  resource?: AuthzResource;
  /** How long an allowed review is reused, in ms. Default 10 000. */
  allowCacheTtlMs?: number;
  /** How long a denied review is reused, in ms (short: a new RoleBinding should work almost at once). Default 2 000. */
  denyCacheTtlMs?: number;
  /** How long a pod's placement is reused, in ms. Default 10 000. */
  placementCacheTtlMs?: number;
  /** Cached answers kept at most, per cache. Default 5 000. */
  cacheMaxEntries?: number;
  /** Give up on the API server after this long, in ms. Default 10 000. */
  timeoutMs?: number;
  /** SubjectAccessReviews sent at once when filtering a listing. Default 8. */
  listConcurrency?: number;
  /** Clock, for tests. Default Date.now. */
  now?: () => number;
}

export const DEFAULT_KUBERNETES_AUTHORIZER_OPTIONS = Object.freeze({
  resource: DEFAULT_AUTHZ_RESOURCE,
  allowCacheTtlMs: 10_000,
  denyCacheTtlMs: 2_000,
  placementCacheTtlMs: 10_000,
  cacheMaxEntries: 5_000,
  timeoutMs: 10_000,
  listConcurrency: 8,
});

/**
 * `--auth kubernetes`: a caller may profile a pod when a SubjectAccessReview says they may create pods/exec on it
 * (or the configured dedicated resource), and the API server confirms that the pod runs on this agent's node with the
 * UID the container's kubelet labels claim. The labels alone are not trusted: anyone able to start a container on
 * the node could forge them, and the node check keeps a caller from reaching pods elsewhere through this agent.
 */
export class KubernetesAuthorizer implements Authorizer {
  readonly #reviewer: AccessReviewer;
  readonly #pods: PodLocator;
  readonly #o: Required<Omit<KubernetesAuthorizerOptions, 'now'>>;
  readonly #reviews: TtlCache<AccessReviewStatus>;
  readonly #placements: TtlCache<PodPlacement | null>;
  /** SubjectAccessReviews sent (for tests and metrics). */
  reviewsSent = 0;

  constructor(reviewer: AccessReviewer, pods: PodLocator, options: KubernetesAuthorizerOptions) {
    const d = DEFAULT_KUBERNETES_AUTHORIZER_OPTIONS;
    if (!options.nodeName) {
      throw new PodflameError(
        'CONFIG_INVALID',
        "--auth kubernetes needs the agent's node name (--node-name or NODE_NAME, from the downward API " +
          'spec.nodeName) to check that a target pod runs on this node',
      );
    }
    this.#reviewer = reviewer;
    this.#pods = pods;
    this.#o = {
      nodeName: options.nodeName,
      resource: options.resource ?? d.resource,
      allowCacheTtlMs: options.allowCacheTtlMs ?? d.allowCacheTtlMs,
      denyCacheTtlMs: options.denyCacheTtlMs ?? d.denyCacheTtlMs,
      placementCacheTtlMs: options.placementCacheTtlMs ?? d.placementCacheTtlMs,
      cacheMaxEntries: options.cacheMaxEntries ?? d.cacheMaxEntries,
      timeoutMs: options.timeoutMs ?? d.timeoutMs,
      listConcurrency: options.listConcurrency ?? d.listConcurrency,
    };
    const clock = options.now ? { now: options.now } : {};
    this.#reviews = new TtlCache({ ttlMs: this.#o.allowCacheTtlMs, maxEntries: this.#o.cacheMaxEntries, ...clock });
    this.#placements = new TtlCache({
      ttlMs: this.#o.placementCacheTtlMs,
      maxEntries: this.#o.cacheMaxEntries,
      ...clock,
    });
  }

  async authorizeTarget(caller: CallerIdentity, target: ResolvedTarget): Promise<void> {
    const { namespace, podName } = target;
    if (!namespace || !podName) {
      throw new PodflameError(
        'FORBIDDEN',
        `container ${target.containerId.slice(0, 12)} is not part of a Kubernetes pod (it has no kubelet labels, ` +
          "and no pod of this node reports its ID in the Kubernetes API's status); " +
          'with --auth kubernetes only containers of pods can be profiled, because access is granted per pod',
        { details: { containerId: target.containerId } },
      );
    }
    await this.#requirePermission(caller, namespace, podName, `needed to profile pod ${podName}`);
    await this.#requireOnThisNode(namespace, podName, target.podUid);
  }

  async authorizeNamespace(caller: CallerIdentity, namespace: string): Promise<void> {
    await this.#requirePermission(caller, namespace, undefined, `needed to profile pods of namespace ${namespace}`);
  }

  async filterTargets<T extends Partial<ResolvedTarget>>(caller: CallerIdentity, targets: readonly T[]): Promise<T[]> {
    const keep: boolean[] = new Array<boolean>(targets.length).fill(false);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < targets.length) {
        const index = next++;
        const t = targets[index]!;
        if (!t.namespace || !t.podName) continue;
        const status = await this.#review(caller, this.#attributes(t.namespace, t.podName));
        keep[index] = status.allowed;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#o.listConcurrency, targets.length) }, worker));
    return targets.filter((_, i) => keep[i]);
  }

  #attributes(namespace: string, name: string | undefined): ResourceAttributes {
    const r = this.#o.resource;
    return {
      namespace,
      verb: r.verb,
      group: r.group,
      resource: r.resource,
      ...(r.subresource === undefined ? {} : { subresource: r.subresource }),
      ...(name === undefined ? {} : { name }),
    };
  }

  async #requirePermission(caller: CallerIdentity, namespace: string, name: string | undefined, why: string) {
    const attributes = this.#attributes(namespace, name);
    const status = await this.#review(caller, attributes);
    if (status.allowed) return;
    const permission = `${attributes.verb} ${describeAuthzResource(this.#o.resource)}`;
    const because = status.reason || status.evaluationError;
    throw new PodflameError(
      'FORBIDDEN',
      `user ${caller.username} cannot ${permission} in namespace ${namespace} (${why})` +
        (because ? `: ${because}` : '') +
        '; ask a cluster admin for a Role granting it',
      {
        details: {
          user: caller.username,
          permission,
          namespace,
          ...(name === undefined ? {} : { pod: name }),
        },
      },
    );
  }

  async #review(caller: CallerIdentity, attributes: ResourceAttributes): Promise<AccessReviewStatus> {
    const extra = Object.entries(caller.extra ?? {})
      .map(([k, v]) => [k, [...v].sort()] as const)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const key = JSON.stringify([caller.username, caller.uid ?? '', [...caller.groups].sort(), extra, attributes]);
    const cached = this.#reviews.get(key);
    if (cached !== undefined) return cached;
    this.reviewsSent += 1;
    let status: AccessReviewStatus;
    try {
      status = await withTimeout(
        (signal) => this.#reviewer.review(caller, attributes, signal),
        this.#o.timeoutMs,
        'SubjectAccessReview',
      );
    } catch (err) {
      throw asPodflameError(
        err,
        'KUBERNETES_API_ERROR',
        "could not check the caller's permission with a SubjectAccessReview (is the API server reachable, and may " +
          "the agent's service account create subjectaccessreviews?)",
      );
    }
    this.#reviews.set(key, status, status.allowed ? this.#o.allowCacheTtlMs : this.#o.denyCacheTtlMs);
    return status;
  }

  // Asked only once the caller may profile pods of the namespace: its refusals are theirs to read.
  async #requireOnThisNode(namespace: string, name: string, labelUid: string | undefined): Promise<void> {
    const key = `${namespace}/${name}`;
    let placement = this.#placements.get(key);
    if (placement === undefined) {
      try {
        placement =
          (await withTimeout(
            (signal) => this.#pods.locate(namespace, name, signal),
            this.#o.timeoutMs,
            'reading the pod',
          )) ?? null;
      } catch (err) {
        throw asPodflameError(err, 'KUBERNETES_API_ERROR', `could not read pod ${key} from the Kubernetes API`);
      }
      this.#placements.set(key, placement);
    }
    const node = this.#o.nodeName;
    if (placement === null) {
      throw refusalToldAsIs(
        new PodflameError(
          'FORBIDDEN',
          `pod ${key} is not in the Kubernetes API, so the container claiming to belong to it on node ${node} ` +
            'cannot be profiled',
          { details: { namespace, pod: name, node } },
        ),
      );
    }
    if (placement.nodeName !== node) {
      throw refusalToldAsIs(
        new PodflameError(
          'FORBIDDEN',
          `pod ${key} runs on node ${placement.nodeName ?? '(not scheduled)'}, not on this agent's node ${node}; ` +
            'ask the agent on that node (the podflame client routes there by itself)',
          { details: { namespace, pod: name, node, podNode: placement.nodeName ?? null } },
        ),
      );
    }
    if (labelUid !== undefined && placement.uid !== undefined && placement.uid !== labelUid) {
      throw refusalToldAsIs(
        new PodflameError(
          'FORBIDDEN',
          `the container's pod UID label (${labelUid}) does not match pod ${key} in the Kubernetes API ` +
            `(${placement.uid}): it belongs to an earlier pod of that name, or its labels are not kubelet's`,
          { details: { namespace, pod: name, labelUid, podUid: placement.uid } },
        ),
      );
    }
  }
}
