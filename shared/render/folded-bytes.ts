/**
 * flamegraph.pl's input read from the bytes as they come from a file, without decoding them: a 23 MB folded file is
 * ~11,000 lines of ~2 KB, and decoding it into strings, splitting and comparing them cost more than drawing the graph.
 * Frame names are decoded later, only for the frames drawn. UTF-8 orders bytes as code points, so sorting byte ranges
 * gives perl's order of the decoded lines (what `orderStackLines` does with strings).
 *
 *   java;start_thread;thread_native_entry;Hot.fib_[j] 42
 *
 * Only the common case is read here: UTF-8 input whose lines have one count after an ASCII space. Anything else
 * (invalid UTF-8, which decoding replaces with U+FFFD; two counts, as differential input has; a non-ASCII byte before
 * the count, maybe a Unicode space perl's `\s` matches; counts beyond 2^53, which need exact sums) gives undefined,
 * and the caller decodes the text and reads it line by line (folded-input.ts): the same graph, more slowly.
 */
import { isUtf8 } from 'node:buffer';

/** The valid lines of the input, in the order they are merged (parallel arrays: one entry per line). */
export interface ByteStackLines {
  /** The input, one Buffer per file. */
  chunks: readonly Buffer[];
  /** Which chunk each line is in. */
  chunkOf: number[];
  /** Where each line starts in its chunk. */
  starts: number[];
  /** Where its stack ends (the whitespace before the count). */
  stackEnds: number[];
  /** Its count. */
  counts: number[];
  /** Whether any count has a decimal point. */
  fractional: boolean;
  /** Lines that were not `stack count`. */
  ignoredLines: number;
}

const NEWLINE = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/** perl's `\s` among ASCII bytes: space, tab, LF, vertical tab, form feed, CR. */
function isAsciiSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/** A line that only the text reader reads right (see the module comment). */
const NEEDS_TEXT = -2;

/**
 * Index of the space before the count that ends `buf[start, end)` (`countStart` of folded-input.ts on bytes); -1 when
 * the line does not end in one; NEEDS_TEXT when a non-ASCII byte precedes the digits.
 */
function countStartIn(buf: Buffer, start: number, end: number): number {
  let i = end - 1;
  let dots = 0;
  while (i >= start) {
    const c = buf[i] as number;
    if (c === DOT) dots++;
    else if (c < DIGIT_0 || c > DIGIT_9) break;
    i--;
  }
  if (i < start || i === end - 1 || dots > 1) return -1;
  const before = buf[i] as number;
  if (before >= 0x80) return NEEDS_TEXT;
  if (!isAsciiSpace(before)) return -1;
  const first = buf[i + 1] as number;
  return first >= DIGIT_0 && first <= DIGIT_9 ? i : -1;
}

/** The count `buf[start, end)` (digits, at most one dot) as a number, as perl reads it. */
function countValue(buf: Buffer, start: number, end: number): number {
  // Up to 15 digits the sum of digits is exact; longer counts and decimals are rare and read by Number().
  if (end - start <= 15) {
    let value = 0;
    for (let i = start; i < end; i++) {
      const c = buf[i] as number;
      if (c === DOT) return Number(buf.toString('latin1', start, end));
      value = value * 10 + (c - DIGIT_0);
    }
    return value;
  }
  return Number(buf.toString('latin1', start, end));
}

/**
 * Reads the lines of each chunk in turn (as perl's `<>` reads several files: a last line without newline is a line,
 * a `\r` before the newline is dropped), sorted unless `flamechart`; undefined when the text reader is needed.
 */
export function readByteStackLines(chunks: readonly Buffer[], flamechart: boolean): ByteStackLines | undefined {
  const chunkOf: number[] = [];
  const starts: number[] = [];
  const stackEnds: number[] = [];
  const lineEnds: number[] = [];
  const counts: number[] = [];
  let fractional = false;
  let ignoredLines = 0;
  let sum = 0;
  for (let c = 0; c < chunks.length; c++) {
    const buf = chunks[c] as Buffer;
    if (!isUtf8(buf)) return undefined;
    let start = 0;
    while (start < buf.length) {
      let next = buf.indexOf(NEWLINE, start);
      if (next === -1) next = buf.length;
      let end = next;
      if (end > start && buf[end - 1] === CR) end--;
      const at = countStartIn(buf, start, end);
      if (at === NEEDS_TEXT) return undefined;
      if (at === -1) {
        ignoredLines++;
      } else {
        // `stack before after` (differential input) is left to the text reader.
        if (countStartIn(buf, start, at) !== -1) return undefined;
        const count = countValue(buf, at + 1, end);
        chunkOf.push(c);
        starts.push(start);
        stackEnds.push(at);
        lineEnds.push(end);
        counts.push(count);
        sum += count;
        if (!fractional) for (let i = at + 1; i < end; i++) if (buf[i] === DOT) fractional = true;
      }
      start = next + 1;
    }
  }
  // Beyond 2^53 doubles lose units that perl's 64-bit integers keep: the text reader sums them exactly.
  if (!fractional && sum > Number.MAX_SAFE_INTEGER) return undefined;
  const lines: ByteStackLines = { chunks, chunkOf, starts, stackEnds, counts, fractional, ignoredLines };
  return flamechart ? lines : sortLines(lines, lineEnds);
}

/** The lines in byte order of their whole text, count included (perl sorts the lines as read). */
function sortLines(lines: ByteStackLines, lineEnds: readonly number[]): ByteStackLines {
  const { chunks, chunkOf, starts } = lines;
  const compare = (a: number, b: number): number =>
    (chunks[chunkOf[a] as number] as Buffer).compare(
      chunks[chunkOf[b] as number] as Buffer,
      starts[b],
      lineEnds[b],
      starts[a],
      lineEnds[a],
    );
  // Folded files are usually written sorted (podflame collapse, stackcollapse-perf.pl): one pass checks it.
  let sorted = true;
  for (let i = 1; i < starts.length && sorted; i++) if (compare(i - 1, i) > 0) sorted = false;
  if (sorted) return lines;
  const order = Array.from(starts, (_, i) => i).sort(compare);
  return {
    ...lines,
    chunkOf: order.map((i) => chunkOf[i] as number),
    starts: order.map((i) => starts[i] as number),
    stackEnds: order.map((i) => lines.stackEnds[i] as number),
    counts: order.map((i) => lines.counts[i] as number),
  };
}
