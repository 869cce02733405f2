/**
 * One history merge at a time (issue #13, F1). A merge's memory follows its distinct stacks: the merged map on the
 * main thread, its serialized copy posted to the profile worker and the worker's clone. The merge cap
 * (store/merge-budget.ts) bounds ONE merge within the agent's memory limit; three of them at once took the agent past
 * 512 MiB and a 512 MiB container down (JS heap out of memory). So merges and diffs take turns: a few more wait in
 * order (each until its caller goes away), and beyond those the request is refused at once with 503
 * TOO_MANY_MERGES and Retry-After, costing nothing.
 *
 * A turn ends when the answer is drawn, not sent (issue #13, re-attack finding B): callers that never read their
 * 40-47 MB folded answers piled them up in the agent (1.5 GiB after 25 of them). So the gate also counts the bytes of
 * drawn answers not yet taken by their callers: a merge's turn starts only while fewer than `answerBytes` are held,
 * else it is refused like a full queue. The held bytes are thus at most `answerBytes` plus one answer (the last
 * admitted; the merge cap bounds it); each is released when its connection closes (answer-sender.ts cuts a caller
 * that takes nothing for its stall deadline).
 */
import { PodflameError } from '../../shared/errors.js';

export interface MergeGateOptions {
  /** Merges that may run at once; their caps together must fit in memory. Default 1. */
  running?: number;
  /** Merges that may wait for a turn; more are refused with 503 TOO_MANY_MERGES. Default 4. */
  waiting?: number;
  /** The Retry-After of a refusal, seconds. Default 10 (a one-day merge of a full store takes tens of seconds). */
  retryAfterSeconds?: number;
  /**
   * Bytes of drawn answers not yet taken by their callers beyond which no merge starts (503 TOO_MANY_MERGES).
   * Default 64 MiB: one full 7-day folded answer (~47 MB) and a smaller one, next to the agent's 512 MiB.
   */
  answerBytes?: number;
}

export const DEFAULT_MERGE_GATE_OPTIONS = Object.freeze({
  running: 1,
  waiting: 4,
  retryAfterSeconds: 10,
  answerBytes: 64 * 1024 ** 2,
});

/** Starts a waiting merge. */
type Waiter = () => void;

export class MergeGate {
  readonly options: Readonly<Required<MergeGateOptions>>;
  #running = 0;
  readonly #waiting: Waiter[] = [];
  #answerBytesHeld = 0;

  constructor(options: MergeGateOptions = {}) {
    const running = options.running ?? DEFAULT_MERGE_GATE_OPTIONS.running;
    const waiting = options.waiting ?? DEFAULT_MERGE_GATE_OPTIONS.waiting;
    const retryAfterSeconds = options.retryAfterSeconds ?? DEFAULT_MERGE_GATE_OPTIONS.retryAfterSeconds;
    const answerBytes = options.answerBytes ?? DEFAULT_MERGE_GATE_OPTIONS.answerBytes;
    if (!Number.isInteger(running) || running < 1 || !Number.isInteger(waiting) || waiting < 0) {
      throw new PodflameError('CONFIG_INVALID', 'a merge gate runs at least one merge and lets a whole number wait', {
        details: { running, waiting },
      });
    }
    if (!Number.isInteger(answerBytes) || answerBytes < 1) {
      throw new PodflameError('CONFIG_INVALID', 'a merge gate holds a positive whole number of answer bytes', {
        details: { answerBytes },
      });
    }
    this.options = { running, waiting, retryAfterSeconds, answerBytes };
  }

  /** Merges running now. */
  get running(): number {
    return this.#running;
  }

  /** Merges waiting for a turn. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Bytes of drawn answers their callers have not taken yet (held until their connections close). */
  get answerBytesHeld(): number {
    return this.#answerBytesHeld;
  }

  /**
   * Runs `merge` in its turn. Throws TOO_MANY_MERGES (503, `details.retryAfterSeconds`) when the queue is full or,
   * once its turn comes, when `answerBytes` of answers are still held for callers; and `signal`'s reason when the
   * caller goes away while waiting (the merge is then never started).
   */
  async run<T>(merge: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    // Checked before waiting too: a caller is not kept in the queue for a turn that would refuse it anyway.
    if (this.#answerBytesHeld >= this.options.answerBytes) throw this.#answersHeld();
    if (this.#running >= this.options.running) await this.#wait(signal);
    else this.#running++;
    try {
      if (this.#answerBytesHeld >= this.options.answerBytes) throw this.#answersHeld();
      return await merge();
    } finally {
      this.#release();
    }
  }

  /**
   * Counts `bytes` of a drawn answer as held until the returned function is called (once its connection closes;
   * calling it again does nothing). Called within the merge's turn, so the next turn sees them.
   */
  holdAnswer(bytes: number): () => void {
    this.#answerBytesHeld += bytes;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#answerBytesHeld -= bytes;
    };
  }

  #answersHeld(): PodflameError {
    const { answerBytes, retryAfterSeconds } = this.options;
    const mib = (n: number) => Math.round(n / 1024 ** 2);
    return new PodflameError(
      'TOO_MANY_MERGES',
      `this agent still holds ${mib(this.#answerBytesHeld)} MiB of merged answers their callers have not read ` +
        `(at most ${mib(answerBytes)} MiB before a new merge starts); retry in about ${retryAfterSeconds} s`,
      {
        details: {
          answerBytesHeld: this.#answerBytesHeld,
          answerBytes,
          retryAfterSeconds,
        },
      },
    );
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
