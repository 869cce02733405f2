// `podflame profile` local mode, in process (CliIO with memory streams): option checks, the agent's errors rebuilt
// into the same codes and exit statuses, progress only on a terminal. Real captures through the spawned CLI are in
// e2e-cli.test.ts.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import { parseFolded, totalSamples } from '../../shared/folded.js';
import { Agent } from '../../agent/agent.js';
import { buildProgram, runProgram } from '../../client/cli/program.js';
import { registerProfile, localProfileRequest } from '../../client/cli/commands/profile.js';
import { AgentClient, decodeWarningsHeader, stacksOfProfileJson } from '../../client/agent-client.js';
import { PodflameError } from '../../shared/errors.js';
import { JfrReader, type JfrProfile, type JfrReadOptions } from '../../shared/jfr/jfr-reader.js';
import { memoryIO, runInProcess } from '../helpers/cli-io.js';
import { FakeRuntime, hexId, podContainer } from './fake-runtime.js';
import { memoryLogger, testConfig } from './http.js';
import { waitFor } from '../helpers/wait-for.js';
import { testProfileWorker } from '../helpers/profile-worker.js';

const pod = { uid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c', name: 'shop-1', namespace: 'prod' };

async function run(args: string[], interactive = false) {
  const r = await runInProcess([registerProfile], ['profile', ...args], { interactive });
  return { code: r.code, out: r.text, err: r.err };
}

t.test('local-mode options become the request body', async (t) => {
  t.same(localProfileRequest({ containerId: 'abcdef012345', duration: '2m', frequency: '49', format: 'folded' }), {
    target: { containerId: 'abcdef012345' },
    durationSeconds: 120,
    frequencyHz: 49,
    format: 'folded',
  });
  t.same(
    localProfileRequest({
      podUid: pod.uid,
      container: 'app',
      duration: '30s',
      frequency: '99',
      format: 'svg',
      title: 'T',
    }),
    { target: { podUid: pod.uid, container: 'app' }, durationSeconds: 30, frequencyHz: 99, format: 'svg', title: 'T' },
  );
});

t.test('--inlined becomes java.inlined in the request body, and says what it costs', async (t) => {
  const flags = { containerId: 'abcdef012345', duration: '1', frequency: '99', format: 'svg' };
  t.same(localProfileRequest({ ...flags, inlined: true }).java, { inlined: true });
  // Left out when off: an agent older than the option refuses unknown fields.
  t.notOk('java' in localProfileRequest(flags), 'no java field without --inlined');
  t.notOk('java' in localProfileRequest({ ...flags, inlined: false }));
  const m = memoryIO();
  const program = buildProgram(m.io, [registerProfile], '0.0.0');
  const help = program.commands.find((c) => c.name() === 'profile')?.helpInformation() ?? '';
  t.match(
    help.replace(/\s+/g, ' '),
    /--inlined name the methods the JIT inlined .*JVMTI agent into the JVM; on JDK 21\+ the JVM logs a dynamic-agent warning/,
  );
});

t.test('-F and --inlined only with the events they apply to (#14), checked before any network call', async (t) => {
  const agent = ['--agent', 'http://127.0.0.1:1', '--container-id', 'abcdef012345'];
  const cases: [string[], RegExp][] = [
    [['-e', 'alloc', '-F', '50'], /--frequency does not apply to alloc: .*bytes allocated.*leave it out/],
    [['-e', 'lock', '-F', '99'], /--frequency does not apply to lock/],
    [['-e', 'wall', '-F', '200'], /--frequency is at most 100 Hz for wall, got 200/],
    [['-e', 'wall', '--inlined'], /--inlined is for the cpu event only/],
  ];
  for (const [args, expected] of cases) {
    const r = await run([...agent, ...args]);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.err, expected, args.join(' '));
  }
  // Without -F, alloc and lock send no frequency (the agent refuses one); wall and cpu send theirs.
  const flags = { containerId: 'abcdef012345', duration: '5', format: 'folded' };
  t.notOk('frequencyHz' in localProfileRequest({ ...flags, event: 'alloc' }), 'alloc: no frequencyHz');
  t.equal(localProfileRequest({ ...flags, event: 'wall', frequency: '50' }).frequencyHz, 50);
  t.equal(localProfileRequest(flags).frequencyHz, 99, 'cpu: 99 Hz when -F is not given');
});

