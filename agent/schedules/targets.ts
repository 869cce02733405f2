/**
 * Which containers on this node a schedule profiles. The running containers come from the container runtime, each
 * with the pod it belongs to (Docker: kubelet's labels; host mode: cgroups and the pods' status in the Kubernetes
 * API, agent/pods/). A pod's labels, for `labelSelector`, come from the Kubernetes API when the agent has one (the
 * pod watcher; a pod it does not know is not on this node); in local mode from the pod sandbox's Docker labels,
 * where dockershim and cri-dockerd copy the pod's labels.
 */
import type { ContainerFilter, ContainerInfo } from '../runtime/container-runtime.js';
import { matchesLabels, parseLabelSelector } from '../../shared/label-selector.js';
import { PodflameError } from '../../shared/errors.js';

/** The part of the container runtime this needs. */
export interface ContainerLister {
  listContainers(filter?: ContainerFilter): Promise<ContainerInfo[]>;
}

/** Pod labels by pod UID, from the Kubernetes API; undefined for a pod not (yet) seen on this node. */
export interface PodLabelSource {
  labelsFor(podUid: string): Readonly<Record<string, string>> | undefined;
  /** False until the pods of the node have been listed once. */
  ready(): boolean;
  notReadyReason(): string;
}

export interface TargetSelector {
  namespace: string;
  pod?: string;
  container?: string;
  labelSelector?: string;
}

/** One container a schedule run captures. */
export interface CaptureTarget {
  namespace: string;
  pod: string;
  podUid: string | null;
  container: string;
  containerId: string;
  labels: Record<string, string>;
}

// cri-dockerd and dockershim store pod annotations on the sandbox as `annotation.KEY` labels.
function podLabelsFromSandbox(sandbox: ContainerInfo | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!sandbox) return out;
  for (const [k, v] of Object.entries(sandbox.labels)) {
    if (k.startsWith('io.kubernetes.') || k.startsWith('annotation.')) continue;
    out[k] = v;
  }
  return out;
}

export class TargetFinder {
  constructor(
    private readonly containers: ContainerLister,
    private readonly pods?: PodLabelSource,
  ) {}

  async find(selector: TargetSelector): Promise<CaptureTarget[]> {
    if (this.pods && !this.pods.ready()) {
      // Without the pod list every pod would look foreign: say so rather than report "no targets".
      throw new PodflameError('KUBERNETES_API_ERROR', this.pods.notReadyReason());
    }
    const labelSelector = selector.labelSelector === undefined ? undefined : parseLabelSelector(selector.labelSelector);
    const inNamespace = await this.containers.listContainers({ namespace: selector.namespace });
    const sandboxes = new Map<string, ContainerInfo>();
    for (const c of inNamespace) {
      if (c.pod?.sandbox === true) sandboxes.set(c.pod.uid, c);
    }
    const targets: CaptureTarget[] = [];
    for (const c of inNamespace) {
      if (c.state !== 'running' || c.pod === undefined || c.pod.sandbox) continue;
      const pod = c.pod.name;
      const container = c.pod.container;
      const podUid = c.pod.uid;
      if (pod === undefined || container === undefined) continue;
      if (selector.pod !== undefined && pod !== selector.pod) continue;
      if (selector.container !== undefined && container !== selector.container) continue;
      let labels: Record<string, string>;
      if (this.pods) {
        const known = this.pods.labelsFor(podUid);
        if (known === undefined) continue; // not a pod of this node according to the API server
        labels = { ...known };
      } else {
        labels = podLabelsFromSandbox(sandboxes.get(podUid));
      }
      if (labelSelector && !matchesLabels(labelSelector, labels)) continue;
      targets.push({ namespace: selector.namespace, pod, podUid, container, containerId: c.id, labels });
    }
    return targets.sort((a, b) => a.pod.localeCompare(b.pod) || a.container.localeCompare(b.container));
  }
}
