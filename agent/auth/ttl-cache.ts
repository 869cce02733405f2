/**
 * A small bounded cache with a time to live per entry, least recently used evicted first. Map iteration order is
 * insertion order, so re-inserting on a hit keeps the oldest entry first without any extra bookkeeping.
 * Used for TokenReview and SubjectAccessReview answers: a burst of requests from one caller costs one API call, and a
 * revoked token or binding stops working within the TTL.
 */
export interface TtlCacheOptions {
  /** How long an entry is served, in ms. */
  ttlMs: number;
  /** Entries kept at most; the least recently used goes first. */
  maxEntries: number;
  /** Clock in ms (injected for tests). Default: Date.now. */
  now?: () => number;
}

export class TtlCache<V> {
  readonly #entries = new Map<string, { value: V; expiresAt: number }>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(options: TtlCacheOptions) {
    if (!(options.ttlMs >= 0) || !Number.isInteger(options.maxEntries) || options.maxEntries < 1) {
      throw new RangeError(
        `TtlCache needs ttlMs >= 0 and maxEntries >= 1, got ${options.ttlMs}, ${options.maxEntries}`,
      );
    }
    this.#ttlMs = options.ttlMs;
    this.#maxEntries = options.maxEntries;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (entry.expiresAt <= this.#now()) return undefined;
    this.#entries.set(key, entry);
    return entry.value;
  }

  /** Stores a value for `ttlMs` (default: the cache's TTL). */
  set(key: string, value: V, ttlMs: number = this.#ttlMs): void {
    if (ttlMs <= 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt: this.#now() + ttlMs });
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }

  clear(): void {
    this.#entries.clear();
  }
}
