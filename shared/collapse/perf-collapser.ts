/**
 * Streaming `perf script` → folded stacks, byte-identical to stackcollapse-perf.pl (FlameGraph @41fee1f) with its
 * flags --pid --tid --kernel --jit --all --addrs --event-filter, plus podflame's Java-aware mode.
 *
 * Input is consumed chunk by chunk; only the partial last line is kept between chunks, and memory grows with the
 * number of distinct stacks (plus a bounded cache of cleaned frame names), never with the input size.
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
import { JAVA_EVENT_LINE } from './java-names.js';
import { SortedCollapseResult, type CollapseResult, type StackRecord } from './collapse-result.js';
import { resolveCollapseOptions, type CollapseOptions } from './options.js';
import {
  EVENT_LINE,
  EVENT_PERIOD_AND_NAME,
  isPerlSpace,
  isPerlWord,
  parseFrameLine,
  tidyFrameLine,
  type TidyContext,
} from './tidy.js';

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
// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;
// Slots of the line cache (a power of two). Real captures have some 15,000 distinct stack lines.
const LINE_CACHE_SLOTS = 1 << 16;

export class PerfCollapser {
  private readonly options: CollapseOptions;
  private readonly kernel: boolean;
  private readonly jit: boolean;

  // Partial last line of the previous chunk(s).
  private carry: string[] = [];

  // The sample being read: root frame (undefined while no event is active), count, stack-line ids leaf first.
  private pname: string | undefined = undefined;
  private javaComm = false;
  private period = 1;
  private frameIds: number[] = [];

  private eventFilter: string;
  private eventDefaulted = false;
  private eventWarned = false;

  // Interned frame texts (a stack line's frames joined, or a root frame): text → id, id → text.
  private readonly ids = new Map<string, number>();
  private readonly texts: string[] = [];
  private readonly nonAsciiIds = new Set<number>();

  // Distinct stacks, by a hash of their ids (collisions are chained and told apart by comparing the ids).
  private readonly stacksByHash = new Map<number, ChainedStackRecord>();
  private readonly records: ChainedStackRecord[] = [];

  // Two caches so that a repeated stack line costs one string comparison:
  // 1. direct-mapped, keyed by the whole line (the pc included), slot chosen from its length and pc digits;
  // 2. by the text after the pc (symbol and module), for the same symbol at another pc. tidy_java depends on the
  //    comm, hence one map per case.
  private readonly slotLine: (string | undefined)[] = new Array<string | undefined>(LINE_CACHE_SLOTS);
  private readonly slotEntry: (CachedFrameLine | undefined)[] = new Array<CachedFrameLine | undefined>(
    LINE_CACHE_SLOTS,
  );
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

  /** Feeds the next piece of `perf script` output; chunks may split lines anywhere. */
  push(chunk: Buffer | Uint8Array | string): void {
    if (this.finished) throw new PodflameError('INTERNAL', 'PerfCollapser.push() called after finish()');
    const data = toByteString(chunk);
    const nl = data.indexOf('\n');
    if (nl < 0) {
      if (data.length > 0) this.carry.push(data);
      return;
    }
    let start = 0;
    if (this.carry.length > 0) {
      // Finish the carried line on its own, so the rest of the chunk is scanned without copying it.
      this.carry.push(data.slice(0, nl));
      const line = this.carry.join('');
      this.carry = [];
      this.onLine(line, 0, line.length);
      start = nl + 1;
    }
    for (;;) {
      const end = data.indexOf('\n', start);
      if (end < 0) break;
      this.onLine(data, start, end);
      start = end + 1;
    }
    // A copy, not a slice: a slice would keep the whole chunk alive.
    if (start < data.length) this.carry.push(detach(data.slice(start)));
  }

  /**
   * Ends one input file: a last line without a newline is still a line, as perl's `<>` reads it. Samples continue
   * across files exactly as perl's concatenated `<>` does.
   */
  endOfFile(): void {
    if (this.carry.length === 0) return;
    const line = this.carry.join('');
    this.carry = [];
    this.onLine(line, 0, line.length);
  }

  /** Ends the input and returns the folded stacks. A final sample without a blank line after it is dropped, as perl does. */
  finish(): CollapseResult {
    if (!this.finished) {
      this.endOfFile();
      this.finished = true;
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
      droppedEventSamples: this.droppedEventSamples,
      jitFrames: this.jitFrames,
      jitFramesResolved: this.jitFramesResolved,
      warnings: [...this.warnings],
    });
  }

  private onLine(s: string, start: number, end: number): void {
    if (start === end) {
      this.afterEvent();
      return;
    }
    const c = s.charCodeAt(start);
    if (c === HASH) return; // perf header and comments
    // An event line starts with a non-space, so indented lines go straight to the stack-line scanner.
    if (isPerlSpace(c)) {
      this.onStackLine(s, start, end);
      return;
    }
    const line = s.slice(start, end);
    if (!this.onEventLine(line)) this.onOtherStackLine(line);
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
      const tokens = new Int32Array(n + 1);
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

  // e.g. `C2 CompilerThre 22240   919.993501:    1001001 cpu-clock:ppp: `
  private onEventLine(line: string): boolean {
    const m = (this.options.java ? JAVA_EVENT_LINE.exec(line) : null) ?? EVENT_LINE.exec(line);
    if (!m) return false;
    const comm = m[1] as string;
    let pid = m[2] as string;
    let tid = m[3];
    // One number is the TID (default perf script fields); perl's `not $tid` is also true for "0".
    if (tid === undefined || tid === '' || tid === '0') {
      tid = pid;
      pid = '?';
    }
    let period: string | undefined;
    const ev = EVENT_PERIOD_AND_NAME.exec(line);
    if (ev) {
      period = ev[1];
      const event = ev[2] as string;
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
    this.period = period === undefined || period === '' || period === '0' ? 1 : Number(period);
    let pname = this.options.tid ? `${comm}-${pid}/${tid}` : this.options.pid ? `${comm}-${pid}` : comm;
    // stackcollapse-perf.pl turns spaces into `_` (`C2_CompilerThre`); Java mode keeps thread names as the JVM set them.
    if (!this.options.java && pname.includes(' ')) pname = pname.replaceAll(' ', '_');
    this.pname = pname;
    this.javaComm = pname.startsWith('java');
    return true;
  }

  // e.g. `\t    7f13acffdd40 long Hot.fib(int)+0x4c (/tmp/perf-22226.map)`
  private onStackLine(s: string, start: number, end: number): void {
    // perf right-aligns the pc in 16 columns after a tab, so chars 13-16 are the pc's last digits: with the length
    // they pick the slot. Any other layout only costs cache misses.
    const length = end - start;
    let h = length;
    if (length > 17) {
      h =
        Math.imul(h, 0x9e3779b1) ^
        (s.charCodeAt(start + 16) | (s.charCodeAt(start + 15) << 8) | (s.charCodeAt(start + 14) << 16)) ^
        (s.charCodeAt(start + 13) << 5) ^
        (s.charCodeAt(end - 2) << 11);
    }
    // The same line under a `java…` comm and another comm may clean differently: each has its own slot, so a slot's
    // line, once equal, also has the right comm kind.
    const slot = (h ^ (h >>> 16) ^ (this.javaComm ? 0x5bd1 : 0)) & (LINE_CACHE_SLOTS - 1);
    const cachedLine = this.slotLine[slot];
    if (cachedLine !== undefined && cachedLine.length === length) {
      const line = s.slice(start, end);
      if (line === cachedLine) {
        if (this.pname !== undefined) this.addFrames(this.slotEntry[slot] as CachedFrameLine);
        return;
      }
    }
    const entry = this.onUncachedStackLine(s, start, end);
    if (entry !== undefined) {
      this.slotLine[slot] = detach(s.slice(start, end));
      this.slotEntry[slot] = entry;
    }
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
        if (bySymbol.size >= this.options.frameCacheLimit) bySymbol.clear();
        bySymbol.set(detach(key), entry);
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
      this.firstUnrecognized ??= detach(line);
      return;
    }
    if (this.pname === undefined) return; // a sample of a filtered-out event
    this.addFrames(this.tidy(frame.pc, frame.rawfunc, frame.module));
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
      const own = detach(text);
      this.texts.push(own);
      this.ids.set(own, id);
      if (NON_ASCII.test(own)) this.nonAsciiIds.add(id);
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
 * A copy of a string that shares no memory with the string it was sliced from: V8 keeps the whole parent (here an
 * input chunk) alive as long as a slice of it lives, and cached lines and names must not pin the input in memory.
 */
function detach(s: string): string {
  return s.length < 13 ? s : Buffer.from(s, 'latin1').toString('latin1');
}

/** One char per byte: latin1 decoding keeps every byte, and sorting such strings is sorting by bytes. */
function toByteString(chunk: Buffer | Uint8Array | string): string {
  if (typeof chunk === 'string') {
    // Text someone already decoded: back to its UTF-8 bytes, which is what perf wrote.
    return NON_ASCII.test(chunk) ? Buffer.from(chunk, 'utf8').toString('latin1') : chunk;
  }
  const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return buf.toString('latin1');
}

/** A byte string (see toByteString) as text. */
export function decodeBytes(s: string): string {
  return NON_ASCII.test(s) ? Buffer.from(s, 'latin1').toString('utf8') : s;
}
