import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  diffFolded,
  FoldedDiffer,
  parseFoldedCountLine,
  serializeDiff,
  DEFAULT_DIFF_FOLDED_OPTIONS,
} from '../../shared/diff/diff-folded.js';
import { formatPerlNumber, parsePerlCount, perlAdd } from '../../shared/diff/perl-number.js';
import { registerDiffFolded } from '../../client/cli/commands/diff-folded.js';
import { runInProcess } from '../helpers/cli-io.js';
import { matchGolden } from '../helpers/golden.js';

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;
const readLines = (name: string): string[] => {
  const text = readFileSync(join(FIXTURES, name), 'latin1');
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
};

t.test('real JVM captures: golden output for each option, as difffolded.pl prints it (sorted)', async (t) => {
  const before = readLines('before.folded');
  const after = readLines('after.folded');
  t.ok(before.length > 50 && after.length > 50, 'fixtures hold real profiles');
  const cases = [
    { name: 'default', options: {} },
    { name: 'normalize', options: { normalize: true } },
    { name: 'strip-hex', options: { stripHex: true } },
  ] as const;
  for (const c of cases) {
    const result = diffFolded(before, after, c.options);
    matchGolden(
      t,
      join(FIXTURES, `expected-${c.name}.txt`),
      serializeDiff(result),
      `${c.name} matches its golden`,
      'latin1',
    );
    t.same(result.invalidLines, { before: 0, after: 0 }, `${c.name}: no invalid lines in real folded output`);
    const afterSum = result.stacks.reduce((s, x) => s + x.after, 0);
    t.equal(afterSum, result.totalAfter, `${c.name}: the after column sums to the after total`);
  }
  const plain = diffFolded(before, after);
  const beforeSum = plain.stacks.reduce((s, x) => s + x.before, 0);
  t.equal(beforeSum, plain.totalBefore, 'without -n the before column sums to the before total');
  const normalized = diffFolded(before, after, { normalize: true });
  const expectedScaled = plain.stacks.map((x) => Math.trunc((x.before * plain.totalAfter) / plain.totalBefore));
  t.same(
    normalized.stacks.map((x) => x.before),
    expectedScaled,
    '-n: each before count is int(count × totalAfter / totalBefore)',
  );
  t.not(plain.totalBefore, plain.totalAfter, 'the two captures differ in total, so -n really scales');
});

t.test('count line parsing follows perl /^(.*)\\s+?(\\d+(?:\\.\\d*)?)$/', async (t) => {
  t.same(parseFoldedCountLine('java;Hot.fib_[j] 42'), { stack: 'java;Hot.fib_[j]', count: '42' });
  t.same(parseFoldedCountLine('a;b  6.'), { stack: 'a;b ', count: '6.' }, 'extra spaces stay in the stack');
  t.same(parseFoldedCountLine('a\t14.25'), { stack: 'a', count: '14.25' }, 'a tab separates too');
  t.same(parseFoldedCountLine(' 7'), { stack: '', count: '7' }, 'empty stack');
  t.same(parseFoldedCountLine('a 1 2'), { stack: 'a 1', count: '2' }, 'the last number is the count');
  t.same(parseFoldedCountLine('a;0x1f 12'), { stack: 'a;0x1f', count: '12' });
  t.same(parseFoldedCountLine('a 12.5.6'), undefined, 'two dots');
  t.same(parseFoldedCountLine('a 3\r'), undefined, "CRLF line: perl's $ does not match before \\r");
  t.same(parseFoldedCountLine('a .5'), undefined, 'no digit before the dot');
  t.same(parseFoldedCountLine('a1.5'), undefined, 'no whitespace before the count');
  t.same(parseFoldedCountLine('7'), undefined, 'a count alone');
  t.same(parseFoldedCountLine('a -1'), undefined, 'negative');
  t.same(parseFoldedCountLine('a 1e3'), undefined, 'exponent');
  t.same(parseFoldedCountLine(''), undefined, 'empty line');
  t.same(parseFoldedCountLine('a\u00a05'), undefined, 'NBSP is not whitespace to perl on bytes');
  t.same(parseFoldedCountLine('a\n 5'), undefined, 'embedded newline');
});

