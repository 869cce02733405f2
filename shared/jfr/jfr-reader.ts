/**
 * JFR recordings (format 2: JDK 11+, 8u272+) → folded stacks per event kind (`alloc` bytes, `lock` nanoseconds,
 * `wall` samples; see event-plan.ts), streaming: bytes are pushed in pieces of any size, each chunk is read as soon
 * as its last byte arrives and then dropped, so memory holds one chunk (the JVM rotates them at 12 MB by default),
 * that chunk's pools and the distinct stacks — never the file. A file that is not JFR, is cut short or contradicts
 * itself ends in JFR_MALFORMED with the byte offset.
 *
 * A wait in a wall graph (a sleep, park, monitor wait or enter: event-plan.ts) stands for the samples that the
 * thread sampler, which skips waiting threads, would have taken of it: its nanoseconds within the recording divided
 * by the wall period. Each folded stack's waits are added up in nanoseconds over the whole input and divided once, at
 * finish(), rounded to the nearest sample (half up): rounding each wait alone would err by up to half a sample per
 * wait, the same way for waits of like length (a thread waiting 1.4 periods at a time, 100 times, would count 100
 * samples, not 140; one waiting 1.6 periods, 200), whereas once per stack the error is at most half a sample per
 * stack, either way. A wall capture asks for no wait shorter than the period (its threshold).
 *
 * Given a window (`windowNanos`, a capture's requested duration), every graph covers [recording start, start +
 * window]: waits are cut at its end, and samples, allocation samples and waits begun after it are left out.
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
import { addWeight, noWeightCounts, type WeightCounts } from './event-weights.js';
import { DEFAULT_SAMPLING_OPTIONS, eventPeriodNanos } from '../export/sampling.js';

export { JFR_EVENT_KINDS, type JfrEventKind } from './event-plan.js';

export interface JfrReadOptions {
  /** The largest chunk read (its bytes are held while it is read). Default 256 MiB (the JVM writes 12 MB chunks). */
  maxChunkBytes?: number;
  /**
   * The event kinds whose stacks are read; the others' stay empty. A capture records one kind, and some events mean
   * one thing in one kind and another in another (a park is time blocked in `lock`, a waiting thread in `wall`):
   * asked for both, such an event counts in both. Default all (JFR_EVENT_KINDS).
   */
  kinds?: readonly JfrEventKind[];
  /**
   * Nanoseconds one `wall` sample stands for: the period the recording sampled threads at, which turns a wait's
   * duration into samples (event-plan.ts). Default 10 ms, a wall capture's at the default 99 Hz.
   */
  wallPeriodNanos?: number;
  /**
   * The most heap one chunk's decoding may hold (its pools, stack traces and names, counted as they are decoded);
   * beyond it the read fails with PROFILE_TOO_LARGE. Default 256 MiB.
   */
  maxChunkHeapBytes?: number;
  /** Told heapBytes() as a chunk's decoding grows it (every 256 KiB counted); may throw to stop the read. */
  onHeap?: (heapBytes: number) => void;
  /**
   * The graph's window, in nanoseconds from the recording's start (the earliest chunk start): a wait counts its part
   * within it only, and an event (a wait, a sample, an allocation sample) that began after its end counts nothing. A
   * capture passes its requested duration: the recording runs from JFR.start until JFR.stop completes, 0.7 to 1.8 s
   * later under load, and its tail would give lock and wall graphs more time than threads × the duration. Default:
   * none (the whole recording).
   */
  windowNanos?: number;
}

