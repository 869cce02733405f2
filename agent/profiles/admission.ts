/**
 * Who may start a capture now: one capture per target container and event at a time (a second perf on the same
 * processes would double their overhead and each would see the other; two recordings of one Flight Recorder event
 * would each weigh the same events), while captures of different events of one container run side by side (a
 * scheduled alloc beside a scheduled lock, or a cpu perf beside a JFR recording: each JFR recording has a name of its
 * own, the settings of several are merged by the JVM, and perf records the processes whatever the JVM does), at most `maxConcurrent` on the agent (each capture
 * container costs memory and CPU on the node), and at most `maxPerNamespace` of one namespace (so that one team's
 * captures, scheduled or on demand, cannot hold every slot of the node). Refusals say when to retry.
 *
 * A container outside any pod has no namespace: only the agent's limit applies to it. Only callers who may name a
 * container by ID without a pod reach one (`--auth token` or `none`: the operator's own tokens); `--auth kubernetes`
 * refuses a target without a pod before admission, so no tenant can use that to escape their namespace's limit.
 */
import { PodflameError } from '../../shared/errors.js';
import { DEFAULT_PROFILE_EVENT, type ProfileEvent } from '../../shared/profile-events.js';

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
  /** Keyed by container ID and event (`ID\0event`). */
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
   * `details.retryAfterSeconds`. `namespace`: the target's pod's; absent for a container outside any pod. `event`:
   * what the capture records (cpu when absent).
   */
  admit(
    containerId: string,
    expectedEndMs: number,
    namespace?: string,
    event: ProfileEvent = DEFAULT_PROFILE_EVENT,
  ): CaptureSlot {
    const key = `${containerId}\0${event}`;
    const busy = this.#byContainer.get(key);
    if (busy !== undefined) {
      const retryAfterSeconds = this.#retryAfterSeconds([busy]);
      throw new PodflameError(
        'CAPTURE_IN_PROGRESS',
        `a capture of ${event} in container ${containerId.slice(0, 12)} is already running (captures of other ` +
          `events may run beside it); retry in about ${retryAfterSeconds} s`,
        { details: { containerId, event, retryAfterSeconds } },
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
    this.#byContainer.set(key, entry);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        if (this.#byContainer.get(key) === entry) this.#byContainer.delete(key);
      },
    };
  }
}
