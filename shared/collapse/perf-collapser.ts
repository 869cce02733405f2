/**
 * Streaming `perf script` → folded stacks, byte-identical to stackcollapse-perf.pl (FlameGraph @41fee1f) with its
 * flags --pid --tid --kernel --jit --all --addrs --event-filter, plus podflame's Java-aware mode.
 *
 * Input is consumed chunk by chunk, as bytes; only the partial last line is kept between chunks, and memory grows
 * with the number of distinct stacks (plus bounded caches of stack lines and cleaned frame names), never with the
 * input size. `heapBytes()` estimates that memory as it grows, so that a caller sharing a heap can stop a collapse
 * before it takes the heap's last bytes.
 *
 * A sample in `perf script` text (default fields):
 *
 *     java 22240   919.993501:    1001001 cpu-clock:ppp:      ← event line: comm, TID, time, period, event
 *     \t    7f13acffdd40 long Hot.fib(int)+0x4c (/tmp/perf-22226.map)   ← stack lines, leaf first
 *     \t          891f5 start_thread+0x305 (/usr/lib/x86_64-linux-gnu/libc.so.6)
 *                                                              ← blank line: the sample is counted
 */
import { PodflameError } from '../errors.js';
export type { CollapseResult } from './collapse-result.js';
import { parseEventLine, parseEventPeriodAndName, parseJavaEventLine } from './event-line.js';
import { SortedCollapseResult, type StackRecord } from './collapse-result.js';
import { resolveCollapseOptions, type CollapseOptions } from './options.js';
import { isPerlSpace, isPerlWord, parseFrameLine, tidyFrameLine, type TidyContext } from './tidy.js';

/** What is remembered about one stack line's text. */
interface CachedFrameLine {
  /** Interned id of the line's frames (root first, joined with `;`), or -1 when the line yields no frame. */
  id: number;
  jit: boolean;
  jitResolved: boolean;
  /** The frames include the pc (`--addrs` on a frame without symbol): not reusable for another pc. */
  usesPc: boolean;
}

/** A distinct stack, chained to the next one with the same hash. */
interface ChainedStackRecord extends StackRecord {
  next: ChainedStackRecord | undefined;
}

const CLOSE_PAREN = 0x29;
const HASH = 0x23;
const NEWLINE = 0x0a;
const NEWLINE_BYTES = Buffer.from('\n');
// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;
// Slots of the line cache (a power of two). Real captures have some 15,000 distinct stack lines.
const LINE_CACHE_SLOTS = 1 << 16;
// A stack line's slot is chosen from its first bytes: `\t`, the pc right-aligned in 16 columns, a space, and the
// first 4 bytes of the symbol. Shorter lines get a slot from their length.
const SLOT_PREFIX_BYTES = 22;
// A slot of the line cache is SLOT_FIELDS int32s: the line's key (length · 2 + comm kind; -1: empty) and where its
// entry starts in the word arena: what the line yields (INFO_*: interned id + 1 and JIT flags), then its bytes.
const SLOT_FIELDS = 2;
const INFO_JIT = 1 << 30;
const INFO_JIT_RESOLVED = 1 << 29;
const INFO_ID = (1 << 29) - 1;
// The word arena holds the cached lines' bytes as int32 words; it grows to ARENA_MAX_WORDS (8 MiB), then the line
// cache starts over. Lines longer than MAX_CACHED_WORDS words (16 KiB) are not cached.
const ARENA_INITIAL_WORDS = 1 << 16;
const ARENA_MAX_WORDS = 1 << 21;
const MAX_CACHED_WORDS = 1 << 12;
// Stacks' tokens are allocated in blocks of this many int32s (64 KiB).
const TOKEN_BLOCK_INTS = 1 << 14;

