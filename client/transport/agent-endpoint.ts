/**
 * Where an agent is and how to reach it: the one thing every request of the transport is addressed to. An agent is
 * reached in one of three ways, and its messages, hints and pool follow from which:
 * - `url`: at a URL someone gave (`podflame profile --agent http://127.0.0.1:7070`, `podflame history --agent URL`);
 * - `direct`: on its pod's IP and port, found through the Kubernetes API (callers inside the pod network);
 * - `proxy`: through the API server's pod proxy (laptops).
 * The routes (`direct`, `proxy`) are made by routing/agent-route.ts; a URL endpoint by `urlEndpoint` here.
 */
import { PodflameError } from '../../shared/errors.js';

/** TLS options for an `https:` origin (a kubeconfig's CA, client certificate and server name, or an agent's CA). */
export interface EndpointTls {
  ca?: Buffer | string;
  cert?: Buffer;
  key?: Buffer;
  /** False only when a kubeconfig says insecure-skip-tls-verify. */
  rejectUnauthorized?: boolean;
  servername?: string;
}

interface EndpointBase {
  /** Scheme, host and port, e.g. `http://10.1.2.3:7070` or `https://api.example:6443`. */
  origin: string;
  /** Prefix of every agent path (`/v1/...`): empty, a proxy's path prefix, or the API server's pod proxy path. */
  basePath: string;
  /** Headers sent with every request (credentials). */
  headers: Record<string, string>;
  /** TLS options for an `https:` origin. */
  tls: EndpointTls;
  /**
   * Send the bearer token even though the agent is reached over plain HTTP (`--insecure-send-token-over-http`):
   * whoever answers at the agent's address, or listens on the way, gets it. Default false: the transport refuses
   * (token-guard.ts).
   */
  sendTokenOverHttp?: boolean;
  /** Why the route has no TLS (e.g. the CA ConfigMap was not found), for the refusal's message. Default none. */
  noTlsReason?: string;
}

/** An agent at a URL someone gave. */
export interface UrlEndpoint extends EndpointBase {
  via: 'url';
  /** The URL as given, without trailing slashes: how messages name the agent. */
  url: string;
}

/** The agent pod of a node, found through the Kubernetes API and reached directly or through the pod proxy. */
export interface RoutedEndpoint extends EndpointBase {
  via: 'direct' | 'proxy';
  node: string;
  agentPod: string;
}

export type AgentEndpoint = UrlEndpoint | RoutedEndpoint;

export interface UrlEndpointOptions {
  /** Headers sent with every request (e.g. a bearer token). Default none. */
  headers?: Readonly<Record<string, string>>;
  /** CA certificate(s), PEM, that an https:// agent's certificate must chain to. Default: the system's CAs. */
  ca?: string | Buffer;
  /** Send a token in `headers` to an http:// agent off loopback all the same. Default false (refused). */
  sendTokenOverHttp?: boolean;
}

/** `--agent URL` → an endpoint; a URL that is not http(s) is a usage error. An agent behind a path prefix keeps it. */
export function urlEndpoint(url: string, options: UrlEndpointOptions = {}): UrlEndpoint {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    throw new PodflameError('USAGE', `--agent must be a URL such as http://127.0.0.1:7070, got '${url}'`, {
      cause: err,
    });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new PodflameError('USAGE', `--agent must be an http:// or https:// URL, got '${url}'`);
  }
  return {
    via: 'url',
    url: url.replace(/\/+$/, ''),
    origin: parsed.origin,
    // http://host/prefix/ + /v1/profiles → /prefix/v1/profiles
    basePath: parsed.pathname.replace(/\/+$/, ''),
    headers: { ...options.headers },
    tls: options.ca !== undefined ? { ca: options.ca } : {},
    ...(options.sendTokenOverHttp ? { sendTokenOverHttp: true } : {}),
  };
}

/** How messages name the agent. */
export function endpointName(endpoint: AgentEndpoint): string {
  return endpoint.via === 'url'
    ? `the agent at ${endpoint.url}`
    : `the podflame agent on node ${endpoint.node} (pod ${endpoint.agentPod}, via ${endpoint.via})`;
}

/**
 * Which pool serves the endpoint: one per agent and origin. A node's agent reached directly and through the proxy
 * gets two pools (two origins), and each node has its own pool to the API server, as undici's Agent keeps one pool
 * per origin.
 */
export function poolKey(endpoint: AgentEndpoint): string {
  return endpoint.via === 'url' ? endpoint.origin : `${endpoint.node} ${endpoint.origin}`;
}
