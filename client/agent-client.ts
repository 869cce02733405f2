/**
 * Talks to one podflame agent at a known URL (local mode: `podflame profile --agent http://127.0.0.1:7070 ...`, and
 * whatever else has an agent's address). The agent's JSON errors come back as the same PodflameError (same code,
 * message and details); transport failures become AGENT_UNREACHABLE or CAPTURE_TIMEOUT naming the URL.
 */
import type { Pool } from 'undici';
import { undici } from './undici-loader.js';
import { API_PREFIX, type ProfileMetadata, type ProfileRequest, type TargetsResponse } from '../shared/api.js';
import { PodflameError, errorFromBody } from '../shared/errors.js';
import { profileAnswerFrom, type ProfileAnswer } from './profile-answer.js';
import { DEFAULT_BUSY_RETRY_OPTIONS, retryWhileBusy, type BusyWait } from './busy-retry.js';

export { decodeWarningsHeader, type ProfileAnswer } from './profile-answer.js';
import { LIMITS } from '../shared/api.js';

export interface AgentClientOptions {
  /** Time allowed for an answer beyond the capture's own duration, in ms. Default 120 000. */
  answerMarginMs?: number;
  /** Time allowed for calls without a capture (targets, status), in ms. Default 30 000. */
  requestTimeoutMs?: number;
  /** Headers sent with every request (e.g. credentials). Default none. */
  headers?: Readonly<Record<string, string>>;
  /** CA certificate(s), PEM, that an https:// agent's certificate must chain to. Default: the system's CAs. */
  ca?: string | Buffer;
  /**
   * How long a capture may wait for a busy agent (409 CAPTURE_IN_PROGRESS, 429) before failing, in ms; 0 fails at
   * once. Default 60 000.
   */
  busyWaitMs?: number;
  /** Told before each wait for a busy agent (progress output). Default: nothing. */
  onBusyWait?: (wait: BusyWait) => void;
}

export const DEFAULT_AGENT_CLIENT_OPTIONS = Object.freeze({
  answerMarginMs: 120_000,
  requestTimeoutMs: 30_000,
  busyWaitMs: DEFAULT_BUSY_RETRY_OPTIONS.maxWaitMs,
});

interface Answer {
  statusCode: number;
  headers: Record<string, string>;
  body: Buffer;
}

export class AgentClient {
  readonly url: string;
  readonly #origin: string;
  readonly #basePath: string;
  readonly #pool: Pool;
  readonly #options: Required<Omit<AgentClientOptions, 'headers' | 'ca' | 'onBusyWait'>> & {
    headers: Readonly<Record<string, string>>;
    onBusyWait?: (wait: BusyWait) => void;
  };

  constructor(url: string, options: AgentClientOptions = {}) {
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
    this.url = url;
    this.#origin = parsed.origin;
    // An agent behind a path prefix (a proxy) keeps it: http://host/prefix/ + /v1/profiles.
    this.#basePath = parsed.pathname.replace(/\/+$/, '');
    this.#options = {
      answerMarginMs: options.answerMarginMs ?? DEFAULT_AGENT_CLIENT_OPTIONS.answerMarginMs,
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_AGENT_CLIENT_OPTIONS.requestTimeoutMs,
      headers: options.headers ?? {},
      busyWaitMs: options.busyWaitMs ?? DEFAULT_AGENT_CLIENT_OPTIONS.busyWaitMs,
      ...(options.onBusyWait ? { onBusyWait: options.onBusyWait } : {}),
    };
    this.#pool = new (undici().Pool)(this.#origin, {
      connections: 4,
      ...(options.ca !== undefined ? { connect: { ca: options.ca } } : {}),
    });
  }

  async #call(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<Answer> {
    const headers: Record<string, string> = { ...this.#options.headers, accept: '*/*' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      const res = await this.#pool.request({
        path: this.#basePath + path,
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        ...(signal ? { signal } : {}),
      });
      const bytes = Buffer.from(await res.body.arrayBuffer());
      const flat: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) {
        if (v !== undefined) flat[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
      }
      return { statusCode: res.statusCode, headers: flat, body: bytes };
    } catch (err) {
      if (signal?.aborted) {
        throw new PodflameError('CAPTURE_ABORTED', `the request to the agent at ${this.url} was cancelled`, {
          cause: err,
        });
      }
      const code = (err as { code?: string }).code;
      if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
        throw new PodflameError(
          'CAPTURE_TIMEOUT',
          `the agent at ${this.url} did not answer within ${Math.round(timeoutMs / 1000)} s`,
          { cause: err },
        );
      }
      throw new PodflameError(
        'AGENT_UNREACHABLE',
        `cannot reach the agent at ${this.url}: ${err instanceof Error ? err.message : String(err)}` +
          `${code ? ` (${code})` : ''}; is podflame-agent running and listening there?`,
        { cause: err, details: { url: this.url, ...(code ? { errorCode: code } : {}) } },
      );
    }
  }

  /** Turns a non-2xx answer into the agent's own error. */
  #check(answer: Answer): Answer {
    if (answer.statusCode >= 200 && answer.statusCode < 300) return answer;
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.body.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    const snippet = answer.body.toString('utf8').slice(0, 200).trim();
    throw errorFromBody(
      parsed,
      `the agent at ${this.url} answered HTTP ${answer.statusCode}${snippet ? `: ${snippet}` : ''} (not a podflame error)`,
    );
  }

  /** Runs a capture and waits for its result (in the requested format), waiting out a busy agent first. */
  async profile(request: ProfileRequest, signal?: AbortSignal): Promise<ProfileAnswer> {
    const duration = request.durationSeconds ?? LIMITS.durationSeconds.default;
    const once = async (): Promise<ProfileAnswer> => {
      const answer = this.#check(
        await this.#call(
          'POST',
          `${API_PREFIX}/profiles`,
          request,
          duration * 1000 + this.#options.answerMarginMs,
          signal,
        ),
      );
      return profileAnswerFrom(answer.body, answer.headers);
    };
    return retryWhileBusy(once, {
      maxWaitMs: this.#options.busyWaitMs,
      ...(this.#options.onBusyWait ? { onWait: this.#options.onBusyWait } : {}),
      ...(signal ? { signal } : {}),
    });
  }

  async profileStatus(id: string, signal?: AbortSignal): Promise<ProfileMetadata> {
    const answer = this.#check(
      await this.#call(
        'GET',
        `${API_PREFIX}/profiles/${encodeURIComponent(id)}`,
        undefined,
        this.#options.requestTimeoutMs,
        signal,
      ),
    );
    return JSON.parse(answer.body.toString('utf8')) as ProfileMetadata;
  }

  async targets(signal?: AbortSignal): Promise<TargetsResponse> {
    const answer = this.#check(
      await this.#call('GET', `${API_PREFIX}/targets`, undefined, this.#options.requestTimeoutMs, signal),
    );
    return JSON.parse(answer.body.toString('utf8')) as TargetsResponse;
  }

  /** Idempotent. */
  async close(): Promise<void> {
    if (!this.#pool.closed) await this.#pool.close();
  }
}
