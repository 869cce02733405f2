import type { FoldedStacks } from '../folded.js';

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

/**
 * One distinct stack as the collapser stores it: ids of interned texts, root first (the comm, then the frame texts as
 * perl joins them). A frame text may hold several frames joined with `;` (an inline chain).
 */
export interface StackRecord {
  tokens: Int32Array;
  count: number;
}

export type CollapseCounters = Pick<
  CollapseResult,
  'samples' | 'unrecognizedLines' | 'droppedEventSamples' | 'jitFrames' | 'jitFramesResolved' | 'warnings'
>;

/**
 * The stacks, sorted once in perl's byte order without building each stack's string: records are compared text id
 * by text id, and only the first differing texts are compared as strings. Maps are built only when asked for (the
 * CLI streams the sorted output and never needs them).
 */
export class SortedCollapseResult implements CollapseResult {
  readonly samples: number;
  readonly unrecognizedLines: number;
  readonly droppedEventSamples: number;
  readonly jitFrames: number;
  readonly jitFramesResolved: number;
  readonly warnings: readonly string[];
  private readonly sorted: StackRecord[];
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
    records: StackRecord[],
    counters: CollapseCounters,
  ) {
    this.sorted = texts.some((text) => text.includes(';')) ? this.sortByStrings(records) : this.sortByRanks(records);
    this.samples = counters.samples;
    this.unrecognizedLines = counters.unrecognizedLines;
    this.droppedEventSamples = counters.droppedEventSamples;
    this.jitFrames = counters.jitFrames;
    this.jitFramesResolved = counters.jitFramesResolved;
    this.warnings = counters.warnings;
  }

  get byteStacks(): FoldedStacks {
    this.byteStacksCache ??= new Map(this.sorted.map((r) => [this.stackString(r), r.count]));
    return this.byteStacksCache;
  }

  get stacks(): FoldedStacks {
    if (this.stacksCache === undefined) {
      const stacks: FoldedStacks = new Map();
      for (const r of this.sorted) {
        const key = this.stackString(r);
        // Invalid UTF-8 decodes to U+FFFD, which may make two byte strings one name: add them up.
        const text = this.isNonAscii(r) ? Buffer.from(key, 'latin1').toString('utf8') : key;
        stacks.set(text, (stacks.get(text) ?? 0) + r.count);
      }
      this.stacksCache = stacks;
    }
    return this.stacksCache;
  }

  *foldedChunks(chunkBytes = 1 << 20): Iterable<Buffer> {
    let buf = Buffer.allocUnsafe(chunkBytes);
    let at = 0;
    for (const r of this.sorted) {
      const line = `${this.stackString(r)} ${r.count}\n`;
      if (at + line.length > buf.length) {
        if (at > 0) yield buf.subarray(0, at);
        buf = Buffer.allocUnsafe(Math.max(chunkBytes, line.length));
        at = 0;
      }
      at += buf.write(line, at, 'latin1');
    }
    if (at > 0) yield buf.subarray(0, at);
  }

  private isNonAscii(r: StackRecord): boolean {
    if (this.nonAsciiIds.size === 0) return false;
    for (const id of r.tokens) if (this.nonAsciiIds.has(id)) return true;
    return false;
  }

  /** The stack string, as perl's `join(";", @stack)`. */
  private stackString(r: StackRecord): string {
    const parts: string[] = [];
    for (let i = 0; i < r.tokens.length; i++) parts.push(this.texts[r.tokens[i] as number] as string);
    return parts.join(';');
  }

  /**
   * Sorts without building the stack strings. A stack string is its texts each followed by `;`, the last one by the
   * end. While no text contains `;`, comparing two stacks is comparing those pieces in turn, so each piece can be
   * replaced by its rank among all pieces: one UTF-16 code unit (two when there are more than 65,535 pieces), and the
   * default sort of these short rank strings, a builtin, gives perl's order.
   */
  private sortByRanks(records: StackRecord[]): StackRecord[] {
    const texts = this.texts;
    // Piece ranks: 2·id is `text;` (inner), 2·id + 1 is `text` (last); all distinct since no text contains `;`.
    const pieces: string[] = [];
    for (const text of texts) pieces.push(text + ';', text);
    const rankOf = new Map<string, number>();
    [...pieces].sort().forEach((piece, r) => rankOf.set(piece, r));
    const ranks = new Uint32Array(pieces.length);
    pieces.forEach((piece, i) => (ranks[i] = rankOf.get(piece) as number));
    const wide = pieces.length > 0xffff;
    const byKey = new Map<string, StackRecord>();
    const keys: string[] = [];
    for (const r of records) {
      const codes: number[] = [];
      const last = r.tokens.length - 1;
      for (let i = 0; i <= last; i++) {
        const rank = ranks[2 * (r.tokens[i] as number) + (i === last ? 1 : 0)] as number;
        if (wide) codes.push(rank >>> 16, rank & 0xffff);
        else codes.push(rank);
      }
      const key = fromCharCodes(codes);
      keys.push(key);
      byKey.set(key, r);
    }
    keys.sort();
    return keys.map((key) => byKey.get(key) as StackRecord);
  }

  /**
   * Sorts by the stack strings themselves, when some text holds a `;` (an inline chain, or a comm with `;`); then
   * different id sequences can spell the same stack (`a;b` from one line, `a` and `b` from two), and perl's hash adds
   * them up.
   */
  private sortByStrings(records: StackRecord[]): StackRecord[] {
    const keyed = records.map((r) => ({ key: this.stackString(r), record: r }));
    keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const merged: StackRecord[] = [];
    let lastKey: string | undefined;
    for (const { key, record } of keyed) {
      const last = merged[merged.length - 1];
      if (last !== undefined && key === lastKey) {
        last.count += record.count;
      } else {
        merged.push({ tokens: record.tokens, count: record.count });
        lastKey = key;
      }
    }
    return merged;
  }
}

/** `String.fromCharCode(...codes)` without hitting the argument limit on very deep stacks. */
function fromCharCodes(codes: readonly number[]): string {
  const step = 8192;
  if (codes.length <= step) return String.fromCharCode(...codes);
  const parts: string[] = [];
  for (let at = 0; at < codes.length; at += step) parts.push(String.fromCharCode(...codes.slice(at, at + step)));
  return parts.join('');
}
