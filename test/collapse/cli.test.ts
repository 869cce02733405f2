// `podflame collapse`, as the built DIST_CLI (npm run build first): flags as stackcollapse-perf.pl spells them, files and
// stdin, the stderr summary, and errors. Expected outputs are the goldens of fixtures.test.ts.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { PerfCollapser } from '../../shared/collapse/perf-collapser.js';
import { runBuiltCli, type CliRun } from '../helpers/built.js';
import { memoryIO, runInProcess } from '../helpers/cli-io.js';

const REPO = join(import.meta.dirname, '../..');
// Feeding every fixture byte by byte (and, for the DIST_CLI, spawning node) is slow on a busy 2-core machine.
t.setTimeout(300_000);
const FIXTURES = join(REPO, 'test/fixtures/perf');
const fixture = (name: string): string => join(FIXTURES, name);

const run = (args: string[], stdin?: Buffer): Promise<CliRun> => runBuiltCli(['collapse', ...args], FIXTURES, stdin);

const golden = (name: string): Buffer => readFileSync(fixture(name));

t.test('every stackcollapse-perf.pl flag, spelled as perl spells it', async (t) => {
  const flags: Record<string, string[]> = {
    default: [],
    pid: ['--pid'],
    tid: ['--tid'],
    kernel: ['--kernel'],
    jit: ['--jit'],
    all: ['--all'],
    addrs: ['--addrs'],
    java: ['--java'],
    'java+all+tid': ['--java', '--all', '--tid'],
  };
  for (const [name, args] of Object.entries(flags)) {
    const r = await run([...args, 'java-fp.txt']);
    t.equal(r.code, 0, `${name}: exit 0`);
    t.ok(r.stdout.equals(golden(`java-fp.${name}.collapsed`)), `${name}: the golden output`);
  }
  for (const args of [['--event-filter=task-clock'], ['--event-filter', 'task-clock']]) {
    const r = await run([...args, 'dd-two-events.txt']);
    t.equal(r.code, 0);
    t.ok(r.stdout.equals(golden('dd-two-events.event-filter-task-clock.collapsed')), args.join(' '));
    t.equal(r.stderr, '', 'no filtering message when the event was given');
  }
});

t.test('stdin when no file (or -) is given; several files are read in order', async (t) => {
  const input = readFileSync(fixture('java-fp.txt'));
  for (const args of [[], ['-']]) {
    const r = await run(args, input);
    t.equal(r.code, 0);
    t.ok(r.stdout.equals(golden('java-fp.default.collapsed')), `stdin with ${JSON.stringify(args)}`);
  }
  const both = await run(['java-nofp.txt', fixture('java-utf8.txt')]);
  const c = new PerfCollapser();
  c.push(readFileSync(fixture('java-nofp.txt')));
  c.push(readFileSync(fixture('java-utf8.txt')));
  t.ok(both.stdout.equals(Buffer.concat([...c.finish().foldedChunks()])), 'relative and absolute paths, in order');
});

