/**
 * Turns a request's target into one running container on this node: a pod UID + container name through the pod the
 * runtime places each container in (never the pod's sandbox), or a container ID / unique prefix of 12+ hex digits.
 */
import type { ContainerInfo, ContainerRuntime } from '../runtime/container-runtime.js';
import type { ProfileTarget, ResolvedTarget } from '../../shared/api.js';
import { PodflameError } from '../../shared/errors.js';

export interface ResolvedContainer {
  container: ContainerInfo;
  target: ResolvedTarget;
}

// Container IDs as kubelet reports them in pod status: `docker://3f1c…`, `containerd://…`, `cri-o://…`.
const RUNTIME_SCHEME = /^[a-z-]+:\/\//;

export function isSandbox(c: ContainerInfo): boolean {
  return c.pod?.sandbox === true;
}

/** What a caller sees of a container: its pod coordinates when the runtime knows its pod. */
export function describeTarget(c: ContainerInfo): ResolvedTarget {
  const p = c.pod;
  return {
    containerId: c.id,
    containerName: p?.container ?? c.name,
    ...(p !== undefined ? { podUid: p.uid } : {}),
    ...(p?.name !== undefined ? { podName: p.name } : {}),
    ...(p?.namespace !== undefined ? { namespace: p.namespace } : {}),
  };
}

/** `namespace/pod/container` for a pod's container, else the container's name. */
export function targetTitle(t: ResolvedTarget): string {
  if (t.namespace !== undefined && t.podName !== undefined) return `${t.namespace}/${t.podName}/${t.containerName}`;
  return t.containerName ?? t.containerId.slice(0, 12);
}

/** The pod (or container) each refusal of resolveTarget speaks of, so its details go only to who may see them. */
const refusalSubjects = new WeakMap<PodflameError, ResolvedTarget>();

function about(subject: ContainerInfo | undefined, error: PodflameError): PodflameError {
  if (subject) refusalSubjects.set(error, describeTarget(subject));
  return error;
}

/**
 * The container whose pod a refusal of `resolveTarget` describes (names of its containers, its IDs, its state):
 * a caller must be authorized for it before reading the refusal. Undefined when the refusal names no pod's details.
 */
export function subjectOfRefusal(error: PodflameError): ResolvedTarget | undefined {
  return refusalSubjects.get(error);
}

function requireRunning(c: ContainerInfo, what: string): void {
  if (c.state !== 'running') {
    throw about(
      c,
      new PodflameError(
        'TARGET_NOT_RUNNING',
        `${what} is not running (state: ${c.state}); only a running container can be profiled`,
        { details: { containerId: c.id, state: c.state } },
      ),
    );
  }
}

async function resolvePodContainer(
  runtime: ContainerRuntime,
  podUid: string,
  name: string,
  nodeName: string,
): Promise<ResolvedContainer> {
  const uid = podUid.toLowerCase();
  const all = await runtime.listContainers({ podUid: uid, all: true });
  const containers = all.filter((c) => !isSandbox(c) && !c.capture);
  const names = [...new Set(containers.map((c) => c.pod?.container ?? c.name))].sort();
  const matches = containers.filter((c) => c.pod?.container === name);
  const first = containers[0];
  const pod = first ? `pod ${first.pod?.namespace ?? '?'}/${first.pod?.name ?? '?'} (UID ${uid})` : `pod UID ${uid}`;
  if (matches.length === 0) {
    const byIdOnly = runtime.notFoundHint(name);
    const message =
      containers.length === 0
        ? `no containers of ${pod} on node ${nodeName}: the pod runs on another node, or has not started${byIdOnly}`
        : `${pod} has no container '${name}' on node ${nodeName}; its containers: ${names.join(', ')}${byIdOnly}`;
    throw about(
      first,
      new PodflameError('TARGET_NOT_FOUND', message, {
        details: { podUid: uid, container: name, node: nodeName, containers: names },
      }),
    );
  }
  // kubelet keeps the exited instance of a restarted container next to the running one: the running one is meant.
  const running = matches.filter((c) => c.state === 'running');
  if (running.length > 1) {
    throw about(
      first,
      new PodflameError(
        'TARGET_AMBIGUOUS',
        `${pod} has ${running.length} running containers named '${name}'; give a container ID instead`,
        { details: { podUid: uid, container: name, containerIds: running.map((c) => c.id).sort() } },
      ),
    );
  }
  const chosen = running[0] ?? (matches[0] as ContainerInfo);
  requireRunning(chosen, `container '${name}' of ${pod}`);
  return { container: chosen, target: describeTarget(chosen) };
}

async function resolveContainerId(
  runtime: ContainerRuntime,
  containerId: string,
  nodeName: string,
): Promise<ResolvedContainer> {
  const prefix = containerId.replace(RUNTIME_SCHEME, '').toLowerCase();
  const all = await runtime.listContainers({ all: true });
  const matches = all.filter((c) => c.id.startsWith(prefix) && !c.capture);
  if (matches.length === 0) {
    throw new PodflameError('TARGET_NOT_FOUND', `no container with ID ${prefix} on node ${nodeName}`, {
      details: { containerId: prefix, node: nodeName },
    });
  }
  if (matches.length > 1) {
    // The full IDs are for a caller who may see them: all of them of one pod, that pod's; else nobody's in particular.
    const pods = new Set(matches.map((c) => c.pod?.uid));
    const onePod = pods.size === 1 && !pods.has(undefined) ? matches[0] : undefined;
    throw about(
      onePod,
      new PodflameError(
        'TARGET_AMBIGUOUS',
        `container ID prefix ${prefix} matches ${matches.length} containers on node ${nodeName}; give more digits`,
        { details: { containerId: prefix, containerIds: matches.map((c) => c.id).sort() } },
      ),
    );
  }
  const chosen = matches[0] as ContainerInfo;
  if (isSandbox(chosen)) {
    throw about(
      chosen,
      new PodflameError(
        'TARGET_NOT_FOUND',
        `container ${prefix} is a pod sandbox (the pause container), which runs no workload; profile one of the pod's containers`,
        { details: { containerId: chosen.id, podUid: chosen.pod?.uid } },
      ),
    );
  }
  requireRunning(chosen, `container ${chosen.name} (${chosen.id.slice(0, 12)})`);
  return { container: chosen, target: describeTarget(chosen) };
}

/** Throws TARGET_NOT_FOUND (404), TARGET_AMBIGUOUS or TARGET_NOT_RUNNING (409) with the facts in `details`. */
export async function resolveTarget(
  runtime: ContainerRuntime,
  target: ProfileTarget,
  nodeName: string,
): Promise<ResolvedContainer> {
  if ('containerId' in target) return resolveContainerId(runtime, target.containerId, nodeName);
  return resolvePodContainer(runtime, target.podUid, target.container, nodeName);
}
