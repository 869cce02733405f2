/**
 * JFR recordings (format 2: JDK 11+, 8u272+) → folded stacks per event kind (`alloc` bytes, `lock` nanoseconds,
 * `wall` samples; see event-plan.ts), streaming: bytes are pushed in pieces of any size, each chunk is read as soon
 * as its last byte arrives and then dropped, so memory holds one chunk (the JVM rotates them at 12 MB by default),
 * that chunk's pools and the distinct stacks — never the file. A file that is not JFR, is cut short or contradicts
 * itself ends in JFR_MALFORMED with the byte offset.
 *
 *   const reader = new JfrReader();
 *   for await (const piece of createReadStream(path)) reader.push(piece);
 *   const profile = reader.finish(); // profile.stacks.alloc: Map<'java.lang.Thread.run_[j];…;AllocLoop.allocateBuffers_[j]', bytes>
 */
import { PodflameError } from '../errors.js';
import type { FoldedStacks } from '../folded.js';
import { JfrMalformed } from './byte-reader.js';
import { CHUNK_HEADER_BYTES, parseChunkHeader, type ChunkHeader } from './chunk-header.js';
import { parseChunk, type MetadataCache } from './chunk-parser.js';
import { DecodeHeap } from './decode-heap.js';
import { JFR_EVENT_KINDS, type JfrEventKind } from './event-plan.js';
import { addWeight } from './event-weights.js';

export { JFR_EVENT_KINDS, type JfrEventKind } from './event-plan.js';

export interface JfrReadOptions {
  /** The largest chunk read (its bytes are held while it is read). Default 256 MiB (the JVM writes 12 MB chunks). */
  maxChunkBytes?: number;
  /** The event kinds whose stacks are kept; the others' stay empty. Default all (JFR_EVENT_KINDS). */
  kinds?: readonly JfrEventKind[];
  /**
   * The most heap one chunk's decoding may hold (its pools, stack traces and names, counted as they are decoded);
   * beyond it the read fails with PROFILE_TOO_LARGE. Default 256 MiB.
   */
  maxChunkHeapBytes?: number;
  /** Told heapBytes() as a chunk's decoding grows it (every 256 KiB counted); may throw to stop the read. */
  onHeap?: (heapBytes: number) => void;
}

export const DEFAULT_JFR_READ_OPTIONS: Readonly<Required<JfrReadOptions>> = Object.freeze({
  maxChunkBytes: 256 * 1024 * 1024,
  kinds: JFR_EVENT_KINDS,
  maxChunkHeapBytes: 256 * 1024 * 1024,
  onHeap: () => {},
});

// heapBytes(): what a distinct stack kept costs beyond its chars (string header, map entry, hash table slack), in
// bytes of V8 heap, rounded up from the bundled recordings. What a chunk's decoding holds is counted by DecodeHeap.
const STACK_HEAP_BYTES = 96;

export interface JfrProfile {
  /** Folded stacks (root first) → weight: `alloc` in bytes, `lock` in nanoseconds, `wall` in samples. */
  stacks: Record<JfrEventKind, FoldedStacks>;
  /** Folded stacks → how many events made up their weight (a lock stack's contentions). */
  counts: Record<JfrEventKind, FoldedStacks>;
  /** Events counted, by JFR event name. */
  events: Map<string, number>;
  chunks: number;
  /** Stack trace ids (per chunk) that the chunk's pools did not have; their weight is under `[unknown stack]`. */
  unresolvedStacks: number;
  /** jdk.ObjectAllocationSample events left out as their thread's first of a chunk (chunk-parser.ts says why). */
  firstSamplesLeftOut: number;
  /**
   * Weights cut to their bound (event-weights.ts): a duration longer than the recording, a weight or a kind's total
   * beyond Number.MAX_SAFE_INTEGER. Each kind's total stays within it.
   */
  clampedWeights: number;
  /** Events left out for a negative weight or one that is not a number. */
  rejectedWeights: number;
}

/** The first bytes of a piece of a chunk are copied into a buffer of at least this size, grown by doubling. */
const MIN_BUFFER_BYTES = 64 * 1024;