// What heapBytes() counts per item beyond its bytes of text, in bytes of V8 heap (64-bit, pointer compression as
// Node builds it), fitted to the old generation a collapse needs (scripts/bench/worker-memory.ts; the smallest
// --max-old-space-size that completes) and rounded up:
// an interned text: its string (and a cons string's header, when the text was built by `+`), its slot in `texts`
// and its entry in `ids` (IDS_ENTRY_HEAP_BYTES of it, let go at finish), with a growing hash table's slack;
const TEXT_HEAP_BYTES = 88;
const IDS_ENTRY_HEAP_BYTES = 32;
// a distinct stack: its record, the Int32Array view of its tokens, its slot in `records` and its entry in
// `stacksByHash` (let go at finish);
const RECORD_HEAP_BYTES = 190;
const BY_HASH_ENTRY_HEAP_BYTES = 24;
// a frame-cache entry: its key (slices of the stack line, which keep the line alive: counted apart), the cached
// frames and the map entry.
const SYMBOL_ENTRY_HEAP_BYTES = 160;
// What the sort after finish() allocates (interned-stacks.ts): per text its place in the sorted order and two ranks;
// per stack its sort key's string and its places in the sorted arrays; per token 4 bytes of keys (8 beyond 65,535
// texts). finish() lets the caches and lookup tables go first, so only what exceeds them adds to the peak.
const SORT_TEXT_HEAP_BYTES = 16;
const SORT_RECORD_HEAP_BYTES = 64;
// ... and when texts hold `;` or bytes ≥ 0x80 (splitStacks): the new texts' map, new records and their keys.
const SPLIT_TEXT_HEAP_BYTES = 120;
const SPLIT_RECORD_HEAP_BYTES = 320;

export class PerfCollapser {
  private readonly options: CollapseOptions;
  private readonly kernel: boolean;
  private readonly jit: boolean;

  // Partial last line of the previous chunk(s), copied (callers reuse their buffers).
  private carry: Buffer[] = [];

  // The sample being read: root frame (undefined while no event is active), count, stack-line ids leaf first.
  private pname: string | undefined = undefined;
  private javaComm = false;
  // 1 when javaComm: part of a line-cache key.
  private javaBit = 0;
  private period = 1;
  private frameIds: number[] = [];

  private eventFilter: string;
  private eventDefaulted = false;
  private eventWarned = false;

  // Interned frame texts (a stack line's frames joined, or a root frame): text → id, id → text.
  private readonly ids = new Map<string, number>();
  private readonly texts: string[] = [];
  private readonly nonAsciiIds = new Set<number>();
  // For heapBytes(): chars of all texts, texts holding `;`, tokens of all records, the frame caches' lines.
  private textChars = 0;
  private separatorTexts = 0;
  private tokenInts = 0;
  private carryBytes = 0;
  private readonly symbolCacheChars = { java: 0, other: 0 };

  // Distinct stacks, by a hash of their ids (collisions are chained and told apart by comparing the ids).
  private readonly stacksByHash = new Map<number, ChainedStackRecord>();
  private readonly records: ChainedStackRecord[] = [];
  // The block the next stacks' tokens go into (see newTokens).
  private tokenBlock = new Int32Array(0);
  private tokenBlockUsed = 0;

  // Two caches so that a repeated stack line costs one comparison of its bytes, 4 at a time:
  // 1. direct-mapped, keyed by the whole line (the pc included), slot chosen from its first bytes (pc digits and
  //    symbol start) and the comm kind; all in typed arrays (SLOT_FIELDS), the line's bytes as little-endian int32
  //    words in an arena (see toWords), so that a hit reads no object;
  // 2. by the text after the pc (symbol and module), for the same symbol at another pc. tidy_java depends on the
  //    comm, hence one map per case.
  private readonly slots = new Int32Array(LINE_CACHE_SLOTS * SLOT_FIELDS).fill(-1);
  private arena = new Int32Array(ARENA_INITIAL_WORDS);
  private arenaUsed = 0;
  private readonly bySymbolJavaComm = new Map<string, CachedFrameLine>();
  private readonly bySymbolOtherComm = new Map<string, CachedFrameLine>();

  private samples = 0;
  private unrecognizedLines = 0;
  private firstUnrecognized: string | undefined = undefined;
  private droppedEventSamples = 0;
  private jitFrames = 0;
  private jitFramesResolved = 0;
  private readonly warnings: string[] = [];
  private finished = false;

  constructor(options: Partial<CollapseOptions> = {}) {
    this.options = resolveCollapseOptions(options);
    this.kernel = this.options.kernel || this.options.all;
    this.jit = this.options.jit || this.options.all;
    this.eventFilter = this.options.eventFilter ?? '';
  }

