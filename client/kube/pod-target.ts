/**
 * Decides, from a pod object alone, what the agent should capture: the pod's UID and node and one running container,
 * or an error that says what is wrong and what to do.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { PodflameError } from '../../shared/errors.js';

/** kubectl's own annotation naming the container `kubectl exec/logs` pick when none is given. */
export const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';

export interface PodTarget {
  namespace: string;
  pod: string;
  podUid: string;
  nodeName: string;
  container: string;
}

export function podTarget(pod: V1Pod, container?: string): PodTarget {
  const namespace = pod.metadata?.namespace ?? 'default';
  const name = pod.metadata?.name ?? '?';
  const where = `pod ${name} in namespace ${namespace}`;
  const containers = (pod.spec?.containers ?? []).map((c) => c.name);
  const details = { namespace, pod: name, containers };
  const phase = pod.status?.phase ?? 'Unknown';
  const nodeName = pod.spec?.nodeName;
  if (phase !== 'Running' || !nodeName) {
    const reason = pod.status?.reason ? ` (${pod.status.reason})` : nodeName ? '' : ' (not scheduled on a node yet)';
    throw new PodflameError(
      'POD_NOT_RUNNING',
      `The ${where} is ${phase}${reason}, so there is nothing to profile: wait until it is Running ` +
        `(kubectl -n ${namespace} get pod ${name} -w)`,
      { details: { ...details, phase } },
    );
  }
  const chosen = chooseContainer(pod, container, where, details);
  const status = pod.status?.containerStatuses?.find((s) => s.name === chosen);
  if (status && !status.state?.running) {
    const state = status.state?.waiting
      ? `waiting: ${status.state.waiting.reason ?? 'unknown reason'}`
      : status.state?.terminated
        ? `terminated: ${status.state.terminated.reason ?? `exit code ${status.state.terminated.exitCode}`}`
        : 'not started';
    throw new PodflameError(
      'POD_NOT_RUNNING',
      `Container ${chosen} of the ${where} is not running (${state}): see kubectl -n ${namespace} describe pod ${name}`,
      { details: { ...details, container: chosen } },
    );
  }
  const podUid = pod.metadata?.uid;
  if (!podUid) throw new PodflameError('KUBERNETES_API_ERROR', `The API server sent the ${where} without a UID`);
  return { namespace, pod: name, podUid, nodeName, container: chosen };
}

function chooseContainer(
  pod: V1Pod,
  container: string | undefined,
  where: string,
  details: { containers: string[] },
): string {
  const { containers } = details;
  if (container !== undefined) {
    if (containers.includes(container)) return container;
    throw new PodflameError(
      'TARGET_NOT_FOUND',
      `The ${where} has no container "${container}"; its containers are: ${containers.join(', ')}`,
      { details },
    );
  }
  if (containers.length === 1) return containers[0] as string;
  const annotated = pod.metadata?.annotations?.[DEFAULT_CONTAINER_ANNOTATION];
  if (annotated !== undefined && containers.includes(annotated)) return annotated;
  throw new PodflameError(
    'CONTAINER_REQUIRED',
    `The ${where} has ${containers.length} containers (${containers.join(', ')}): choose one with -c NAME`,
    { details },
  );
}
