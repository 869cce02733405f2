/**
 * flamegraph.pl's input: one stack per line, frames root first separated by `;`, then a count, or two counts for a
 * differential graph (before, after — difffolded.pl's output):
 *
 *   java;start_thread;thread_native_entry;Hot.fib_[j] 42
 *   java;start_thread;thread_native_entry;Hot.fib_[j] 42 57
 *
 * A count is `\d+(\.\d*)?` after the last whitespace (so `6.` is a count, `-1` and `1e3` are not). Anything else is
 * an invalid line: counted, reported once, skipped. Lines starting with `#` are not special, as in flamegraph.pl.
 */

/** One valid input line. */
export interface StackLine {
  /** The frames, `;`-separated, as in the input (may be empty: the line counts for the root only). */
  stack: string;
  /** The count, or the "before" count of a differential line. */
  count: string;
  /** The "after" count of a differential line; it is the frame width, and after − before the delta. */
  count2: string | undefined;
}

// perl's \s on a character string: ASCII whitespace incl. vertical tab, NEL, NBSP and the Unicode spaces.
function isPerlSpace(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  if (c < 0x85) return false;
  return (
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

/**
 * Index of the whitespace before a count ending the first `end` characters of `s` (`^(.*)\s+?(\d+(?:\.\d*)?)$`
 * with a greedy prefix: the count is the text after the last whitespace), or -1 when they do not end in one.
 */
export function countStart(s: string, end = s.length): number {
  let i = end - 1;
  let dots = 0;
  while (i >= 0) {
    const c = s.charCodeAt(i);
    if (c === 0x2e) dots++;
    else if (c < 0x30 || c > 0x39) break;
    i--;
  }
  if (i < 0 || i === end - 1 || dots > 1 || !isPerlSpace(s.charCodeAt(i))) return -1;
  // The count must start with a digit: ".5" is not a count.
  const first = s.charCodeAt(i + 1);
  return first >= 0x30 && first <= 0x39 ? i : -1;
}

/** Parses one line (without its newline); undefined when it is not `stack count` or `stack count count`. */
export function parseStackLine(line: string): StackLine | undefined {
  const at = countStart(line);
  if (at === -1) return undefined;
  const stack = line.slice(0, at);
  const count = line.slice(at + 1);
  const at2 = countStart(stack);
  if (at2 === -1) return { stack, count, count2: undefined };
  return { stack: stack.slice(0, at2), count: stack.slice(at2 + 1), count2: count };
}

/** perl's split on `;`: empty fields in the middle are frames with an empty name; trailing ones are dropped. */
export function splitFrames(stack: string): string[] {
  const parts = stack.split(';');
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/**
 * Orders strings by Unicode code point, as perl's `sort` does on decoded text. It differs from JavaScript's UTF-16
 * order only for astral characters against U+E000..U+FFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      const xs = x >= 0xd800 && x <= 0xdfff;
      const ys = y >= 0xd800 && y <= 0xdfff;
      if (xs !== ys) return xs ? 1 : -1;
      return x - y;
    }
  }
  return a.length - b.length;
}

const SURROGATE = /[\uD800-\uDFFF]/;

/** Removes the line terminator perl's chomp would (plus a `\r`, which would otherwise make the line invalid). */
function chomp(line: string): string {
  let end = line.length;
  if (end > 0 && line.charCodeAt(end - 1) === 0x0a) end--;
  if (end > 0 && line.charCodeAt(end - 1) === 0x0d) end--;
  return end === line.length ? line : line.slice(0, end);
}

/** The stack reversed (leaf first), keeping the counts: what `--reverse` merges. */
function reverseLine(line: string): string {
  const parsed = parseStackLine(line);
  // An invalid line stays invalid; flamegraph.pl rewrites it to a lone space, which is invalid as well.
  if (!parsed) return line;
  const reversed = splitFrames(parsed.stack).reverse().join(';');
  return parsed.count2 === undefined ? `${reversed} ${parsed.count}` : `${reversed} ${parsed.count} ${parsed.count2}`;
}

/**
 * The input lines in the order they are merged: sorted by code point (so equal prefixes meet), or in input order for
 * a flame chart; reversed stacks first with `reverse`.
 */
export function orderStackLines(lines: Iterable<string>, reverse: boolean, flamechart: boolean): string[] {
  const out: string[] = [];
  let astral = false;
  for (const raw of lines) {
    let line = chomp(raw);
    if (reverse) line = reverseLine(line);
    if (!astral && SURROGATE.test(line)) astral = true;
    out.push(line);
  }
  if (!flamechart) {
    if (astral) out.sort(compareCodePoints);
    else out.sort();
  }
  return out;
}
