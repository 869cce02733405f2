/**
 * Profiles this agent process has taken, by id, for `GET /v1/profiles/:id` (async captures, and a second look at a
 * synchronous one). In memory and bounded: running profiles are always kept, finished ones beyond `retention`
 * profiles or `maxBytes` bytes of stacks (as held: folded-bytes.ts) are dropped oldest first. The node-local store (schedules, history) is a
 * different thing with its own retention.
 */
import type { ProfileMetadata } from '../../shared/api.js';
import type { PodflameError } from '../../shared/errors.js';
import type { FoldedBytes } from './folded-bytes.js';
import type { EventCounts } from '../../shared/folded.js';
import type { RenderRequest } from './render-profile.js';

export interface ProfileRecord {
  metadata: ProfileMetadata;
  /** What the request asked the renderer for (title, width, ...), reused when the SVG is fetched later. */
  render: RenderRequest;
  /** Set when status is `done`: the stacks as folded bytes (folded-bytes.ts), counted against the bound as held. */
  folded?: FoldedBytes;
  /**
   * Set when the profile's collapser counted events per stack (a lock profile's contentions): for the store and
   * Pyroscope. Bounded with the stacks (one number per kept stack), not counted in `maxBytes`.
   */
  eventCounts?: EventCounts;
  /** Set when status is `failed`. */
  error?: PodflameError;
  /** Settles when the capture has finished, either way (never rejects). */
  settled: Promise<void>;
  /** Stops the capture while it runs (DELETE, shutdown). */
  abort(reason: PodflameError): void;
}

export class ProfileRegistry {
  readonly #retention: number;
  readonly #maxBytes: number;
  readonly #records = new Map<string, ProfileRecord>();
  /** Ids of finished profiles, oldest first, and the bytes of their folded stacks. */
  readonly #finished: { id: string; bytes: number }[] = [];
  #bytes = 0;

  /**
   * `retention`: finished profiles kept (`--profile-retention`); `maxBytes`: bytes of their folded stacks kept
   * (`--profiles-max-bytes`), the newest always kept. Default no byte bound.
   */
  constructor(retention: number, maxBytes = Infinity) {
    if (!Number.isInteger(retention) || retention < 1) {
      throw new RangeError(`profile retention must be a whole number >= 1, got ${retention}`);
    }
    if (!(maxBytes > 0)) throw new RangeError(`profile registry bytes must be > 0, got ${maxBytes}`);
    this.#retention = retention;
    this.#maxBytes = maxBytes;
  }

  add(record: ProfileRecord): void {
    this.#records.set(record.metadata.id, record);
  }

  get(id: string): ProfileRecord | undefined {
    return this.#records.get(id);
  }

  /** Records that the profile finished; evicts the oldest finished ones beyond either bound (never this one). */
  markFinished(id: string): void {
    const record = this.#records.get(id);
    if (record === undefined) return;
    const bytes = record.folded?.byteLength ?? 0;
    this.#finished.push({ id, bytes });
    this.#bytes += bytes;
    while (this.#finished.length > this.#retention || (this.#bytes > this.#maxBytes && this.#finished.length > 1)) {
      const oldest = this.#finished.shift() as { id: string; bytes: number };
      this.#records.delete(oldest.id);
      this.#bytes -= oldest.bytes;
    }
  }

  /** Bytes the finished profiles' folded stacks hold. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Every profile kept (running and finished), newest start first; ties by id, so the order is stable. */
  list(): ProfileRecord[] {
    return [...this.#records.values()].sort(
      (a, b) =>
        b.metadata.startedAt.localeCompare(a.metadata.startedAt) ||
        (a.metadata.id < b.metadata.id ? -1 : a.metadata.id > b.metadata.id ? 1 : 0),
    );
  }

  running(): ProfileRecord[] {
    return [...this.#records.values()].filter((r) => r.metadata.status === 'running');
  }

  get size(): number {
    return this.#records.size;
  }
}
