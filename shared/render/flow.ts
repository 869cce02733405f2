/**
 * Merges ordered stacks into frames (flamegraph.pl's flow()): consecutive stacks that share a prefix share those
 * frames, so each frame spans [stime, etime) on the count axis. A frame closes when a later stack leaves it.
 *
 * Stacks arrive as `;`-joined text, e.g. `java;start_thread;JavaMain;Hot.main_[j]`. Sorted neighbours share long
 * prefixes (a Java stack is ~100 frames, 2 KB), so the shared part is found by comparing text against the previous
 * stack's frame boundaries (a binary search over them), and only the frames after it are cut into names.
 */
import { perlRoundTrip } from './perl-format.js';

/**
 * The frames at one depth, in increasing start: parallel arrays rather than one object per frame, because a large
 * profile has tens of thousands of frames and the garbage collector copies every surviving object.
 */
export interface FrameRow {
  /** Function names as in the input, annotation (`_[j]`, `_[k]`, ...) included; '' for the root. */
  names: string[];
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
 * count axis in BigInt (slower, only needed for such inputs).
 */
export class FrameMerger {
  /** The previous stack, trailing `;` removed. */
  private prevStack = '';
  /** End offset in prevStack of each of its frames. */
  private readonly prevEnds: number[] = [];
  /** Names of the open frames below the root, root first (the previous stack's frames). */
  private readonly names: string[] = [];
  /** Per depth (0 = root): start of the open frame, and its delta. */
  private readonly openStime: number[] = [];
  private readonly openBigStime: bigint[] = [];
  private readonly openDelta: number[] = [];
  private readonly byDepth: FrameRow[] = [];
  private time = 0;
  private bigTime = 0n;
  private started = false;
  private fractional = false;
  private maxDelta = 1;

  constructor(private readonly exact: boolean) {}

  /** Adds one stack (frames `;`-separated, root first, without the root) covering `count` units. */
  add(stackText: string, count: number, countText: string, delta: number | undefined): void {
    if (countText.includes('.')) this.fractional = true;
    if (delta !== undefined && Math.abs(delta) > this.maxDelta) this.maxDelta = Math.abs(delta);
    // perl's split drops trailing empty fields: `a;b;;` is the stack a, b.
    let end = stackText.length;
    while (end > 0 && stackText.charCodeAt(end - 1) === SEMICOLON) end--;
    const stack = end === stackText.length ? stackText : stackText.slice(0, end);

    const shared = this.started ? this.sharedFrames(stack) : 0;
    if (this.started) {
      this.closeDownTo(shared);
    } else {
      this.started = true;
      this.openFrame(0, delta === undefined ? undefined : stack.length === 0 ? delta : 0);
    }

    // Cut the frames after the shared ones.
    const ends = this.prevEnds;
    const names = this.names;
    ends.length = shared;
    names.length = shared;
    if (stack.length > 0) {
      // Past the end when the stack is exactly the shared frames.
      let start = shared === 0 ? 0 : (ends[shared - 1] as number) + 1;
      while (start <= stack.length) {
        let stop = stack.indexOf(';', start);
        if (stop === -1) stop = stack.length;
        names.push(stack.slice(start, stop));
        ends.push(stop);
        start = stop + 1;
      }
    }
    const depthMax = names.length;
    for (let i = shared; i < depthMax; i++) {
      this.openFrame(i + 1, delta === undefined ? undefined : i === depthMax - 1 ? delta : 0);
    }
    this.prevStack = stack;
    if (this.exact) this.bigTime += BigInt(countText.includes('.') ? Math.round(count) : countText);
    this.time += count;
  }

  /** Closes every frame; the result is final. */
  finish(): FlowResult {
    if (this.started) {
      this.closeDownTo(0);
      this.closeFrame(0, '');
    }
    // Depths are filled deepest first; a row exists for every depth up to the deepest.
    return { byDepth: this.byDepth, total: this.exact ? Number(this.bigTime) : this.time, maxDelta: this.maxDelta };
  }

  /**
   * How many leading frames `stack` shares with the previous stack: the largest j such that the text up to the end of
   * the previous stack's frame j is a prefix of `stack` and ends a frame there too.
   */
  private sharedFrames(stack: string): number {
    const prev = this.prevStack;
    const ends = this.prevEnds;
    if (stack.length === 0 || ends.length === 0) return 0;
    let lo = 0;
    let hi = ends.length;
    let known = 0;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      const end = ends[mid - 1] as number;
      const ok =
        end <= stack.length &&
        (end === stack.length || stack.charCodeAt(end) === SEMICOLON) &&
        // Substring equality is a native memory compare; startsWith and charCodeAt loops are several times slower.
        stack.substring(known, end) === prev.substring(known, end);
      if (ok) {
        lo = mid;
        known = end;
      } else {
        hi = mid - 1;
      }
    }
    return lo;
  }

  private openFrame(depth: number, delta: number | undefined): void {
    this.openStime[depth] = this.time;
    if (this.exact) this.openBigStime[depth] = this.bigTime;
    this.openDelta[depth] = delta ?? NaN;
  }

  /** Closes the open frames at depth keep+1 and deeper, deepest first. */
  private closeDownTo(keep: number): void {
    const names = this.names;
    for (let i = names.length - 1; i >= keep; i--) this.closeFrame(i + 1, names[i] as string);
  }

  private closeFrame(depth: number, name: string): void {
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
      row = { names: [], stimes: [], etimes: [], widths: [], deltas: [] };
      this.byDepth[depth] = row;
    }
    row.names.push(name);
    row.stimes.push(stime);
    row.etimes.push(etime);
    row.widths.push(width);
    row.deltas.push(this.openDelta[depth] as number);
  }
}
