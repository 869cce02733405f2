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
 * One distinct stack as the collapser stores it: ids of interned texts, the root frame (the comm) and the frame texts
 * leaf first (perf's order). A frame text may hold several frames joined with `;` (an inline chain).
 */
export interface StackRecord {
  pnameId: number;
  ids: Int32Array;
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
    this.sorted = this.sortAndMerge(records);
    this.samples = counters.samples;
    this.unrecognizedLines = counters.unrecognizedLines;
    this.droppedEventSamples = counters.droppedEventSamples;
    this.jitFrames = counters.jitFrames;
    this.jitFramesResolved = counters.jitFramesResolved;
    this.warnings = counters.warnings;
  }

  get byteStacks(): FoldedStacks {
    this.byteStacksCache ??= new Map(this.sorted.map((r) => [this.stackString(r, 0), r.count]));
    return this.byteStacksCache;
  }

  get stacks(): FoldedStacks {
    if (this.stacksCache === undefined) {
      const stacks: FoldedStacks = new Map();
      for (const r of this.sorted) {
        const key = this.stackString(r, 0);
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
    const pending: Buffer[] = [];
    const put = (text: string): void => {
      if (at + text.length > buf.length) {
        // Hand over what is full; a text longer than a whole chunk gets a buffer of its own size.
        const full = buf.subarray(0, at);
        buf = Buffer.allocUnsafe(Math.max(chunkBytes, text.length));
        at = 0;
        pending.push(full);
      }
      at += buf.write(text, at, 'latin1');
    };
    for (const r of this.sorted) {
      put(this.texts[r.pnameId] as string);
      for (let i = r.ids.length - 1; i >= 0; i--) {
        put(';');
        put(this.texts[r.ids[i] as number] as string);
      }
      put(` ${r.count}\n`);
      while (pending.length > 0) yield pending.shift() as Buffer;
    }
    if (at > 0) yield buf.subarray(0, at);
  }

  private isNonAscii(r: StackRecord): boolean {
    if (this.nonAsciiIds.size === 0) return false;
    if (this.nonAsciiIds.has(r.pnameId)) return true;
    for (const id of r.ids) if (this.nonAsciiIds.has(id)) return true;
    return false;
  }

  /** Text id at position `i` of the stack string: 0 is the root frame, then frame texts root first. */
  private static token(r: StackRecord, i: number): number {
    return i === 0 ? r.pnameId : (r.ids[r.ids.length - i] as number);
  }

  /** The stack string from token `from` on, as perl's `join(";", @stack)`. */
  private stackString(r: StackRecord, from: number): string {
    const parts: string[] = [];
    for (let i = from; i <= r.ids.length; i++) parts.push(this.texts[SortedCollapseResult.token(r, i)] as string);
    return parts.join(';');
  }

  /** perl's `cmp` on the two stack strings. */
  private compare(a: StackRecord, b: StackRecord): number {
    const na = a.ids.length + 1;
    const nb = b.ids.length + 1;
    for (let i = 0; ; i++) {
      if (i === na || i === nb) return na - nb; // one string is a prefix of the other (or both end)
      const ta = SortedCollapseResult.token(a, i);
      const tb = SortedCollapseResult.token(b, i);
      if (ta === tb) continue;
      // Interned texts with different ids differ. Unless one is a prefix of the other, their first differing byte
      // is the strings' first differing byte.
      const sa = this.texts[ta] as string;
      const sb = this.texts[tb] as string;
      if (sa < sb ? !sb.startsWith(sa) : !sa.startsWith(sb)) return sa < sb ? -1 : 1;
      // The shorter text is followed by `;` or the end, the longer one by more text: compare the rest as strings.
      const ra = this.stackString(a, i);
      const rb = this.stackString(b, i);
      return ra < rb ? -1 : ra > rb ? 1 : 0;
    }
  }

  private sortAndMerge(records: StackRecord[]): StackRecord[] {
    records.sort((a, b) => this.compare(a, b));
    const merged: StackRecord[] = [];
    let last: StackRecord | undefined;
    for (const r of records) {
      // Different id sequences can still spell the same stack (`a;b` from one line, `a` and `b` from two): perl's
      // hash adds them up.
      if (last !== undefined && this.compare(last, r) === 0) {
        last.count += r.count;
      } else {
        last = { pnameId: r.pnameId, ids: r.ids, count: r.count };
        merged.push(last);
      }
    }
    return merged;
  }
}
