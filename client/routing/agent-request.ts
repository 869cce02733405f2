/**
 * Sends one request to a node's agent over a route and reads the whole answer. Failures become PodflameErrors
 * that name the node and the path taken: the agent's own JSON errors keep their code; the API server's v1.Status
 * answers on the proxy path (401, 403 on pods/proxy, 503 when it cannot reach the pod) say what to do instead.
 */
import type { Dispatcher } from 'undici';
import { API_PREFIX, HEADERS } from '../../shared/api.js';
import type { ProfileRequest } from '../../shared/api.js';
import { PodflameError, errorFromBody } from '../../shared/errors.js';
import type { AgentRoute } from './agent-route.js';
import { profileAnswerFrom, type ProfileAnswer } from '../profile-answer.js';

export type { ProfileAnswer } from '../profile-answer.js';

export interface AgentAnswer {
  statusCode: number;
  headers: Record<string, string>;
  body: Buffer;
}

function describe(route: AgentRoute): string {
  return `the podflame agent on node ${route.node} (pod ${route.agentPod}, via ${route.via})`;
}

/** Sends `method path` (an agent path such as `/v1/profiles`) and reads the answer; throws on transport failure. */
export async function callAgent(
  dispatcher: Dispatcher,
  route: AgentRoute,
  request: { method: 'GET' | 'POST'; path: string; body?: unknown; timeoutMs: number; signal?: AbortSignal },
): Promise<AgentAnswer> {
  const headers: Record<string, string> = { ...route.headers, accept: '*/*' };
  let body: string | undefined;
  if (request.body !== undefined) {
    body = JSON.stringify(request.body);
    headers['content-type'] = 'application/json';
  }
  try {
    const res = await dispatcher.request({
      origin: route.origin,
      path: route.basePath + request.path,
      method: request.method,
      headers,
      body,
      headersTimeout: request.timeoutMs,
      bodyTimeout: request.timeoutMs,
      ...(request.signal ? { signal: request.signal } : {}),
    });
    const bytes = Buffer.from(await res.body.arrayBuffer());
    const flat: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) {
      if (v !== undefined) flat[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
    }
    return { statusCode: res.statusCode, headers: flat, body: bytes };
  } catch (err) {
    if (request.signal?.aborted) {
      throw new PodflameError('CAPTURE_ABORTED', `The request to ${describe(route)} was cancelled`, { cause: err });
    }
    const code = (err as { code?: string }).code;
    const hint =
      route.via === 'direct'
        ? 'the pod network may not be reachable from here: try --via proxy'
        : 'check that the API server is reachable (kubectl cluster-info)';
    const timedOut = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
    throw new PodflameError(
      timedOut ? 'CAPTURE_TIMEOUT' : 'AGENT_UNREACHABLE',
      timedOut
        ? `${describe(route)} did not answer within ${Math.round(request.timeoutMs / 1000)} s`
        : `Could not reach ${describe(route)} at ${route.origin}: ${(err as Error).message}; ${hint}`,
      { cause: err, details: { node: route.node, via: route.via } },
    );
  }
}

/** `POST /v1/profiles` and the capture's metadata from the answer's headers. */
export async function requestProfile(
  dispatcher: Dispatcher,
  route: AgentRoute,
  profile: ProfileRequest,
  options: { timeoutMs: number; signal?: AbortSignal },
): Promise<ProfileAnswer> {
  const answer = await callAgent(dispatcher, route, {
    method: 'POST',
    path: `${API_PREFIX}/profiles`,
    body: profile,
    ...options,
  });
  if (answer.statusCode < 200 || answer.statusCode >= 300) throw errorFromAnswer(route, answer);
  return profileAnswerFrom(answer.body, answer.headers);
}

/** Turns a non-2xx answer into the error to show: the agent's own, or the API server's on the proxy path. */
export function errorFromAnswer(route: AgentRoute, answer: AgentAnswer): PodflameError {
  const text = answer.body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const who = describe(route);
  const details = {
    node: route.node,
    via: route.via,
    agentPod: route.agentPod,
    httpStatus: answer.statusCode,
    // The node the answering agent names (X-Podflame-Node); absent when the API server itself answered.
    ...(answer.headers[HEADERS.node] ? { answeredNode: answer.headers[HEADERS.node] } : {}),
  };
  const agentError = (parsed as { error?: { code?: unknown } } | undefined)?.error;
  if (agentError && typeof agentError === 'object') {
    const e = errorFromBody(parsed, text);
    const context =
      e.code === 'UNAUTHENTICATED' || e.code === 'FORBIDDEN' ? `${who} refused the request` : `${who} answered`;
    return new PodflameError(e.code, `${context}: ${e.message}`, { details: { ...e.details, ...details }, cause: e });
  }
  const status = parsed as { kind?: unknown; message?: unknown } | undefined;
  if (status?.kind === 'Status') {
    const said = typeof status.message === 'string' ? status.message : `HTTP ${answer.statusCode}`;
    if (answer.statusCode === 401) {
      return new PodflameError(
        'UNAUTHENTICATED',
        `The Kubernetes API server refused your credentials on the pod proxy to ${who} (${said}): ` +
          'log in again or check the user in your kubeconfig',
        { details },
      );
    }
    if (answer.statusCode === 403) {
      return new PodflameError(
        'FORBIDDEN',
        `The Kubernetes API server does not let you use the pod proxy to ${who}: ${said}. ` +
          `Ask for create/get on pods/proxy in namespace of the agent, or use --via direct from inside the cluster`,
        { details },
      );
    }
    return new PodflameError(
      'AGENT_UNREACHABLE',
      `The Kubernetes API server could not pass the request on to ${who}: ${said}`,
      { details },
    );
  }
  const snippet = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  return new PodflameError(
    answer.statusCode === 401 ? 'UNAUTHENTICATED' : answer.statusCode === 403 ? 'FORBIDDEN' : 'AGENT_UNREACHABLE',
    `${who} answered HTTP ${answer.statusCode}: ${snippet || '(empty body)'}`,
    { details },
  );
}
