/**
 * One history merge at a time (issue #13, F1). A merge's memory follows its distinct stacks: the merged map on the
 * main thread, its serialized copy posted to the profile worker and the worker's clone. The merge cap
 * (store/merge-budget.ts) bounds ONE merge within the agent's memory limit; three of them at once took the agent past
 * 512 MiB and a 512 MiB container down (JS heap out of memory). So merges and diffs take turns: a few more wait in
 * order (each until its caller goes away), and beyond those the request is refused at once with 503
 * TOO_MANY_MERGES and Retry-After, costing nothing.
 */
import { PodflameError } from '../../shared/errors.js';

export interface MergeGateOptions {
  /** Merges that may run at once; their caps together must fit in memory. Default 1. */
  running?: number;
  /** Merges that may wait for a turn; more are refused with 503 TOO_MANY_MERGES. Default 4. */
  waiting?: number;
  /** The Retry-After of a refusal, seconds. Default 10 (a one-day merge of a full store takes tens of seconds). */
  retryAfterSeconds?: number;
}

export const DEFAULT_MERGE_GATE_OPTIONS = Object.freeze({ running: 1, waiting: 4, retryAfterSeconds: 10 });

/** Starts a waiting merge. */
type Waiter = () => void;

export class MergeGate {
  readonly options: Readonly<Required<MergeGateOptions>>;
  #running = 0;
  readonly #waiting: Waiter[] = [];

  constructor(options: MergeGateOptions = {}) {
    const running = options.running ?? DEFAULT_MERGE_GATE_OPTIONS.running;
    const waiting = options.waiting ?? DEFAULT_MERGE_GATE_OPTIONS.waiting;
    const retryAfterSeconds = options.retryAfterSeconds ?? DEFAULT_MERGE_GATE_OPTIONS.retryAfterSeconds;
    if (!Number.isInteger(running) || running < 1 || !Number.isInteger(waiting) || waiting < 0) {
      throw new PodflameError('CONFIG_INVALID', 'a merge gate runs at least one merge and lets a whole number wait', {
        details: { running, waiting },
      });
    }
    this.options = { running, waiting, retryAfterSeconds };
  }

  /** Merges running now. */
  get running(): number {
    return this.#running;
  }

  /** Merges waiting for a turn. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Runs `merge` in its turn. Throws TOO_MANY_MERGES (503, `details.retryAfterSeconds`) when the queue is full, and
   * `signal`'s reason when the caller goes away while waiting (the merge is then never started).
   */
  async run<T>(merge: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    if (this.#running >= this.options.running) await this.#wait(signal);
    else this.#running++;
    try {
      return await merge();
    } finally {
      this.#release();
    }
  }

  /** Waits for a running merge to hand over its turn (the count of running merges is then already ours). */
  #wait(signal: AbortSignal | undefined): Promise<void> {
    if (this.#waiting.length >= this.options.waiting) {
      const { running, waiting, retryAfterSeconds } = this.options;
      throw new PodflameError(
        'TOO_MANY_MERGES',
        `this agent is already merging stored profiles (${running} at a time, ${waiting} waiting): each holds ` +
          `memory for its stacks until it is drawn; retry in about ${retryAfterSeconds} s`,
        { details: { running, waiting, retryAfterSeconds } },
      );
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const at = this.#waiting.indexOf(waiter);
        if (at >= 0) this.#waiting.splice(at, 1);
        reject(signal?.reason);
      };
      const waiter: Waiter = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  #release(): void {
    const next = this.#waiting.shift();
    // The turn passes straight on: the count of running merges stays, so no newcomer slips in between.
    if (next) next();
    else this.#running--;
  }
}
