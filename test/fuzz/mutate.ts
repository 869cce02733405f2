/**
 * Seeded input generators for the pipeline fuzz test: mutations of real captured text (perf script and folded) and
 * inputs made from scratch. Everything derives from one PRNG, so a failure is replayed by its seed and index.
 */

/** mulberry32: small, fast, good enough to drive a fuzzer; the same seed gives the same sequence on every platform. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Rng = () => number;

export const int = (rng: Rng, n: number): number => Math.floor(rng() * n);
export const pick = <T>(rng: Rng, items: readonly T[]): T => items[int(rng, items.length)] as T;

/** Text that has broken parsers and XML writers before: markup, entities, controls, odd Unicode, perl-isms. */
const HOSTILE = [
  '<init>',
  '<clinit>',
  '&amp;',
  '&',
  '"',
  "'",
  ']]>',
  '<!--',
  '-->',
  '<![CDATA[',
  '\u0000',
  '\u0001',
  '\u0008',
  '\u000b',
  '\u001f',
  '\u007f',
  '\u0085',
  '\u00a0',
  '\u2028',
  '\u202e',
  '\ufeff',
  '\ufffe',
  '\uffff',
  '\ud800',
  '\udfff',
  '\ud83d\udd25',
  'e\u0301',
  '\u4e2d\u6587',
  'lambda$main$0',
  'Shop$$Lambda$16/0x00007fd04c003c50.accept',
  '[unknown]',
  '(anonymous namespace)',
  '->',
  '_[j]',
  '_[k]',
  '_[i]',
  '_[w]',
  ';--;',
  '%s%n',
  '${x}',
  '\\',
  '\t',
  '\r',
  ' ',
  '',
];

const HUGE_NUMBERS = [
  '0',
  '-1',
  '1e3',
  '1.',
  '.5',
  '0.0000001',
  '9007199254740993',
  '18446744073709551615',
  '18446744073709551616',
  '99999999999999999999999999999',
  `1${'0'.repeat(400)}`,
  '340282366920938463463374607431768211456.5',
  'NaN',
  'Infinity',
];

function splitLines(text: string): string[] {
  return text.split('\n');
}

function randomUnicode(rng: Rng, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) {
    const r = rng();
    if (r < 0.3) s += pick(rng, HOSTILE);
    else if (r < 0.6) s += String.fromCharCode(0x20 + int(rng, 0x5f));
    else if (r < 0.8) s += String.fromCharCode(int(rng, 0x100));
    else s += String.fromCharCode(int(rng, 0x10000));
  }
  return s;
}

type Mutator = (text: string, rng: Rng, donor: string) => string;

const MUTATORS: Record<string, Mutator> = {
  byteFlip: (text, rng) => {
    const chars = [...text];
    const flips = 1 + int(rng, 8);
    for (let i = 0; i < flips && chars.length > 0; i++) {
      const at = int(rng, chars.length);
      chars[at] = String.fromCharCode((chars[at]!.charCodeAt(0) ^ (1 << int(rng, 8))) & 0xffff);
    }
    return chars.join('');
  },
  truncate: (text, rng) => text.slice(0, int(rng, text.length + 1)),
  truncateStart: (text, rng) => text.slice(int(rng, text.length + 1)),
  duplicateLines: (text, rng) => {
    const lines = splitLines(text);
    const at = int(rng, lines.length);
    const n = 1 + int(rng, 5);
    lines.splice(at, 0, ...lines.slice(at, at + n), ...lines.slice(at, at + n));
    return lines.join('\n');
  },
  deleteLines: (text, rng) => {
    const lines = splitLines(text);
    lines.splice(int(rng, lines.length), 1 + int(rng, 10));
    return lines.join('\n');
  },
  swapLines: (text, rng) => {
    const lines = splitLines(text);
    for (let i = 0; i < 1 + int(rng, 6); i++) {
      const a = int(rng, lines.length);
      const b = int(rng, lines.length);
      [lines[a], lines[b]] = [lines[b] as string, lines[a] as string];
    }
    return lines.join('\n');
  },
  unicode: (text, rng) => {
    const at = int(rng, text.length + 1);
    return text.slice(0, at) + randomUnicode(rng, 1 + int(rng, 12)) + text.slice(at);
  },
  hostileNames: (text, rng) =>
    // Replace words (frame names, comms) with hostile text.
    text.replace(/[A-Za-z_][\w.:$]{3,}/g, (w) => (rng() < 0.15 ? pick(rng, HOSTILE) + w.slice(int(rng, w.length)) : w)),
  hugeNumbers: (text, rng) => text.replace(/\b\d+\b/g, (n) => (rng() < 0.2 ? pick(rng, HUGE_NUMBERS) : n)),
  emptyFrames: (text, rng) =>
    text
      .replace(/;/g, () => (rng() < 0.2 ? pick(rng, [';;', ';;;', '; ;', ';']) : ';'))
      .replace(/^/gm, () => (rng() < 0.05 ? ';' : '')),
  nulBytes: (text, rng) => text.replace(/./g, (c) => (rng() < 0.01 ? `${c}\u0000` : c)),
  crlf: (text, rng) =>
    rng() < 0.5 ? text.replace(/\n/g, '\r\n') : text.replace(/\n/g, () => (rng() < 0.3 ? '\r\n' : '\n')),
  loneCr: (text) => text.replace(/\n/g, '\r'),
  blankLines: (text, rng) => text.replace(/\n/g, () => (rng() < 0.1 ? '\n\n' : rng() < 0.1 ? '\n \n' : '\n')),
  // 1,000–5,000 characters: longer lines only cost time, since matching a frame line is quadratic in its count of
  // ` (` (perl's regex, kept by the collapser).
  longLine: (text, rng) => {
    const at = int(rng, text.length + 1);
    return (
      `${text.slice(0, at)}${pick(rng, ['x', ';', ' ', '(', '+0x'])}`.padEnd(
        at + 1000 + int(rng, 4000),
        pick(rng, ['a', ';f', ' (', '0']),
      ) + text.slice(at)
    );
  },
  deepStack: (text, rng) => {
    const depth = 500 + int(rng, 3000);
    const stack = Array.from({ length: depth }, (_, i) => `f${i % 7}`).join(';');
    return `${text}\n${stack} ${1 + int(rng, 100)}\n`;
  },
  splice: (text, rng, donor) => {
    const a = int(rng, text.length + 1);
    const b = int(rng, donor.length + 1);
    return text.slice(0, a) + donor.slice(b, b + int(rng, 4000)) + text.slice(a);
  },
  whitespace: (text, rng) => text.replace(/[ \t]+/g, () => pick(rng, [' ', '\t', '  ', '', '\u000b', '\f', ' \t '])),
};

