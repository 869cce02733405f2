// `podflame collapse` (the built DIST_CLI) on input that is not perf script text: a gzip file or stream is read
// through gunzip; a binary file (perf.data itself, anything with a NUL byte), a file of which no line is perf script
// output (folded stacks, a log) and a truncated gzip are INVALID_INPUT, exit 1, with nothing on stdout. Empty input
// stays exit 0, as stackcollapse-perf.pl.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import t from 'tap';
import { PerfCollapser } from '../../shared/collapse/perf-collapser.js';
import { requireBuild, runBuiltCli, type CliRun } from '../helpers/built.js';

requireBuild();
const REPO = join(import.meta.dirname, '../..');
const PERF = join(REPO, 'test/fixtures/perf');
// A real perf script capture, gzipped as it is kept (test/fixtures/history/), and a real folded profile, gzipped.
const PERF_GZ = join(REPO, 'test/fixtures/history/before.perf.txt.gz');
const FOLDED_GZ = join(REPO, 'test/fixtures/store-v1/profiles/20251129T010700Z-3c4ab288.folded.gz');
const dir = mkdtempSync(join(tmpdir(), 'podflame-collapse-input-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const collapse = (args: string[], stdin?: Buffer): Promise<CliRun> => runBuiltCli(['collapse', ...args], dir, stdin);

function expected(text: Buffer): Buffer {
  const c = new PerfCollapser();
  c.push(text);
  return Buffer.concat([...c.finish().foldedChunks()]);
}

t.test('gzip, as a file or on stdin, is read through gunzip', async (t) => {
  const want = expected(gunzipSync(readFileSync(PERF_GZ)));
  t.ok(want.length > 0, 'the capture has stacks');
  const file = await collapse([PERF_GZ]);
  t.equal(file.code, 0, file.stderr);
  t.ok(file.stdout.equals(want), 'the file: the stacks of its text');
  const stdin = await collapse([], readFileSync(PERF_GZ));
  t.equal(stdin.code, 0, stdin.stderr);
  t.ok(stdin.stdout.equals(want), 'stdin: the same');
  // Several files, one gzipped: read in order, as the text files would be.
  const text = readFileSync(join(PERF, 'java-fp.txt'));
  const gz = join(dir, 'java-fp.txt.gz');
  writeFileSync(gz, gzipSync(text));
  const both = await collapse([join(PERF, 'java-nofp.txt'), gz]);
  t.ok(both.stdout.equals(expected(Buffer.concat([readFileSync(join(PERF, 'java-nofp.txt')), text]))));
});

t.test('binary input is INVALID_INPUT, exit 1, nothing on stdout', async (t) => {
  const junk = Buffer.alloc(4096);
  for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919) % 256;
  const junkFile = join(dir, 'junk.bin');
  writeFileSync(junkFile, junk);
  const cases: [string, string[], Buffer | undefined, RegExp][] = [
    [
      'a binary file',
      [junkFile],
      undefined,
      /junk\.bin is binary \(a NUL byte at offset 0\), not the text perf script prints/,
    ],
    ['binary stdin', [], junk, /^podflame: stdin is binary \(a NUL byte at offset 0\)/],
    ['gzipped binary', [], gzipSync(junk), /^podflame: stdin is binary/],
  ];
  // perf.data itself, recorded here when perf can record (it is named, with the command that makes the text).
  const perfData = join(dir, 'perf.data');
  const recorded = spawnSync('perf', ['record', '-q', '-o', perfData, '-F', '99', '--', 'true'], { timeout: 60_000 });
  if (recorded.status === 0) {
    cases.push([
      'perf.data',
      [perfData],
      undefined,
      /perf\.data is a perf\.data file, not the text perf script prints: run perf script -i \S+perf\.data > perf\.txt/,
    ]);
  } else t.comment(`perf record is not available here (${recorded.stderr?.toString().trim()}): perf.data not checked`);
  for (const [what, args, stdin, message] of cases) {
    const r = await collapse(args, stdin);
    t.equal(r.code, 1, `${what}: exit 1`);
    t.match(r.stderr, message, what);
    t.match(r.stderr, /\[INVALID_INPUT\]\n$/, what);
    t.equal(r.stdout.length, 0, `${what}: no "stacks" on stdout`);
  }
});

t.test('text of which no line is perf script output is INVALID_INPUT; empty input is not', async (t) => {
  const log = join(dir, 'app.log');
  writeFileSync(log, '2026-12-04 12:00:01 INFO started\n2026-12-04 12:00:02 INFO ready\n');
  const notPerf = await collapse([log]);
  t.equal(notPerf.code, 1);
  t.match(
    notPerf.stderr,
    /^podflame: \S+app\.log is not perf script output: no line is part of a sample \(2 unrecognized, the first: "2026-12-04 12:00:01 INFO started"\); give the text perf script prints/,
  );
  t.equal(notPerf.stdout.length, 0);
  // Folded stacks (here a gzipped real one) given to collapse instead of render: said so.
  const folded = await collapse([FOLDED_GZ]);
  t.equal(folded.code, 1);
  t.match(folded.stderr, /it looks like folded stacks already: draw them with podflame render \[INVALID_INPUT\]\n$/);
  // A gzip cut short: not a read error, not junk stacks.
  const cut = join(dir, 'cut.gz');
  writeFileSync(cut, readFileSync(PERF_GZ).subarray(0, 2000));
  const truncated = await collapse([cut]);
  t.equal(truncated.code, 1);
  t.match(
    truncated.stderr,
    /cut\.gz starts as gzip but cannot be decompressed \(.+\): was it cut short\? .*\[INVALID_INPUT\]\n$/,
  );
  // A capture with a few garbled lines among its samples still collapses (skipped and counted, as before).
  const capture = readFileSync(join(PERF, 'java-fp.txt'), 'latin1');
  const garbled = await collapse([], Buffer.from(`garbage line\n${capture}`, 'latin1'));
  t.equal(garbled.code, 0);
  t.match(garbled.stderr, /skipped 1 unrecognized line, the first: "garbage line"/);
  const empty = await collapse([], Buffer.alloc(0));
  t.equal(empty.code, 0, 'empty input: exit 0, as perl');
  t.match(empty.stderr, /no samples found/);
});
