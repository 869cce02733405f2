// `podflame convert` (the built CLI) on a real perf script capture and a real folded profile: every output format,
// counts as documented (perf samples once each unless --periods; folded as given), the format from -o's name, and
// the refusals (no format, an unwritable -o before any input is read, differential, binary and empty input).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import t from 'tap';
import { Profile } from 'pprof-format';
import { PerfCollapser } from '../../shared/collapse/perf-collapser.js';
import { parseFolded, totalSamples } from '../../shared/folded.js';
import { requireBuild, runBuiltCli, type CliRun } from '../helpers/built.js';

requireBuild();
const REPO = join(import.meta.dirname, '../..');
const PERF_GZ = join(REPO, 'test/fixtures/history/before.perf.txt.gz');
const FOLDED_GZ = join(REPO, 'test/fixtures/store-v1/profiles/20251129T010700Z-3c4ab288.folded.gz');
const dir = mkdtempSync(join(tmpdir(), 'podflame-convert-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const convert = (args: string[], stdin?: Buffer): Promise<CliRun> => runBuiltCli(['convert', ...args], dir, stdin);
const perfText = gunzipSync(readFileSync(PERF_GZ));
// A capture whose perf script printed each sample's period (10101010 ns at 99 Hz), as perf script does by default.
const WITH_PERIODS = join(REPO, 'test/fuzz/fixtures/javac.perf.txt');
const foldedText = gunzipSync(readFileSync(FOLDED_GZ)).toString('utf8');

function collapsed(countPeriods: boolean, text = perfText): { stacks: Map<string, number>; samples: number } {
  const c = new PerfCollapser({ java: true, countPeriods });
  c.push(text);
  const r = c.finish();
  return { stacks: new Map(r.stacks), samples: r.samples };
}

t.test(
  'perf script → folded counts each sample once, as the agent does; --periods as stackcollapse-perf.pl',
  async (t) => {
    const want = collapsed(false);
    t.ok(want.samples > 100, `${want.samples} samples in the capture`);
    const run = await convert([PERF_GZ, '--java', '--to', 'folded']);
    t.equal(run.code, 0, run.stderr);
    const got = parseFolded(run.stdout.toString('utf8')).stacks;
    t.same(got, want.stacks, 'the collapsed stacks of the capture');
    t.equal(totalSamples(got), want.samples, 'one per sample');
    const periodsText = readFileSync(WITH_PERIODS);
    const once = await convert([WITH_PERIODS, '--java', '--to', 'folded']);
    const periods = await convert([WITH_PERIODS, '--java', '--to', 'folded', '--periods']);
    const samples = collapsed(false, periodsText).samples;
    t.equal(totalSamples(parseFolded(once.stdout.toString('utf8')).stacks), samples, 'one per sample');
    const withPeriods = totalSamples(parseFolded(periods.stdout.toString('utf8')).stacks);
    t.equal(withPeriods, samples * 10101010, `--periods: perf's period, 10101010 each (${samples} samples)`);
    const svg = await convert([WITH_PERIODS, '--java', '--to', 'svg', '--periods']);
    t.match(svg.stdout.toString('utf8'), / periods/, 'the SVG says periods');
    const viaCollapse = await runBuiltCli(['collapse', '--java', '--samples', PERF_GZ], dir);
    t.same(parseFolded(viaCollapse.stdout.toString('utf8')).stacks, want.stacks, 'collapse --samples says the same');
  },
);

t.test('perf script → pprof: samples and CPU time at the given frequency', async (t) => {
  const want = collapsed(false);
  const out = join(dir, 'perf.pb.gz');
  const run = await convert([PERF_GZ, '--java', '-o', out, '-F', '49']);
  t.equal(run.code, 0, run.stderr);
  const profile = Profile.decode(gunzipSync(readFileSync(out)));
  const strings = profile.stringTable.strings;
  t.same(
    profile.sampleType.map((v) => [strings[Number(v.type)], strings[Number(v.unit)]]),
    [
      ['samples', 'count'],
      ['cpu', 'nanoseconds'],
    ],
  );
  t.equal(Number(profile.period), Math.round(1e9 / 49));
  const total = profile.sample.reduce((sum, s) => sum + Number(s.value[0]), 0);
  t.equal(total, want.samples);
  t.equal(profile.sample.length, want.stacks.size, 'one sample per distinct stack');
});

t.test('folded → speedscope and JSON from -o names; stdin → SVG', async (t) => {
  const folded = parseFolded(foldedText).stacks;
  const input = join(dir, 'shop.folded');
  writeFileSync(input, foldedText);
  const speedscope = join(dir, 'shop.speedscope.json');
  let run = await convert([input, '-o', speedscope]);
  t.equal(run.code, 0, run.stderr);
  const file = JSON.parse(readFileSync(speedscope, 'utf8'));
  t.match(file.$schema, /speedscope/);
  const weights = (file.profiles[0].weights as number[]).reduce((a, b) => a + b, 0);
  t.equal(file.profiles[0].samples.length, folded.size);
  t.ok(weights > 0, 'weighted');
  const tree = join(dir, 'shop.json');
  run = await convert([input, '-o', tree]);
  t.equal(run.code, 0, run.stderr);
  const root = JSON.parse(readFileSync(tree, 'utf8'));
  t.equal(root.value ?? root.total ?? root.count, totalSamples(folded), 'the tree holds every count');
  run = await convert(['--to', 'svg', '--title', 'from stdin'], Buffer.from(foldedText));
  t.equal(run.code, 0, run.stderr);
  const svg = run.stdout.toString('utf8');
  t.match(svg, /<svg/);
  t.match(svg, /from stdin/);
  t.match(svg, new RegExp(`all \\(${totalSamples(folded).toLocaleString('en-US')} samples`), 'counted as samples');
});

t.test('refusals: no format, -o unwritable before reading, differential, binary, empty', async (t) => {
  let run = await convert([PERF_GZ]);
  t.equal(run.code, 2);
  t.match(run.stderr, /--to FORMAT.*\[USAGE\]/);
  run = await convert([PERF_GZ, '-o', join(dir, 'out.png')]);
  t.equal(run.code, 2);
  t.match(run.stderr, /cannot tell the format from the name/);
  // stdin is never written: the check comes first, or this would wait for input.
  run = await convert(['-', '-o', join(dir, 'no-such-folder', 'x.svg')]);
  t.equal(run.code, 1);
  t.match(run.stderr, /\[FILE_UNWRITABLE\]/);
  run = await convert(['--to', 'folded'], Buffer.from('a;b 1 2\na;c 3 4\n'));
  t.equal(run.code, 1);
  t.match(run.stderr, /differential.*podflame render.*\[INVALID_INPUT\]/);
  run = await convert(['--to', 'folded'], Buffer.from('PERFILE2\0\0\0\0binary'));
  t.equal(run.code, 1);
  t.match(run.stderr, /perf\.data.*\[INVALID_INPUT\]/);
  run = await convert(['--to', 'svg'], Buffer.from('# just a comment\n\n'));
  t.equal(run.code, 1);
  t.match(run.stderr, /\[EMPTY_INPUT\]/);
  run = await convert(['--to', 'svg', join(dir, 'missing.txt')]);
  t.equal(run.code, 1);
  t.match(run.stderr, /\[FILE_UNREADABLE\]/);
  t.equal(run.stdout.length, 0, 'nothing on stdout');
});