const MUTATOR_NAMES = Object.keys(MUTATORS);

/** Applies 1–4 random mutations; `maxLength` bounds the result so no input can make a run slow by sheer size. */
export function mutate(seed: string, donor: string, rng: Rng, maxLength: number): { text: string; steps: string[] } {
  let text = seed;
  const steps: string[] = [];
  const n = 1 + int(rng, 4);
  for (let i = 0; i < n; i++) {
    const name = pick(rng, MUTATOR_NAMES);
    steps.push(name);
    text = (MUTATORS[name] as Mutator)(text, rng, donor);
    if (text.length > maxLength) text = text.slice(0, maxLength);
  }
  return { text, steps };
}

/** A random window of whole lines of a seed (so that long real files give many different starting points). */
export function excerpt(seed: string, rng: Rng, maxLength: number): string {
  const start = int(rng, Math.max(1, seed.length - maxLength / 2));
  const from = seed.lastIndexOf('\n', start) + 1;
  return seed.slice(from, from + int(rng, maxLength) + 1);
}

const PERF_TOKENS = [
  'java',
  'C2 CompilerThre',
  '24869',
  '24636/25607',
  '[002]',
  '1063.366643:',
  '10101010',
  'cpu-clock:pppH:',
  'cycles:',
  '\t',
  '    ',
  '7faa99c93774',
  'ffffffff8103ce3b',
  'void com.sun.tools.javac.comp.Lower.visitMethodDef(com.sun.tools.javac.tree.JCTree$JCMethodDecl)+0xcac',
  'start_thread+0x305',
  '[unknown]',
  '(/tmp/perf-24867.map)',
  '([kernel.kallsyms])',
  '(/usr/lib/x86_64-linux-gnu/libc.so.6)',
  '([unknown])',
  '# cmdline : perf record',
  ' ',
  '\n',
  '\n\n',
  ';',
];

const FOLDED_TOKENS = [
  'java',
  'main',
  'Hot.fib_[j]',
  '[libjvm.so]',
  ';',
  ';;',
  ' ',
  '1',
  '42',
  '3.5',
  '0',
  '\n',
  '\t',
  '--',
];

/** Inputs from scratch: token soup in the shape of perf script or folded text, or plain random characters. */
export function fromScratch(rng: Rng, kind: 'perf' | 'folded', maxLength: number): string {
  const tokens = kind === 'perf' ? PERF_TOKENS : FOLDED_TOKENS;
  let s = '';
  const target = int(rng, maxLength);
  const mode = rng();
  while (s.length < target) {
    if (mode < 0.6) s += pick(rng, tokens) + (rng() < 0.3 ? ' ' : '');
    else if (mode < 0.8) s += randomUnicode(rng, 16);
    else s += String.fromCharCode(int(rng, 0x80));
  }
  return s;
}
