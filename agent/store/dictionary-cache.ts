/**
 * The blocks' stack dictionaries in memory, at most `maxBlocks` of them (least recently used go first), one object
 * per block: writes intern into the same object queries read, so a reader never sees a dictionary older than the
 * data it read (merge.ts reads a block's data before its dictionary). A block being written is pinned: evicting it
 * would let a later load miss stacks interned but not yet appended. The blocks share one copy of each stack's text
 * (text-pool.ts): a day's stacks are mostly those of the day before.
 */
import { join } from 'node:path';
import { DICTIONARY_FILE, StackDictionary } from './stack-dictionary.js';
import { TextPool } from './text-pool.js';

export class DictionaryCache {
  private readonly loaded = new Map<string, Promise<StackDictionary>>();
  private readonly pins = new Map<string, number>();
  private readonly pool = new TextPool();

  constructor(
    private readonly dirOf: (block: string) => string,
    private readonly maxBlocks: number,
  ) {}

  get(block: string): Promise<StackDictionary> {
    let entry = this.loaded.get(block);
    if (entry) {
      this.loaded.delete(block); // re-insert: Map order is the recency order
    } else {
      entry = StackDictionary.load(join(this.dirOf(block), DICTIONARY_FILE), { pool: this.pool });
      entry.catch(() => this.loaded.delete(block));
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
    }
  }

  /** Forgets a block (removed by retention). */
  drop(block: string): void {
    this.forget(block);
  }

  /** Distinct stack texts held by the blocks in memory. */
  get texts(): number {
    return this.pool.size;
  }

  private forget(block: string): void {
    const entry = this.loaded.get(block);
    this.loaded.delete(block);
    entry?.then(
      (dictionary) => dictionary.release(),
      () => undefined,
    );
  }

  private evict(): void {
    if (this.loaded.size <= this.maxBlocks) return;
    for (const block of this.loaded.keys()) {
      if (this.loaded.size <= this.maxBlocks) return;
      if (!this.pins.has(block)) this.forget(block);
    }
  }
}
