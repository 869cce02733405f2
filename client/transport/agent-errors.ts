/**
 * What went wrong talking to an agent, as the PodflameError to show, the same for every caller (single captures,
 * fan-outs, history):
 * - the agent's own JSON error `{error: {code, message, details}}` comes back as the same class with the same code,
 *   message and details (plus where it came from);
 * - the API server's v1.Status answers on the pod proxy (401, 403 on pods/proxy, 503 when it cannot reach the pod)
 *   say what to do instead;
 * - any other answer is UNAUTHENTICATED (401), FORBIDDEN (403) or AGENT_UNREACHABLE: something else answered;
 * - no answer: CAPTURE_ABORTED (cancelled), CAPTURE_TIMEOUT (headers or body too slow), AGENT_UNREACHABLE (no
 *   connection), each with a hint for how the agent was reached.
 */
import { HEADERS } from '../../shared/api.js';
import { PodflameError, errorFromBody } from '../../shared/errors.js';
import { terminalSafe } from '../../shared/terminal-safe.js';
import { endpointName, type AgentEndpoint } from './agent-endpoint.js';

/**
 * How much of an agent's own error message is kept, in characters: its messages name containers, pods and flags, a
 * few hundred characters; the rest of a longer one is cut.
 */
const MAX_AGENT_MESSAGE_CHARS = 1000;

/** An agent's answer, read to the end; header names in lower case. */
export interface AgentAnswer {
  statusCode: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** The whole answer (headers and body) took longer than the request allows: a slow trickle of bytes as well. */
export class AnswerDeadlineError extends Error {
  readonly code = 'ANSWER_DEADLINE';
  /** Whether the headers had come: then it is the body that did not end in time. */
  readonly headersReceived: boolean;
  /** Bytes of body read by then. */
  readonly bodyBytes: number;
  constructor(timeoutMs: number, headersReceived: boolean, bodyBytes: number, cause: unknown) {
    super(`the whole answer did not arrive within ${timeoutMs} ms`, { cause });
    this.headersReceived = headersReceived;
    this.bodyBytes = bodyBytes;
  }
}

/** Added to the details of every error about an endpoint. */
function whereDetails(endpoint: AgentEndpoint): Record<string, unknown> {
  return endpoint.via === 'url'
    ? { url: endpoint.url }
    : { node: endpoint.node, via: endpoint.via, agentPod: endpoint.agentPod };
}

/** What to try when no connection opens. */
function unreachableHint(endpoint: AgentEndpoint): string {
  switch (endpoint.via) {
    case 'url':
      return 'is podflame-agent running and listening there?';
    case 'direct':
      return 'the pod network may not be reachable from here: try --via proxy';
    case 'proxy':
      return 'check that the API server is reachable (kubectl cluster-info)';
  }
}

// Node's codes for a certificate that did not verify (tls.connect's checks): the handshake failed, nothing was sent.
const CERTIFICATE_ERRORS =
  /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|CERT_UNTRUSTED|ERR_TLS_CERT_ALTNAME_INVALID)$/;

/** What to make of a certificate that did not verify: not a network problem, so not "try --via proxy". */
const CERTIFICATE_HINT =
  "its certificate did not verify against the agents' CA (--ca-file, else ConfigMap podflame-agent-ca): something " +
  'other than the agent may be answering at that address, or the CA or certificate name is out of date; nothing was sent';

/**
 * Bytes a second below which a body is "too slow" rather than "too large to finish in time": far below any network
 * that carries a capture, far above a trickle meant to hold the CLI.
 */
const SLOW_BODY_BYTES_PER_SECOND = 64 * 1024;

/** Why the body did not end in time, in the words of the bytes that came: a trickle, or a flood. */
function bodyLateness(late: AnswerDeadlineError, timeoutMs: number): string {
  return late.bodyBytes < (SLOW_BODY_BYTES_PER_SECOND * timeoutMs) / 1000
    ? ' (its body came too slowly)'
    : ` (its body was still coming after ${late.bodyBytes} bytes: too large to read in that time)`;
}