t.test('the help says exactly what wall shows: threads running and waiting (#14)', async (t) => {
  const m = memoryIO();
  const program = buildProgram(m.io, [registerProfile], '0.0.0');
  const help = (program.commands.find((c) => c.name() === 'profile')?.helpInformation() ?? '').replace(/\s+/g, ' ');
  // Sleeping, parked, waiting and blocked threads come from their waits' duration events (shared/jfr).
  t.match(help, /wall \(where Java threads are, running or waiting\)/);
  t.match(
    help,
    /-F, --frequency .*for wall Flight Recorder's period in whole ms, at most 100 Hz; none for alloc and lock/,
  );
});

t.test('usage errors exit 2 before any network call, saying what to fix', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--container-id', 'abcdef012345'], /--agent URL/],
    [['--agent', 'http://127.0.0.1:1'], /say what to profile: --container-id ID, or --pod-uid UID -c NAME/],
    [['--agent', 'http://127.0.0.1:1', '--pod-uid', pod.uid], /--pod-uid needs -c NAME/],
    [['--agent', 'http://127.0.0.1:1', '--container-id', 'abc', '-c', 'app'], /either --container-id ID, or --pod-uid/],
    [
      ['--agent', 'http://127.0.0.1:1', '--container-id', 'abc', '-d', '11m'],
      /--duration must be whole seconds from 1 s to 600 s/,
    ],
    [
      ['--agent', 'http://127.0.0.1:1', '--container-id', 'abc', '-d', 'soon'],
      /--duration must be a duration such as 30/,
    ],
    [
      ['--agent', 'http://127.0.0.1:1', '--container-id', 'abc', '-F', '5000'],
      /--frequency must be whole Hz from 1 to 999/,
    ],
    [['--agent', 'http://127.0.0.1:1', '--container-id', 'abc', '--format', 'png'], /--format must be one of svg/],
    [['--agent', 'ftp://x', '--container-id', 'abcdef012345'], /--agent must be an http:\/\/ or https:\/\/ URL/],
    [
      ['--agent', 'http://127.0.0.1:1', '--container-id', 'ca4d'],
      /--container-id must be a container ID of 12 to 64 hex digits, got 'ca4d' \[USAGE\]/,
    ],
    [['--agent', 'http://127.0.0.1:1', '--pod-uid', 'nope', '-c', 'app'], /--pod-uid must be a pod UID such as/],
    [['--agent', 'http://127.0.0.1:1', '--pod-uid', pod.uid, '-c', 'App_1'], /-c must be a Kubernetes container name/],
  ];
  const missingToken = await run([
    '--agent',
    'http://127.0.0.1:1',
    '--container-id',
    'abcdef012345',
    '--token-file',
    'nope',
  ]);
  t.equal(missingToken.code, 1);
  t.equal(missingToken.err, 'podflame: cannot read --token-file /tmp/nope: no such file [FILE_UNREADABLE]\n');
  for (const [args, message] of cases) {
    const r = await run(args);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.err, message);
    t.notMatch(r.err, /target\.|Usage:/, 'names the flag, not the API field; no help text');
    t.equal(r.out, '');
  }
});

t.test('a usage error is two lines: the error, then how to see the options', async (t) => {
  for (const args of [['--agent', 'http://127.0.0.1:1'], ['--bogus'], ['--duration']]) {
    const r = await run(args);
    t.equal(r.code, 2, args.join(' '));
    const lines = r.err.trimEnd().split('\n');
    t.equal(lines.length, 2, `${args.join(' ')}: ${r.err}`);
    t.equal(lines[1], 'podflame: run podflame profile --help for the options');
  }
  const unknown = await runInProcess([registerProfile], ['profil']);
  t.equal(unknown.code, 2);
  t.equal(
    unknown.err,
    'podflame: unknown command "profil"; did you mean podflame profile? [UNKNOWN_COMMAND]\n' +
      'podflame: run podflame --help for the commands\n',
  );
  t.notMatch(unknown.err, /Usage:/);
});

