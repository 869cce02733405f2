/**
 * difffolded.pl: two folded profiles in, one line per stack out, `stack countBefore countAfter`, the input of a
 * differential flame graph (the renderer colours by after − before and sizes frames by the after column).
 */
import { PodflameError } from '../errors.js';
import { sortBytewise } from '../folded.js';
import {
  formatPerlNumber,
  parsePerlCount,
  perlAdd,
  perlDivide,
  perlEquals,
  perlInt,
  perlIsZero,
  perlMultiply,
  type PerlNumber,
} from './perl-number.js';

export interface DiffFoldedOptions {
  /** `-n`: scale the before counts to the after total (`int(before × totalAfter / totalBefore)`). Default false. */
  normalize: boolean;
  /** `-s`: replace hex numbers (`0x7f3a9c`) in stacks with `0x...`, so that addresses that moved still match. Default false. */
  stripHex: boolean;
  /**
   * Drop lines that are not `stack count` instead of doing what difffolded.pl does with them (it counts each as the
   * empty stack with count 0, which prints as the line ` 0 0`). Default false (perl's behaviour).
   */
  skipInvalidLines: boolean;
}

export const DEFAULT_DIFF_FOLDED_OPTIONS: Readonly<DiffFoldedOptions> = Object.freeze({
  normalize: false,
  stripHex: false,
  skipInvalidLines: false,
});

export interface DiffedStack {
  stack: string;
  /** Count in the first (before) profile, normalized when asked; 0 when absent. */
  before: number;
  /** Count in the second (after) profile; 0 when absent. */
  after: number;
  /** The line difffolded.pl prints for this stack, without the newline. */
  line: string;
}

export interface DiffFoldedResult {
  /** One entry per distinct stack, sorted by stack in byte order (perl prints in hash order; sorted is reproducible). */
  stacks: DiffedStack[];
  /** Sums of the counts as read (before normalization). */
  totalBefore: number;
  totalAfter: number;
  /** Lines of each input that were not `stack count`. */
  invalidLines: { before: number; after: number };
}

type Side = 'before' | 'after';

/**
 * Accumulates the two profiles line by line (memory grows with distinct stacks, not input size); `finish()` pairs
 * them. Lines are taken as perl's `while (<FILE>) { chomp; ... }` sees them.
 */
export class FoldedDiffer {
  readonly #options: DiffFoldedOptions;
  readonly #counts = new Map<string, { before?: PerlNumber; after?: PerlNumber }>();
  #totalBefore: PerlNumber = 0n;
  #totalAfter: PerlNumber = 0n;
  readonly #invalid = { before: 0, after: 0 };

  constructor(options: Partial<DiffFoldedOptions> = {}) {
    this.#options = resolveDiffFoldedOptions(options);
  }

  addBefore(line: string): void {
    this.#add('before', line);
  }

  addAfter(line: string): void {
    this.#add('after', line);
  }

