/**
 * Finds the podflame agent pod on a node: in the agent namespace (`podflame` unless told otherwise), labelled
 * `app.kubernetes.io/name=podflame-agent`, selected with `fieldSelector=spec.nodeName=<node>`. Its address is the
 * pod IP and the container port named `http` (7070 when no port has that name).
 */
import type { V1Pod } from '@kubernetes/client-node';
import { PodflameError } from '../../shared/errors.js';
import type { KubeLookup } from './kube-lookup.js';

export const DEFAULT_AGENT_NAMESPACE = 'podflame';
export const AGENT_LABEL_SELECTOR = 'app.kubernetes.io/name=podflame-agent';
export const AGENT_PORT_NAME = 'http';
export const DEFAULT_AGENT_PORT = 7070;

export interface AgentPod {
  name: string;
  namespace: string;
  nodeName: string;
  /** status.podIP; undefined until the pod has one. */
  podIP: string | undefined;
  port: number;
  phase: string;
  /** The pod's Ready condition. */
  ready: boolean;
  /** From the label app.kubernetes.io/version, else the agent image's tag. */
  version: string | undefined;
}

export function agentPodFromPod(pod: V1Pod): AgentPod {
  const containers = pod.spec?.containers ?? [];
  const named = containers.flatMap((c) => c.ports ?? []).find((p) => p.name === AGENT_PORT_NAME);
  const image = containers[0]?.image;
  const tag = image && /:([^:/@]+)$/.exec(image)?.[1];
  return {
    name: pod.metadata?.name ?? '?',
    namespace: pod.metadata?.namespace ?? DEFAULT_AGENT_NAMESPACE,
    nodeName: pod.spec?.nodeName ?? '',
    podIP: pod.status?.podIP || undefined,
    port: named?.containerPort ?? DEFAULT_AGENT_PORT,
    phase: pod.status?.phase ?? 'Unknown',
    ready: pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    version: pod.metadata?.labels?.['app.kubernetes.io/version'] ?? tag ?? undefined,
  };
}

const CHECK_AGENTS = (ns: string): string => `kubectl -n ${ns} get pods -l ${AGENT_LABEL_SELECTOR} -o wide`;

/** The agent pod to call for a node: a ready one when there are several (during a rolling update). */
export async function findAgentOnNode(lookup: KubeLookup, agentNamespace: string, nodeName: string): Promise<AgentPod> {
  const pods = await lookup.listPods(agentNamespace, {
    labelSelector: AGENT_LABEL_SELECTOR,
    fieldSelector: `spec.nodeName=${nodeName}`,
  });
  const agents = pods.map(agentPodFromPod).sort((a, b) => Number(b.ready) - Number(a.ready) || compare(a.name, b.name));
  const agent = agents[0];
  if (!agent) {
    throw new PodflameError(
      'NO_AGENT_ON_NODE',
      `No podflame agent runs on node ${nodeName} (no pod labelled ${AGENT_LABEL_SELECTOR} in namespace ` +
        `${agentNamespace} there): check that the agent DaemonSet is installed and tolerates that node's taints ` +
        `(${CHECK_AGENTS(agentNamespace)}), or pass --agent-namespace if it lives elsewhere`,
      { details: { node: nodeName, agentNamespace } },
    );
  }
  if (!agent.ready || agent.podIP === undefined) {
    throw new PodflameError(
      'AGENT_NOT_READY',
      `The podflame agent on node ${nodeName} (pod ${agent.name}) is not ready (phase ${agent.phase}` +
        `${agent.podIP ? '' : ', no pod IP yet'}): see kubectl -n ${agentNamespace} describe pod ${agent.name} ` +
        `and kubectl -n ${agentNamespace} logs ${agent.name}`,
      { details: { node: nodeName, agentPod: agent.name, agentNamespace } },
    );
  }
  return agent;
}

/** Every agent pod, sorted by node then name. */
export async function listAgentPods(lookup: KubeLookup, agentNamespace: string): Promise<AgentPod[]> {
  const pods = await lookup.listPods(agentNamespace, { labelSelector: AGENT_LABEL_SELECTOR });
  return pods.map(agentPodFromPod).sort((a, b) => compare(a.nodeName, b.nodeName) || compare(a.name, b.name));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