export class JfrReader {
  private readonly maxChunkBytes: number;
  private readonly profile: JfrProfile = {
    stacks: { alloc: new Map(), lock: new Map(), wall: new Map() },
    counts: { alloc: new Map(), lock: new Map(), wall: new Map() },
    events: new Map(),
    chunks: 0,
    unresolvedStacks: 0,
    firstSamplesLeftOut: 0,
    clampedWeights: 0,
    rejectedWeights: 0,
  };
  /** Each kind's total weight so far, kept within Number.MAX_SAFE_INTEGER. */
  private readonly totals = new Map<JfrEventKind, number>();
  /** The earliest start of the chunks read (epoch ns): a duration can go back that far, not further. */
  private firstStartNanos = Infinity;
  /** The current chunk's bytes so far; grown as bytes arrive, never by what a header claims. */
  private buffer = new Uint8Array(0);
  private filled = 0;
  private header: ChunkHeader | undefined;
  /** Input offset of the current chunk. */
  private chunkStart = 0;
  private failed: PodflameError | undefined;
  private readonly metadataCache: MetadataCache = {};
  private readonly kinds: readonly JfrEventKind[];
  /** Chars of the kept stacks' names, for heapBytes(). */
  private stackChars = 0;
  /** The size of the chunk whose bytes are arriving or being decoded (0 between chunks). */
  private chunkBytes = 0;
  /** What the chunk being decoded holds, counted as it is decoded. */
  private readonly chunkHeap: DecodeHeap;

  constructor(options: JfrReadOptions = {}) {
    this.maxChunkBytes = options.maxChunkBytes ?? DEFAULT_JFR_READ_OPTIONS.maxChunkBytes;
    this.kinds = options.kinds ?? DEFAULT_JFR_READ_OPTIONS.kinds;
    const onHeap = options.onHeap;
    this.chunkHeap = new DecodeHeap(
      options.maxChunkHeapBytes ?? DEFAULT_JFR_READ_OPTIONS.maxChunkHeapBytes,
      onHeap === undefined ? undefined : () => onHeap(this.heapBytes()),
    );
  }

  /** Distinct stacks kept, over the kinds kept. */
  stackCount(): number {
    let n = 0;
    for (const kind of this.kinds) n += this.profile.stacks[kind].size;
    return n;
  }

  /**
   * An estimate of the memory the reader holds: the stacks kept (UTF-16, as a name may be), the metadata kept for the
   * next chunks, the current chunk's bytes (held from the moment its header says its size, so a chunk too large is
   * refused before its bytes arrive) and what its decoding holds so far (its pools, stack traces and names). Counted,
   * not measured, so cheap after every piece and during a chunk's decoding.
   */
  heapBytes(): number {
    const metadata = this.metadataCache.heapBytes ?? 0;
    const stacks = this.stackCount() * STACK_HEAP_BYTES + 2 * this.stackChars;
    return stacks + metadata + this.chunkBytes + this.chunkHeap.bytes;
  }

  /** Adds bytes; the reader copies what it keeps, so the caller may reuse `piece`. */
  push(piece: Uint8Array): void {
    if (this.failed) throw this.failed;
    try {
      let from = 0;
      while (from < piece.length) {
        // A whole chunk inside the piece is read where it lies, without a copy.
        if (this.filled === 0 && piece.length - from >= CHUNK_HEADER_BYTES) {
          const header = this.checkedHeader(piece.subarray(from, from + CHUNK_HEADER_BYTES));
          if (header.size <= piece.length - from) {
            this.onChunk(header, piece.subarray(from, from + header.size));
            from += header.size;
            continue;
          }
        }
        const wanted = (this.header?.size ?? CHUNK_HEADER_BYTES) - this.filled;
        const take = Math.min(wanted, piece.length - from);
        this.append(piece.subarray(from, from + take));
        from += take;
        if (this.header === undefined && this.filled === CHUNK_HEADER_BYTES) this.onHeader();
        if (this.header !== undefined && this.filled === this.header.size) {
          this.onChunk(this.header, this.buffer.subarray(0, this.header.size));
        }
      }
    } catch (err) {
      this.failed = err instanceof PodflameError ? err : new PodflameError('INTERNAL', String(err), { cause: err });
      throw this.failed;
    }
  }

