// Issue #16 item 3, in process (client/cli/program.ts as main.ts runs it): every error in one form, `podflame: MESSAGE
// [CODE]` and at most one hint line, commander's own errors included; `podflame POD` says `podflame profile POD`; `-t`
// is `-d`; `-o` that cannot be written fails before any request to an agent.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import t from 'tap';
import { COMMANDS } from '../../client/cli/commands/index.js';
import { closestCommand } from '../../client/cli/usage-errors.js';
import { runInProcess } from '../helpers/cli-io.js';
import { startFakeAgent } from './fake-agent.js';

const run = (argv: string[], cwd = '/tmp') => runInProcess(COMMANDS, argv, { cwd });
const FORM = /^podflame: .+ \[[A-Z_]+\]$/;

t.test('podflame POD: unknown command, and the command line that was meant', async (t) => {
  const pod = await run(['mypod']);
  t.equal(pod.code, 2);
  t.equal(
    pod.err,
    'podflame: unknown command "mypod"; to profile a pod: podflame profile mypod [UNKNOWN_COMMAND]\n' +
      'podflame: run podflame --help for the commands\n',
  );
  // kubectl-flame's habits: the pod first, its flags after; the suggestion keeps them, quoted where a shell needs it.
  const flags = await run(['shop-7d9f4c', '-n', 'shop', '-t', '30s', '--title', "it's hot"]);
  t.match(
    flags.err,
    /^podflame: unknown command "shop-7d9f4c"; to profile a pod: podflame profile shop-7d9f4c -n shop -t 30s --title 'it'\\''s hot' \[UNKNOWN_COMMAND\]\n/,
  );
  const flagsFirst = await run(['-n', 'shop', 'mypod']);
  t.equal(flagsFirst.code, 2);
  t.match(
    flagsFirst.err,
    /^podflame: unknown option '-n'; to profile a pod: podflame profile -n shop mypod \[USAGE\]\n/,
  );
  // A typo of a command names the command instead.
  const typo = await run(['colapse', 'perf.txt']);
  t.equal(typo.code, 2);
  t.match(typo.err, /^podflame: unknown command "colapse"; did you mean podflame collapse\? \[UNKNOWN_COMMAND\]\n/);
  t.equal(closestCommand('profil', ['profile', 'agents']), 'profile');
  t.equal(closestCommand('redner', ['render', 'diff']), 'render', 'a transposition is one edit');
  t.equal(closestCommand('shop', ['profile', 'agents', 'diff', 'render']), undefined, 'a pod name is far from all');
});

t.test("commander's errors in podflame's form: one line with a code, one hint, no usage text", async (t) => {
  const cases: [string[], RegExp][] = [
    [['collapse', '--bogus'], /^podflame: unknown option '--bogus' \[USAGE\]$/],
    [['collapse', '--jitt'], /^podflame: unknown option '--jitt' \(did you mean --jit\?\) \[USAGE\]$/],
    [['profile', '--duration'], /^podflame: option '-d, --duration <duration>' argument missing \[USAGE\]$/],
    [['render', '--width', 'abc'], /^podflame: option '--width <pixels>' argument 'abc' is invalid\. .*\[USAGE\]$/],
    [['diff-folded', 'a', 'b', 'c'], /^podflame: too many arguments for 'diff-folded'\. .*\[USAGE\]$/],
    [['diff-folded', 'a'], /^podflame: missing required argument 'after' \[USAGE\]$/],
    [['agents', '--bogus'], /^podflame: unknown option '--bogus' \[USAGE\]$/],
    [['--bogus'], /^podflame: unknown option '--bogus' \[USAGE\]$/],
  ];
  for (const [argv, first] of cases) {
    const r = await run(argv);
    const what = argv.join(' ');
    t.equal(r.code, 2, `${what}: exit 2`);
    const lines = r.err.trimEnd().split('\n');
    t.equal(lines.length, 2, `${what}: two lines: ${r.err}`);
    t.match(lines[0], first, what);
    t.match(lines[0], FORM);
    const sub = argv[0]?.startsWith('-') ? undefined : argv[0];
    t.equal(
      lines[1],
      sub === undefined
        ? 'podflame: run podflame --help for the commands'
        : `podflame: run podflame ${sub} --help for the options`,
    );
    t.notMatch(r.err, /^error:|Usage:/m, `${what}: not commander's own text`);
    t.equal(r.text, '');
  }
});

