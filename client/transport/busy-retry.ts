/**
 * Waiting out a busy agent. An agent refuses a capture it cannot run yet — another capture of the same container
 * (409 CAPTURE_IN_PROGRESS, e.g. a scheduled one), its `--max-concurrent` limit (429 TOO_MANY_CAPTURES), its
 * `--namespace-max-concurrent` limit for the target's namespace (429 TOO_MANY_NAMESPACE_CAPTURES) or the
 * caller's rate limit (429 RATE_LIMITED) — and says in `details.retryAfterSeconds` when to come back. A person at a
 * terminal or a tool on a schedule wants the graph, not that error, so the client waits and asks again, within a
 * bound, and says so while it waits.
 */
import { PodflameError, type ErrorCode } from '../../shared/errors.js';

/** The refusals that go away by themselves. */
export const BUSY_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'CAPTURE_IN_PROGRESS',
  'TOO_MANY_CAPTURES',
  'TOO_MANY_NAMESPACE_CAPTURES',
  'RATE_LIMITED',
]);

export interface BusyWait {
  /** The refusal being waited out. */
  code: ErrorCode;
  /** Its message, as the agent worded it. */
  message: string;
  /** How long the client waits before asking again, in ms. */
  delayMs: number;
  /** 1 for the first retry. */
  attempt: number;
}

export interface BusyRetryOptions {
  /** Total time spent waiting before giving up with the agent's own error, in ms. 0: never wait. Default 60 000. */
  maxWaitMs?: number;
  /** Told before every wait (progress output). Default: nothing. */
  onWait?: (wait: BusyWait) => void;
  /** Stops the waiting: the pending wait ends and CAPTURE_ABORTED is thrown. Default: none. */
  signal?: AbortSignal;
  /** Waits `ms`; injected by tests. Default: a timer. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export const DEFAULT_BUSY_RETRY_OPTIONS = Object.freeze({ maxWaitMs: 60_000 });

/** Used when an answer names no retry time: 1 s, then doubling, at most this long. */
const FALLBACK_FIRST_MS = 1_000;
const FALLBACK_MAX_MS = 10_000;

/** Runs `attempt` until it succeeds, fails for a reason other than being busy, or the wait budget is spent. */
export async function retryWhileBusy<T>(attempt: () => Promise<T>, options: BusyRetryOptions = {}): Promise<T> {
  const maxWaitMs = options.maxWaitMs ?? DEFAULT_BUSY_RETRY_OPTIONS.maxWaitMs;
  const sleep = options.sleep ?? abortableSleep;
  let waitedMs = 0;
  for (let retry = 1; ; retry++) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof PodflameError) || !BUSY_CODES.has(err.code)) throw err;
      const delayMs = delayFor(err, retry);
      if (waitedMs + delayMs > maxWaitMs) {
        if (waitedMs === 0) throw err;
        throw new PodflameError(
          err.code,
          `${err.message} (still refused after waiting ${Math.round(waitedMs / 1000)} s; allow longer with --busy-wait)`,
          { details: { ...err.details, waitedSeconds: Math.round(waitedMs / 1000) }, cause: err },
        );
      }
      options.onWait?.({ code: err.code, message: err.message, delayMs, attempt: retry });
      await sleep(delayMs, options.signal);
      waitedMs += delayMs;
    }
  }
}

/** The agent's `retryAfterSeconds` when it gave one (its admission knows when the running capture ends). */
function delayFor(err: PodflameError, retry: number): number {
  const said = err.details?.retryAfterSeconds;
  if (typeof said === 'number' && Number.isFinite(said) && said > 0) return Math.ceil(said * 1000);
  return Math.min(FALLBACK_MAX_MS, FALLBACK_FIRST_MS * 2 ** (retry - 1));
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const aborted = (): void =>
      reject(
        new PodflameError('CAPTURE_ABORTED', 'cancelled while waiting for a busy agent', { cause: signal?.reason }),
      );
    if (signal?.aborted) {
      aborted();
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      aborted();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
