/**
 * The agents a history command asks: the ones given with `--agent URL` (local mode), or every agent pod of the
 * cluster, found and reached as `podflame profile` reaches them (agent pods by label in the agents' namespace,
 * direct or through the API server's pod proxy). Each endpoint answers GET requests for agent paths through the
 * client's transport: a 2xx answer, or the agent's error as the same PodflameError.
 */
import { PodflameError } from '../../shared/errors.js';
import type { AgentTlsOptions, Via } from '../routing/agent-route.js';
import { urlEndpoint } from '../transport/agent-endpoint.js';
import { DEFAULT_MAX_ANSWER_BYTES, DEFAULT_MAX_JSON_ANSWER_BYTES } from '../transport/answer-limits.js';
import type { AgentAnswer } from '../transport/agent-errors.js';
import { AgentTransport } from '../transport/agent-transport.js';

export interface HistoryEndpoint {
  /** How the agent is named in messages: its node, or its URL. */
  label: string;
  /** The agent pod's node (cluster endpoints only). */
  nodeName?: string;
  /**
   * GETs an agent path; a non-2xx answer is thrown as the error it stands for. `answer`: what is asked, for its byte
   * cap — `history` (default: lists and merged graphs, a capture's cap) or `json` (a small JSON answer: /readyz).
   */
  get(path: string, signal?: AbortSignal, answer?: AnswerKind): Promise<AgentAnswer>;
}

/** What an endpoint is asked for, which sets how many bytes of its answer are read. */
export type AnswerKind = 'history' | 'json';

/** The byte cap of an answer of that kind, and what its OUTPUT_TOO_LARGE says to do. */
function answerCap(kind: AnswerKind = 'history'): { maxBodyBytes: number; tooLargeHint: AnswerKind } {
  return {
    maxBodyBytes: kind === 'history' ? DEFAULT_MAX_ANSWER_BYTES : DEFAULT_MAX_JSON_ANSWER_BYTES,
    tooLargeHint: kind,
  };
}

export interface HistoryEndpoints {
  endpoints: HistoryEndpoint[];
  /** Agents that could not be asked (not ready, no IP), with why. */
  skipped: { label: string; reason: string }[];
  close(): Promise<void>;
}

export interface UrlEndpointsOptions {
  headers?: Readonly<Record<string, string>>;
  ca?: string | Buffer;
  /** Send a token in `headers` to an http:// agent off loopback all the same. Default false (INSECURE_TRANSPORT). */
  insecureSendTokenOverHttp?: boolean;
  /** Default 60 000 ms. */
  timeoutMs?: number;
  /** The transport to send through; its owner closes it. Default: one of these endpoints' own (2 connections each). */
  transport?: AgentTransport;
}

/** Closes the transport only when it was made here. */
function ownTransport(
  given: AgentTransport | undefined,
  make: () => AgentTransport,
): [AgentTransport, () => Promise<void>] {
  if (given) return [given, () => Promise.resolve()];
  const made = make();
  return [made, () => made.close()];
}

/** An agent at a URL (`--agent http://127.0.0.1:7070`). */
export function urlEndpoints(urls: readonly string[], options: UrlEndpointsOptions = {}): HistoryEndpoints {
  const targets = urls.map((raw) =>
    urlEndpoint(raw, {
      ...(options.headers ? { headers: options.headers } : {}),
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
      ...(options.insecureSendTokenOverHttp ? { sendTokenOverHttp: true } : {}),
    }),
  );
  const [transport, close] = ownTransport(options.transport, () => new AgentTransport({ connectionsPerAgent: 2 }));
  const timeoutMs = options.timeoutMs ?? 60_000;
  const endpoints = targets.map((endpoint): HistoryEndpoint => ({
    label: endpoint.url,
    get: (path, signal, answer) =>
      transport.request(endpoint, {
        method: 'GET',
        path,
        timeoutMs,
        ...answerCap(answer),
        ...(signal ? { signal } : {}),
      }),
  }));
  return { endpoints, skipped: [], close };
}

export interface ClusterEndpointOptions {
  kubeconfig?: string;
  context?: string;
  env?: Readonly<Record<string, string | undefined>>;
  via?: Via;
  agentNamespace?: string;
  /** HTTPS to the agents with this CA; default the one the cluster publishes (ConfigMap podflame-agent-ca). */
  agentTls?: AgentTlsOptions;
  /** Send the token to agents that serve plain HTTP all the same. Default false (INSECURE_TRANSPORT). */
  insecureSendTokenOverHttp?: boolean;
  /** Send the agents a token minted for this audience (TokenRequest) instead of the kubeconfig's. */
  agentTokenAudience?: string;
  /** Default 60 000 ms. */
  timeoutMs?: number;
  /** The transport to send through; its owner closes it. Default: one of these endpoints' own. */
  transport?: AgentTransport;
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
    { readAgentCa },
    { chooseAgentTls },
    { AudienceTokenSource },
  ] = await Promise.all([
    import('../kube/kubeconfig.js'),
    import('../kube/kube-lookup.js'),
    import('../kube/agent-discovery.js'),
    import('../kube/api-credentials.js'),
    import('../routing/agent-router.js'),
    import('../kube/agent-ca.js'),
    import('../routing/agent-tls.js'),
    import('../kube/audience-token.js'),
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
  const apiCredentials = await credentialsModule.resolveApiCredentials(loaded.kubeConfig);
  const credentials =
    options.agentTokenAudience === undefined
      ? apiCredentials
      : {
          ...apiCredentials,
          bearerToken: await new AudienceTokenSource(loaded.kubeConfig, {
            audience: options.agentTokenAudience,
          }).token(),
        };
  const tls = await chooseAgentTls(
    options.agentTls,
    () => readAgentCa(loaded.kubeConfig, agentNamespace),
    options.insecureSendTokenOverHttp === true,
  );
  const agentRouter = new router.AgentRouter({
    via: options.via ?? 'auto',
    ...(tls.agentTls ? { agentTls: tls.agentTls } : {}),
    tokenPolicy: tls.tokenPolicy,
  });
  const [transport, close] = ownTransport(options.transport, () => new AgentTransport());
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
      nodeName: agent.nodeName,
      async get(path, signal, answer) {
        const route = await agentRouter.route(agent, credentials, signal);
        return transport.request(route, {
          method: 'GET',
          path,
          timeoutMs,
          ...answerCap(answer),
          ...(signal ? { signal } : {}),
        });
      },
    });
  }
  return { endpoints, skipped, namespace: loaded.namespace, close };
}