t.test(
  'stderr: one summary line for unrecognized lines, perl`s event message, the JIT share in Java mode',
  async (t) => {
    const capture = readFileSync(fixture('java-fp.txt'), 'latin1');
    // Real stack lines whose module parentheses were lost, as a garbled capture would have them.
    const garbled = capture.replace(/^(\t +\w+ \S+) \((\/usr\/lib\/[^)]*)\)$/gm, '$1 $2');
    const count = capture.split('\n').filter((l) => /^\t +\w+ \S+ \(\/usr\/lib\//.test(l)).length;
    t.ok(count > 10, 'the capture has such lines');
    const r = await run([], Buffer.from(garbled, 'latin1'));
    t.equal(r.code, 0);
    const lines = r.stderr.split('\n').filter(Boolean);
    t.equal(lines.length, 1, 'one line, however many were skipped');
    t.match(lines[0], new RegExp(`^podflame collapse: skipped ${count} unrecognized lines, the first: "\\\\t`));
    const dd = await run(['dd-two-events.txt']);
    t.equal(dd.stderr, 'podflame collapse: Filtering for events of type: task-clock\n');
    const java = await run(['--java', 'java-early-map.txt']);
    t.match(java.stderr, /^podflame collapse: \d+ of \d+ JIT frames resolved \(\d+\.\d%\)\n$/);
    // No map at all (perf prints [unknown] for every JIT frame): the line says the common cause and what to do.
    const early = readFileSync(fixture('java-early-map.txt'), 'latin1');
    const noMap = early.replace(/^(\t +[0-9a-f]+) .+ \((\/tmp\/perf-\d+\.map)\)$/gm, '$1 [unknown] ($2)');
    t.not(noMap, early, 'the capture has JIT frames');
    const unnamed = await run(['--java'], Buffer.from(noMap, 'latin1'));
    t.equal(unnamed.code, 0);
    t.match(
      unnamed.stderr,
      /^podflame collapse: 0 of \d+ JIT frames resolved \(0\.0%\)\npodflame collapse: no JIT frame has a name: perf found no \/tmp\/perf-PID\.map .*A JVM in a container .*profile it through the agent \(podflame profile\).*\n$/,
    );
  },
);

t.test('empty input: no output, exit 0 as perl, and a note on stderr', async (t) => {
  const r = await run([], Buffer.alloc(0));
  t.equal(r.code, 0);
  t.equal(r.stdout.length, 0);
  t.match(r.stderr, /no samples found/);
});

t.test('--inline, --context, --srcline are refused with a reason and where the options are', async (t) => {
  for (const flag of ['--inline', '--context', '--srcline']) {
    const r = await run([flag, 'java-fp.txt']);
    t.equal(r.code, 2, `${flag}: exit 2`);
    t.equal(r.stdout.length, 0);
    t.match(r.stderr, new RegExp(`${flag} is not supported: it needs addr2line`));
    t.match(r.stderr, /\[UNSUPPORTED_OPTION\]/);
    t.match(r.stderr, /\npodflame: run podflame collapse --help for the options\n$/);
    t.notMatch(r.stderr, /Usage:/);
  }
});

t.test('usage errors exit 2 saying where the options are', async (t) => {
  for (const args of [['--bogus'], ['--event-filter']]) {
    const r = await run(args);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, /\npodflame: run podflame collapse --help for the options\n$/);
    t.notMatch(r.stderr, /Usage:/);
  }
  const help = await run(['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout.toString(), /--event-filter <event>/);
});

t.test('a missing or unreadable file: a clear message, exit 1, no output', async (t) => {
  const missing = await run(['java-fp.txt', 'no-such-capture.txt']);
  t.equal(missing.code, 1);
  t.equal(missing.stdout.length, 0, 'nothing written, not even the stacks of the readable file');
  t.match(missing.stderr, /cannot read \S*no-such-capture\.txt: no such file; check the path \[FILE_UNREADABLE\]/);
  t.notMatch(missing.stderr, /ENOENT/, 'the reason in words, once');
  const dir = mkdtempSync(join(tmpdir(), 'podflame-collapse-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const locked = join(dir, 'locked.txt');
  writeFileSync(locked, 'x');
  chmodSync(locked, 0);
  const dirAsFile = await run([dir]);
  t.equal(dirAsFile.code, 1);
  t.match(dirAsFile.stderr, /cannot read \S+: it is a directory; check the path/);
  if (process.getuid?.() !== 0) {
    const denied = await run([locked]);
    t.match(denied.stderr, /: permission denied; check the path/);
  }
});

t.test('in process: output to a slow stdout waits for drain and loses nothing', async (t) => {
  const { Writable } = await import('node:stream');
  const { registerCollapse } = await import('../../client/cli/commands/collapse.js');
  const out: Buffer[] = [];
  let drains = 0;
  const stdout = new Writable({
    highWaterMark: 16,
    write(chunk: Buffer, _encoding, done) {
      out.push(chunk);
      setImmediate(done);
    },
  });
  stdout.on('drain', () => drains++);
  // The output (some 10 KB) is far above the stream's 16-byte buffer: write() returns false and the command waits.
  const { code, err } = await runInProcess([registerCollapse], ['collapse', '--tid', 'java-fp.txt'], {
    stdout,
    cwd: FIXTURES,
  });
  t.equal(code, 0, err);
  t.ok(Buffer.concat(out).equals(golden('java-fp.tid.collapsed')));
  t.ok(drains > 0, 'the command waited for drain');
});

t.test(
  'start-up: `podflame collapse|render|diff-folded` load only their own command, with the same help',
  async (t) => {
    const { buildProgram, commandsFor } = await import('../../client/cli/program.js');
    const { COMMANDS } = await import('../../client/cli/commands/index.js');
    const { io } = memoryIO({ cwd: FIXTURES });
    const full = buildProgram(io, COMMANDS, '0');
    for (const name of ['collapse', 'render', 'diff-folded']) {
      const commands = await commandsFor([name, '--help']);
      t.equal(commands.length, 1, `${name}: one command registered`);
      const alone = buildProgram(io, commands, '0');
      t.same(
        alone.commands.map((c) => c.name()),
        [name],
      );
      const help = (p: typeof full): string => p.commands.find((c) => c.name() === name)?.helpInformation() ?? '';
      t.ok(help(full).includes(`Usage: podflame ${name}`));
      t.equal(help(alone), help(full), `${name}: the same help as in the full program`);
    }
    for (const argv of [[], ['--help'], ['help', 'collapse'], ['profile'], ['collapsee'], ['toString']]) {
      t.equal(await commandsFor(argv), COMMANDS, `${JSON.stringify(argv)}: every command`);
    }
  },
);