  /** The profile of everything pushed; fails when the input was empty or ends inside a chunk. */
  finish(): JfrProfile {
    if (this.failed) throw this.failed;
    if (this.filled > 0) {
      const expected = this.header === undefined ? `a ${CHUNK_HEADER_BYTES}-byte header` : `${this.header.size} bytes`;
      throw new JfrMalformed(
        `the input ends inside chunk ${this.profile.chunks} (${this.filled} bytes of ${expected}: the file is truncated)`,
        this.chunkStart + this.filled,
        { chunk: this.profile.chunks },
      );
    }
    if (this.profile.chunks === 0) throw new JfrMalformed('the input is empty', 0);
    return this.profile;
  }

  private append(bytes: Uint8Array): void {
    const needed = this.filled + bytes.length;
    if (needed > this.buffer.length) {
      const limit = this.header?.size ?? CHUNK_HEADER_BYTES;
      const grown = new Uint8Array(Math.min(limit, Math.max(MIN_BUFFER_BYTES, needed, this.buffer.length * 2)));
      grown.set(this.buffer.subarray(0, this.filled));
      this.buffer = grown;
    }
    this.buffer.set(bytes, this.filled);
    this.filled = needed;
  }

  private onHeader(): void {
    this.header = this.checkedHeader(this.buffer.subarray(0, CHUNK_HEADER_BYTES));
    this.chunkBytes = this.header.size;
  }

  private checkedHeader(bytes: Uint8Array): ChunkHeader {
    const header = parseChunkHeader(bytes, this.chunkStart);
    if (header.size > this.maxChunkBytes) {
      throw new PodflameError(
        'PROFILE_TOO_LARGE',
        `JFR chunk ${this.profile.chunks} at byte ${this.chunkStart} has ${header.size} bytes, more than the ` +
          `${this.maxChunkBytes} read at once; record with a smaller maxchunksize (-XX:FlightRecorderOptions) or raise the limit`,
        { details: { offset: this.chunkStart, chunkBytes: header.size, maxChunkBytes: this.maxChunkBytes } },
      );
    }
    return header;
  }

  private onChunk(header: ChunkHeader, bytes: Uint8Array): void {
    this.chunkBytes = header.size;
    this.chunkHeap.reset();
    this.firstStartNanos = Math.min(this.firstStartNanos, header.startNanos);
    const span = Math.max(0, header.startNanos + header.durationNanos - this.firstStartNanos);
    const chunk = parseChunk(bytes, this.chunkStart, header, this.metadataCache, this.chunkHeap, span);
    this.chunkHeap.report();
    const profile = this.profile;
    for (const kind of this.kinds) {
      const into = profile.stacks[kind];
      let total = this.totals.get(kind) ?? 0;
      for (const [stack, chunkWeight] of chunk.stacks[kind]) {
        // The kind's total, and with it every stack's weight and any sum of them, stays exact.
        let weight = chunkWeight;
        if (weight > Number.MAX_SAFE_INTEGER - total) {
          weight = Number.MAX_SAFE_INTEGER - total;
          profile.clampedWeights++;
        }
        total += weight;
        if (!into.has(stack)) this.stackChars += stack.length;
        addWeight(into, stack, weight, chunk.weights);
      }
      this.totals.set(kind, total);
      const counts = profile.counts[kind];
      for (const [stack, n] of chunk.counts[kind]) counts.set(stack, (counts.get(stack) ?? 0) + n);
    }
    for (const [name, n] of chunk.events) profile.events.set(name, (profile.events.get(name) ?? 0) + n);
    profile.unresolvedStacks += chunk.unresolvedStacks;
    profile.firstSamplesLeftOut += chunk.firstSamplesLeftOut;
    profile.clampedWeights += chunk.weights.clampedWeights;
    profile.rejectedWeights += chunk.weights.rejectedWeights;
    this.profile.chunks++;
    this.chunkHeap.reset();
    this.chunkBytes = 0;
    this.chunkStart += header.size;
    this.header = undefined;
    this.filled = 0;
    // Keep a buffer of a usual chunk's size for the next one; drop a large one.
    if (this.buffer.length > 16 * 1024 * 1024) this.buffer = new Uint8Array(0);
  }
}

/** Reads a whole stream of JFR bytes (a file's read stream, a container's output). */
export async function readJfr(
  input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: JfrReadOptions = {},
): Promise<JfrProfile> {
  const reader = new JfrReader(options);
  for await (const piece of input) reader.push(piece);
  return reader.finish();
}
