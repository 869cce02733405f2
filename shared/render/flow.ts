/**
 * Merges ordered stacks into frames (flamegraph.pl's flow()): consecutive stacks that share a prefix share those
 * frames, so each frame spans [stime, etime) on the count axis. A frame closes when a later stack leaves it.
 *
 * Stacks arrive as `;`-joined text, e.g. `java;start_thread;JavaMain;Hot.main_[j]`. Sorted neighbours share long
 * prefixes (a Java stack is ~100 frames, 2 KB), so the shared part is found by comparing text against the previous
 * stack's frame boundaries (a binary search over them). A frame's name is kept as a position in its stack's text and
 * cut out only when it is drawn: most frames of a large profile are too narrow to draw.
 */
import { perlRoundTrip } from './perl-format.js';

/**
 * The frames at one depth, in increasing start: parallel arrays rather than one object per frame, because a large
 * profile has tens of thousands of frames and the garbage collector copies every surviving object.
 */
export interface FrameRow {
  /**
   * Text holding each frame's name (the input line it was opened by, or for byte input the UTF-8 bytes holding that
   * line), and the name's position in it.
   */
  sources: (string | Buffer)[];
  nameStarts: number[];
  nameEnds: number[];
  /** Start on the count axis. */
  stimes: number[];
  /** End on the count axis. */
  etimes: number[];
  /** etime − stime, computed exactly (also for counts beyond 2^53). */
  widths: number[];
  /**
   * Differential input only: after − before of the line the frame is the leaf of, else 0; NaN for frames of
   * single-count lines.
   */
  deltas: number[];
}

/** Function name of frame `i` of a row, annotation (`_[j]`, `_[k]`, ...) included; '' for the root. */
export function frameNameAt(row: FrameRow, i: number): string {
  const source = row.sources[i] as string | Buffer;
  return typeof source === 'string'
    ? source.slice(row.nameStarts[i], row.nameEnds[i])
    : source.toString('utf8', row.nameStarts[i], row.nameEnds[i]);
}

export interface FlowResult {
  /** Rows by depth: 0 is the root ("all"), 1 the stacks' first frames, ... */
  byDepth: FrameRow[];
  /** Sum of widths (the "after" counts of differential lines). */
  total: number;
  /** Largest |delta| of any line, at least 1: the scale of differential colours. */
  maxDelta: number;
}

const SEMICOLON = 0x3b;

/**
 * Counts beyond 2^53 lose precision as doubles; perl adds them as 64-bit integers. `exact` makes the merger keep the
 * count axis in BigInt (slower, only needed for such inputs). `fractional` (any count with a decimal point) makes
 * frame ends the printed-and-read-back times flamegraph.pl keys its frames by.
 */
export class FrameMerger {
  /** The previous stack's text. */
  private prev = '';
  /** Byte input: the previous stack's bytes and where it starts in them. */
  private prevBytes: Buffer | undefined;
  private prevStart = 0;
  /** End offset in the previous stack of each of its frames (= of each open frame below the root). */
  private readonly prevEnds: number[] = [];
  /** Per depth (0 = root): where the open frame's name is, its start, its delta. */
  private readonly openSource: (string | Buffer)[] = [];
  private readonly openNameStart: number[] = [];
  private readonly openNameEnd: number[] = [];
  private readonly openStime: number[] = [];
  private readonly openBigStime: bigint[] = [];
  private readonly openDelta: number[] = [];
  private readonly byDepth: FrameRow[] = [];
  private time = 0;
  private bigTime = 0n;
  private started = false;
  private maxDelta = 1;

  constructor(
    private readonly exact: boolean,
    private readonly fractional: boolean,
  ) {}

  /**
   * Adds one stack: the first `stackLength` characters of `text` (frames `;`-separated, root first, without the root)
   * cover `count` units (`bigCount` in exact mode); `delta` only for differential lines.
   */
  add(text: string, stackLength: number, count: number, delta: number | undefined, bigCount = 0n): void {
    if (delta !== undefined && Math.abs(delta) > this.maxDelta) this.maxDelta = Math.abs(delta);
    // perl's split drops trailing empty fields: `a;b;;` is the stack a, b.
    let length = stackLength;
    while (length > 0 && text.charCodeAt(length - 1) === SEMICOLON) length--;

    const ends = this.prevEnds;
    let shared = 0;
    if (this.started) {
      shared = this.sharedFrames(text, length);
      for (let i = ends.length - 1; i >= shared; i--) this.closeFrame(i + 1);
    } else {
      this.started = true;
      this.openFrame(0, '', 0, 0, delta === undefined ? undefined : length === 0 ? delta : 0);
    }

    // Open the frames after the shared ones.
    ends.length = shared;
    if (length > 0) {
      // Past the end when the stack is exactly the shared frames.
      let start = shared === 0 ? 0 : (ends[shared - 1] as number) + 1;
      while (start <= length) {
        let stop = text.indexOf(';', start);
        if (stop === -1 || stop > length) stop = length;
        ends.push(stop);
        start = stop + 1;
      }
    }
    const depthMax = ends.length;
    for (let i = shared; i < depthMax; i++) {
      const nameStart = i === 0 ? 0 : (ends[i - 1] as number) + 1;
      const leafDelta = delta === undefined ? undefined : i === depthMax - 1 ? delta : 0;
      this.openFrame(i + 1, text, nameStart, ends[i] as number, leafDelta);
    }
    this.prev = text;
    if (this.exact) this.bigTime += bigCount;
    this.time += count;
  }

