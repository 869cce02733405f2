/**
 * Resolves an agent pod to a route (`--via direct|proxy|auto`); the transport then carries requests over it.
 *
 * `auto` rule: direct when a TCP connection to the agent pod's IP and port opens within `probeTimeoutMs` (the caller
 * is inside the pod network), otherwise the API server's pod proxy. The answer is remembered per agent address for
 * the router's lifetime, so a fan-out probes each node once.
 */
import type { AgentPod } from '../kube/agent-discovery.js';
import type { ApiCredentials } from '../kube/api-credentials.js';
import {
  directRoute,
  proxyRoute,
  type AgentRoute,
  type AgentTlsOptions,
  type RouteTokenPolicy,
  type Via,
} from './agent-route.js';
import { canConnect } from './tcp-probe.js';

export interface AgentRouterOptions {
  /** How to reach agents (default `auto`). */
  via?: Via;
  /** How long `auto` waits for a TCP connection to an agent pod (default 1000 ms). */
  probeTimeoutMs?: number;
  /** HTTPS to the agents, verified with this CA (default: plain HTTP, which carries no token: token-guard.ts). */
  agentTls?: AgentTlsOptions;
  /** Plain HTTP: why, and whether the token goes all the same (default not). */
  tokenPolicy?: RouteTokenPolicy;
}

export const DEFAULT_AGENT_ROUTER_OPTIONS = Object.freeze({ via: 'auto' as Via, probeTimeoutMs: 1000 });

export class AgentRouter {
  private readonly via: Via;
  private readonly probeTimeoutMs: number;
  private readonly agentTls: AgentTlsOptions | undefined;
  private readonly policy: RouteTokenPolicy;
  private readonly reachable = new Map<string, Promise<boolean>>();

  constructor(options: AgentRouterOptions = {}) {
    this.via = options.via ?? DEFAULT_AGENT_ROUTER_OPTIONS.via;
    this.probeTimeoutMs = options.probeTimeoutMs ?? DEFAULT_AGENT_ROUTER_OPTIONS.probeTimeoutMs;
    this.agentTls = options.agentTls;
    this.policy = options.tokenPolicy ?? {};
  }

  async route(agent: AgentPod, credentials: ApiCredentials, signal?: AbortSignal): Promise<AgentRoute> {
    if (this.via === 'direct') return directRoute(agent, credentials, this.agentTls, this.policy);
    if (this.via === 'proxy') return proxyRoute(agent, credentials, this.agentTls, this.policy);
    return (await this.isReachable(agent, signal))
      ? directRoute(agent, credentials, this.agentTls, this.policy)
      : proxyRoute(agent, credentials, this.agentTls, this.policy);
  }

  private isReachable(agent: AgentPod, signal?: AbortSignal): Promise<boolean> {
    if (agent.podIP === undefined) return Promise.resolve(false);
    const key = `${agent.podIP}:${agent.port}`;
    let probe = this.reachable.get(key);
    if (!probe) {
      probe = canConnect(agent.podIP, agent.port, this.probeTimeoutMs, signal);
      this.reachable.set(key, probe);
    }
    return probe;
  }
}
