/**
 * The agents a history command asks: the ones given with `--agent URL` (local mode), or every agent pod of the
 * cluster, found and reached as `podflame profile` reaches them (agent pods by label in the agents' namespace,
 * direct or through the API server's pod proxy). Each endpoint answers GET requests for agent paths.
 */
import type { Pool } from 'undici';
import { undici } from '../undici-loader.js';
import { PodflameError } from '../../shared/errors.js';
import type { Via } from '../routing/agent-route.js';

export interface EndpointAnswer {
  statusCode: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface HistoryEndpoint {
  /** How the agent is named in messages: its node, or its URL. */
  label: string;
  get(path: string, signal?: AbortSignal): Promise<EndpointAnswer>;
}

export interface HistoryEndpoints {
  endpoints: HistoryEndpoint[];
  /** Agents that could not be asked (not ready, no IP), with why. */
  skipped: { label: string; reason: string }[];
  close(): Promise<void>;
}

export interface UrlEndpointOptions {
  headers?: Readonly<Record<string, string>>;
  ca?: string | Buffer;
  /** Default 60 000 ms. */
  timeoutMs?: number;
}

/** An agent at a URL (`--agent http://127.0.0.1:7070`). */
export function urlEndpoints(urls: readonly string[], options: UrlEndpointOptions = {}): HistoryEndpoints {
  const pools: Pool[] = [];
  const endpoints = urls.map((raw): HistoryEndpoint => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new PodflameError('USAGE', `--agent must be a URL such as http://127.0.0.1:7070, got '${raw}'`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new PodflameError('USAGE', `--agent must be an http:// or https:// URL, got '${raw}'`);
    }
    const pool = new (undici().Pool)(url.origin, {
      connections: 2,
      ...(options.ca !== undefined ? { connect: { ca: options.ca } } : {}),
    });
    pools.push(pool);
    const basePath = url.pathname.replace(/\/+$/, '');
    const label = raw.replace(/\/+$/, '');
    return {
      label,
      async get(path, signal) {
        try {
          const res = await pool.request({
            path: basePath + path,
            method: 'GET',
            headers: { ...options.headers, accept: '*/*' },
            headersTimeout: options.timeoutMs ?? 60_000,
            bodyTimeout: options.timeoutMs ?? 60_000,
            ...(signal ? { signal } : {}),
          });
          const body = Buffer.from(await res.body.arrayBuffer());
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers[k.toLowerCase()] = v;
          return { statusCode: res.statusCode, headers, body };
        } catch (err) {
          throw new PodflameError(
            'AGENT_UNREACHABLE',
            `cannot reach the agent at ${label}: ${err instanceof Error ? err.message : String(err)}; is it running?`,
            { cause: err, details: { url: label } },
          );
        }
      },
    };
  });
  return {
    endpoints,
    skipped: [],
    close: async () => {
      await Promise.all(pools.map((p) => p.close()));
    },
  };
}

export interface ClusterEndpointOptions {
  kubeconfig?: string;
  context?: string;
  env?: Readonly<Record<string, string | undefined>>;
  via?: Via;
  agentNamespace?: string;
  /** Default 60 000 ms. */
  timeoutMs?: number;
}

/** Every agent pod of the cluster (one per node). Loads the Kubernetes client only when called. */
export async function clusterEndpoints(
  options: ClusterEndpointOptions,
): Promise<HistoryEndpoints & { namespace: string }> {
  const [
    { loadKubeConfig },
    { KubeLookup },
    { listAgentPods, DEFAULT_AGENT_NAMESPACE },
    credentialsModule,
    router,
    request,
  ] = await Promise.all([
    import('../kube/kubeconfig.js'),
    import('../kube/kube-lookup.js'),
    import('../kube/agent-discovery.js'),
    import('../kube/api-credentials.js'),
    import('../routing/agent-router.js'),
    import('../routing/agent-request.js'),
  ]);
  const loaded = loadKubeConfig({
    ...(options.kubeconfig !== undefined ? { kubeconfig: options.kubeconfig } : {}),
    ...(options.context !== undefined ? { context: options.context } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
  const agentNamespace = options.agentNamespace ?? DEFAULT_AGENT_NAMESPACE;
  const lookup = new KubeLookup(loaded.kubeConfig);
  const agents = await listAgentPods(lookup, agentNamespace);
  if (agents.length === 0) {
    throw new PodflameError(
      'NO_AGENT_ON_NODE',
      `no podflame agent pods in namespace ${agentNamespace}: is the agent DaemonSet installed? ` +
        `(kubectl -n ${agentNamespace} get daemonsets)`,
      { details: { agentNamespace } },
    );
  }
  const credentials = await credentialsModule.resolveApiCredentials(loaded.kubeConfig);
  const agentRouter = new router.AgentRouter({ via: options.via ?? 'auto' });
  const timeoutMs = options.timeoutMs ?? 60_000;
  const endpoints: HistoryEndpoint[] = [];
  const skipped: HistoryEndpoints['skipped'] = [];
  for (const agent of agents) {
    const label = `node ${agent.nodeName}`;
    if (!agent.ready || agent.podIP === undefined) {
      skipped.push({ label, reason: `agent pod ${agent.name} is not ready` });
      continue;
    }
    endpoints.push({
      label,
      async get(path, signal) {
        const route = await agentRouter.route(agent, credentials, signal);
        const leased = agentRouter.lease(route);
        try {
          const answer = await request.callAgent(leased.pool, route, {
            method: 'GET',
            path,
            timeoutMs,
            ...(signal ? { signal } : {}),
          });
          if (answer.statusCode >= 400) {
            // The API server's own refusals on the proxy path (401/403/503) become errors that say what to do.
            const body = answer.body.toString('utf8');
            if (!body.includes('"error"')) throw request.errorFromAnswer(route, answer);
          }
          return answer;
        } finally {
          leased.release();
        }
      },
    });
  }
  return { endpoints, skipped, namespace: loaded.namespace, close: () => agentRouter.close() };
}
