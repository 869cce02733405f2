import type { FoldedStacks } from '../folded.js';
import {
  FoldedWriter,
  sortStacks,
  splitStacks,
  stackText,
  type InternedStacks,
  type StackRecord,
} from './interned-stacks.js';

export type { InternedStacks, StackRecord } from './interned-stacks.js';

/** What a collapse produced: the folded stacks and what was skipped on the way. */
export interface CollapseResult {
  /** Distinct stack → summed count (the sample period when perf printed one, else 1), names decoded as UTF-8. */
  readonly stacks: FoldedStacks;
  /**
   * The same stacks with byte-exact keys: each char is one input byte (latin1), as stackcollapse-perf.pl sees them,
   * so that names which are not valid UTF-8 (a thread name cut mid-character by the kernel) survive unchanged.
   */
  readonly byteStacks: FoldedStacks;
  /** Samples counted (each blank line ending a kept sample). */
  readonly samples: number;
  /** Lines that were neither comments, blank, event nor stack lines; skipped. */
  readonly unrecognizedLines: number;
  /** The first of them, decoded as UTF-8; undefined when there was none. */
  readonly firstUnrecognizedLine: string | undefined;
  /** Samples whose event was not the one filtered for (`--event-filter`, or the first event seen). */
  readonly droppedEventSamples: number;
  /** Stack lines of kept samples whose module is a JIT map (`/tmp/perf-PID.map`). */
  readonly jitFrames: number;
  /** … of which perf resolved a symbol (not `[unknown]`). */
  readonly jitFramesResolved: number;
  /** Human-readable notes for stderr: the event filter in effect, unrecognized lines, a dropped final sample. */
  readonly warnings: readonly string[];
  /**
   * stackcollapse-perf.pl's output, byte for byte: `stack count` lines sorted by bytes (perl's `cmp`), in pieces of
   * about `chunkBytes` (default 1 MiB), so that a large output is never one buffer.
   */
  foldedChunks(chunkBytes?: number): Iterable<Buffer>;
}

export type CollapseCounters = Pick<
  CollapseResult,
  | 'samples'
  | 'unrecognizedLines'
  | 'firstUnrecognizedLine'
  | 'droppedEventSamples'
  | 'jitFrames'
  | 'jitFramesResolved'
  | 'warnings'
>;

/**
 * The stacks, sorted in perl's byte order without building each stack's string (interned-stacks.ts). Sorted on first
 * use, and Maps are built only when asked for: the CLI streams the sorted output and never needs them, and the agent
 * takes the stacks as interned texts (`decodedStacks`) and never needs either.
 */
export class SortedCollapseResult implements CollapseResult {
  readonly samples: number;
  readonly unrecognizedLines: number;
  readonly firstUnrecognizedLine: string | undefined;
  readonly droppedEventSamples: number;
  readonly jitFrames: number;
  readonly jitFramesResolved: number;
  readonly warnings: readonly string[];
  private sortedCache:
    { texts: readonly string[]; sorted: StackRecord[]; nonAsciiIds: ReadonlySet<number> } | undefined;
  private stacksCache: FoldedStacks | undefined;
  private byteStacksCache: FoldedStacks | undefined;

  /**
   * @param texts interned texts, by id; each char is one byte
   * @param nonAsciiIds ids of texts with bytes ≥ 0x80 (which need UTF-8 decoding for `stacks`)
   * @param records distinct id sequences, in any order; records whose strings are equal are merged
   */
  constructor(
    private readonly texts: readonly string[],
    private readonly nonAsciiIds: ReadonlySet<number>,
    private readonly records: readonly StackRecord[],
    counters: CollapseCounters,
  ) {
    this.samples = counters.samples;
    this.unrecognizedLines = counters.unrecognizedLines;
    this.firstUnrecognizedLine = counters.firstUnrecognizedLine;
    this.droppedEventSamples = counters.droppedEventSamples;
    this.jitFrames = counters.jitFrames;
    this.jitFramesResolved = counters.jitFramesResolved;
    this.warnings = counters.warnings;
  }

  /**
   * The stacks as `stacks` names them (UTF-8 decoded, equal names added up), still as interned texts: each text is
   * the UTF-8 bytes of a frame (one char per byte), none holds `;` and none repeats, so that `sortStacks` orders them
   * as `compareBytes` orders the names and `stackLength` is a name's UTF-8 length. Unsorted.
   */
  decodedStacks(): InternedStacks {
    return splitStacks({ texts: this.texts, records: this.records }, this.nonAsciiIds);
  }

  /** The stacks in byte order, each text a frame of its own (a text holding `;` is split). */
  private get sorted(): { texts: readonly string[]; sorted: StackRecord[]; nonAsciiIds: ReadonlySet<number> } {
    if (this.sortedCache === undefined) {
      const split = splitStacks({ texts: this.texts, records: this.records });
      const nonAsciiIds =
        split.texts === this.texts || this.nonAsciiIds.size === 0 ? this.nonAsciiIds : nonAsciiTexts(split.texts);
      this.sortedCache = { texts: split.texts, sorted: sortStacks(split), nonAsciiIds };
    }
    return this.sortedCache;
  }

  get byteStacks(): FoldedStacks {
    if (this.byteStacksCache === undefined) {
      const { texts, sorted } = this.sorted;
      this.byteStacksCache = new Map(sorted.map((r) => [stackText(texts, r), r.count]));
    }
    return this.byteStacksCache;
  }

  get stacks(): FoldedStacks {
    if (this.stacksCache === undefined) {
      const { texts, sorted, nonAsciiIds } = this.sorted;
      const stacks: FoldedStacks = new Map();
      for (const r of sorted) {
        const key = stackText(texts, r);
        // Invalid UTF-8 decodes to U+FFFD, which may make two byte strings one name: add them up.
        const text = isNonAscii(nonAsciiIds, r) ? Buffer.from(key, 'latin1').toString('utf8') : key;
        stacks.set(text, (stacks.get(text) ?? 0) + r.count);
      }
      this.stacksCache = stacks;
    }
    return this.stacksCache;
  }

  /**
   * Sorted neighbours share most of their text (93% of the bytes on a real JVM capture): each line copies the part
   * it shares with the line before, up to the last common text, from the bytes already written, and adds the
   * texts after it, so no stack string is ever built.
   */
  *foldedChunks(chunkBytes = 1 << 20): Iterable<Buffer> {
    const { texts, sorted } = this.sorted;
    const writer = new FoldedWriter(texts, sorted);
    // The work is in FoldedWriter.fill, an ordinary function: V8 optimizes a generator's loop late or not at all.
    for (;;) {
      const chunk = writer.fill(chunkBytes);
      if (chunk === undefined) return;
      yield chunk;
    }
  }
}

// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

function nonAsciiTexts(texts: readonly string[]): Set<number> {
  const ids = new Set<number>();
  texts.forEach((text, id) => {
    if (NON_ASCII.test(text)) ids.add(id);
  });
  return ids;
}

function isNonAscii(nonAsciiIds: ReadonlySet<number>, r: StackRecord): boolean {
  if (nonAsciiIds.size === 0) return false;
  for (const id of r.tokens) if (nonAsciiIds.has(id)) return true;
  return false;
}
