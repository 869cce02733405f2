// `podflame render`: in process over memory streams (flags, files, stdin, errors, --cp, --nameattr), and once as the
// real spawned CLI.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { registerRender } from '../../client/cli/commands/render.js';
import { runInProcess } from '../helpers/cli-io.js';
import { renderFlameGraph } from '../../shared/render/index.js';
import { frameName, parseSvg } from './svg-document.js';
import { DIST_CLI } from '../helpers/built.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/folded');
const fixture = (f: string) => join(FIXTURES, f);
const read = (f: string) => readFileSync(fixture(f), 'utf8');

async function run(args: string[], options: { stdin?: string; cwd?: string } = {}) {
  const r = await runInProcess([registerRender], ['render', ...args], {
    stdin: options.stdin,
    cwd: options.cwd ?? FIXTURES,
  });
  return { code: r.code, out: r.text, err: r.err };
}

t.test('stdin, a file, several files, "-"', async (t) => {
  const fromFile = await run(['--colors', 'java', '--hash', 'java-slow.folded']);
  t.equal(fromFile.code, 0);
  t.equal(fromFile.err, '');
  t.equal(fromFile.out, renderFlameGraph(read('java-slow.folded').split('\n'), { colors: 'java', hash: true }).svg);
  const fromStdin = await run(['--colors=java', '--hash'], { stdin: read('java-slow.folded') });
  t.equal(fromStdin.out, fromFile.out, 'stdin gives the same graph');
  const dash = await run(['--colors', 'java', '--hash', '-'], { stdin: read('java-slow.folded') });
  t.equal(dash.out, fromFile.out, '"-" is stdin');
  const both = await run(['java-fast.folded', 'java-slow.folded']);
  const cat = await run([], { stdin: read('java-fast.folded') + read('java-slow.folded') });
  t.equal(both.code, 0);
  t.equal(both.out, cat.out, 'several files are read in turn');
  // A last line without its newline stays a line of its own.
  const dir = mkdtempSync(join(tmpdir(), 'podflame-render-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [a, ...rest] = read('java-slow.folded').trimEnd().split('\n');
  writeFileSync(join(dir, 'one.folded'), a as string);
  writeFileSync(join(dir, 'two.folded'), `${rest.join('\n')}\n`);
  const split = await run(['one.folded', 'two.folded'], { cwd: dir });
  t.equal(split.out, (await run(['java-slow.folded'])).out, 'files are not glued together');
});

t.test('every flag reaches the renderer', async (t) => {
  const r = await run([
    '--title',
    'T',
    '--subtitle',
    'S',
    '--width',
    '900',
    '--height',
    '18',
    '--minwidth',
    '0.5',
    '--fonttype',
    'monospace',
    '--fontsize',
    '11',
    '--fontwidth',
    '0.6',
    '--countname',
    'ticks',
    '--nametype',
    'Frame:',
    '--colors',
    'java',
    '--bgcolors',
    'grey',
    '--hash',
    '--reverse',
    '--inverted',
    '--factor',
    '2',
    '--notes',
    'n',
    '--total',
    '1e10',
    '--encoding',
    'utf-8',
    'java-slow.folded',
  ]);
  t.equal(r.code, 0, r.err);
  const doc = parseSvg(r.out);
  t.equal(doc.texts.get('title'), 'T');
  t.equal(doc.texts.get('subtitle'), 'S');
  t.equal(doc.root.width, '900');
  t.equal(doc.xmlEncoding, 'utf-8');
  t.same(doc.stops, ['#f8f8f8', '#e8e8e8']);
  t.ok(doc.comments.some((c) => c.includes('NOTES: n')));
  t.ok(doc.script.includes('nametype: "Frame:"'));
  const root = doc.frames.find((f) => frameName(f) === 'all');
  t.equal(root?.title, 'all (20,000,000,000 ticks, 100%)', '--total and --factor');
  t.equal(root?.rect.y, '55', '--inverted: below the title and subtitle (3 + 2 font sizes)');
  const flamechart = await run(['--flamechart', '--random', '--negate', 'java-diff.folded']);
  t.equal(flamechart.code, 0, flamechart.err);
  t.equal(parseSvg(flamechart.out).texts.get('title'), 'Flame Chart');
  const random = await run(['--random', 'java-slow.folded']);
  t.equal(random.out, (await run(['--random', 'java-slow.folded'])).out, '--random is reproducible');
});

t.test('usage errors exit 2 saying where the options are', async (t) => {
  for (const args of [
    ['--width', 'abc'],
    ['--fontsize', ''],
    ['--bogus'],
    ['--colors', 'pink'],
    ['--bgcolors', 'black'],
    ['--minwidth', 'wide'],
    ['java-slow.folded', '--title'],
  ]) {
    const r = await run(args[0] === 'java-slow.folded' ? args : [...args, 'java-slow.folded']);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(
      r.err,
      /\npodflame: run podflame render --help for the options\n$/,
      `${args.join(' ')}: where the options are`,
    );
    t.notMatch(r.err, /Usage:/, `${args.join(' ')}: not the whole help`);
    t.equal(r.out, '', 'nothing on stdout');
  }
});

t.test('unreadable input, empty input', async (t) => {
  const missing = await run(['nope.folded']);
  t.equal(missing.code, 1);
  t.match(missing.err, /cannot read input file nope\.folded: no such file; check the path \[FILE_UNREADABLE\]/);
  const dir = await run(['.']);
  t.match(dir.err, /it is a directory/);
  const empty = await run([], { stdin: '' });
  t.equal(empty.code, 2, 'no stack: exit 2, as flamegraph.pl');
  t.match(empty.err, /no stack counts found.*\[EMPTY_INPUT\]/);
  t.equal(empty.out, '');
  const invalid = await run([], { stdin: '# austin: 3.3.0\nnot a stack\n' });
  t.equal(invalid.code, 2);
});

t.test('warnings go to stderr', async (t) => {
  const r = await run([], { stdin: `${read('java-slow.folded')}THIS IS A BAD LINE\n` });
  t.equal(r.code, 0);
  t.equal(r.err, 'podflame render: Ignored 1 lines with invalid format\n');
  const low = await run([], { stdin: 'java;main 3\n' });
  t.equal(low.err, 'podflame render: Stack count is low (3). Did something go wrong?\n');
});

t.test('--cp reads and rewrites ./palette.map, --nameattr reads a file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podflame-render-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'in.folded'), read('java-slow-all.folded'));
  const first = await run(['--cp', 'in.folded'], { cwd: dir });
  t.equal(first.code, 0, first.err);
  const written = readFileSync(join(dir, 'palette.map'), 'utf8');
  const lines = written.trimEnd().split('\n');
  t.ok(lines.length > 10, `${lines.length} colours written`);
  t.same(lines, [...lines].sort(), 'sorted by name');
  writeFileSync(join(dir, 'palette.map'), `java->rgb(9,9,9)\nunused->rgb(1,1,1)\n`);
  const second = await run(['--cp', '--hash', 'in.folded'], { cwd: dir });
  const doc = parseSvg(second.out);
  t.equal(doc.frames.find((f) => frameName(f) === 'java')?.rect.fill, 'rgb(9,9,9)', 'the map wins');
  const rewritten = readFileSync(join(dir, 'palette.map'), 'utf8');
  t.match(rewritten, /^java->rgb\(9,9,9\)$/m);
  t.match(rewritten, /^unused->rgb\(1,1,1\)$/m);

  writeFileSync(join(dir, 'attrs.txt'), '\njava\tclass=jvm\thref=https://example.org/\nno tab\n');
  const attrs = await run(['--nameattr', 'attrs.txt', 'in.folded'], { cwd: dir });
  t.equal(attrs.code, 0, 'an empty first line does not stop the render (flamegraph.pl dies)');
  t.match(attrs.err, /attrs\.txt line 3 has no tab/);
  const link = parseSvg(attrs.out).frames.find((f) => f.tag === 'a');
  t.same([link?.attrs.class, link?.attrs['xlink:href'], link?.attrs.target], ['jvm', 'https://example.org/', '_top']);
  const missing = await run(['--nameattr', 'nope.txt', 'in.folded'], { cwd: dir });
  t.equal(missing.code, 1);
  t.match(missing.err, /cannot read --nameattr file nope\.txt/);
  t.notOk(existsSync(join(dir, 'nope.txt')));
});

t.test('the built CLI', async (t) => {
  if (!existsSync(DIST_CLI)) {
    t.fail(`${DIST_CLI} is missing: run npm run build first (npm test does)`);
    return;
  }
  const child = spawn(
    process.execPath,
    [DIST_CLI, 'render', '--colors', 'java', '--hash', fixture('java-slow.folded')],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const code = await new Promise<number | null>((done) => child.on('close', done));
  t.equal(code, 0, err);
  t.equal(out, renderFlameGraph(read('java-slow.folded').split('\n'), { colors: 'java', hash: true }).svg);
});
