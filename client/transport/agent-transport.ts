/**
 * The client's one way to talk to agents, as undici's Agent routes requests: an endpoint (an agent at a URL, or a
 * node's agent pod directly or through the API server's proxy) → its pool, made on first use and closed when idle →
 * the request, read to the end → a 2xx answer, or the PodflameError that says what went wrong (agent-errors.ts).
 * Single captures (agent-client.ts), fan-outs (profile-pod.ts) and history queries (history/) all go through it.
 */
import { API_PREFIX, type ProfileRequest } from '../../shared/api.js';
import { PodflameError } from '../../shared/errors.js';
import { endpointName, type AgentEndpoint } from './agent-endpoint.js';
import { AnswerDeadlineError, errorFromAnswer, errorFromFailure, type AgentAnswer } from './agent-errors.js';
import { AgentPools, type AgentPoolsOptions } from './agent-pools.js';
import { DEFAULT_BUSY_RETRY_OPTIONS, retryWhileBusy, type BusyWait } from './busy-retry.js';
import {
  DEFAULT_MAX_ANSWER_BYTES,
  DEFAULT_MAX_JSON_ANSWER_BYTES,
  readCappedBody,
  type TooLargeHint,
} from './answer-limits.js';
import { contentTypeProblem, profileAnswerFrom, type ProfileAnswer } from './profile-answer.js';
import { assertTokenTransport } from './token-guard.js';

export type AgentTransportOptions = AgentPoolsOptions;

export interface AgentRequest {
  method: 'GET' | 'POST';
  /** An agent path such as `/v1/profiles`; the endpoint's base path goes in front. */
  path: string;
  /** Sent as JSON. Default: no body. */
  body?: unknown;
  /** Time allowed for the whole answer, headers and body, in ms. */
  timeoutMs: number;
  /**
   * Bytes of body read before the answer is refused with OUTPUT_TOO_LARGE: every answer has a cap, since whatever
   * answers at the address may send without end. Default DEFAULT_MAX_JSON_ANSWER_BYTES (16 MiB).
   */
  maxBodyBytes?: number;
  /** What the OUTPUT_TOO_LARGE message advises. Default 'json' (a podflame agent never answers that much). */
  tooLargeHint?: TooLargeHint;
  signal?: AbortSignal;
}

export interface ProfileCallOptions {
  /** Time allowed for the whole answer, headers and body, in ms: the capture's duration and a margin. */
  timeoutMs: number;
  /** Bytes of answer read before it is refused with OUTPUT_TOO_LARGE. Default DEFAULT_MAX_ANSWER_BYTES (64 MiB). */
  maxAnswerBytes?: number;
  signal?: AbortSignal;
  /** How long to wait out a busy agent (409 CAPTURE_IN_PROGRESS, 429) before failing, in ms. Default 60 000. */
  busyWaitMs?: number;
  /** Told before each wait for a busy agent. Default: nothing. */
  onBusyWait?: (wait: BusyWait) => void;
}

export class AgentTransport {
  readonly #pools: AgentPools;
  #closed = false;

  constructor(options: AgentTransportOptions = {}) {
    this.#pools = new AgentPools(options);
  }

  /** Sends the request and reads the whole answer, whatever its status; throws only when there is no answer. */
  async call(endpoint: AgentEndpoint, request: AgentRequest): Promise<AgentAnswer> {
    const headers: Record<string, string> = { ...endpoint.headers, accept: '*/*' };
    let body: string | undefined;
    if (request.body !== undefined) {
      body = JSON.stringify(request.body);
      headers['content-type'] = 'application/json';
    }
    if (this.#closed) throw new PodflameError('INTERNAL', 'this agent transport has been closed');
    // Before any connection: a refused token must never reach the address, not even in a first request.
    assertTokenTransport(endpoint);
    const leased = this.#pools.lease(endpoint);
    // One deadline for headers and body together: undici's own timeouts measure only the gaps between chunks.
    const deadline = new AbortController();
    let headersReceived = false;
    // How much of the body had come when the deadline struck: a trickle (too slow) or a flood (too large to finish).
    const progress = { bytes: 0 };
    const timer = setTimeout(() => deadline.abort(), request.timeoutMs);
    const cancel = (): void => deadline.abort();
    request.signal?.addEventListener('abort', cancel, { once: true });
    if (request.signal?.aborted) cancel();
    try {
      const res = await leased.pool.request({
        origin: endpoint.origin,
        path: endpoint.basePath + request.path,
        method: request.method,
        headers,
        body,
        // Off: the deadline above bounds headers and body together (undici's would race it, and default to 300 s).
        headersTimeout: 0,
        bodyTimeout: 0,
        signal: deadline.signal,
      });
      headersReceived = true;
      const bytes = await readCappedBody(
        res.body,
        request.maxBodyBytes ?? DEFAULT_MAX_JSON_ANSWER_BYTES,
        endpointName(endpoint),
        request.tooLargeHint ?? 'json',
        progress,
      );
      const flat: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) {
        if (v !== undefined) flat[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
      }
      return { statusCode: res.statusCode, headers: flat, body: bytes };
    } catch (err) {
      if (err instanceof PodflameError) throw err;
      const timedOut = deadline.signal.aborted && !request.signal?.aborted;
      throw errorFromFailure(
        endpoint,
        timedOut ? new AnswerDeadlineError(request.timeoutMs, headersReceived, progress.bytes, err) : err,
        request,
      );
    } finally {
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', cancel);
      leased.release();
    }
  }

  /** Sends the request; a 2xx answer is returned, any other becomes the error it stands for. */
  async request(endpoint: AgentEndpoint, request: AgentRequest): Promise<AgentAnswer> {
    const answer = await this.call(endpoint, request);
    if (answer.statusCode < 200 || answer.statusCode >= 300) throw errorFromAnswer(endpoint, answer);
    return answer;
  }

  /** `POST /v1/profiles`: runs a capture and waits for its result, waiting out a busy agent first. */
  profile(endpoint: AgentEndpoint, profile: ProfileRequest, options: ProfileCallOptions): Promise<ProfileAnswer> {
    const { signal, onBusyWait } = options;
    return retryWhileBusy(
      async () => {
        const answer = await this.request(endpoint, {
          method: 'POST',
          path: `${API_PREFIX}/profiles`,
          body: profile,
          timeoutMs: options.timeoutMs,
          maxBodyBytes: options.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES,
          tooLargeHint: 'capture',
          ...(signal ? { signal } : {}),
        });
        const problem = contentTypeProblem(profile.format ?? 'svg', answer.headers['content-type']);
        if (problem !== undefined) throw new PodflameError('CAPTURE_FAILED', `${endpointName(endpoint)} ${problem}`);
        return profileAnswerFrom(answer.body, answer.headers);
      },
      {
        maxWaitMs: options.busyWaitMs ?? DEFAULT_BUSY_RETRY_OPTIONS.maxWaitMs,
        ...(onBusyWait ? { onWait: onBusyWait } : {}),
        ...(signal ? { signal } : {}),
      },
    );
  }

  /** The keys of the open pools (`NODE ORIGIN` for a route, the origin for a URL), sorted. */
  openPools(): string[] {
    return this.#pools.openKeys();
  }

  /** Closes every pool; requests still in flight are aborted, later ones refused. Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    return this.#pools.close();
  }
}