/** A request that got no answer: cancelled, too slow, or no connection. */
export function errorFromFailure(
  endpoint: AgentEndpoint,
  err: unknown,
  request: { timeoutMs: number; signal?: AbortSignal | undefined },
): PodflameError {
  const name = endpointName(endpoint);
  if (request.signal?.aborted) {
    return new PodflameError('CAPTURE_ABORTED', `the request to ${name} was cancelled`, { cause: err });
  }
  const code = (err as { code?: unknown } | null)?.code;
  const errorCode = typeof code === 'string' ? code : undefined;
  const details = { ...whereDetails(endpoint), ...(errorCode ? { errorCode } : {}) };
  if (
    errorCode === 'UND_ERR_HEADERS_TIMEOUT' ||
    errorCode === 'UND_ERR_BODY_TIMEOUT' ||
    errorCode === 'ANSWER_DEADLINE'
  ) {
    const late = err instanceof AnswerDeadlineError && err.headersReceived ? err : undefined;
    return new PodflameError(
      'CAPTURE_TIMEOUT',
      `${name} did not answer within ${Math.round(request.timeoutMs / 1000)} s` +
        (late ? bodyLateness(late, request.timeoutMs) : ''),
      { cause: err, details: { ...details, ...(late ? { bodyBytes: late.bodyBytes } : {}) } },
    );
  }
  // A URL names where it is; a route's name does not, so the origin tried is added.
  const where = endpoint.via === 'url' ? name : `${name} at ${endpoint.origin}`;
  return new PodflameError(
    'AGENT_UNREACHABLE',
    `cannot reach ${where}: ${err instanceof Error ? err.message : String(err)}` +
      `${errorCode ? ` (${errorCode})` : ''}; ` +
      (errorCode !== undefined && CERTIFICATE_ERRORS.test(errorCode) ? CERTIFICATE_HINT : unreachableHint(endpoint)),
    { cause: err, details },
  );
}

/** A non-2xx answer → the error to show: the agent's own, or the API server's on the proxy path, or neither. */
export function errorFromAnswer(endpoint: AgentEndpoint, answer: AgentAnswer): PodflameError {
  const text = answer.body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const name = endpointName(endpoint);
  const details = {
    ...whereDetails(endpoint),
    httpStatus: answer.statusCode,
    // The node the answering agent names (X-Podflame-Node); absent when something else (the API server) answered.
    ...(answer.headers[HEADERS.node] ? { answeredNode: answer.headers[HEADERS.node] } : {}),
  };
  // e.g. {"error":{"code":"TARGET_NOT_FOUND","message":"pod 3f1c… has no container 'web' …","details":{…}}}
  const agentError = (parsed as { error?: unknown } | undefined)?.error;
  if (agentError && typeof agentError === 'object') {
    // Whatever answers there wrote these words, and they end up on a terminal: no escape sequences, no bidi tricks.
    const e = errorFromBody(parsed, text);
    e.message = terminalSafe(e.message, MAX_AGENT_MESSAGE_CHARS);
    // An --agent URL was named by the user, so the agent's words stand alone; a route's answer says whose it is,
    // since a fan-out asks agents nobody named.
    if (endpoint.via === 'url') return new PodflameError(e.code, e.message, { details: { ...e.details, ...details } });
    const context =
      e.code === 'UNAUTHENTICATED' || e.code === 'FORBIDDEN' ? `${name} refused the request` : `${name} answered`;
    return new PodflameError(e.code, `${context}: ${e.message}`, { details: { ...e.details, ...details }, cause: e });
  }
  // e.g. {"kind":"Status","apiVersion":"v1","status":"Failure","message":"pods \"…\" is forbidden: …","code":403}
  const status = parsed as { kind?: unknown; message?: unknown } | undefined;
  if (endpoint.via === 'proxy' && status?.kind === 'Status') {
    const said = typeof status.message === 'string' ? terminalSafe(status.message) : `HTTP ${answer.statusCode}`;
    if (answer.statusCode === 401) {
      return new PodflameError(
        'UNAUTHENTICATED',
        `The Kubernetes API server refused your credentials on the pod proxy to ${name} (${said}): ` +
          'log in again or check the user in your kubeconfig',
        { details },
      );
    }
    if (answer.statusCode === 403) {
      return new PodflameError(
        'FORBIDDEN',
        `The Kubernetes API server does not let you use the pod proxy to ${name}: ${said}. ` +
          `Ask for create/get on pods/proxy in namespace of the agent, or use --via direct from inside the cluster`,
        { details },
      );
    }
    return new PodflameError(
      'AGENT_UNREACHABLE',
      `The Kubernetes API server could not pass the request on to ${name}: ${said}`,
      { details },
    );
  }
  const snippet = terminalSafe(text, 200);
  return new PodflameError(
    answer.statusCode === 401 ? 'UNAUTHENTICATED' : answer.statusCode === 403 ? 'FORBIDDEN' : 'AGENT_UNREACHABLE',
    `${name} answered HTTP ${answer.statusCode}: ${snippet || '(empty body)'}`,
    { details },
  );
}
