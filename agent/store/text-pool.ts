/**
 * One copy of each stack's text across the blocks whose dictionaries are in memory: a service runs the same stacks
 * every day, so each day's block names mostly the same ones, and a week's dictionaries held each text seven times
 * (30 MB of a 35 MB cache for a service of 12,000 stacks). Counted per block that holds a text, so that a text goes
 * when the last block naming it leaves the cache.
 */
export class TextPool {
  readonly #texts = new Map<string, { text: string; holders: number }>();

  /** The pooled copy of `text` (itself if it is the first), held once more. */
  hold(text: string): string {
    const entry = this.#texts.get(text);
    if (entry) {
      entry.holders++;
      return entry.text;
    }
    this.#texts.set(text, { text, holders: 1 });
    return text;
  }

  /** Lets go of one hold of each text. */
  release(texts: Iterable<string>): void {
    for (const text of texts) {
      const entry = this.#texts.get(text);
      if (entry === undefined) continue;
      if (--entry.holders === 0) this.#texts.delete(text);
    }
  }

  /** Distinct texts held. */
  get size(): number {
    return this.#texts.size;
  }
}
