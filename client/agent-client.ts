/**
 * Talks to one podflame agent at a known URL (local mode: `podflame profile --agent http://127.0.0.1:7070 ...`, and
 * whatever else has an agent's address), through the client's transport: the agent's JSON errors come back as the
 * same PodflameError (same code, message and details); no answer becomes CAPTURE_ABORTED, CAPTURE_TIMEOUT or
 * AGENT_UNREACHABLE naming the URL.
 */
import { API_PREFIX, LIMITS, type ProfileMetadata, type ProfileRequest, type TargetsResponse } from '../shared/api.js';
import { urlEndpoint, type UrlEndpoint } from './transport/agent-endpoint.js';
import { DEFAULT_MAX_ANSWER_BYTES } from './transport/answer-limits.js';
import { AgentTransport } from './transport/agent-transport.js';
import { DEFAULT_BUSY_RETRY_OPTIONS, type BusyWait } from './transport/busy-retry.js';
import type { ProfileAnswer } from './transport/profile-answer.js';

export {
  decodeWarningsHeader,
  stacksOfProfileJson,
  type AnsweredStacks,
  type ProfileAnswer,
} from './transport/profile-answer.js';

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
   * Send a token in `headers` to an http:// agent that is not on loopback all the same (whoever answers at that
   * address, or listens on the way, gets it). Default false: INSECURE_TRANSPORT before anything is sent.
   */
  insecureSendTokenOverHttp?: boolean;
  /**
   * How long a capture may wait for a busy agent (409 CAPTURE_IN_PROGRESS, 429) before failing, in ms; 0 fails at
   * once. Default 60 000.
   */
  busyWaitMs?: number;
  /**
   * Bytes of a capture's answer read before it is refused with OUTPUT_TOO_LARGE. Default 64 MiB
   * (DEFAULT_MAX_ANSWER_BYTES: what a default agent sends at most).
   */
  maxAnswerBytes?: number;
  /** Told before each wait for a busy agent (progress output). Default: nothing. */
  onBusyWait?: (wait: BusyWait) => void;
  /** The transport to send through; its owner closes it. Default: one of this client's own (4 connections). */
  transport?: AgentTransport;
}

export const DEFAULT_AGENT_CLIENT_OPTIONS = Object.freeze({
  answerMarginMs: 120_000,
  requestTimeoutMs: 30_000,
  busyWaitMs: DEFAULT_BUSY_RETRY_OPTIONS.maxWaitMs,
  maxAnswerBytes: DEFAULT_MAX_ANSWER_BYTES,
});

export class AgentClient {
  readonly url: string;
  readonly #endpoint: UrlEndpoint;
  readonly #transport: AgentTransport;
  /** Whether `close` closes the transport: only when this client made it. */
  readonly #ownsTransport: boolean;
  readonly #options: Required<
    Pick<AgentClientOptions, 'answerMarginMs' | 'requestTimeoutMs' | 'busyWaitMs' | 'maxAnswerBytes'>
  > & {
    onBusyWait?: (wait: BusyWait) => void;
  };

  constructor(url: string, options: AgentClientOptions = {}) {
    this.#endpoint = urlEndpoint(url, {
      ...(options.headers ? { headers: options.headers } : {}),
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
      ...(options.insecureSendTokenOverHttp ? { sendTokenOverHttp: true } : {}),
    });
    this.url = url;
    this.#options = {
      answerMarginMs: options.answerMarginMs ?? DEFAULT_AGENT_CLIENT_OPTIONS.answerMarginMs,
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_AGENT_CLIENT_OPTIONS.requestTimeoutMs,
      busyWaitMs: options.busyWaitMs ?? DEFAULT_AGENT_CLIENT_OPTIONS.busyWaitMs,
      maxAnswerBytes: options.maxAnswerBytes ?? DEFAULT_AGENT_CLIENT_OPTIONS.maxAnswerBytes,
      ...(options.onBusyWait ? { onBusyWait: options.onBusyWait } : {}),
    };
    this.#ownsTransport = options.transport === undefined;
    this.#transport = options.transport ?? new AgentTransport({ connectionsPerAgent: 4 });
  }

  /** Runs a capture and waits for its result (in the requested format), waiting out a busy agent first. */
  profile(request: ProfileRequest, signal?: AbortSignal): Promise<ProfileAnswer> {
    const duration = request.durationSeconds ?? LIMITS.durationSeconds.default;
    return this.#transport.profile(this.#endpoint, request, {
      timeoutMs: duration * 1000 + this.#options.answerMarginMs,
      busyWaitMs: this.#options.busyWaitMs,
      maxAnswerBytes: this.#options.maxAnswerBytes,
      ...(this.#options.onBusyWait ? { onBusyWait: this.#options.onBusyWait } : {}),
      ...(signal ? { signal } : {}),
    });
  }

  async profileStatus(id: string, signal?: AbortSignal): Promise<ProfileMetadata> {
    return this.#getJson<ProfileMetadata>(`${API_PREFIX}/profiles/${encodeURIComponent(id)}`, signal);
  }

  async targets(signal?: AbortSignal): Promise<TargetsResponse> {
    return this.#getJson<TargetsResponse>(`${API_PREFIX}/targets`, signal);
  }

  async #getJson<T>(path: string, signal: AbortSignal | undefined): Promise<T> {
    const answer = await this.#transport.request(this.#endpoint, {
      method: 'GET',
      path,
      timeoutMs: this.#options.requestTimeoutMs,
      ...(signal ? { signal } : {}),
    });
    return JSON.parse(answer.body.toString('utf8')) as T;
  }

  /** Closes the transport when it is this client's own. Idempotent. */
  async close(): Promise<void> {
    if (this.#ownsTransport) await this.#transport.close();
  }
}
