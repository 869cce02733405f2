/**
 * One JSON request to the Kubernetes API server with the caller's credentials (api-credentials.ts), for the calls
 * @kubernetes/client-node makes awkward: server-side apply of objects whose kinds are known in advance (its
 * KubernetesObjectApi would first ask the API's discovery for each kind), deletes, and reads by path. An answer
 * outside 2xx is a PodflameError that says what the API server said: 401 UNAUTHENTICATED, 403 FORBIDDEN, else
 * KUBERNETES_API_ERROR (details: status, reason); `allowNotFound` makes a 404 an answer instead.
 */
import http from 'node:http';
import https from 'node:https';
import { PodflameError } from '../../shared/errors.js';
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
  signal?: AbortSignal;
}

export interface ApiAnswer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: Record<string, any> | undefined;
}

export async function apiRequest(credentials: ApiCredentials, request: ApiRequest): Promise<ApiAnswer> {
  const url = new URL(request.path, `${credentials.server}/`);
  const text = request.body === undefined ? undefined : JSON.stringify(request.body);
  const headers: Record<string, string> = { ...credentials.headers, accept: 'application/json' };
  if (text !== undefined) {
    headers['content-type'] = request.contentType ?? 'application/json';
    headers['content-length'] = String(Buffer.byteLength(text));
  }
  const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const transport = url.protocol === 'https:' ? https : http;
    const req = transport.request(url, {
      method: request.method,
      headers,
      ...(url.protocol === 'https:' ? credentials.tls : {}),
      ...(request.signal ? { signal: request.signal } : {}),
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(text);
  }).catch((err: unknown) => {
    if (request.signal?.aborted) throw err;
    throw new PodflameError(
      'KUBERNETES_API_ERROR',
      `Cannot reach the Kubernetes API server at ${credentials.server}: ${(err as Error).message}; check the ` +
        'kubeconfig context (kubectl cluster-info)',
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
  const said = typeof body?.message === 'string' ? body.message : answer.text.slice(0, 200) || `HTTP ${answer.status}`;
  const what = `${request.method} ${url.pathname}`;
  const details = { status: answer.status, reason: body?.reason as unknown };
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
