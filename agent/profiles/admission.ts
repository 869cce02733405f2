/**
 * Who may start a capture now: one capture per target container at a time (a second perf on the same processes
 * would double their overhead and each would see the other), and at most `maxConcurrent` on the agent (each capture
 * container costs memory and CPU on the node). Refusals say when to retry.
 */
import { PodflameError } from '../../shared/errors.js';

export interface CaptureSlot {
  /** Frees the slot; calling it again does nothing. */
  release(): void;
}

interface Running {
  /** When the capture is expected to end (ms since epoch), for Retry-After. */
  expectedEndMs: number;
}

export class CaptureAdmission {
  readonly #maxConcurrent: number;
  readonly #now: () => number;
  readonly #byContainer = new Map<string, Running>();

  constructor(maxConcurrent: number, now: () => number = Date.now) {
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
      throw new RangeError(`maxConcurrent must be a whole number >= 1, got ${maxConcurrent}`);
    }
    this.#maxConcurrent = maxConcurrent;
    this.#now = now;
  }

  get inFlight(): number {
    return this.#byContainer.size;
  }

  #retryAfterSeconds(expectedEndMs: number): number {
    return Math.max(1, Math.ceil((expectedEndMs - this.#now()) / 1000));
  }

  /** Throws CAPTURE_IN_PROGRESS (409) or TOO_MANY_CAPTURES (429), both with `details.retryAfterSeconds`. */
  admit(containerId: string, expectedEndMs: number): CaptureSlot {
    const busy = this.#byContainer.get(containerId);
    if (busy !== undefined) {
      const retryAfterSeconds = this.#retryAfterSeconds(busy.expectedEndMs);
      throw new PodflameError(
        'CAPTURE_IN_PROGRESS',
        `a capture of container ${containerId.slice(0, 12)} is already running; retry in about ${retryAfterSeconds} s`,
        { details: { containerId, retryAfterSeconds } },
      );
    }
    if (this.#byContainer.size >= this.#maxConcurrent) {
      const soonest = Math.min(...[...this.#byContainer.values()].map((r) => r.expectedEndMs));
      const retryAfterSeconds = this.#retryAfterSeconds(soonest);
      throw new PodflameError(
        'TOO_MANY_CAPTURES',
        `this agent already runs ${this.#byContainer.size} captures (its limit, --max-concurrent); retry in about ${retryAfterSeconds} s`,
        { details: { limit: this.#maxConcurrent, retryAfterSeconds } },
      );
    }
    const entry: Running = { expectedEndMs };
    this.#byContainer.set(containerId, entry);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        if (this.#byContainer.get(containerId) === entry) this.#byContainer.delete(containerId);
      },
    };
  }
}
