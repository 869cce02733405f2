/**
 * The agent's requests to the Kubernetes API server, over node:http(s): JSON requests and watches, each bounded in
 * time and in size. The agent makes four calls (TokenReview, SubjectAccessReview, get a pod, list and watch the pods
 * of its node); @kubernetes/client-node loads its generated models and every auth provider with any of its APIs, some
 * 70 MiB of the agent's idle memory, so the agent speaks the wire format itself (client-node stays for reading a
 * `--kubeconfig` file, see kubeconfig-endpoint.ts).
 */
import http from 'node:http';
import https from 'node:https';
import type { KubeApiEndpoint } from './api-endpoint.js';

export interface KubeApiClientOptions {
  /** Longest wait for a JSON answer, from the request to its last byte, in ms. Default 30 000. */
  timeoutMs?: number;
  /** Largest JSON answer in bytes (a list of one node's pods is a few MB). Default 64 MiB. */
  maxAnswerBytes?: number;
  /** Largest watch event in bytes (one object; etcd refuses objects over 1.5 MiB). Default 16 MiB. */
  maxEventBytes?: number;
}

export const DEFAULT_KUBE_API_CLIENT_OPTIONS = Object.freeze({
  timeoutMs: 30_000,
  maxAnswerBytes: 64 * 1024 ** 2,
  maxEventBytes: 16 * 1024 ** 2,
});

/** What one JSON request may change of the client's bounds. */
export interface JsonRequestOptions {
  /**
   * Ends the request early (the caller gave up on it: its own deadline). The connection is closed, so an API server
   * that does not answer holds no socket of the agent past the caller's deadline. Default none.
   */
  signal?: AbortSignal;
  /**
   * Largest answer in bytes, below the client's own `maxAnswerBytes` for answers known to be small (a review is a few
   * KB): junk tokens asking 16 reviews at once must not hold 16 answers of the pod list's size. Default the client's.
   */
  maxAnswerBytes?: number;
}

/** One event of a watch (`{"type":"ADDED","object":{…}}`, one per line). */
export interface WatchEvent {
  type: string;
  object: unknown;
}

export interface WatchOptions {
  /** Ends the watch (the promise then resolves). */
  signal: AbortSignal;
  /**
   * A watch that has sent nothing for this long is taken for a dead connection and fails, in ms. Set it above the
   * watch's own `timeoutSeconds`: the API server ends the watch by then.
   */
  idleMs: number;
}

/**
 * A request the API server refused (`status`: its HTTP status, e.g. 403, 404, 410) or that did not get an answer
 * (no status). Not a PodflameError: each caller wraps it as KUBERNETES_API_ERROR with what it was asking for.
 */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The HTTP status the API server answered a failed request with; undefined when it did not answer. */
export function kubeApiStatus(err: unknown): number | undefined {
  return err instanceof KubeApiError ? err.status : undefined;
}

export class KubeApiClient {
  readonly #endpoint: KubeApiEndpoint;
  readonly #o: Required<KubeApiClientOptions>;

  constructor(endpoint: KubeApiEndpoint, options: KubeApiClientOptions = {}) {
    this.#endpoint = endpoint;
    this.#o = { ...DEFAULT_KUBE_API_CLIENT_OPTIONS, ...options };
  }

  /** `in-cluster` or `kubeconfig FILE`. */
  get describe(): string {
    return this.#endpoint.describe;
  }