  /** Feeds the next piece of `perf script` output; chunks may split lines anywhere. The chunk is not kept. */
  push(chunk: Buffer | Uint8Array | string): void {
    if (this.finished) throw new PodflameError('INTERNAL', 'PerfCollapser.push() called after finish()');
    const bytes = toBytes(chunk);
    let start = 0;
    if (this.carry.length > 0) {
      const nl = bytes.indexOf(NEWLINE);
      if (nl < 0) {
        if (bytes.length > 0) this.carry.push(Buffer.from(bytes));
        this.carryBytes += bytes.length;
        return;
      }
      // Finish the carried line on its own, so the rest of the chunk is scanned without copying it.
      this.carry.push(bytes.subarray(0, nl + 1));
      const line = Buffer.concat(this.carry);
      this.carry = [];
      this.carryBytes = 0;
      this.scan(line, 0);
      start = nl + 1;
    }
    const rest = this.scan(bytes, start);
    if (rest < bytes.length) {
      this.carry.push(Buffer.from(bytes.subarray(rest)));
      this.carryBytes = bytes.length - rest;
    }
  }

  /**
   * Ends one input file: a last line without a newline is still a line, as perl's `<>` reads it. Samples continue
   * across files exactly as perl's concatenated `<>` does.
   */
  endOfFile(): void {
    if (this.finished) throw new PodflameError('INTERNAL', 'PerfCollapser.endOfFile() called after finish()');
    if (this.carry.length === 0) return;
    this.carry.push(NEWLINE_BYTES);
    const line = Buffer.concat(this.carry);
    this.carry = [];
    this.carryBytes = 0;
    this.scan(line, 0);
  }

  /**
   * An estimate of the heap this collapse holds, plus what finishing it and sorting its stacks will allocate beyond
   * that: interned texts, distinct stacks, the caches, the partial last line (decoded to a string once complete).
   * Counted from sizes, not measured (a heap measurement would count other work's garbage), so it is cheap after
   * every chunk; the constants above are rounded up from measurements.
   */
  heapBytes(): number {
    const texts = this.texts.length;
    const records = this.records.length;
    const caches =
      4 * this.arena.length +
      (this.bySymbolJavaComm.size + this.bySymbolOtherComm.size) * SYMBOL_ENTRY_HEAP_BYTES +
      this.symbolCacheChars.java +
      this.symbolCacheChars.other;
    const held =
      texts * TEXT_HEAP_BYTES +
      this.textChars +
      records * RECORD_HEAP_BYTES +
      // Tokens live in blocks of TOKEN_BLOCK_INTS: the block being filled counts whole.
      4 * (this.tokenInts + TOKEN_BLOCK_INTS) +
      4 * this.slots.length +
      caches +
      2 * this.carryBytes;
    let sort = texts * SORT_TEXT_HEAP_BYTES + records * SORT_RECORD_HEAP_BYTES;
    sort += (2 * texts > 0xffff ? 8 : 4) * this.tokenInts;
    if (this.separatorTexts > 0 || this.nonAsciiIds.size > 0) {
      sort += texts * SPLIT_TEXT_HEAP_BYTES + this.textChars + records * SPLIT_RECORD_HEAP_BYTES + 12 * this.tokenInts;
    }
    const letGo = caches + texts * IDS_ENTRY_HEAP_BYTES + records * BY_HASH_ENTRY_HEAP_BYTES;
    return held + Math.max(0, sort - letGo);
  }

  /**
   * Ends the input and returns the folded stacks. A final sample without a blank line after it is dropped, as perl
   * does. The caches and lookup tables are let go: the result keeps only the texts and the stacks.
   */
  finish(): SortedCollapseResult {
    if (!this.finished) {
      this.endOfFile();
      this.finished = true;
      this.ids.clear();
      this.stacksByHash.clear();
      this.bySymbolJavaComm.clear();
      this.bySymbolOtherComm.clear();
      this.arena = new Int32Array(0);
      if (this.pname !== undefined) {
        this.warnings.push(
          'the last sample is not followed by a blank line and was dropped (as stackcollapse-perf.pl does); ' +
            'was the perf script output cut short?',
        );
      }
      if (this.unrecognizedLines > 0) {
        this.warnings.push(
          `skipped ${this.unrecognizedLines} unrecognized line${this.unrecognizedLines === 1 ? '' : 's'}, ` +
            `the first: ${JSON.stringify(decodeBytes(this.firstUnrecognized ?? ''))}`,
        );
      }
    }
    return new SortedCollapseResult(this.texts, this.nonAsciiIds, this.records, {
      samples: this.samples,
      unrecognizedLines: this.unrecognizedLines,
      firstUnrecognizedLine: this.firstUnrecognized === undefined ? undefined : decodeBytes(this.firstUnrecognized),
      droppedEventSamples: this.droppedEventSamples,
      jitFrames: this.jitFrames,
      jitFramesResolved: this.jitFramesResolved,
      warnings: [...this.warnings],
    });
  }

