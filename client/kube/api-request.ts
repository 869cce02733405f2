/**
 * One JSON request to the Kubernetes API server with the caller's credentials (api-credentials.ts), for the calls
 * @kubernetes/client-node makes awkward: server-side apply of objects whose kinds are known in advance (its
 * KubernetesObjectApi would first ask the API's discovery for each kind), deletes, and reads by path. An answer
 * outside 2xx is a PodflameError that says what the API server said: 401 UNAUTHENTICATED, 403 FORBIDDEN, else
 * KUBERNETES_API_ERROR (details: status, reason); `allowNotFound` makes a 404 an answer instead.
 *
 * The API server is not trusted to be well-behaved: an answer is read up to `maxBodyBytes` (then KUBERNETES_API_ERROR,
 * rather than a heap exhausted by a 3 GiB answer), a request gets `timeoutMs` to be answered in full (then
 * KUBERNETES_API_ERROR, rather than a CLI that hangs on a stuck server), a cancelled one (the caller's signal:
 * Ctrl-C) is CAPTURE_ABORTED as profile's is, and what the server says is cut short and stripped of control
 * characters (terminalSafe) before it goes into a message.
 */
import http from 'node:http';
import https from 'node:https';
import { PodflameError } from '../../shared/errors.js';
import { terminalSafe } from '../../shared/terminal-safe.js';
import type { ApiCredentials } from './api-credentials.js';

export interface ApiRequest {
  method: 'GET' | 'PATCH' | 'DELETE' | 'POST';
  /** Path and query, e.g. `/apis/apps/v1/namespaces/podflame/daemonsets/podflame-agent`. */
  path: string;
  /** Sent as JSON text. */
  body?: unknown;
  /** Content type of the body; default application/json. */
  contentType?: string;
  /** A 404 answers `{status: 404}` instead of throwing. */
  allowNotFound?: boolean;
  /** How long the whole exchange may take, in ms. Default 30000. */
  timeoutMs?: number;
  /** The largest answer read, in bytes. Default 8 MiB (an install's objects are a few KiB). */
  maxBodyBytes?: number;
  signal?: AbortSignal;
}

export const DEFAULT_API_REQUEST_OPTIONS = Object.freeze({ timeoutMs: 30_000, maxBodyBytes: 8 * 1024 * 1024 });

export interface ApiAnswer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: Record<string, any> | undefined;
}

/** The server's URL with `path` (and query) after the server's own path: https://host/k8s/clusters/c-1 + /api/v1. */
export function apiUrl(server: string, path: string): URL {
  const base = new URL(server);
  const prefix = base.pathname.replace(/\/+$/, '');
  return new URL(`${base.origin}${prefix}${path.startsWith('/') ? path : `/${path}`}`);
}

/** Why a request ended without an answer, set before the request is destroyed. */
type Ending = { kind: 'timeout' } | { kind: 'too-large' } | undefined;

export async function apiRequest(credentials: ApiCredentials, request: ApiRequest): Promise<ApiAnswer> {
  const url = apiUrl(credentials.server, request.path);
  const what = `${request.method} ${url.pathname}`;
  const timeoutMs = request.timeoutMs ?? DEFAULT_API_REQUEST_OPTIONS.timeoutMs;
  const maxBodyBytes = request.maxBodyBytes ?? DEFAULT_API_REQUEST_OPTIONS.maxBodyBytes;
  const text = request.body === undefined ? undefined : JSON.stringify(request.body);
  const headers: Record<string, string> = { ...credentials.headers, accept: 'application/json' };
  if (text !== undefined) {
    headers['content-type'] = request.contentType ?? 'application/json';
    headers['content-length'] = String(Buffer.byteLength(text));
  }
  let ending: Ending = undefined as Ending;
  const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const transport = url.protocol === 'https:' ? https : http;
    const req = transport.request(url, {
      method: request.method,
      headers,
      ...(url.protocol === 'https:' ? credentials.tls : {}),
      ...(request.signal ? { signal: request.signal } : {}),
    });
    const fail = (err: unknown): void => {
      clearTimeout(timer);
      reject(err as Error);
    };
    // Ends the exchange for a reason of ours: the first reason stands, and the request is rejected at once (a
    // destroyed request need not emit another error).
    const end = (why: NonNullable<Ending>, message: string): void => {
      ending ??= why;
      const err = new Error(message);
      fail(err);
      req.destroy(err);
    };
    const timer = setTimeout(() => end({ kind: 'timeout' }, 'no answer in time'), timeoutMs);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBodyBytes) {
          end({ kind: 'too-large' }, 'answer too large');
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', fail);
    });
    req.on('error', fail);
    req.end(text);
  }).catch((err: unknown) => {
    if (request.signal?.aborted) {
      const reason = request.signal.reason instanceof Error ? request.signal.reason.message : 'cancelled';
      throw new PodflameError('CAPTURE_ABORTED', `${what} was cancelled (${reason})`, { cause: err });
    }
    if (ending?.kind === 'too-large') {
      throw new PodflameError(
        'KUBERNETES_API_ERROR',
        `The Kubernetes API server's answer to ${what} is larger than ${formatBytes(maxBodyBytes)}, more than any ` +
          'answer podflame asks for: check that the kubeconfig server is a Kubernetes API server (kubectl cluster-info)',
        { cause: err, details: { maxBodyBytes } },
      );
    }
    if (ending?.kind === 'timeout') {
      throw new PodflameError(
        'KUBERNETES_API_ERROR',
        `The Kubernetes API server at ${credentials.server} did not answer ${what} within ` +
          `${Number((timeoutMs / 1000).toFixed(1))}s: check that it is up (kubectl cluster-info), or give a longer ` +
          '--timeout',
        { cause: err, details: { timeoutMs } },
      );
    }
    throw new PodflameError(
      'KUBERNETES_API_ERROR',
      `Cannot reach the Kubernetes API server at ${credentials.server}: ${terminalSafe((err as Error).message)}; ` +
        'check the kubeconfig context (kubectl cluster-info)',
      { cause: err },
    );
  });
  let body: ApiAnswer['body'];
  try {
    body = answer.text === '' ? undefined : (JSON.parse(answer.text) as ApiAnswer['body']);
  } catch {
    body = undefined;
  }
  if (answer.status >= 200 && answer.status < 300) return { status: answer.status, body };
  if (answer.status === 404 && request.allowNotFound) return { status: 404, body };
  const said = terminalSafe(typeof body?.message === 'string' ? body.message : answer.text || `HTTP ${answer.status}`);
  const reason = typeof body?.reason === 'string' ? terminalSafe(body.reason, 100) : undefined;
  const details = { status: answer.status, reason };
  if (answer.status === 401) {
    throw new PodflameError(
      'UNAUTHENTICATED',
      `The Kubernetes API server refused your credentials (${what}): ${said}`,
      {
        details,
      },
    );
  }
  if (answer.status === 403) {
    throw new PodflameError(
      'FORBIDDEN',
      `The Kubernetes API server forbids ${what}: ${said}; installing podflame needs cluster-admin or equivalent`,
      { details },
    );
  }
  throw new PodflameError(
    'KUBERNETES_API_ERROR',
    `The Kubernetes API server answered ${what} with ${answer.status}: ${said}`,
    {
      details,
    },
  );
}

function formatBytes(n: number): string {
  return n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)} MiB` : `${n} bytes`;
}
