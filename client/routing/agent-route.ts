/**
 * How to reach one node's agent. `direct`: the agent pod's IP and port (callers inside the cluster's network).
 * `proxy`: the API server's pod proxy, `<server>/api/v1/namespaces/<ns>/pods/<agent pod>:<port>/proxy/v1/...`, with
 * the caller's API credentials (laptops). The caller's bearer token travels as `X-Podflame-Authorization` on both
 * paths, since the API server drops `Authorization` once it has authenticated the caller, and also as
 * `Authorization` on the direct path. The transport sends it only when the agent hop is TLS (token-guard.ts): an
 * `https:` origin on the direct path, the `https:` pod reference through the proxy.
 */
import { HEADERS } from '../../shared/api.js';
import type { AgentPod } from '../kube/agent-discovery.js';
import type { ApiCredentials } from '../kube/api-credentials.js';
import type { RoutedEndpoint } from '../transport/agent-endpoint.js';

export const VIA_MODES = ['direct', 'proxy', 'auto'] as const;
export type Via = (typeof VIA_MODES)[number];

export interface AgentTlsOptions {
  /** CA (PEM) that signed the agents' serving certificates; setting it makes the direct path use HTTPS. */
  ca: Buffer | string;
  /** Name to verify in the agent's certificate, when it is not the pod IP. */
  servername?: string;
}

/** A node's agent pod and the way to it: an endpoint of the transport. */
export type AgentRoute = RoutedEndpoint;

/** What a route says about plain HTTP, for the transport's token rule. */
export interface RouteTokenPolicy {
  /** `--insecure-send-token-over-http`: send the token to an HTTP agent all the same. Default false. */
  sendTokenOverHttp?: boolean;
  /** Why the agents are reached without TLS (e.g. no CA ConfigMap), for the refusal's message. */
  noTlsReason?: string;
}

function policyFields(agentTls: AgentTlsOptions | undefined, policy: RouteTokenPolicy): RouteTokenPolicy {
  return {
    ...(policy.sendTokenOverHttp ? { sendTokenOverHttp: true } : {}),
    ...(!agentTls && policy.noTlsReason ? { noTlsReason: policy.noTlsReason } : {}),
  };
}

function podflameAuthorization(credentials: ApiCredentials): Record<string, string> {
  return credentials.bearerToken === undefined ? {} : { [HEADERS.authorization]: `Bearer ${credentials.bearerToken}` };
}

export function directRoute(
  agent: AgentPod,
  credentials: ApiCredentials,
  agentTls?: AgentTlsOptions,
  policy: RouteTokenPolicy = {},
): AgentRoute {
  const host = agent.podIP?.includes(':') ? `[${agent.podIP}]` : agent.podIP;
  return {
    via: 'direct',
    node: agent.nodeName,
    agentPod: agent.name,
    origin: `${agentTls ? 'https' : 'http'}://${host}:${agent.port}`,
    basePath: '',
    headers: {
      ...(credentials.bearerToken === undefined ? {} : { authorization: `Bearer ${credentials.bearerToken}` }),
      ...podflameAuthorization(credentials),
    },
    tls: agentTls
      ? { ca: Buffer.from(agentTls.ca), ...(agentTls.servername ? { servername: agentTls.servername } : {}) }
      : {},
    ...policyFields(agentTls, policy),
  };
}

export function proxyRoute(
  agent: AgentPod,
  credentials: ApiCredentials,
  agentTls?: AgentTlsOptions,
  policy: RouteTokenPolicy = {},
): AgentRoute {
  const server = new URL(credentials.server);
  // `https:NAME:PORT` asks the API server to speak TLS to the pod; plain `NAME:PORT` means HTTP.
  const podRef = `${agentTls ? 'https:' : ''}${agent.name}:${agent.port}`;
  const prefix = server.pathname.replace(/\/+$/, '');
  return {
    via: 'proxy',
    node: agent.nodeName,
    agentPod: agent.name,
    origin: server.origin,
    basePath: `${prefix}/api/v1/namespaces/${encodeURIComponent(agent.namespace)}/pods/${podRef}/proxy`,
    headers: { ...lowercaseKeys(credentials.headers), ...podflameAuthorization(credentials) },
    tls: credentials.tls,
    ...policyFields(agentTls, policy),
  };
}

function lowercaseKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}
