/**
 * Who may start a capture now: one capture per target container at a time (a second perf on the same processes
 * would double their overhead and each would see the other), at most `maxConcurrent` on the agent (each capture
 * container costs memory and CPU on the node), and at most `maxPerNamespace` of one namespace (so that one team's
 * captures, scheduled or on demand, cannot hold every slot of the node). Refusals say when to retry.
 *
 * A container outside any pod has no namespace: only the agent's limit applies to it. Only callers who may name a
 * container by ID without a pod reach one (`--auth token` or `none`: the operator's own tokens); `--auth kubernetes`
 * refuses a target without a pod before admission, so no tenant can use that to escape their namespace's limit.
 */
import { PodflameError } from '../../shared/errors.js';

export interface CaptureSlot {
  /** Frees the slot; calling it again does nothing. */
  release(): void;
}

export interface AdmissionLimits {
  /** Captures at once on the agent (`--max-concurrent`). Required, ≥ 1. */
  maxConcurrent: number;
  /** Captures at once of one namespace's containers (`--namespace-max-concurrent`). Default `maxConcurrent`. */
  maxPerNamespace?: number;
}

interface Running {
  /** When the capture is expected to end (ms since epoch), for Retry-After. */
  expectedEndMs: number;
  namespace: string | undefined;
}

export class CaptureAdmission {
  readonly #maxConcurrent: number;
  readonly #maxPerNamespace: number;
  readonly #now: () => number;
  readonly #byContainer = new Map<string, Running>();

  constructor(limits: AdmissionLimits, now: () => number = Date.now) {
    const { maxConcurrent } = limits;
    const maxPerNamespace = limits.maxPerNamespace ?? maxConcurrent;
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
      throw new RangeError(`maxConcurrent must be a whole number >= 1, got ${maxConcurrent}`);
    }
    if (!Number.isInteger(maxPerNamespace) || maxPerNamespace < 1) {
      throw new RangeError(`maxPerNamespace must be a whole number >= 1, got ${maxPerNamespace}`);
    }
    this.#maxConcurrent = maxConcurrent;
    this.#maxPerNamespace = maxPerNamespace;
    this.#now = now;
  }

  get inFlight(): number {
    return this.#byContainer.size;
  }

  #retryAfterSeconds(running: readonly Running[]): number {
    const soonest = Math.min(...running.map((r) => r.expectedEndMs));
    return Math.max(1, Math.ceil((soonest - this.#now()) / 1000));
  }

  /**
   * Throws CAPTURE_IN_PROGRESS (409), TOO_MANY_CAPTURES (429) or TOO_MANY_NAMESPACE_CAPTURES (429), all with
   * `details.retryAfterSeconds`. `namespace`: the target's pod's; absent for a container outside any pod.
   */
  admit(containerId: string, expectedEndMs: number, namespace?: string): CaptureSlot {
    const busy = this.#byContainer.get(containerId);
    if (busy !== undefined) {
      const retryAfterSeconds = this.#retryAfterSeconds([busy]);
      throw new PodflameError(
        'CAPTURE_IN_PROGRESS',
        `a capture of container ${containerId.slice(0, 12)} is already running; retry in about ${retryAfterSeconds} s`,
        { details: { containerId, retryAfterSeconds } },
      );
    }
    const running = [...this.#byContainer.values()];
    if (running.length >= this.#maxConcurrent) {
      const retryAfterSeconds = this.#retryAfterSeconds(running);
      throw new PodflameError(
        'TOO_MANY_CAPTURES',
        `this agent already runs ${running.length} captures (its limit, --max-concurrent); retry in about ${retryAfterSeconds} s`,
        { details: { limit: this.#maxConcurrent, retryAfterSeconds } },
      );
    }
    if (namespace !== undefined) {
      const ofNamespace = running.filter((r) => r.namespace === namespace);
      if (ofNamespace.length >= this.#maxPerNamespace) {
        const retryAfterSeconds = this.#retryAfterSeconds(ofNamespace);
        throw new PodflameError(
          'TOO_MANY_NAMESPACE_CAPTURES',
          `this agent already runs ${ofNamespace.length} captures of namespace ${namespace} (its limit, ` +
            `--namespace-max-concurrent); retry in about ${retryAfterSeconds} s`,
          { details: { quota: 'captures', limit: this.#maxPerNamespace, namespace, retryAfterSeconds } },
        );
      }
    }
    const entry: Running = { expectedEndMs, namespace };
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