t.test('an agent that is not there: AGENT_UNREACHABLE, exit 5', async (t) => {
  // A port from a server that was just closed: nothing listens there.
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  const r = await run(['--agent', `http://127.0.0.1:${port}`, '--container-id', 'abcdef012345', '-d', '1']);
  t.equal(r.code, 5);
  t.match(r.err, /cannot reach the agent at http:\/\/127\.0\.0\.1:\d+.*ECONNREFUSED.*\[AGENT_UNREACHABLE\]/);
});

t.test("the agent's errors keep their code, message and exit status", async (t) => {
  const runtime = new FakeRuntime();
  runtime.containers = [podContainer(hexId('a1'), pod, 'app'), podContainer(hexId('a2'), pod, 'sidecar')];
  const agent = new Agent({
    worker: testProfileWorker(),
    config: testConfig(),
    runtime,
    logger: memoryLogger().logger,
  });
  const { url } = await agent.start();
  t.teardown(() => agent.close());

  const notFound = await run(['--agent', url, '--pod-uid', pod.uid, '-c', 'web', '-d', '1']);
  t.equal(notFound.code, 3);
  t.match(notFound.err, /has no container 'web' on node test-node; its containers: app, sidecar \[TARGET_NOT_FOUND\]/);

  const client = new AgentClient(`${url}/`);
  t.teardown(() => client.close());
  const err = await client.profile({ target: { podUid: pod.uid, container: 'web' } }).catch((e: unknown) => e);
  t.type(err, PodflameError);
  t.same((err as PodflameError).details?.containers, ['app', 'sidecar']);
  t.equal((await client.targets()).node, 'test-node');

  // A capture that fails: the exit status of CAPTURE_FAILED, perf's words on stderr; progress on a terminal. The
  // capture ends once the countdown has moved on stderr (seen as it is written), not after a guessed second.
  const terminal = memoryIO({ interactive: true });
  const pending = runProgram(
    buildProgram(terminal.io, [registerProfile], '0.0.0'),
    ['profile', '--agent', url, '--container-id', hexId('a1').slice(0, 12), '-d', '3'],
    terminal.io,
  );
  await waitFor(() => runtime.captures.length === 1, 5000, 'the capture');
  const moved = /capturing a1a1a1a1a1a1: [1-9]\d* s, /;
  await waitFor(() => moved.test(terminal.err()), 60_000, 'the countdown to move', 20);
  runtime.captures[0]!.finish({ exitCode: 4, stderrTail: 'perf: Permission denied' });
  const failed = { code: await pending, err: terminal.err() };
  t.equal(failed.code, 6);
  t.match(failed.err, '\r\u001b[Kpodflame: capturing a1a1a1a1a1a1: 0 s, the recording takes 3 s');
  t.match(failed.err, moved, 'the countdown moves');
  t.match(failed.err, /perf: Permission denied \[CAPTURE_FAILED\]/);

  // Not a terminal: no progress at all.
  const quiet = run(['--agent', url, '--container-id', hexId('a2'), '-d', '2']);
  await waitFor(() => runtime.captures.length === 2, 5000, 'the second capture');
  runtime.captures[1]!.finish({ exitCode: 0, output: '' });
  const noSamples = await quiet;
  t.equal(noSamples.code, 6);
  t.notMatch(noSamples.err, /\r/);
  t.match(noSamples.err, /recorded no samples .*\[NO_SAMPLES\]/);

  // --inlined reaches the runtime's capture spec; without it, the capture is asked for none.
  const inlined = run(['--agent', url, '--container-id', hexId('a1'), '-d', '1', '--inlined']);
  await waitFor(() => runtime.captures.length === 3, 5000, 'the third capture');
  t.equal(runtime.captures[2]!.spec.javaInlined, true);
  runtime.captures[2]!.finish({ exitCode: 0, output: '' });
  await inlined;
  t.equal(runtime.captures[1]!.spec.javaInlined, false);
});