  #add(side: Side, rawLine: string): void {
    const line = rawLine.endsWith('\n') ? rawLine.slice(0, -1) : rawLine;
    const parsed = parseFoldedCountLine(line);
    let stack: string;
    let count: PerlNumber;
    if (parsed) {
      stack = parsed.stack;
      count = parsePerlCount(parsed.count);
    } else {
      this.#invalid[side]++;
      if (this.#options.skipInvalidLines) return;
      // Perl's failed match leaves $stack and $count undefined: the key becomes "" and the count adds 0.
      stack = '';
      count = 0n;
    }
    if (this.#options.stripHex) stack = stack.replace(/0x[0-9a-fA-F]+/g, '0x...');
    let entry = this.#counts.get(stack);
    if (!entry) {
      entry = {};
      this.#counts.set(stack, entry);
    }
    entry[side] = entry[side] === undefined ? count : perlAdd(entry[side], count);
    if (side === 'before') this.#totalBefore = perlAdd(this.#totalBefore, count);
    else this.#totalAfter = perlAdd(this.#totalAfter, count);
  }

  finish(): DiffFoldedResult {
    const totalBefore = this.#totalBefore;
    const totalAfter = this.#totalAfter;
    const scale = this.#options.normalize && !perlEquals(totalBefore, totalAfter);
    if (scale && perlIsZero(totalBefore)) {
      throw new PodflameError(
        'INVALID_INPUT',
        'cannot normalize (-n): the first (before) profile has no samples; give a profile with samples, or drop -n',
      );
    }
    const keys = sortBytewise(this.#counts.keys());
    const stacks: DiffedStack[] = [];
    for (const stack of keys) {
      const entry = this.#counts.get(stack) as { before?: PerlNumber; after?: PerlNumber };
      let before: PerlNumber = entry.before ?? 0n;
      const after: PerlNumber = entry.after ?? 0n;
      if (scale) before = perlInt(perlDivide(perlMultiply(before, totalAfter), totalBefore));
      stacks.push({
        stack,
        before: Number(before),
        after: Number(after),
        line: `${stack} ${formatPerlNumber(before)} ${formatPerlNumber(after)}`,
      });
    }
    return {
      stacks,
      totalBefore: Number(totalBefore),
      totalAfter: Number(totalAfter),
      invalidLines: { ...this.#invalid },
    };
  }
}

/** Diffs two folded profiles given as lines (without or with their trailing newline). */
export function diffFolded(
  before: Iterable<string>,
  after: Iterable<string>,
  options: Partial<DiffFoldedOptions> = {},
): DiffFoldedResult {
  const differ = new FoldedDiffer(options);
  for (const line of before) differ.addBefore(line);
  for (const line of after) differ.addAfter(line);
  return differ.finish();
}

/** The output text: one `stack before after` line per stack, each ending in a newline. */
export function serializeDiff(result: DiffFoldedResult): string {
  let out = '';
  for (const s of result.stacks) out += `${s.line}\n`;
  return out;
}

export function resolveDiffFoldedOptions(options: Partial<DiffFoldedOptions>): DiffFoldedOptions {
  const resolved: DiffFoldedOptions = {
    normalize: options.normalize ?? DEFAULT_DIFF_FOLDED_OPTIONS.normalize,
    stripHex: options.stripHex ?? DEFAULT_DIFF_FOLDED_OPTIONS.stripHex,
    skipInvalidLines: options.skipInvalidLines ?? DEFAULT_DIFF_FOLDED_OPTIONS.skipInvalidLines,
  };
  for (const [name, value] of Object.entries(resolved)) {
    if (typeof value !== 'boolean') {
      throw new PodflameError('INVALID_INPUT', `diff option ${name} must be true or false, got ${String(value)}`);
    }
  }
  return resolved;
}

// perl's whitespace class `\s` on byte strings: space, \t, \n, \v, \f, \r.
function isPerlSpace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d);
}

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

/**
 * difffolded.pl's `/^(.*)\s+?(\d+(?:\.\d*)?)$/` without backtracking. Greedy `(.*)` makes the count start as far
 * right as possible, so exactly one whitespace character separates it from the stack (any others stay in the stack):
 * `java;Hot.fib_[j] 42` → `java;Hot.fib_[j]` + `42`; `a;b  6.` → `a;b ` + `6.`. Lines ending in `\r` (CRLF files)
 * do not match, as in perl.
 */
export function parseFoldedCountLine(line: string): { stack: string; count: string } | undefined {
  if (line.includes('\n')) return undefined;
  let i = line.length;
  while (i > 0 && isDigit(line.charCodeAt(i - 1))) i--;
  const trailingDigitsStart = i;
  // `... 42`: the trailing digits are the whole count.
  if (trailingDigitsStart < line.length && i > 0 && isPerlSpace(line.charCodeAt(i - 1))) {
    return { stack: line.slice(0, i - 1), count: line.slice(i) };
  }
  // `... 14.25` or `... 6.`: digits, a dot, then the trailing digits (maybe none).
  if (i === 0 || line.charCodeAt(i - 1) !== 0x2e) return undefined;
  let j = i - 1;
  while (j > 0 && isDigit(line.charCodeAt(j - 1))) j--;
  if (j === i - 1 || j === 0 || !isPerlSpace(line.charCodeAt(j - 1))) return undefined;
  return { stack: line.slice(0, j - 1), count: line.slice(j) };
}