  /**
   * `add` for UTF-8 bytes (folded-bytes.ts): the stack is `buf[start, stackEnd)`. Not for exact mode. Frames are
   * compared and cut as bytes; a name is decoded only if its frame is drawn.
   */
  addBytes(buf: Buffer, start: number, stackEnd: number, count: number): void {
    let end = stackEnd;
    while (end > start && buf[end - 1] === SEMICOLON) end--;
    const length = end - start;
    // Frame ends relative to the line's start, as `add` keeps them.
    const ends = this.prevEnds;
    let shared = 0;
    if (this.started) {
      shared = this.sharedFramesBytes(buf, start, length);
      for (let i = ends.length - 1; i >= shared; i--) this.closeFrame(i + 1);
    } else {
      this.started = true;
      this.openFrame(0, '', 0, 0, undefined);
    }
    ends.length = shared;
    if (length > 0) {
      let at = shared === 0 ? 0 : (ends[shared - 1] as number) + 1;
      while (at <= length) {
        // Native indexOf, not a byte loop: the loop runs once per process, mostly before V8 has compiled it.
        let stop = buf.indexOf(SEMICOLON, start + at) - start;
        if (stop < 0 || stop > length) stop = length;
        ends.push(stop);
        at = stop + 1;
      }
    }
    const depthMax = ends.length;
    for (let i = shared; i < depthMax; i++) {
      const nameStart = i === 0 ? 0 : (ends[i - 1] as number) + 1;
      this.openFrame(i + 1, buf, start + nameStart, start + (ends[i] as number), undefined);
    }
    this.prevBytes = buf;
    this.prevStart = start;
    this.time += count;
  }

  /** Closes every frame; the result is final. */
  finish(): FlowResult {
    if (this.started) {
      for (let i = this.prevEnds.length - 1; i >= 0; i--) this.closeFrame(i + 1);
      this.prevEnds.length = 0;
      this.closeFrame(0);
    }
    return { byDepth: this.byDepth, total: this.exact ? Number(this.bigTime) : this.time, maxDelta: this.maxDelta };
  }

  /**
   * How many leading frames the stack shares with the previous one: the largest j such that the text up to the end
   * of the previous stack's frame j is the same in both and ends a frame in this stack too.
   */
  private sharedFrames(text: string, length: number): number {
    const prev = this.prev;
    const ends = this.prevEnds;
    if (length === 0 || ends.length === 0) return 0;
    let lo = 0;
    let hi = ends.length;
    let known = 0;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      const end = ends[mid - 1] as number;
      const ok =
        end <= length &&
        (end === length || text.charCodeAt(end) === SEMICOLON) &&
        // Substring equality is a native memory compare; startsWith and charCodeAt loops are several times slower.
        text.substring(known, end) === prev.substring(known, end);
      if (ok) {
        lo = mid;
        known = end;
      } else {
        hi = mid - 1;
      }
    }
    return lo;
  }

  /** `sharedFrames` for byte input: the stack is `length` bytes at `start` of `buf`. */
  private sharedFramesBytes(buf: Buffer, start: number, length: number): number {
    const prev = this.prevBytes as Buffer;
    const prevStart = this.prevStart;
    const ends = this.prevEnds;
    if (length === 0 || ends.length === 0) return 0;
    let lo = 0;
    let hi = ends.length;
    let known = 0;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      const end = ends[mid - 1] as number;
      const ok =
        end <= length &&
        (end === length || buf[start + end] === SEMICOLON) &&
        prev.compare(buf, start + known, start + end, prevStart + known, prevStart + end) === 0;
      if (ok) {
        lo = mid;
        known = end;
      } else {
        hi = mid - 1;
      }
    }
    return lo;
  }

  private openFrame(
    depth: number,
    source: string | Buffer,
    nameStart: number,
    nameEnd: number,
    delta: number | undefined,
  ): void {
    this.openSource[depth] = source;
    this.openNameStart[depth] = nameStart;
    this.openNameEnd[depth] = nameEnd;
    this.openStime[depth] = this.time;
    if (this.exact) this.openBigStime[depth] = this.bigTime;
    this.openDelta[depth] = delta ?? NaN;
  }

  private closeFrame(depth: number): void {
    let stime: number;
    let etime: number;
    let width: number;
    if (this.exact) {
      const bigStime = this.openBigStime[depth] as bigint;
      stime = Number(bigStime);
      etime = Number(this.bigTime);
      width = Number(this.bigTime - bigStime);
    } else {
      stime = this.openStime[depth] as number;
      // flamegraph.pl keys frames by "name;depth;etime", so etime is the printed (%.15g) time read back.
      etime = this.fractional ? perlRoundTrip(this.time) : this.time;
      width = etime - stime;
    }
    let row = this.byDepth[depth];
    if (row === undefined) {
      row = { sources: [], nameStarts: [], nameEnds: [], stimes: [], etimes: [], widths: [], deltas: [] };
      this.byDepth[depth] = row;
    }
    row.sources.push(this.openSource[depth] as string | Buffer);
    row.nameStarts.push(this.openNameStart[depth] as number);
    row.nameEnds.push(this.openNameEnd[depth] as number);
    row.stimes.push(stime);
    row.etimes.push(etime);
    row.widths.push(width);
    row.deltas.push(this.openDelta[depth] as number);
  }
}
