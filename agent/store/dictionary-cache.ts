/**
 * The blocks' stack dictionaries in memory, at most `maxBlocks` of them and at most `maxBytes` of estimated memory
 * (StackDictionary.memoryBytes), least recently used evicted first; the block used last stays even when it alone is
 * larger (a day's dictionary file is capped, `maxDictionaryBytes` in profile-store.ts, so that one is bounded too).
 * One object per block: writes intern into the same object queries read, so a reader never sees a dictionary older
 * than the data it read (merge.ts reads a block's data before its dictionary). A block being written is pinned:
 * evicting it would let a later load miss stacks interned but not yet appended. The blocks share one copy of each
 * stack's text (text-pool.ts): a day's stacks are mostly those of the day before.
 */
import { join } from 'node:path';
import { DICTIONARY_FILE, StackDictionary } from './stack-dictionary.js';
import { TextPool } from './text-pool.js';
import type { CompactionResult } from './dictionary-compaction.js';

export class DictionaryCache {
  private readonly loaded = new Map<string, Promise<StackDictionary>>();
  /** The loaded entries that have resolved, for their memory estimates. */
  private readonly resolved = new Map<string, StackDictionary>();
  private readonly pins = new Map<string, number>();
  private readonly pool = new TextPool();

  constructor(
    private readonly dirOf: (block: string) => string,
    private readonly maxBlocks: number,
    private readonly maxBytes = Number.POSITIVE_INFINITY,
  ) {}

  get(block: string): Promise<StackDictionary> {
    let entry = this.loaded.get(block);
    if (entry) {
      this.loaded.delete(block); // re-insert: Map order is the recency order
    } else {
      const loading = StackDictionary.load(join(this.dirOf(block), DICTIONARY_FILE), { pool: this.pool });
      entry = loading;
      loading.then(
        (dictionary) => {
          if (this.loaded.get(block) !== loading) return; // dropped while it loaded: no longer ours to hold
          this.resolved.set(block, dictionary);
          this.evict();
        },
        () => {
          if (this.loaded.get(block) === loading) this.loaded.delete(block);
        },
      );
    }
    this.loaded.set(block, entry);
    this.evict();
    return entry;
  }

  /** Runs `fn` with the block's dictionary pinned in the cache. */
  async pinned<T>(block: string, fn: (dictionary: StackDictionary) => Promise<T>): Promise<T> {
    this.pins.set(block, (this.pins.get(block) ?? 0) + 1);
    try {
      return await fn(await this.get(block));
    } finally {
      const n = (this.pins.get(block) ?? 1) - 1;
      if (n === 0) this.pins.delete(block);
      else this.pins.set(block, n);
      this.evict(); // it may have grown beyond the bound while pinned
    }
  }

  /** The block's dictionary if it is in memory (compaction updates it in place). */
  cached(block: string): StackDictionary | undefined {
    return this.resolved.get(block);
  }

  /**
   * After a compaction of the block's file: the dictionary in memory forgets the reclaimed stacks (a later intern
   * gives new IDs); one still loading may have read the old file, so it is dropped and loaded again when asked for.
   */
  compacted(block: string, result: CompactionResult): void {
    const dictionary = this.resolved.get(block);
    if (dictionary) dictionary.forget(result.stacks, result.frames, result.bytes);
    else if (this.loaded.has(block)) this.forget(block);
  }

  /** Forgets a block (removed by retention). */
  drop(block: string): void {
    this.forget(block);
  }

  /** Distinct stack texts held by the blocks in memory. */
  get texts(): number {
    return this.pool.size;
  }

  /** Estimated bytes of memory the dictionaries in the cache hold (texts shared between blocks counted in each). */
  get memoryBytes(): number {
    let total = 0;
    for (const dictionary of this.resolved.values()) total += dictionary.memoryBytes;
    return total;
  }

  /**
   * Evicts down to the bounds, the block used last too (unless pinned by a write): called once no query reads, so
   * that a day larger than the bound alone (840,000 short stacks: some 150 MB) is not held until the next query
   * (issue #13, F1). The next query or write loads it again.
   */
  trim(): void {
    this.evict(true);
  }

  private forget(block: string): void {
    const entry = this.loaded.get(block);
    this.loaded.delete(block);
    this.resolved.delete(block);
    entry?.then(
      (dictionary) => dictionary.release(),
      () => undefined,
    );
  }

  private evict(newestToo = false): void {
    let bytes = this.memoryBytes;
    const newest = newestToo ? undefined : [...this.loaded.keys()].at(-1);
    for (const block of [...this.loaded.keys()]) {
      if (this.loaded.size <= this.maxBlocks && bytes <= this.maxBytes) return;
      if (this.pins.has(block) || block === newest) continue;
      bytes -= this.resolved.get(block)?.memoryBytes ?? 0;
      this.forget(block);
    }
  }
}
