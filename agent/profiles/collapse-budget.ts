/**
 * The profile worker's heap, shared out: the collapse sessions running at once may hold at most a budget together
 * (each says what it holds after every chunk), and a render may start only while what it needs fits beside them. The
 * job that would not fit fails alone with PROFILE_TOO_LARGE — the largest collapse, or the render — and the others
 * carry on, where a heap that ran out would fail every job in the thread at that moment (issue #13, N1).
 */
import { PodflameError } from '../../shared/errors.js';

const MiB = 1024 * 1024;

export interface CollapseBudgetOptions {
  /** The worker thread's heap (its old generation), MiB. */
  maxHeapMb: number;
  /** The share of the heap beyond `baseBytes` the collapse sessions may hold together (0 to 1). */
  share: number;
  /** Bytes of heap the thread holds before any job (its modules). */
  baseBytes: number;
}

interface Session<S> {
  state: S;
  heapBytes: number;
}

/** Collapse sessions by id, each with its state `S` and the heap it says it holds. */
export class CollapseBudget<S> {
  readonly #options: CollapseBudgetOptions;
  /** Bytes of heap the collapse sessions may hold together. */
  readonly budgetBytes: number;
  readonly #sessions = new Map<number, Session<S>>();
  /** Sessions stopped while another grew: told at their next job. */
  readonly #failed = new Map<number, PodflameError>();
  #heldBytes = 0;

  constructor(options: CollapseBudgetOptions) {
    this.#options = options;
    this.budgetBytes = Math.max(0, Math.floor(options.share * (options.maxHeapMb * MiB - options.baseBytes)));
  }

  /** Bytes the sessions hold together, as they last said. */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  add(id: number, state: S): void {
    this.#sessions.set(id, { state, heapBytes: 0 });
  }

  /** The session's state; its PROFILE_TOO_LARGE when it was stopped for another's growth. */
  get(id: number): S {
    const failed = this.#failed.get(id);
    if (failed !== undefined) {
      this.#failed.delete(id);
      throw failed;
    }
    const session = this.#sessions.get(id);
    if (session === undefined) throw new PodflameError('INTERNAL', `the profile worker has no collapse session ${id}`);
    return session.state;
  }

  /**
   * Records what session `id` holds now. Beyond the budget, the largest sessions are stopped until the rest fit; the
   * growing session's own stop is thrown, another's is told at its next job.
   */
  grew(id: number, heapBytes: number): void {
    const session = this.#sessions.get(id);
    if (session === undefined) return;
    this.#heldBytes += heapBytes - session.heapBytes;
    session.heapBytes = heapBytes;
    let own: PodflameError | undefined;
    while (this.#heldBytes > this.budgetBytes) {
      let largest: [number, Session<S>] | undefined;
      for (const entry of this.#sessions)
        if (largest === undefined || entry[1].heapBytes > largest[1].heapBytes) largest = entry;
      if (largest === undefined) break;
      const [victim, state] = largest;
      const error = this.#tooLarge(state.heapBytes);
      this.remove(victim);
      if (victim === id) own = error;
      else this.#failed.set(victim, error);
    }
    if (own !== undefined) throw own;
  }

  /** Forgets a session (finished, aborted or stopped): its state can be collected. */
  remove(id: number): void {
    const session = this.#sessions.get(id);
    if (session !== undefined) {
      this.#heldBytes -= session.heapBytes;
      this.#sessions.delete(id);
    }
    this.#failed.delete(id);
  }

  /** Throws PROFILE_TOO_LARGE when a render needing `heapBytes` would not fit beside the sessions' heap. */
  checkRender(heapBytes: number): void {
    const { maxHeapMb, baseBytes } = this.#options;
    const room = maxHeapMb * MiB - baseBytes - this.#heldBytes;
    if (heapBytes <= room) return;
    const busy = this.#heldBytes > 0 ? `, ${mib(this.#heldBytes)} MiB of which captures being collapsed hold now` : '';
    throw new PodflameError(
      'PROFILE_TOO_LARGE',
      `drawing this answer would need about ${mib(heapBytes)} MiB of the agent's profile worker heap ` +
        `(${maxHeapMb} MiB${busy}); ask for a narrower graph (a smaller width, a larger minwidth), the folded ` +
        `text, a shorter range${this.#heldBytes > 0 ? ', or retry when the captures are done' : ''}, or give the ` +
        'worker more heap (--worker-heap)',
      { details: { workerHeapMb: maxHeapMb, neededMb: mib(heapBytes), collapsingMb: mib(this.#heldBytes) } },
    );
  }

  #tooLarge(heapBytes: number): PodflameError {
    const { maxHeapMb } = this.#options;
    const budgetBytes = this.budgetBytes;
    return new PodflameError(
      'PROFILE_TOO_LARGE',
      `the profile needed more of the agent's profile worker than a capture may take: the captures being ` +
        `collapsed may hold ${mib(budgetBytes)} MiB of its ${maxHeapMb} MiB heap together, and this one held ` +
        `about ${mib(heapBytes)} MiB; capture a shorter duration or at a lower frequency, or give the worker more ` +
        'heap (--worker-heap)',
      { details: { workerHeapMb: maxHeapMb, collapseBudgetMb: mib(budgetBytes), heldMb: mib(heapBytes) } },
    );
  }
}

function mib(bytes: number): number {
  return Math.round(bytes / MiB);
}
