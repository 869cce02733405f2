// Issues #13/#14, the cold attacker's findings on local mode: what `podflame profile --agent URL` makes of an answer
// that no agent would send. A stand-in agent on loopback (fake-agent.ts) answers with the wrong content type, counts
// that are not counts, a JSON value nested a million deep, or more bytes than the CLI reads; each must end in a clear
// error with a stable code, never in a file written from it nor an INTERNAL "bug in podflame".
import t from 'tap';
import { COMMANDS } from '../../client/cli/commands/index.js';
import { ERROR_CODES } from '../../shared/errors.js';
import { runInProcess } from '../helpers/cli-io.js';
import { startFakeAgent, type FakeAgent } from './fake-agent.js';

const run = (argv: string[]) => runInProcess(COMMANDS, argv, { cwd: '/tmp' });
const FAILED = ERROR_CODES.CAPTURE_FAILED.exitCode;
const JSON_TYPE = 'application/json; charset=utf-8';

function profileArgs(agent: FakeAgent, ...more: string[]): string[] {
  return ['profile', '--agent', agent.url, '--container-id', 'abcdef012345', '-d', '1', ...more];
}

function profileJson(stacks: unknown[]): string {
  return JSON.stringify({ id: 'p1', event: 'lock', samples: 1, stacks });
}

t.test('an answer of another content type than the format asked for is refused, not written', async (t) => {
  const agent = await startFakeAgent({ answer: { contentType: JSON_TYPE, body: profileJson([]) } });
  t.teardown(() => agent.close());
  const folded = await run(profileArgs(agent, '--format', 'folded'));
  t.equal(folded.code, FAILED, folded.err);
  t.equal(folded.text, '', 'nothing written');
  t.match(
    folded.err,
    /answered Content-Type application\/json to a request for --format folded \(text\/plain expected\).*\[CAPTURE_FAILED\]/,
  );
  agent.answer = { contentType: 'text/html', body: '<html>login</html>' };
  const svg = await run(profileArgs(agent, '--format', 'svg'));
  t.equal(svg.code, FAILED, svg.err);
  t.match(svg.err, /Content-Type text\/html .*--format svg \(image\/svg\+xml expected\).*\[CAPTURE_FAILED\]/);
  const speedscope = await run(profileArgs(agent, '--format', 'speedscope'));
  t.match(speedscope.err, /--format json \(application\/json expected\).*\[CAPTURE_FAILED\]/);
  // The right type, charset and all, still passes.
  agent.answer = { contentType: 'text/plain; charset=utf-8', body: 'a;b 3\n' };
  const ok = await run(profileArgs(agent, '--format', 'folded'));
  t.equal(ok.code, 0, ok.err);
  t.equal(ok.text, 'a;b 3\n');
});

t.test('counts and events that are not whole numbers ≥ 0 are refused, naming the entry', async (t) => {
  const agent = await startFakeAgent();
  t.teardown(() => agent.close());
  const cases: [unknown[], RegExp][] = [
    [[{ stack: 'a;b', count: 1e308, events: 1 }], /stack entry 0 has count 1e\+308, not a whole number ≥ 0/],
    [
      [
        { stack: 'a;b', count: 5, events: 1 },
        { stack: 'a;c', count: -5, events: 1 },
      ],
      /stack entry 1 has count -5, not a whole number ≥ 0/,
    ],
    [[{ stack: 'a;b', count: 2.5, events: 1 }], /stack entry 0 has count 2\.5/],
    [[{ stack: 'a;b', count: 5, events: -1 }], /stack entry 0 has events -1, not a whole number ≥ 0/],
    [[{ stack: 'a;b', count: 5, events: 'many' }], /stack entry 0 has events "many"/],
    [
      [
        { stack: 'a;b', count: Number.MAX_SAFE_INTEGER, events: 1 },
        { stack: 'a;b', count: 2, events: 1 },
      ],
      /the counts of stack entry 1 add up beyond 2\^53/,
    ],
  ];
  for (const format of ['speedscope', 'pprof']) {
    for (const [stacks, message] of cases) {
      agent.answer = { contentType: JSON_TYPE, body: profileJson(stacks) };
      const r = await run(profileArgs(agent, '-e', 'lock', '--format', format));
      const what = `${format} ${JSON.stringify(stacks)}`;
      t.equal(r.code, FAILED, `${what}: exit 1 (${r.err})`);
      t.match(r.err, message, what);
      t.match(r.err, /the agent's JSON answer could not be read as a profile: .*\[CAPTURE_FAILED\]\n/, what);
      t.equal(r.text, '', `${what}: nothing written`);
    }
  }
});

t.test('a JSON answer nested a million deep is CAPTURE_FAILED, not a stack overflow', async (t) => {
  const depth = 1_000_000;
  const agent = await startFakeAgent({
    answer: { contentType: JSON_TYPE, body: `{"stacks":[${'['.repeat(depth)}${']'.repeat(depth)}]}` },
  });
  t.teardown(() => agent.close());
  const r = await run(profileArgs(agent, '-e', 'lock', '--format', 'pprof'));
  t.equal(r.code, FAILED, r.err);
  t.match(
    r.err,
    /the agent's JSON answer could not be read as a profile: stack entry 0 is not \{stack, count\}: an array of 1; .*\[CAPTURE_FAILED\]/,
  );
  t.notMatch(r.err, /INTERNAL|call stack/);
  // Unclosed brackets are not JSON at all.
  agent.answer = { contentType: JSON_TYPE, body: '['.repeat(depth) };
  const open = await run(profileArgs(agent, '--format', 'speedscope'));
  t.match(open.err, /could not be read as a profile: it is not JSON .*\[CAPTURE_FAILED\]/);
});

t.test('--max-answer-bytes: an answer beyond it is OUTPUT_TOO_LARGE, and the flag is checked', async (t) => {
  const agent = await startFakeAgent({
    answer: { contentType: JSON_TYPE, body: profileJson([{ stack: 'x'.repeat(4096), count: 1, events: 1 }]) },
  });
  t.teardown(() => agent.close());
  const big = await run(profileArgs(agent, '-e', 'lock', '--format', 'pprof', '--max-answer-bytes', '1KiB'));
  t.equal(big.code, ERROR_CODES.OUTPUT_TOO_LARGE.exitCode, big.err);
  t.match(
    big.err,
    /answer is larger than 1024 bytes, the most this client reads; it was not read further.*\[OUTPUT_TOO_LARGE\]/,
  );
  const fits = await run(profileArgs(agent, '-e', 'lock', '--format', 'pprof', '--max-answer-bytes', '8KiB'));
  t.equal(fits.code, 0, fits.err);
  const bad = await run(profileArgs(agent, '--max-answer-bytes', '1MB'));
  t.equal(bad.code, 2);
  t.match(bad.err, /--max-answer-bytes must be a whole number of bytes .*got '1MB' \[USAGE\]/);
});
