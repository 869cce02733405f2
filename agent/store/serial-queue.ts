/**
 * Runs async tasks one at a time, in the order they were queued: the store's writes (dictionary appends, commits,
 * rollup updates, removals) must not interleave, while its reads need no lock (files only appear by rename).
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Resolves once everything queued so far has run. */
  idle(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}