// Each expectation below was checked against perl 5.36 running difffolded.pl on the same lines.
t.test('numbers print as perl prints them', async (t) => {
  const result = diffFolded(
    [
      'a 18446744073709551615',
      'b 18446744073709551616',
      'c 9007199254740993',
      'c 9007199254740993',
      'd 1.5',
      'd 0.0000123',
      'e 6.',
      'f\t7',
      'i 99999999999999999999999',
      'j 12345678901234567890',
      'j 12345678901234567890',
      'k 0.1',
      'k 0.2',
      `l 1${'0'.repeat(400)}`,
      'r 14.2343983248722834234',
    ],
    ['a 3'],
  );
  t.same(
    result.stacks.map((s) => s.line),
    [
      'a 18446744073709551615 3',
      'b 1.84467440737096e+19 0',
      'c 18014398509481986 0',
      'd 1.5000123 0',
      'e 6 0',
      'f 7 0',
      'i 1e+23 0',
      'j 2.46913578024691e+19 0',
      'k 0.3 0',
      'l Inf 0',
      'r 14.2343983248723 0',
    ],
  );
  t.equal(formatPerlNumber(0.0001), '0.0001');
  t.equal(formatPerlNumber(0.00001), '1e-05');
  t.equal(formatPerlNumber(123456789012345), '123456789012345');
  t.equal(formatPerlNumber(1234567890123456), '1.23456789012346e+15');
  t.equal(formatPerlNumber(NaN), 'NaN');
  t.equal(formatPerlNumber(-Infinity), '-Inf');
  t.equal(formatPerlNumber(-0), '-0');
  t.equal(formatPerlNumber(0), '0');
  t.equal(parsePerlCount('6.'), 6, '"6." is a double to perl');
  t.equal(perlAdd(2n ** 63n, 2n ** 63n), 2 ** 64, 'integer overflow past 2^64 turns into a double');
});

t.test('normalize (-n): int(before × totalAfter / totalBefore), only when the totals differ', async (t) => {
  const r = diffFolded(['a 3', 'b 1'], ['a 1', 'b 7'], { normalize: true });
  t.same(
    r.stacks.map((s) => s.line),
    ['a 6 1', 'b 2 7'],
  );
  const equal = diffFolded(['a 1.5', 'b 2.5'], ['a 4'], { normalize: true });
  t.same(
    equal.stacks.map((s) => s.line),
    ['a 1.5 4', 'b 2.5 0'],
    'equal totals: counts left as they are, fractions included',
  );
  const huge = diffFolded([`l 1${'0'.repeat(400)}`], ['l 3'], { normalize: true });
  t.same(
    huge.stacks.map((s) => s.line),
    ['l NaN 3'],
    'Inf × 3 / Inf is NaN in perl too',
  );
  t.throws(
    () => diffFolded([], ['a 1'], { normalize: true }),
    { name: 'PodflameError', code: 'INVALID_INPUT', message: /no samples/ },
    'an empty before profile cannot be normalized (perl dies dividing by zero)',
  );
  t.same(diffFolded([], [], { normalize: true }).stacks, [], 'two empty profiles: nothing to scale');
});

t.test('strip hex (-s) merges stacks whose addresses moved', async (t) => {
  const r = diffFolded(['a;0x7f3a9c00;b 2', 'a;0x7f3a9d10;b 3'], ['a;0xDEADbeef;b 4'], { stripHex: true });
  t.same(
    r.stacks.map((s) => s.line),
    ['a;0x...;b 5 4'],
  );
});

t.test('invalid lines: perl counts each as the empty stack with 0; skipInvalidLines drops them', async (t) => {
  const before = ['a 1', 'no count here', 'b 2\r', ''];
  const perl = diffFolded(before, ['a 2']);
  t.same(
    perl.stacks.map((s) => s.line),
    [' 0 0', 'a 1 2'],
  );
  t.same(perl.invalidLines, { before: 3, after: 0 });
  const skipped = diffFolded(before, ['a 2'], { skipInvalidLines: true });
  t.same(
    skipped.stacks.map((s) => s.line),
    ['a 1 2'],
  );
  t.same(skipped.invalidLines, { before: 3, after: 0 }, 'skipped lines are still counted');
  const hex = diffFolded(['garbage 0x1'], [], { stripHex: true });
  t.same(
    hex.stacks.map((s) => s.line),
    [' 0 0'],
    'an invalid line is the empty stack even with -s',
  );
});