  /**
   * A JSON request (`path` with its query, e.g. `/api/v1/namespaces/shop/pods/web-1`); the parsed answer of a 2xx.
   * Anything else throws a KubeApiError with the status and the API server's own message.
   */
  async json(method: 'GET' | 'POST', path: string, body?: unknown, options: JsonRequestOptions = {}): Promise<unknown> {
    const what = `${method} ${path}`;
    const timeout = AbortSignal.timeout(this.#o.timeoutMs);
    const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
    const maxBytes = Math.min(options.maxAnswerBytes ?? this.#o.maxAnswerBytes, this.#o.maxAnswerBytes);
    try {
      const res = await this.#send(method, path, body === undefined ? undefined : JSON.stringify(body), signal);
      const text = (await readAtMost(res, maxBytes, what)).toString('utf8');
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) throw answerError(what, status, text);
      return parseJson(text, what);
    } catch (err) {
      if (options.signal?.aborted && !timeout.aborted && !(err instanceof KubeApiError)) {
        throw new KubeApiError(`${what}: given up by its caller before the answer`, undefined, { cause: err });
      }
      throw this.#asApiError(err, what, timeout);
    }
  }

  /**
   * A watch (`path` with `watch=true` in its query): `onEvent` for each event line, in order. Resolves when the API
   * server ends the watch or `signal` aborts it; rejects (KubeApiError) when it cannot be opened (with the status),
   * breaks, sends something other than events, or goes silent for `idleMs`.
   */
  async watch(path: string, onEvent: (event: WatchEvent) => void, options: WatchOptions): Promise<void> {
    const what = `GET ${path}`;
    const idle = new AbortController();
    const signal = AbortSignal.any([options.signal, idle.signal]);
    let timer: NodeJS.Timeout | undefined;
    const armIdle = () => {
      clearTimeout(timer);
      timer = setTimeout(() => idle.abort(), options.idleMs);
      timer.unref();
    };
    try {
      armIdle();
      const res = await this.#send('GET', path, undefined, signal);
      const status = res.statusCode ?? 0;
      if (status !== 200) {
        throw answerError(what, status, (await readAtMost(res, 1024 ** 2, what)).toString('utf8'));
      }
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      for await (const chunk of res as AsyncIterable<Buffer>) {
        armIdle();
        let start = 0;
        for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
          pending.push(chunk.subarray(start, nl));
          const line = Buffer.concat(pending).toString('utf8');
          pending = [];
          pendingBytes = 0;
          start = nl + 1;
          if (line.trim() !== '') {
            const event = watchEvent(line, what);
            try {
              onEvent(event);
            } catch (err) {
              throw new ListenerError(err);
            }
          }
        }
        if (start < chunk.length) {
          pending.push(chunk.subarray(start));
          pendingBytes += chunk.length - start;
          if (pendingBytes > this.#o.maxEventBytes) {
            throw new KubeApiError(
              `${what}: a watch event larger than ${this.#o.maxEventBytes} bytes; the watch is dropped`,
            );
          }
        }
      }
    } catch (err) {
      // What onEvent threw is its caller's own error, unchanged.
      if (err instanceof ListenerError) throw err.thrown;
      if (options.signal.aborted) return;
      if (idle.signal.aborted) {
        throw new KubeApiError(
          `${what}: nothing from the Kubernetes API server for ${Math.round(options.idleMs / 1000)} s; the watch is dropped`,
          undefined,
          { cause: err },
        );
      }
      throw this.#asApiError(err, what, undefined);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.#endpoint.close();
  }

  async #send(
    method: string,
    path: string,
    body: string | undefined,
    signal: AbortSignal,
  ): Promise<http.IncomingMessage> {
    const options = await this.#endpoint.requestOptions();
    signal.throwIfAborted();
    const url = new URL(`${this.#endpoint.server}${path}`);
    const transport = url.protocol === 'http:' ? http : https;
    const headers: http.OutgoingHttpHeaders = {
      ...(options.headers as http.OutgoingHttpHeaders | undefined),
      Accept: 'application/json',
      ...(body === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }),
    };
    return new Promise((resolve, reject) => {
      let answer: http.IncomingMessage | undefined;
      const req = transport.request(url, { ...options, method, headers }, (res) => {
        answer = res;
        resolve(res);
      });
      // The signal ends the request here rather than as node's own `signal` option, which destroys the request with
      // an error: when the answer has already arrived whole (a watch's 410 ERROR event sent with the watch's end), its
      // socket is back in the keep-alive pool and that error is thrown as an uncaught exception (Node 20), which
      // ends the agent. Destroyed without an error, an answer still arriving fails its reader (premature close).
      const onAbort = () => {
        answer?.destroy();
        req.destroy();
        reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      req.once('close', () => signal.removeEventListener('abort', onAbort));
      req.on('error', reject);
      req.end(body);
    });
  }

  #asApiError(err: unknown, what: string, timeout: AbortSignal | undefined): KubeApiError {
    if (err instanceof KubeApiError) return err;
    if (timeout?.aborted) {
      return new KubeApiError(
        `${what}: no answer from the Kubernetes API server (${this.#endpoint.server}) within ${Math.round(this.#o.timeoutMs / 1000)} s`,
        undefined,
        { cause: err },
      );
    }
    const reason = err instanceof Error ? err.message : String(err);
    return new KubeApiError(
      `${what}: cannot reach the Kubernetes API server ${this.#endpoint.server} (${this.#endpoint.describe}): ${reason}`,
      undefined,
      { cause: err },
    );
  }
}

/** Carries what a watch's onEvent threw out of the watch, apart from the watch's own errors. */
class ListenerError {
  constructor(readonly thrown: unknown) {}
}

async function readAtMost(res: http.IncomingMessage, maxBytes: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > maxBytes) {
      res.destroy();
      throw new KubeApiError(`${what}: the Kubernetes API server's answer is larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new KubeApiError(`${what}: the Kubernetes API server's answer is not JSON`, undefined, { cause: err });
  }
}

function watchEvent(line: string, what: string): WatchEvent {
  const event = parseJson(line, what) as { type?: unknown; object?: unknown } | null;
  if (typeof event !== 'object' || event === null || typeof event.type !== 'string') {
    throw new KubeApiError(`${what}: a watch line that is not an event`);
  }
  return { type: event.type, object: event.object };
}

/** A non-2xx answer: the API server's own words (a `Status` object's message) when it sent them. */
function answerError(what: string, status: number, text: string): KubeApiError {
  let message = '';
  try {
    const parsed = JSON.parse(text) as { message?: unknown } | null;
    if (typeof parsed?.message === 'string') message = parsed.message;
  } catch {
    // Not a Status object (a proxy's page): the status line says enough.
  }
  const said = message === '' ? '' : `: ${message.slice(0, 500)}`;
  return new KubeApiError(
    `${what}: the Kubernetes API server answered ${status} ${http.STATUS_CODES[status] ?? ''}`.trimEnd() + said,
    status,
  );
}