  /**
   * Reads the complete lines of `b` from `start` on and returns where the unfinished last line starts (`b.length`
   * when there is none). Stack lines are looked up in the line cache before their end is searched for: on a hit the
   * comparison itself finds the end, so most bytes are read once.
   */
  private scan(b: Buffer, start: number): number {
    const n = b.length;
    const view = new DataView(b.buffer, b.byteOffset, n);
    // The chunk as aligned int32 words (a typed array reads them faster than a DataView): byte i of the chunk is
    // byte i + skew of `words`.
    const skew = b.byteOffset & 3;
    const words = new Int32Array(b.buffer, b.byteOffset - skew, (n + skew) >> 2);
    const slots = this.slots;
    let i = start;
    while (i < n) {
      const c = b[i] as number;
      // An event line starts with a non-space, so indented lines are stack lines (or unrecognized).
      if (isPerlSpace(c) && c !== NEWLINE) {
        if (n - i >= SLOT_PREFIX_BYTES) {
          const slot = this.prefixSlot(view, i);
          const key = slots[slot] as number;
          const length = key >> 1;
          // The words read for a line of `length` bytes end before byte i + length + 8: keep them in `words`.
          if (
            (key & 1) === this.javaBit &&
            key >= 0 &&
            i + length + 8 <= n &&
            b[i + length] === NEWLINE &&
            sameWords(words, i + skew, length, this.arena, (slots[slot + 1] as number) + 1)
          ) {
            if (this.pname !== undefined) this.addCachedFrames(this.arena[slots[slot + 1] as number] as number);
            i += length + 1;
            continue;
          }
        }
        const end = b.indexOf(NEWLINE, i);
        if (end < 0) break;
        this.onStackLine(b, view, i, end);
        i = end + 1;
      } else if (c === NEWLINE) {
        this.afterEvent();
        i++;
      } else {
        const end = b.indexOf(NEWLINE, i);
        if (end < 0) break;
        // `#`: perf's header and comments.
        if (c !== HASH) {
          const line = b.toString('latin1', i, end);
          if (!this.onEventLine(line)) this.onOtherStackLine(line);
        }
        i = end + 1;
      }
    }
    return i;
  }

  /**
   * The line-cache slot (its first index in `slots`) of a stack line at least SLOT_PREFIX_BYTES long, from its bytes 9-21 (the pc's last eight
   * digits and the symbol's first four when perf aligned the pc as usual; any other layout only costs misses). The
   * same line under a `java…` comm and another comm may clean differently: the comm kind is part of the key, and it
   * flips bits of the slot so that the two do not evict each other.
   */
  private prefixSlot(view: DataView, i: number): number {
    let h = Math.imul(view.getInt32(i + 13, true), 0x9e3779b1) ^ Math.imul(view.getInt32(i + 9, true), 0x85ebca6b);
    h ^= view.getInt32(i + 18, true);
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
    return ((h ^ (h >>> 16) ^ (this.javaComm ? 0x5bd1 : 0)) & (LINE_CACHE_SLOTS - 1)) * SLOT_FIELDS;
  }

  /** A blank line ends the sample: count it under its root frame, if its event was kept. */
  private afterEvent(): void {
    const pname = this.pname;
    if (pname === undefined) return;
    const pnameId = this.intern(pname);
    const frameIds = this.frameIds;
    const n = frameIds.length;
    let h = Math.imul(pnameId + 1, 0x9e3779b1);
    for (let i = 0; i < n; i++) h = Math.imul(h ^ (frameIds[i] as number), 0x01000193) ^ (h >>> 15);
    h &= 0x3fffffff;
    let record = this.stacksByHash.get(h);
    while (record !== undefined && !sameStack(record.tokens, pnameId, frameIds)) record = record.next;
    if (record === undefined) {
      // Root first, as perl joins them: the comm, then the stack lines in reverse (perf lists the leaf first).
      const tokens = this.newTokens(n + 1);
      this.tokenInts += n + 1;
      tokens[0] = pnameId;
      for (let i = 0; i < n; i++) tokens[n - i] = frameIds[i] as number;
      record = { tokens, count: 0, next: this.stacksByHash.get(h) };
      this.stacksByHash.set(h, record);
      this.records.push(record);
    }
    record.count += this.period;
    this.samples++;
    frameIds.length = 0;
    this.pname = undefined;
  }