export const DEFAULT_JFR_READ_OPTIONS: Readonly<Required<JfrReadOptions>> = Object.freeze({
  maxChunkBytes: 256 * 1024 * 1024,
  kinds: JFR_EVENT_KINDS,
  wallPeriodNanos: eventPeriodNanos('wall', DEFAULT_SAMPLING_OPTIONS.frequencyHz),
  maxChunkHeapBytes: 256 * 1024 * 1024,
  onHeap: () => {},
  windowNanos: Infinity,
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
  /**
   * Stack trace ids (per chunk) that neither the chunk's pools nor the previous chunk's of the same recording had;
   * their weight is under `[unknown stack]`.
   */
  unresolvedStacks: number;
  /** Stack trace ids (per chunk) found in the previous chunk's pools only (chunk-parser.ts `previousPools`). */
  stacksFromPreviousChunk: number;
  /** jdk.ObjectAllocationSample events left out as their thread's first of a chunk (chunk-parser.ts says why). */
  firstSamplesLeftOut: number;
  /**
   * Weights cut to their bound (event-weights.ts): a duration longer than the recording, a weight or a kind's total
   * beyond Number.MAX_SAFE_INTEGER. Each kind's total stays within it.
   */
  clampedWeights: number;
  /** Events left out for a negative weight or one that is not a number. */
  rejectedWeights: number;
  /** Events left out as begun after the window's end (JfrReadOptions `windowNanos`), once per kind read. */
  afterWindow: number;
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
    stacksFromPreviousChunk: 0,
    firstSamplesLeftOut: 0,
    clampedWeights: 0,
    rejectedWeights: 0,
    afterWindow: 0,
  };
  /** Each kind's total weight so far, kept within Number.MAX_SAFE_INTEGER. */
  private readonly totals = new Map<JfrEventKind, number>();
  /**
   * The earliest start of the chunks read (epoch ns): a duration can go back that far, not further, and a wait (lock
   * or wall) counts from there.
   */
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
  private readonly wallPeriodNanos: number;
  /** From the recording's start; Infinity: no window. */
  private readonly windowNanos: number;
  /** wall: each folded stack's waits so far, in nanoseconds within the recording, and how many; samples at finish(). */
  private readonly waitedNanos = new Map<string, number>();
  private readonly waitedCounts = new Map<string, number>();
  private finished = false;
  /** Chars of the kept stacks' names (waits' too), for heapBytes(). */
  private stackChars = 0;
  /** The size of the chunk whose bytes are arriving or being decoded (0 between chunks). */
  private chunkBytes = 0;
  /** What the chunk being decoded holds, counted as it is decoded. */
  private readonly chunkHeap: DecodeHeap;
  /**
   * The last chunk read: its header, its stack traces named (for those the next chunk of its recording refers to)
   * and the heap they hold (for heapBytes()).
   */
  private previousChunk:
    { header: ChunkHeader; stackNames: ReadonlyMap<number, string>; heapBytes: number } | undefined;

  constructor(options: JfrReadOptions = {}) {
    this.maxChunkBytes = options.maxChunkBytes ?? DEFAULT_JFR_READ_OPTIONS.maxChunkBytes;
    this.kinds = options.kinds ?? DEFAULT_JFR_READ_OPTIONS.kinds;
    this.wallPeriodNanos = options.wallPeriodNanos ?? DEFAULT_JFR_READ_OPTIONS.wallPeriodNanos;
    if (!(Number.isSafeInteger(this.wallPeriodNanos) && this.wallPeriodNanos > 0)) {
      throw new PodflameError(
        'INVALID_INPUT',
        `the wall period must be a whole positive number of nanoseconds (e.g. 10000000), got ${this.wallPeriodNanos}`,
      );
    }
    this.windowNanos = options.windowNanos ?? DEFAULT_JFR_READ_OPTIONS.windowNanos;
    if (!(this.windowNanos === Infinity || (Number.isSafeInteger(this.windowNanos) && this.windowNanos > 0))) {
      throw new PodflameError(
        'INVALID_INPUT',
        `the window must be a whole positive number of nanoseconds (e.g. 2000000000 for 2 s), got ${this.windowNanos}`,
      );
    }
    const onHeap = options.onHeap;
    this.chunkHeap = new DecodeHeap(
      options.maxChunkHeapBytes ?? DEFAULT_JFR_READ_OPTIONS.maxChunkHeapBytes,
      onHeap === undefined ? undefined : () => onHeap(this.heapBytes()),
    );
  }

  /** Distinct stacks kept, over the kinds kept. */
  stackCount(): number {
    let n = this.waitedNanos.size;
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
    return stacks + metadata + this.chunkBytes + this.chunkHeap.bytes + (this.previousChunk?.heapBytes ?? 0);
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
    if (!this.finished) {
      this.finished = true;
      this.addWaitSamples();
      // No chunk follows to look into them: the profile is all the reader holds from here on.
      this.previousChunk = undefined;
    }
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
    const previous = this.previousChunk;
    const reading = {
      kinds: this.kinds,
      recordingStartNanos: this.firstStartNanos,
      ...(this.windowNanos === Infinity ? {} : { windowNanos: this.windowNanos }),
      ...(previous !== undefined && continues(previous.header, header) ? { previousStacks: previous.stackNames } : {}),
    };
    const chunk = parseChunk(bytes, this.chunkStart, header, reading, this.metadataCache, this.chunkHeap);
    this.chunkHeap.report();
    // Kept until the next chunk is read: one chunk's stack names more, within the caps through heapBytes().
    this.previousChunk = { header, stackNames: chunk.stackNames, heapBytes: chunk.stackNamesHeapBytes };
    const profile = this.profile;
    for (const kind of this.kinds) {
      for (const [stack, weight] of chunk.stacks[kind]) this.addToKind(kind, stack, weight, chunk.weights);
      const counts = profile.counts[kind];
      for (const [stack, n] of chunk.counts[kind]) counts.set(stack, (counts.get(stack) ?? 0) + n);
    }
    for (const [stack, nanos] of chunk.waited.weights) {
      if (!this.waitedNanos.has(stack)) this.stackChars += stack.length;
      addWeight(this.waitedNanos, stack, nanos, chunk.weights);
      this.waitedCounts.set(stack, (this.waitedCounts.get(stack) ?? 0) + (chunk.waited.counts.get(stack) ?? 0));
    }
    for (const [name, n] of chunk.events) profile.events.set(name, (profile.events.get(name) ?? 0) + n);
    profile.unresolvedStacks += chunk.unresolvedStacks;
    profile.stacksFromPreviousChunk += chunk.stacksFromPreviousChunk;
    profile.firstSamplesLeftOut += chunk.firstSamplesLeftOut;
    profile.clampedWeights += chunk.weights.clampedWeights;
    profile.rejectedWeights += chunk.weights.rejectedWeights;
    profile.afterWindow += chunk.afterWindow;
    this.profile.chunks++;
    this.chunkHeap.reset();
    this.chunkBytes = 0;
    this.chunkStart += header.size;
    this.header = undefined;
    this.filled = 0;
    // Keep a buffer of a usual chunk's size for the next one; drop a large one.
    if (this.buffer.length > 16 * 1024 * 1024) this.buffer = new Uint8Array(0);
  }

  /** Adds to a kind's stack, the kind's total (and with it every stack's weight and any sum of them) kept exact. */
  private addToKind(kind: JfrEventKind, stack: string, weight: number, counts: WeightCounts): void {
    const total = this.totals.get(kind) ?? 0;
    let added = weight;
    if (added > Number.MAX_SAFE_INTEGER - total) {
      added = Number.MAX_SAFE_INTEGER - total;
      counts.clampedWeights++;
    }
    this.totals.set(kind, total + added);
    const into = this.profile.stacks[kind];
    if (!into.has(stack)) this.stackChars += stack.length;
    addWeight(into, stack, added, counts);
  }

  /** The waits' nanoseconds as wall samples, once per folded stack (see the top of this file). */
  private addWaitSamples(): void {
    const counts = noWeightCounts();
    const wallCounts = this.profile.counts.wall;
    for (const [stack, nanos] of this.waitedNanos) {
      const samples = Math.round(nanos / this.wallPeriodNanos);
      if (samples === 0) continue;
      this.addToKind('wall', stack, samples, counts);
      wallCounts.set(stack, (wallCounts.get(stack) ?? 0) + (this.waitedCounts.get(stack) ?? 0));
    }
    this.waitedNanos.clear();
    this.waitedCounts.clear();
    this.profile.clampedWeights += counts.clampedWeights;
  }
}

/**
 * How far apart, in nanoseconds, one chunk's end and the next one's start may be, by the wall clock and by the JVM's
 * ticks, for the next to continue the same recording: a rotation starts the new chunk where the old one ends (seen:
 * 18 ticks and 200 ns, the doubles' rounding), whereas the capture concatenates the recordings of several JVMs, whose
 * chunks neither meet in time nor share a tick counter, and whose stack trace ids mean other stacks.
 */
const CHUNK_CONTINUITY_NANOS = 1_000_000;

/** Whether chunk `next` follows chunk `previous` in one recording (the JVM rotated from one to the other). */
function continues(previous: ChunkHeader, next: ChunkHeader): boolean {
  if (previous.ticksPerSecond !== next.ticksPerSecond) return false;
  const endNanos = previous.startNanos + previous.durationNanos;
  const endTicks = previous.startTicks + (previous.durationNanos * previous.ticksPerSecond) / 1e9;
  const ticksApartNanos = (Math.abs(next.startTicks - endTicks) * 1e9) / next.ticksPerSecond;
  return Math.abs(next.startNanos - endNanos) <= CHUNK_CONTINUITY_NANOS && ticksApartNanos <= CHUNK_CONTINUITY_NANOS;
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
