/**
 * The transport's rule for bearer tokens: a token goes to an agent only over TLS. On the direct path and to an
 * `--agent` URL that is an `https:` origin; through the API server's pod proxy it is the `https:` pod reference, since
 * the API server passes `X-Podflame-Authorization` on to the pod as it got it, over HTTP unless told otherwise. A
 * token is what the API server accepts as its owner: whoever answers at a plain-HTTP agent address (a compromised
 * node, a pod holding a recycled IP) or listens on the way could act as that user, admins included.
 * Exceptions: an `--agent` URL on loopback (typed by the user; the traffic stays on the machine) and an endpoint
 * marked `sendTokenOverHttp` (`--insecure-send-token-over-http`).
 */
import { PodflameError } from '../../shared/errors.js';
import { endpointName, type AgentEndpoint } from './agent-endpoint.js';

const OPT_OUT = '--insecure-send-token-over-http';

/** Throws INSECURE_TRANSPORT when the request would carry a token to the agent over plain HTTP. */
export function assertTokenTransport(endpoint: AgentEndpoint): void {
  if (endpoint.sendTokenOverHttp === true || !carriesAgentToken(endpoint) || agentHopIsTls(endpoint)) return;
  if (endpoint.via === 'url' && isLoopbackHost(new URL(endpoint.origin).hostname)) return;
  const why = endpoint.noTlsReason ? ` (${endpoint.noTlsReason})` : '';
  const risk =
    'whoever answers at that address, or listens on the way, would get a credential the API server accepts as you';
  const message = refusal(endpoint, why, risk);
  throw new PodflameError('INSECURE_TRANSPORT', message, {
    details: {
      via: endpoint.via,
      origin: endpoint.origin,
      ...(endpoint.via === 'url' ? {} : { node: endpoint.node, agentPod: endpoint.agentPod }),
    },
  });
}

/** Whether a header meant for the agent carries a credential (on the proxy path Authorization is the API server's). */
function carriesAgentToken(endpoint: AgentEndpoint): boolean {
  const names = Object.keys(endpoint.headers).map((h) => h.toLowerCase());
  if (endpoint.via === 'proxy') return names.includes('x-podflame-authorization');
  return names.includes('authorization') || names.includes('x-podflame-authorization');
}

function agentHopIsTls(endpoint: AgentEndpoint): boolean {
  // …/pods/https:NAME:PORT/proxy: the API server speaks TLS to the pod.
  if (endpoint.via === 'proxy') return /\/pods\/https:[^/]+\/proxy$/.test(endpoint.basePath);
  return endpoint.origin.startsWith('https:');
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

function refusal(endpoint: AgentEndpoint, why: string, risk: string): string {
  const serveHttps =
    'Make the agents serve HTTPS (the manifests do: see Security in the README) and podflame finds their CA in the ' +
    "ConfigMap podflame-agent-ca of the agents' namespace, or pass --ca-file FILE";
  if (endpoint.via === 'url') {
    return (
      `refusing to send a bearer token to ${endpoint.url} over plain HTTP: ${risk}. Start the agent with ` +
      `--tls-cert/--tls-key and use an https:// URL (with --ca-file FILE), or pass ${OPT_OUT}`
    );
  }
  if (endpoint.via === 'proxy') {
    return (
      `refusing to send your bearer token to ${endpointName(endpoint)}: the agent serves plain HTTP${why}, and the ` +
      `API server's pod proxy passes X-Podflame-Authorization on to it unencrypted; ${risk}. ${serveHttps}; to send ` +
      `it anyway, pass ${OPT_OUT}`
    );
  }
  return (
    `refusing to send your bearer token to ${endpointName(endpoint)} over plain HTTP at ${endpoint.origin}${why}: ` +
    `${risk}. ${serveHttps} (--via proxy does not help while the agents serve HTTP); to send it anyway, pass ${OPT_OUT}`
  );
}