t.test("local mode writes pprof and speedscope, made from the agent's folded answer", async (t) => {
  // Real `perf script` output of a JVM (test/fixtures/history/record.sh), as a capture would print it.
  const perfScript = gunzipSync(
    readFileSync(join(import.meta.dirname, '../fixtures/history/after.perf.txt.gz')),
  ).toString('utf8');
  const runtime = new FakeRuntime();
  runtime.containers = [podContainer(hexId('a1'), pod, 'app')];
  runtime.images.add('podflame-perf:latest');
  const agent = new Agent({
    worker: testProfileWorker(),
    config: testConfig(),
    runtime,
    logger: memoryLogger().logger,
  });
  const { url } = await agent.start();
  t.teardown(() => agent.close());
  const dir = mkdtempSync(join(tmpdir(), 'podflame-local-formats-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const capture = async (format: string) => {
    const pending = runInProcess(
      [registerProfile],
      [
        'profile',
        '--agent',
        url,
        '--container-id',
        hexId('a1'),
        '-d',
        '1',
        '-F',
        '49',
        '--format',
        format,
        '-o',
        format,
      ],
      { cwd: dir },
    );
    const n = runtime.captures.length + 1;
    await waitFor(() => runtime.captures.length === n, 5000, 'the capture');
    runtime.captures[n - 1]!.finish({ exitCode: 0, output: perfScript });
    const r = await pending;
    t.equal(r.code, 0, `${format}: ${r.err}`);
    return readFileSync(join(dir, format));
  };
  const folded = parseFolded((await capture('folded')).toString('utf8')).stacks;
  t.ok(totalSamples(folded) > 0);

  const pprof = Profile.decode(gunzipSync(await capture('pprof')));
  t.equal(pprof.sample.length, folded.size, 'pprof: one sample per folded stack');
  t.equal(
    pprof.sample.reduce((sum, s) => sum + Number(s.value[0]), 0),
    totalSamples(folded),
    'pprof: every sample of the folded answer',
  );

  const speedscope = JSON.parse((await capture('speedscope')).toString('utf8')) as {
    $schema: string;
    profiles: { name: string; unit: string; weights: number[] }[];
  };
  t.equal(speedscope.$schema, 'https://www.speedscope.app/file-format-schema.json');
  t.match(speedscope.profiles, [{ name: `container ${hexId('a1').slice(0, 12)}`, unit: 'nanoseconds' }]);
  t.equal(speedscope.profiles[0]?.weights.length, folded.size, 'speedscope: one sample per folded stack');
  t.equal(
    Math.round(speedscope.profiles[0]!.weights.reduce((a, b) => a + b, 0) / (1e9 / 49)),
    totalSamples(folded),
    'speedscope: every sample, as CPU time at -F 49',
  );
});

t.test("local mode: a lock capture as pprof has each stack's contentions beside its time blocked (#14)", async (t) => {
  // A real lock recording (JfrMix on JDK 21: test/fixtures/jfr/record.sh), as a lock capture writes it to stdout.
  // The graph covers the 1 s asked for from the recording's start, not the recording's tail (#14: a cold user's 5.51 s
  // blocked by 2 threads in 2 s): read so here, and the recording's whole is more.
  const recording = readFileSync(join(import.meta.dirname, '../fixtures/jfr/mix-jdk21.jfr'));
  const readLock = (options: JfrReadOptions): JfrProfile => {
    const reader = new JfrReader({ kinds: ['lock'], ...options });
    reader.push(recording);
    return reader.finish();
  };
  const read = readLock({ windowNanos: 1e9 });
  const lockTotal = (p: JfrProfile): number => [...p.stacks.lock.values()].reduce((a, b) => a + b, 0);
  t.ok(lockTotal(readLock({})) > lockTotal(read), 'the recording runs on past 1 s');
  const runtime = new FakeRuntime();
  runtime.containers = [podContainer(hexId('a1'), pod, 'app')];
  runtime.images.add('podflame-perf:latest');
  const agent = new Agent({
    worker: testProfileWorker(),
    config: testConfig(),
    runtime,
    logger: memoryLogger().logger,
  });
  const { url } = await agent.start();
  t.teardown(() => agent.close());
  const dir = mkdtempSync(join(tmpdir(), 'podflame-local-lock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const args = ['profile', '--agent', url, '--container-id', hexId('a1'), '-d', '1', '-e', 'lock', '--format', 'pprof'];
  const pending = runInProcess([registerProfile], [...args, '-o', 'lock.pb.gz'], { cwd: dir });
  await waitFor(() => runtime.captures.length === 1, 5000, 'the capture');
  t.equal(runtime.captures[0]!.spec.event, 'lock');
  runtime.captures[0]!.finish({ exitCode: 0, output: recording });
  const r = await pending;
  t.equal(r.code, 0, r.err);

  const profile = Profile.decode(gunzipSync(readFileSync(join(dir, 'lock.pb.gz'))));
  const str = (i: number | bigint) => profile.stringTable.strings[Number(i)] as string;
  t.same(
    profile.sampleType.map((v) => `${str(v.type)}/${str(v.unit)}`),
    ['contentions/count', 'delay/nanoseconds'],
    'both sample types',
  );
  const names = new Map(profile.function.map((f) => [Number(f.id), str(f.name)]));
  const byLeaf = new Map(
    profile.sample.map((s) => [names.get(Number(s.locationId[0])) as string, s.value.map(Number)]),
  );
  // Each of the recording's two lock stacks is one event type (lock-counts.test.ts): its count is that type's events.
  t.same(byLeaf.get('LockContention.holdLock_[j]')?.[0], read.events.get('jdk.JavaMonitorEnter'), 'monitor enters');
  t.same(byLeaf.get('jdk.internal.misc.Unsafe.park_[j]')?.[0], read.events.get('jdk.ThreadPark'), 'parks');
  const delay = profile.sampleType.findIndex((v) => str(v.type) === 'delay');
  t.equal(
    profile.sample.reduce((sum, s) => sum + Number(s.value[delay]), 0),
    lockTotal(read),
    "delay: the recording's nanoseconds blocked in its first second",
  );
});

t.test(
  "a JSON answer's stacks, with events only when the agent gave them; anything else is CAPTURE_FAILED",
  async (t) => {
    const answer = (stacks: unknown) => Buffer.from(JSON.stringify({ id: 'x', event: 'lock', stacks }));
    t.same(
      stacksOfProfileJson(
        answer([
          { stack: 'a;b', count: 30, events: 2 },
          { stack: 'a;c', count: 10, events: 1 },
        ]),
      ),
      {
        stacks: new Map([
          ['a;b', 30],
          ['a;c', 10],
        ]),
        eventCounts: new Map([
          ['a;b', 2],
          ['a;c', 1],
        ]),
      },
    );
    // An agent from before `events`, or a profile of an event without them: the stacks alone.
    t.same(stacksOfProfileJson(answer([{ stack: 'a;b', count: 30 }])), { stacks: new Map([['a;b', 30]]) });
    for (const body of [
      Buffer.from('a;b 30\n'),
      Buffer.from('{"id":"x"}'),
      answer([{ stack: 'a;b' }]),
      answer([null]),
    ]) {
      t.throws(() => stacksOfProfileJson(body), { code: 'CAPTURE_FAILED' }, body.toString('utf8'));
    }
  },
);

t.test('warnings header decoding', async (t) => {
  const warnings = [{ code: 'NO_PRESERVE_FRAME_POINTER', message: 'JVM 7: stacks truncated; "quoted" ünïcode' }];
  t.same(decodeWarningsHeader(encodeURIComponent(JSON.stringify(warnings))), warnings);
  t.same(decodeWarningsHeader(undefined), []);
  t.equal(decodeWarningsHeader('%E0%A4%A')[0]?.code, 'WARNINGS_UNREADABLE');
});