t.test('lines with their newline, repeated stacks, output order and options validation', async (t) => {
  const differ = new FoldedDiffer();
  differ.addBefore('z 1\n');
  differ.addBefore('z 2\n');
  differ.addAfter('\u00e9 1');
  differ.addAfter('y 1');
  const r = differ.finish();
  t.same(
    r.stacks.map((s) => s.line),
    ['y 0 1', 'z 3 0', '\u00e9 0 1'],
    'sorted in byte order; repeated stacks summed',
  );
  t.same(r.stacks[1], { stack: 'z', before: 3, after: 0, line: 'z 3 0' });
  t.equal(serializeDiff(r), 'y 0 1\nz 3 0\n\u00e9 0 1\n');
  t.ok(Object.isFrozen(DEFAULT_DIFF_FOLDED_OPTIONS));
  t.throws(() => new FoldedDiffer({ normalize: 'yes' as unknown as boolean }), {
    name: 'PodflameError',
    code: 'INVALID_INPUT',
  });
});

interface RunResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

async function runCli(args: string[], stdinText?: string): Promise<RunResult> {
  const r = await runInProcess([registerDiffFolded], args, { stdin: stdinText ?? '', cwd: FIXTURES });
  return { code: r.code, stdout: r.out, stderr: r.err };
}

t.test('CLI: podflame diff-folded [-n] [-s] BEFORE AFTER', async (t) => {
  const ok = await runCli(['diff-folded', 'before.folded', 'after.folded']);
  t.equal(ok.code, 0);
  matchGolden(
    t,
    join(FIXTURES, 'expected-default.txt'),
    ok.stdout.toString('latin1'),
    'same bytes as the library',
    'latin1',
  );
  t.equal(ok.stderr, '', 'nothing on stderr for clean input');

  const both = await runCli(['diff-folded', '-ns', 'before.folded', 'after.folded']);
  t.equal(both.code, 0, 'combined short flags as perl getopts takes them');
  const expected = serializeDiff(
    diffFolded(readLines('before.folded'), readLines('after.folded'), { normalize: true, stripHex: true }),
  );
  t.equal(both.stdout.toString('latin1'), expected);

  const fromStdin = await runCli(
    ['diff-folded', '-', 'after.folded'],
    readFileSync(join(FIXTURES, 'before.folded'), 'latin1'),
  );
  t.equal(fromStdin.stdout.toString('latin1'), ok.stdout.toString('latin1'), '"-" reads stdin');

  for (const args of [
    ['diff-folded'],
    ['diff-folded', 'before.folded'],
    ['diff-folded', 'a', 'b', 'c'],
    ['diff-folded', '-x', 'a', 'b'],
  ]) {
    const r = await runCli(args);
    t.equal(r.code, 2, `usage error exits 2: ${args.join(' ')}`);
    t.match(r.stderr, /\npodflame: run podflame diff-folded --help for the options\n$/, 'says where the options are');
    t.notMatch(r.stderr, /Usage:/, 'not the whole help');
  }
  const twoStdin = await runCli(['diff-folded', '-', '-']);
  t.equal(twoStdin.code, 2, 'stdin twice is a usage error');
  t.match(twoStdin.stderr, /only one of BEFORE and AFTER/);

  const missing = await runCli(['diff-folded', 'before.folded', 'no-such.folded']);
  t.equal(missing.code, 1, 'a missing file exits non-zero');
  t.match(missing.stderr, /cannot read AFTER file no-such\.folded: no such file/);
  t.equal(missing.stdout.length, 0, 'and prints no partial output');

  const dir = mkdtempSync(join(tmpdir(), 'podflame-diff-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Bytes that are not UTF-8 survive as they do through perl; a last line without a newline still counts.
  const latin = Buffer.from([0x61, 0xe9, 0x3b, 0x62, 0x20, 0x32, 0x0a, 0x62, 0x61, 0x64, 0x0a, 0x63, 0x20, 0x31]);
  writeFileSync(join(dir, 'b.folded'), latin);
  const bytes = await runCli(['diff-folded', join(dir, 'b.folded'), join(dir, 'b.folded')]);
  t.same(
    bytes.stdout,
    Buffer.concat([Buffer.from(' 0 0\n'), Buffer.from([0x61, 0xe9, 0x3b, 0x62]), Buffer.from(' 2 2\nc 1 1\n')]),
  );
  t.match(bytes.stderr, /1 line\(s\) of .* and 1 line\(s\) of .* are not "stack count"/, 'bad lines reported once');

  const empty = await runCli(['diff-folded', '-n', join(dir, 'nothing.folded'), 'after.folded']);
  t.equal(empty.code, 1);
  writeFileSync(join(dir, 'nothing.folded'), '');
  const emptyN = await runCli(['diff-folded', '-n', join(dir, 'nothing.folded'), 'after.folded']);
  t.equal(emptyN.code, 1, '-n with an empty before profile fails');
  t.match(emptyN.stderr, /cannot normalize/);
});
