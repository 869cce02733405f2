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

const SEMICOLON = 0x3b;
const SPACE = 0x20;
const NEWLINE = 0x0a;

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

  /**
   * Sorted neighbours share most of their text (93% of the bytes on a real JVM capture): each line copies the part
   * it shares with the line before, up to the last common text, from the bytes already written, and adds the
   * texts after it, so no stack string is ever built.
   */
  *foldedChunks(chunkBytes = 1 << 20): Iterable<Buffer> {
    const writer = new FoldedWriter(this.texts, this.sorted);
    // The work is in FoldedWriter.fill, an ordinary function: V8 optimizes a generator's loop late or not at all.
    for (;;) {
      const chunk = writer.fill(chunkBytes);
      if (chunk === undefined) return;
      yield chunk;
    }
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
    // Every key in one UTF-16 buffer, decoded once and sliced. Each key ends with its record's index (2 code units):
    // no key is a prefix of another (a last piece's rank is never an inner piece's), so two keys differ before the
    // index, and the index does not change their order.
    let units = 0;
    for (const r of records) units += r.tokens.length * (wide ? 2 : 1) + 2;
    const codes = new Uint16Array(units);
    const ends = new Int32Array(records.length);
    let at = 0;
    for (let index = 0; index < records.length; index++) {
      const tokens = (records[index] as StackRecord).tokens;
      const last = tokens.length - 1;
      for (let i = 0; i <= last; i++) {
        const rank = ranks[2 * (tokens[i] as number) + (i === last ? 1 : 0)] as number;
        if (wide) codes[at++] = rank >>> 16;
        codes[at++] = rank;
      }
      codes[at++] = index >>> 16;
      codes[at++] = index;
      ends[index] = at;
    }
    // ucs2 keeps every code unit, lone surrogates included.
    const all = Buffer.from(codes.buffer, codes.byteOffset, codes.byteLength).toString('ucs2');
    const keys: string[] = [];
    for (let index = 0, start = 0; index < records.length; index++) {
      const end = ends[index] as number;
      keys.push(all.slice(start, end));
      start = end;
    }
    keys.sort();
    return keys.map(
      (key) => records[key.charCodeAt(key.length - 2) * 0x10000 + key.charCodeAt(key.length - 1)] as StackRecord,
    );
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

/** Writes sorted records as folded lines, chunk by chunk, each line copying what it shares with the one before. */
class FoldedWriter {
  // Every text's bytes in one buffer (one conversion instead of one per text); text id's bytes start at textStart[id].
  private readonly arena: Buffer;
  private readonly textStart: Int32Array;
  private next = 0;
  // The line before: its tokens, where it starts (in prevBuf, which may be a chunk already handed out) and the
  // offset after each of its texts.
  private prevTokens: Int32Array | undefined = undefined;
  private prevBuf: Buffer | undefined = undefined;
  private prevStart = 0;
  private prevEnds = new Int32Array(64);

  constructor(
    texts: readonly string[],
    private readonly sorted: readonly StackRecord[],
  ) {
    this.textStart = new Int32Array(texts.length + 1);
    for (let id = 0; id < texts.length; id++) {
      this.textStart[id + 1] = (this.textStart[id] as number) + (texts[id] as string).length;
    }
    this.arena = Buffer.from(texts.join(''), 'latin1');
  }

  /** The next lines, about `chunkBytes` of them (more for a longer line); undefined after the last line. */
  fill(chunkBytes: number): Buffer | undefined {
    const sorted = this.sorted;
    if (this.next >= sorted.length) return undefined;
    const { arena, textStart } = this;
    let buf = Buffer.allocUnsafe(chunkBytes);
    let at = 0;
    while (this.next < sorted.length) {
      const r = sorted[this.next] as StackRecord;
      const tokens = r.tokens;
      const prevTokens = this.prevTokens;
      let shared = 0;
      if (prevTokens !== undefined) {
        const most = Math.min(prevTokens.length, tokens.length);
        while (shared < most && prevTokens[shared] === tokens[shared]) shared++;
      }
      const sharedBytes = shared > 0 ? (this.prevEnds[shared - 1] as number) : 0;
      // Bytes the line needs at most: a count is at most 24 chars (`-1.2345678901234567e+308`).
      let length = sharedBytes + 26;
      for (let i = shared; i < tokens.length; i++) {
        const id = tokens[i] as number;
        length += (textStart[id + 1] as number) - (textStart[id] as number) + 1;
      }
      if (at + length > buf.length) {
        if (at > 0) break;
        buf = Buffer.allocUnsafe(length);
      }
      const start = at;
      if (sharedBytes > 0) {
        const prevBuf = this.prevBuf as Buffer;
        if (prevBuf === buf) buf.copyWithin(at, this.prevStart, this.prevStart + sharedBytes);
        else prevBuf.copy(buf, at, this.prevStart, this.prevStart + sharedBytes);
        at += sharedBytes;
      }
      if (this.prevEnds.length < tokens.length) {
        const grown = new Int32Array(Math.max(tokens.length, 2 * this.prevEnds.length));
        grown.set(this.prevEnds);
        this.prevEnds = grown;
      }
      const prevEnds = this.prevEnds;
      for (let i = shared; i < tokens.length; i++) {
        if (i > 0) buf[at++] = SEMICOLON;
        const id = tokens[i] as number;
        // Texts are short (a frame name): a loop costs less than a native call per text.
        const end = textStart[id + 1] as number;
        for (let k = textStart[id] as number; k < end; k++) buf[at++] = arena[k] as number;
        prevEnds[i] = at - start;
      }
      buf[at++] = SPACE;
      at = writeCount(buf, at, r.count);
      buf[at++] = NEWLINE;
      this.prevTokens = tokens;
      this.prevBuf = buf;
      this.prevStart = start;
      this.next++;
    }
    return buf.subarray(0, at);
  }
}

/** Writes `count` as perl prints it (as `${count}` does for these numbers) at `at`; returns the offset after it. */
function writeCount(buf: Buffer, at: number, count: number): number {
  if (!Number.isSafeInteger(count) || count < 0) return at + buf.write(String(count), at, 'latin1');
  let digits = 1;
  for (let rest = count; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  let rest = count;
  for (let k = at + digits - 1; k >= at; k--) {
    buf[k] = 0x30 + (rest % 10);
    rest = Math.floor(rest / 10);
  }
  return at + digits;
}
