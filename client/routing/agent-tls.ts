/**
 * Which TLS the routes to the agents use: the CA given (`--ca-file`, the library's `agentTls`), else the one the
 * cluster publishes (kube/agent-ca.ts), else none — then the routes say why, and the transport sends them no token
 * unless told to (token-guard.ts).
 */
import type { AgentCaLookup } from '../kube/agent-ca.js';
import type { AgentTlsOptions, RouteTokenPolicy } from './agent-route.js';

export interface AgentTlsChoice {
  agentTls?: AgentTlsOptions;
  tokenPolicy: RouteTokenPolicy;
}

export async function chooseAgentTls(
  given: AgentTlsOptions | undefined,
  lookup: () => Promise<AgentCaLookup>,
  sendTokenOverHttp: boolean,
): Promise<AgentTlsChoice> {
  const tokenPolicy: RouteTokenPolicy = sendTokenOverHttp ? { sendTokenOverHttp: true } : {};
  if (given) return { agentTls: given, tokenPolicy };
  const published = await lookup();
  if (published.found) {
    return {
      agentTls: { ca: published.ca, ...(published.servername ? { servername: published.servername } : {}) },
      tokenPolicy,
    };
  }
  return { tokenPolicy: { ...tokenPolicy, noTlsReason: published.reason } };
}
