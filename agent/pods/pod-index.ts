/**
 * The pods of this node as the Kubernetes API reports them, indexed for host mode: by pod UID (namespace, name,
 * labels) and by the container IDs in their status (container name). Host mode sees only container IDs in
 * /proc/<pid>/cgroup; kubelet reports the same IDs in `status.containerStatuses[].containerID` (and the init and
 * ephemeral lists), which is how a container found in cgroups gets its pod's names. Pure: the pod watcher feeds it.
 */
import { normalizeContainerId } from '../runtime/cgroup-match.js';

/** Which list of the pod's status a container is in. */
export type PodContainerKind = 'container' | 'init' | 'ephemeral';

export interface PodContainer {
  /** The container's name in the pod spec, e.g. `app`. */
  name: string;
  kind: PodContainerKind;
  /** Full container ID (64 hex digits), without the runtime's scheme. */
  containerId: string;
}

export interface IndexedPod {
  uid: string;
  namespace: string;
  name: string;
  labels: Readonly<Record<string, string>>;
  /** Containers that have a container ID (started at least once), in status order: regular, init, ephemeral. */
  containers: readonly PodContainer[];
}

/** What host mode asks of the pods of its node (the pod watcher answers from its index). */
export interface PodDirectory {
  /** False until the pods of the node have been listed once. */
  ready(): boolean;
  /** Why the pods are not known yet, for error messages. */
  notReadyReason(): string;
  podByUid(uid: string): IndexedPod | undefined;
  /** The pod and container a container ID (bare or `containerd://…`) belongs to, when kubelet has reported it. */
  containerById(containerId: string): { pod: IndexedPod; container: PodContainer } | undefined;
}

/** The part of a v1.Pod the index reads, as the list and the watch send it. */
export interface PodObject {
  metadata?: { uid?: string; namespace?: string; name?: string; labels?: Record<string, string> };
  status?: {
    containerStatuses?: readonly ContainerStatusObject[];
    initContainerStatuses?: readonly ContainerStatusObject[];
    ephemeralContainerStatuses?: readonly ContainerStatusObject[];
  };
}

// e.g. {"name":"app","containerID":"containerd://0c1d…e9","ready":true,"restartCount":0,"state":{"running":{…}}}
// A container that has not been created yet (ContainerCreating, image pull) has no containerID.
interface ContainerStatusObject {
  name?: string;
  containerID?: string;
}

const STATUS_LISTS: readonly [
  PodContainerKind,
  'containerStatuses' | 'initContainerStatuses' | 'ephemeralContainerStatuses',
][] = [
  ['container', 'containerStatuses'],
  ['init', 'initContainerStatuses'],
  ['ephemeral', 'ephemeralContainerStatuses'],
];

export class PodIndex {
  readonly #pods = new Map<string, IndexedPod>();
  readonly #byContainer = new Map<string, { podUid: string; container: PodContainer }>();

  /** Adds or replaces a pod (watch ADDED/MODIFIED, or an item of the list); a restart's new container ID replaces the old. */
  put(pod: PodObject): void {
    const m = pod.metadata;
    if (!m?.uid || !m.namespace || !m.name) return;
    this.#forget(m.uid);
    const containers: PodContainer[] = [];
    for (const [kind, list] of STATUS_LISTS) {
      for (const s of pod.status?.[list] ?? []) {
        const containerId = s.containerID === undefined ? undefined : normalizeContainerId(s.containerID);
        if (s.name && containerId !== undefined) containers.push({ name: s.name, kind, containerId });
      }
    }
    const indexed: IndexedPod = {
      uid: m.uid,
      namespace: m.namespace,
      name: m.name,
      labels: Object.freeze({ ...(m.labels ?? {}) }),
      containers: Object.freeze(containers),
    };
    this.#pods.set(m.uid, indexed);
    for (const container of containers) this.#byContainer.set(container.containerId, { podUid: m.uid, container });
  }

  /** Holds exactly these pods (a new list): those not in it are forgotten. */
  replace(pods: readonly PodObject[]): void {
    const listed = new Set(pods.map((p) => p.metadata?.uid).filter((uid): uid is string => uid !== undefined));
    for (const uid of [...this.#pods.keys()]) if (!listed.has(uid)) this.#forget(uid);
    for (const pod of pods) this.put(pod);
  }

  /** Removes a pod (watch DELETED). */
  remove(pod: PodObject): void {
    if (pod.metadata?.uid) this.#forget(pod.metadata.uid);
  }

  podByUid(uid: string): IndexedPod | undefined {
    return this.#pods.get(uid.toLowerCase());
  }

  containerById(containerId: string): { pod: IndexedPod; container: PodContainer } | undefined {
    const id = normalizeContainerId(containerId);
    const entry = id === undefined ? undefined : this.#byContainer.get(id);
    const pod = entry && this.#pods.get(entry.podUid);
    return entry && pod ? { pod, container: entry.container } : undefined;
  }

  labelsFor(podUid: string): Readonly<Record<string, string>> | undefined {
    return this.#pods.get(podUid)?.labels;
  }

  get size(): number {
    return this.#pods.size;
  }

  #forget(uid: string): void {
    const old = this.#pods.get(uid);
    if (!old) return;
    this.#pods.delete(uid);
    for (const c of old.containers) {
      if (this.#byContainer.get(c.containerId)?.podUid === uid) this.#byContainer.delete(c.containerId);
    }
  }
}