  /**
   * Room for a new stack's tokens: a view into a block shared with other stacks (typed arrays of their own would
   * each cost an ArrayBuffer, and the distinct stacks of a real capture number in the ten thousands).
   */
  private newTokens(length: number): Int32Array {
    if (length > TOKEN_BLOCK_INTS >> 4) return new Int32Array(length);
    if (this.tokenBlockUsed + length > this.tokenBlock.length) {
      this.tokenBlock = new Int32Array(TOKEN_BLOCK_INTS);
      this.tokenBlockUsed = 0;
    }
    const start = this.tokenBlockUsed;
    this.tokenBlockUsed += length;
    return this.tokenBlock.subarray(start, start + length);
  }

  // e.g. `C2 CompilerThre 22240   919.993501:    1001001 cpu-clock:ppp: `
  private onEventLine(line: string): boolean {
    const m = (this.options.java ? parseJavaEventLine(line) : undefined) ?? parseEventLine(line);
    if (m === undefined) return false;
    const comm = m.comm;
    let pid = m.first;
    let tid = m.second;
    // One number is the TID (default perf script fields); perl's `not $tid` is also true for "0".
    if (tid === undefined || tid === '' || tid === '0') {
      tid = pid;
      pid = '?';
    }
    let period: string | undefined;
    const ev = parseEventPeriodAndName(line);
    if (ev !== undefined) {
      period = ev.period;
      const event = ev.event;
      if (this.eventFilter === '') {
        // Only the first event type is kept by default: adding up cycles and instructions would mislead.
        this.eventFilter = event;
        this.eventDefaulted = true;
      } else if (event !== this.eventFilter) {
        if (this.eventDefaulted && !this.eventWarned) {
          // perl's wording, which names the event being dropped, not the one kept.
          this.warnings.push(`Filtering for events of type: ${decodeBytes(event)}`);
          this.eventWarned = true;
        }
        this.droppedEventSamples++;
        return true;
      }
    }
    this.period =
      !this.options.countPeriods || period === undefined || period === '' || period === '0' ? 1 : Number(period);
    let pname = this.options.tid ? `${comm}-${pid}/${tid}` : this.options.pid ? `${comm}-${pid}` : comm;
    // stackcollapse-perf.pl turns spaces into `_` (`C2_CompilerThre`); Java mode keeps thread names as the JVM set them.
    if (!this.options.java && pname.includes(' ')) pname = pname.replaceAll(' ', '_');
    this.pname = pname;
    this.javaComm = pname.startsWith('java');
    this.javaBit = this.javaComm ? 1 : 0;
    return true;
  }

  // e.g. `\t    7f13acffdd40 long Hot.fib(int)+0x4c (/tmp/perf-22226.map)`
  /** A stack line that scan() did not find in the line cache on its first try: look again knowing its end, or parse it. */
  private onStackLine(b: Buffer, view: DataView, start: number, end: number): void {
    const length = end - start;
    const slots = this.slots;
    const slot =
      length >= SLOT_PREFIX_BYTES
        ? this.prefixSlot(view, start)
        : ((Math.imul(length + 1, 0x9e3779b1) >>> 16) ^ (this.javaComm ? 0x5bd1 : 0)) * SLOT_FIELDS;
    const key = (length << 1) | this.javaBit;
    if (slots[slot] === key && sameBytes(view, start, length, this.arena, (slots[slot + 1] as number) + 1)) {
      if (this.pname !== undefined) this.addCachedFrames(this.arena[slots[slot + 1] as number] as number);
      return;
    }
    const line = b.toString('latin1', start, end);
    const entry = this.onUncachedStackLine(line, 0, length);
    if (entry !== undefined && length >= 4) this.remember(slot, key, view, start, length, entry);
  }

