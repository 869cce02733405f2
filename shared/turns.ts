/**
 * Long loops of a query on the agent's main thread (loading a day's stack dictionary, naming a merge's stacks, packing
 * them for the profile worker) let the event loop in every few milliseconds, so that probes and other requests wait for
 * a slice of the work and not for the whole of it (issue #13, A3: a merge of 200,000 long stacks held /healthz for
 * 11 s).
 */

/** How long a stretch of work runs before the event loop gets a turn, ms. */
const TURN_MS = 10;
/** Steps between two looks at the clock. */
const CHECK_EVERY = 256;

export class Turns {
  #steps = 0;
  #since = performance.now();
  readonly #signal: AbortSignal | undefined;

  /** `signal`: the work stops at its next turn (with the signal's reason) once it is aborted: its caller went away. */
  constructor(signal?: AbortSignal) {
    this.#signal = signal;
  }

  /** Counts one step; true when the stretch has run long enough that the caller should `yield()`. */
  due(): boolean {
    return ++this.#steps % CHECK_EVERY === 0 && performance.now() - this.#since >= TURN_MS;
  }

  /**
   * Gives the event loop a turn (I/O callbacks included: setImmediate runs after them); throws the signal's reason
   * when it was aborted meanwhile.
   */
  async yield(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.#signal?.throwIfAborted();
    this.#since = performance.now();
  }
}
