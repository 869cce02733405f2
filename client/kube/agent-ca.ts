/**
 * Where the client finds the CA of the agents' HTTPS certificates without being told: the ConfigMap
 * `podflame-agent-ca` in the agents' namespace, keys `ca.crt` (PEM) and, optionally, `server-name` (the name the
 * agents' certificate carries, checked instead of the pod IP; the manifests use `podflame-agent.podflame.svc`).
 * The manifests let every authenticated user read that one ConfigMap (a CA certificate is no secret), as
 * kube-public's cluster-info is readable.
 */
import { ApiException, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { PodflameError } from '../../shared/errors.js';

export const AGENT_CA_CONFIGMAP = 'podflame-agent-ca';
export const AGENT_CA_KEY = 'ca.crt';
export const AGENT_SERVER_NAME_KEY = 'server-name';

/** The agents' CA as published, or why there is none to use. */
export type AgentCaLookup = { found: true; ca: string; servername?: string } | { found: false; reason: string };

/** Reads the CA ConfigMap; not found and forbidden are answers (the agents may serve HTTP), other failures throw. */
export async function readAgentCa(kubeConfig: KubeConfig, namespace: string): Promise<AgentCaLookup> {
  const where = `ConfigMap ${namespace}/${AGENT_CA_CONFIGMAP}`;
  let data: Record<string, string> | undefined;
  try {
    const cm = await kubeConfig
      .makeApiClient(CoreV1Api)
      .readNamespacedConfigMap({ namespace, name: AGENT_CA_CONFIGMAP });
    data = cm.data;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return { found: false, reason: `no ${where}` };
    if (err instanceof ApiException && err.code === 403) {
      return { found: false, reason: `you may not read ${where} (its Role and RoleBinding are in the manifests)` };
    }
    throw new PodflameError(
      'KUBERNETES_API_ERROR',
      `could not read ${where}, where the agents' CA is published: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const ca = data?.[AGENT_CA_KEY];
  if (!ca || !ca.includes('-----BEGIN CERTIFICATE-----')) {
    throw new PodflameError(
      'CONFIG_INVALID',
      `${where} has no PEM certificate under the key ${AGENT_CA_KEY}: publish the CA that signed the agents' ` +
        `certificate there (kubectl -n ${namespace} create configmap ${AGENT_CA_CONFIGMAP} --from-file=${AGENT_CA_KEY}=CA_FILE), ` +
        'or pass --ca-file FILE',
    );
  }
  const servername = data?.[AGENT_SERVER_NAME_KEY]?.trim();
  return { found: true, ca, ...(servername ? { servername } : {}) };
}
