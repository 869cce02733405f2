/**
 * Folded stacks, the seam between every stage: one line per distinct stack, `root;child;leaf COUNT`.
 * Collapsers produce them, renderers and exporters consume them, the agent and client merge them.
 */

/** Distinct stack (frames joined by `;`, root first) → sample count. */
export type FoldedStacks = Map<string, number>;

/**
 * Per stack, how many events made up its count (a lock profile's contentions beside its nanoseconds blocked). Kept
 * next to the folded stacks, never in them: folded text stays one number per line, the weight, as FlameGraph tools
 * and Pyroscope read it. A stack missing from it had no events counted (0).
 */
export type EventCounts = Map<string, number>;

/** Byte-order comparison, as perl's `sort` (cmp) does on the collapser's output. */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

const NON_ASCII = /[\u0080-\uffff]/;

/**
 * Strings in byte order (`compareBytes`), fast: JavaScript's own sort compares UTF-16 code units, which is the byte
 * order of UTF-8 for ASCII, so only a list holding other characters pays for encoding, and then each string once
 * (a comparator that encodes both sides costs a merged week's graph a few hundred milliseconds).
 */
export function sortBytewise(strings: Iterable<string>): string[] {
  const list = [...strings];
  if (!list.some((s) => NON_ASCII.test(s))) return list.sort();
  return list
    .map((s) => ({ s, b: Buffer.from(s, 'utf8') }))
    .sort((x, y) => Buffer.compare(x.b, y.b))
    .map((x) => x.s);
}

/** Serializes in sorted order so that the same stacks always give the same bytes. */
export function serializeFolded(stacks: FoldedStacks): string {
  const keys = sortBytewise(stacks.keys());
  let out = '';
  for (const k of keys) out += `${k} ${stacks.get(k)}\n`;
  return out;
}

/**
 * Lines, each ending in a newline, as UTF-8 bytes in a buffer of their own (never a slice of Node's shared pool, so
 * that a worker can hand it over): measured, then written line by line, never joined into one string of the whole
 * text, which for a merged week is megabytes flattened on the heap and then copied again to be sent.
 */
export function linesToUtf8(lines: readonly string[]): Buffer {
  let length = 0;
  for (const line of lines) length += Buffer.byteLength(line, 'utf8') + 1;
  const buf = Buffer.allocUnsafeSlow(length);
  let at = 0;
  for (const line of lines) {
    at += buf.write(line, at, 'utf8');
    buf[at++] = 0x0a;
  }
  return buf;
}

export interface ParsedFolded {
  stacks: FoldedStacks;
  /** Lines that were neither blank nor `stack count`. */
  invalidLines: number;
}

// e.g. `java;start_thread;thread_native_entry;Hot.fib_[j] 42`
const FOLDED_LINE = /^(.*) (\d+(?:\.\d*)?)$/;

/** Parses single-column folded text (merging repeated stacks); see the renderer for two-column differential input. */
export function parseFolded(text: string): ParsedFolded {
  const stacks: FoldedStacks = new Map();
  let invalidLines = 0;
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') continue;
    const m = FOLDED_LINE.exec(line);
    if (!m) {
      invalidLines++;
      continue;
    }
    const stack = m[1] as string;
    stacks.set(stack, (stacks.get(stack) ?? 0) + Number(m[2]));
  }
  return { stacks, invalidLines };
}

/** Adds `from` into `into`, optionally under an extra root frame (e.g. the pod name). */
export function mergeFolded(into: FoldedStacks, from: FoldedStacks, rootFrame?: string): FoldedStacks {
  for (const [stack, count] of from) {
    const key = rootFrame === undefined ? stack : `${rootFrame};${stack}`;
    into.set(key, (into.get(key) ?? 0) + count);
  }
  return into;
}

export function totalSamples(stacks: FoldedStacks): number {
  let total = 0;
  for (const c of stacks.values()) total += c;
  return total;
}