t.test('-t is -d wherever -d exists (profile), as kubectl-flame spells it', async (t) => {
  const agent = await startFakeAgent();
  t.teardown(() => agent.close());
  const base = ['profile', '--agent', agent.url, '--container-id', 'abcdef012345', '--format', 'folded'];
  for (const [flags, seconds] of [
    [['-t', '5s'], 5],
    [['-t', '2m'], 120],
    [['-d', '7', '-t', '9'], 9],
    [['-t', '9', '-d', '7'], 7],
  ] as const) {
    agent.requests.length = 0;
    const r = await run([...base, ...flags]);
    t.equal(r.code, 0, `${flags.join(' ')}: ${r.err}`);
    t.match(
      agent.requests,
      [{ method: 'POST', path: '/v1/profiles', body: { durationSeconds: seconds } }],
      flags.join(' '),
    );
  }
  const bad = await run([...base, '-t', '2h']);
  t.equal(bad.code, 2);
  t.match(bad.err, /--duration must be whole seconds from 1 s to 600 s, got '2h' \[USAGE\]/);
  const help = await run(['profile', '--help']);
  t.match(help.text, /-d, --duration <duration> .*-t also/s, 'the help names -t under -d');
});

t.test('-o that cannot be written fails before any request, for every command with -o', async (t) => {
  const agent = await startFakeAgent();
  t.teardown(() => agent.close());
  const dir = mkdtempSync(join(tmpdir(), 'podflame-output-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'a-file');
  writeFileSync(file, '');
  const outputs: [string, RegExp][] = [
    ['/nonexistent/x.svg', /cannot write \/nonexistent\/x\.svg: no such folder \/nonexistent; give -o a file/],
    [dir, /: it is a directory; /],
    [join(file, 'x.svg'), /: a folder on its path is a file; /],
  ];
  const commands = [
    ['profile', '--agent', agent.url, '--container-id', 'abcdef012345', '-d', '1'],
    ['flamegraph', '--agent', agent.url],
    ['diff', '--agent', agent.url, '--base', '2h..1h', '--target', '1h..now'],
    // Kubernetes mode: the kubeconfig (which does not exist) is not even read.
    ['profile', '-n', 'shop', 'shop-1', '--kubeconfig', join(dir, 'no-kubeconfig')],
  ];
  for (const argv of commands) {
    for (const [output, message] of outputs) {
      agent.requests.length = 0;
      const r = await run([...argv, '-o', output]);
      const what = `${argv[0]} ${argv[1]} -o ${output}`;
      t.equal(r.code, 1, `${what}: exit 1`);
      t.match(r.err, message, what);
      t.match(r.err, /\[FILE_UNWRITABLE\]\n$/, what);
      t.equal(r.err.split('\n').length, 2, `${what}: one line`);
      t.same(agent.requests, [], `${what}: nothing asked of the agent`);
    }
  }
  // A writable -o (relative to the working directory) gets the result.
  const ok = await run(
    ['profile', '--agent', agent.url, '--container-id', 'abcdef012345', '--format', 'folded', '-o', 'out.folded'],
    dir,
  );
  t.equal(ok.code, 0, ok.err);
  t.equal(agent.requests.length, 1);
});

t.test(
  'an unexpected failure (a bug): the same form, [INTERNAL], the stack trace only with PODFLAME_DEBUG',
  async (t) => {
    const boom = (program: Command): void => {
      program.command('boom').action(() => {
        throw new TypeError('kaput');
      });
    };
    const plain = await runInProcess([boom], ['boom']);
    t.equal(plain.code, 1);
    t.equal(
      plain.err,
      'podflame: unexpected error: kaput [INTERNAL]\n' +
        'podflame: a bug in podflame; run again with PODFLAME_DEBUG=1 for the stack trace to report\n',
    );
    const debug = await runInProcess([boom], ['boom'], { env: { PODFLAME_DEBUG: '1' } });
    t.equal(debug.code, 1);
    t.match(debug.err, /^podflame: unexpected error: kaput \[INTERNAL\]\nTypeError: kaput\n\s+at /);
  },
);