  /** Puts a stack line and what it yields into the line cache's `slot`. */
  private remember(
    slot: number,
    key: number,
    view: DataView,
    start: number,
    length: number,
    entry: CachedFrameLine,
  ): void {
    const need = (length >> 2) + 2;
    if (need > MAX_CACHED_WORDS || entry.id + 1 > INFO_ID) return;
    if (this.arenaUsed + need > this.arena.length) {
      if (this.arena.length < ARENA_MAX_WORDS) {
        const grown = new Int32Array(2 * this.arena.length);
        grown.set(this.arena.subarray(0, this.arenaUsed));
        this.arena = grown;
      } else {
        // Full of lines, many of them evicted from their slot since: start over.
        this.slots.fill(-1);
        this.arenaUsed = 0;
      }
    }
    const at = this.arenaUsed;
    this.arena[at] = (entry.id + 1) | (entry.jit ? INFO_JIT : 0) | (entry.jitResolved ? INFO_JIT_RESOLVED : 0);
    toWords(view, start, length, this.arena, at + 1);
    this.arenaUsed += need;
    this.slots[slot] = key;
    this.slots[slot + 1] = at;
  }

  /** A stack line the line cache does not know: parse it, and clean its symbol unless seen at another pc. */
  private onUncachedStackLine(s: string, start: number, end: number): CachedFrameLine | undefined {
    // The usual shape `WS PC WS SYMBOL (MODULE)` is scanned by hand, equivalently to FRAME_LINE: the pc and the spaces
    // around it are maximal, and the symbol ends at the last ` (` before the final `)`.
    let i = start;
    while (i < end && isPerlSpace(s.charCodeAt(i))) i++;
    const pcStart = i;
    while (i < end && isPerlWord(s.charCodeAt(i))) i++;
    const pcEnd = i;
    while (i < end && isPerlSpace(s.charCodeAt(i))) i++;
    const symbolStart = i;
    const open = s.charCodeAt(end - 1) === CLOSE_PAREN ? s.lastIndexOf(' (', end - 3) : -1;
    if (pcEnd === pcStart || open <= symbolStart) {
      this.onOtherStackLine(s.slice(start, end));
      return undefined;
    }
    // Keyed without the symbol's `+0x…` offset, which perl strips anyway: the same function at another call site
    // or in another recording is cleaned once.
    const offset = offsetStart(s, symbolStart, open);
    const key = offset === open ? s.slice(symbolStart, end) : s.slice(symbolStart, offset) + s.slice(open, end);
    const bySymbol = this.javaComm ? this.bySymbolJavaComm : this.bySymbolOtherComm;
    let entry = bySymbol.get(key);
    if (entry === undefined) {
      entry = this.tidy(s.slice(pcStart, pcEnd), s.slice(symbolStart, open), s.slice(open + 2, end - 1));
      if (!entry.usesPc) {
        const kind = this.javaComm ? 'java' : 'other';
        if (bySymbol.size >= this.options.frameCacheLimit) {
          bySymbol.clear();
          this.symbolCacheChars[kind] = 0;
        }
        bySymbol.set(key, entry);
        // The key's slices keep the line alive.
        this.symbolCacheChars[kind] += s.length;
      }
    }
    if (this.pname !== undefined) this.addFrames(entry);
    return entry;
  }

  /** Any line that is not blank, a comment or an event line: the frame-line regex decides. */
  private onOtherStackLine(line: string): void {
    const frame = parseFrameLine(line);
    if (frame === undefined) {
      this.unrecognizedLines++;
      this.firstUnrecognized ??= line;
      return;
    }
    if (this.pname === undefined) return; // a sample of a filtered-out event
    this.addFrames(this.tidy(frame.pc, frame.rawfunc, frame.module));
  }

  /** addFrames for a line-cache slot's info. */
  private addCachedFrames(info: number): void {
    if ((info & INFO_JIT) !== 0) {
      this.jitFrames++;
      if ((info & INFO_JIT_RESOLVED) !== 0) this.jitFramesResolved++;
    }
    const id = (info & INFO_ID) - 1;
    if (id >= 0) this.frameIds.push(id);
  }

  private addFrames(entry: CachedFrameLine): void {
    if (entry.jit) {
      this.jitFrames++;
      if (entry.jitResolved) this.jitFramesResolved++;
    }
    if (entry.id >= 0) this.frameIds.push(entry.id);
  }

  private tidy(pc: string, rawfunc: string, module: string): CachedFrameLine {
    const ctx: TidyContext = {
      kernel: this.kernel,
      jit: this.jit,
      addrs: this.options.addrs,
      java: this.options.java,
      javaComm: this.javaComm,
    };
    const t = tidyFrameLine(pc, rawfunc, module, ctx);
    return {
      id: t.frames.length > 0 ? this.intern(t.frames.join(';')) : -1,
      jit: t.jit,
      jitResolved: t.jitResolved,
      usesPc: t.usesPc,
    };
  }

  private intern(text: string): number {
    let id = this.ids.get(text);
    if (id === undefined) {
      id = this.texts.length;
      this.texts.push(text);
      this.ids.set(text, id);
      this.textChars += text.length;
      if (text.includes(';')) this.separatorTexts++;
      if (NON_ASCII.test(text)) this.nonAsciiIds.add(id);
    }
    return id;
  }
}

/** Where perl's `s/\+0x[\da-f]+$//` would cut the symbol `s[start, end)`; `end` when it would not. */
function offsetStart(s: string, start: number, end: number): number {
  let i = end;
  for (;;) {
    const c = s.charCodeAt(i - 1);
    if (i > start && ((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) i--;
    else break;
  }
  const plus = i - 3;
  if (i === end || plus < start) return end;
  return s.charCodeAt(plus) === 0x2b && s.charCodeAt(plus + 1) === 0x30 && s.charCodeAt(plus + 2) === 0x78 ? plus : end;
}

/** Whether `tokens` (root first) is the root `pnameId` followed by `frameIds` (leaf first) reversed. */
function sameStack(tokens: Int32Array, pnameId: number, frameIds: readonly number[]): boolean {
  const n = frameIds.length;
  if (tokens.length !== n + 1 || tokens[0] !== pnameId) return false;
  for (let i = 0; i < n; i++) if (tokens[n - i] !== frameIds[i]) return false;
  return true;
}

/**
 * Writes the bytes `[start, start + length)` (length ≥ 4) of `view` into `arena` from `at` on as little-endian int32
 * words: one per 4 bytes, then the word that ends at the line's end (overlapping the one before unless the length is
 * a multiple of 4).
 */
function toWords(view: DataView, start: number, length: number, arena: Int32Array, at: number): void {
  const full = length >> 2;
  for (let j = 0; j < full; j++) arena[at + j] = view.getInt32(start + 4 * j, true);
  arena[at + full] = view.getInt32(start + length - 4, true);
}

/** Whether the bytes `[start, start + length)` of `view` are those `toWords` wrote at `arena[at]`. */
function sameBytes(view: DataView, start: number, length: number, arena: Int32Array, at: number): boolean {
  const full = length >> 2;
  for (let j = 0; j < full; j++) if (view.getInt32(start + 4 * j, true) !== arena[at + j]) return false;
  return view.getInt32(start + length - 4, true) === arena[at + full];
}

/**
 * sameBytes on aligned words: the bytes `[p, p + length)` of the little-endian int32 array `words` (p in bytes;
 * `words` must hold the word after byte p + length + 3). A word at an unaligned p is put together from two aligned
 * ones.
 */
function sameWords(words: Int32Array, p: number, length: number, arena: Int32Array, at: number): boolean {
  const full = length >> 2;
  const k = p >> 2;
  const shift = (p & 3) << 3;
  if (shift === 0) {
    for (let j = 0; j < full; j++) if (words[k + j] !== arena[at + j]) return false;
  } else {
    const back = 32 - shift;
    let low = words[k] as number;
    for (let j = 0; j < full; j++) {
      const high = words[k + j + 1] as number;
      if (((low >>> shift) | (high << back)) !== arena[at + j]) return false;
      low = high;
    }
  }
  const q = p + length - 4;
  const k2 = q >> 2;
  const shift2 = (q & 3) << 3;
  const last =
    shift2 === 0
      ? (words[k2] as number)
      : ((words[k2] as number) >>> shift2) | ((words[k2 + 1] as number) << (32 - shift2));
  return last === arena[at + full];
}

/**
 * The chunk's bytes. Text someone already decoded goes back to its UTF-8 bytes, which is what perf wrote. Strings
 * made from the bytes later are "byte strings", one char per byte (latin1): sorting them is sorting by bytes.
 */
function toBytes(chunk: Buffer | Uint8Array | string): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** A byte string (see toBytes) as text. */
export function decodeBytes(s: string): string {
  return NON_ASCII.test(s) ? Buffer.from(s, 'latin1').toString('utf8') : s;
}
