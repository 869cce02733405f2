// alloc, lock and wall through the agent on the Docker path, on JDK 8, 11, 17, 21 and 25 (the multi-JDK image): the
// JVM's own Flight Recorder records them, the capture script dumps the recording out of the target, the agent reads
// it (shared/jfr) into folded stacks weighted by bytes, nanoseconds blocked or samples. One JVM per JDK runs JfrMix
// --waiters (test/workloads/jdks/): a thread allocating in AllocLoop.allocateBuffers, threads contending in
// LockContention.holdLock, threads blocked in Sleeper.awaitConnection, sleeping in Sleeper.nap, parking in
// Sleeper.parkBriefly and waiting in Sleeper.waitBriefly — each must top its event's graph or, in wall, weigh its
// threads' time (issue #14), and the waiting threads must not appear in the CPU graph. Afterwards no recording of
// ours is left in the JVM, also when the client goes away mid-capture; a JVM that cannot record says so with
// EVENT_UNSUPPORTED.
import t, { type Test } from 'tap';
import { HEADERS } from '../../shared/api.js';
import { parseFolded, type FoldedStacks } from '../../shared/folded.js';
import { JDK_MAJORS, javaBinaryFor, requireDockerEnv, type JdkMajor } from '../helpers/docker-env.js';
import { JvmContainers, newPod, type JvmOptions, type StartedContainer } from '../helpers/jvm-containers.js';
import { call, statusNote, type Answer } from '../agent/http.js';
import { startRealAgent } from '../agent/e2e-agent.js';
import { waitFor } from '../helpers/wait-for.js';

t.setTimeout(2_400_000);
const env = await requireDockerEnv(t, { jdks: true });

/** Sleeper's threads that wait all the time (Sleeper.startWaiters), by method, and how many run it. */
const WAITERS = [
  ['nap', 2],
  ['parkBriefly', 1],
  ['waitBriefly', 1],
] as const;
const WAITING = /;Sleeper\.(nap|parkBriefly|waitBriefly)_\[[ji]\]/;

/** Samples of the stacks that pass through `frame`. */
function weightThrough(stacks: FoldedStacks, frame: RegExp): number {
  let n = 0;
  for (const [stack, weight] of stacks) if (frame.test(stack)) n += weight;
  return n;
}

/** The stack with the largest weight. */
function heaviest(stacks: FoldedStacks): string {
  return [...stacks].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '';
}

function foldedOf(a: Answer): FoldedStacks {
  return parseFolded(a.text).stacks;
}

if (env) {
  const { url } = await startRealAgent(t, env);
  const jvmsOf = (tt: Test): JvmContainers => {
    const jvms = new JvmContainers(env);
    tt.teardown(() => jvms.cleanup());
    return jvms;
  };
  // As most pods run a JVM: uid 1000, java under `sh -c`.
  const startMix = async (jvms: JvmContainers, jdk: JdkMajor, more: Partial<JvmOptions> = {}) => {
    const app = await jvms.startJvm({
      pod: newPod(`jfr${jdk}`),
      containerName: 'mix',
      jdk,
      mainClass: 'JfrMix',
      user: '1000:1000',
      launch: 'shell',
      args: ['--waiters'],
      ...more,
    });
    await jvms.waitForWarmup(app, 2000);
    return app;
  };
  const profile = (app: StartedContainer, event: string, extra: Record<string, unknown> = {}) =>
    call(url, 'POST', '/v1/profiles', {
      target: { containerId: app.id },
      durationSeconds: 3,
      format: 'folded',
      event,
      ...extra,
    });
  /** What the JVM's own jcmd says of its recordings (as the JVM's user, as jcmd must be). */
  const recordingsOf = async (jvms: JvmContainers, app: StartedContainer, jdk: JdkMajor): Promise<string> => {
    const jcmd = javaBinaryFor(jdk).replace(/java$/, 'jcmd');
    return jvms.exec(app, ['sh', '-c', `for p in $(pgrep -x java); do ${jcmd} $p JFR.check; done`], '1000:1000');
  };

  for (const jdk of JDK_MAJORS) {
    t.test(
      `JDK ${jdk}: alloc, lock and wall each put their method on top; cpu does not see the blocked thread`,
      async (tt) => {
        const jvms = jvmsOf(tt);
        const app = await startMix(jvms, jdk);

        const alloc = await profile(app, 'alloc');
        tt.equal(alloc.status, 200, statusNote(alloc));
        tt.match(
          heaviest(foldedOf(alloc)),
          /;AllocLoop\.allocateBuffers_\[[ji]\]$/,
          'alloc: AllocLoop.allocateBuffers',
        );
        const allocMeta = (await call(url, 'GET', `/v1/profiles/${alloc.headers[HEADERS.profileId]}`)).json;
        tt.match(allocMeta, { event: 'alloc', status: 'done', jitResolved: null }, 'the profile says what it counts');
        tt.ok(allocMeta.samples > 1_000_000, `weighted by bytes (${allocMeta.samples} bytes)`);

        const lock = await profile(app, 'lock');
        tt.equal(lock.status, 200, statusNote(lock));
        tt.match(heaviest(foldedOf(lock)), /;LockContention\.holdLock_\[[ji]\]$/, 'lock: LockContention.holdLock');

        const wall = await profile(app, 'wall');
        tt.equal(wall.status, 200, statusNote(wall));
        const wallStacks = foldedOf(wall);
        tt.ok(
          [...wallStacks.keys()].some((s) => s.includes(';Sleeper.awaitConnection_[j]')),
          'wall: the thread blocked in Sleeper.awaitConnection is seen',
        );
        tt.ok(
          weightThrough(wallStacks, /;LockContention\.holdLock_\[[ji]\]$/) > 0,
          'wall: the threads blocked entering the monitor in LockContention.holdLock are seen',
        );
        // Each waiting thread waits all the time: the recording's time ÷ the 10 ms period of 99 Hz, per thread. The
        // recording runs from JFR.start, within the script's `checks`, for its `recording` ms, to JFR.stop, within
        // its `dump`: no thread can weigh more than all three. It weighs at least half of `recording` alone: a wait in
        // progress when the recording starts or stops is never written (up to 2 × 100 ms of 3 s), on JDK 21+
        // Thread.sleep's event, written by Java code, starts a moment after the recording (0.75 s seen on a
        // recording's first use of it), and on a busy machine a woken thread may wait for a CPU before its next wait.
        const wallMeta = (await call(url, 'GET', `/v1/profiles/${wall.headers[HEADERS.profileId]}`)).json;
        const times = wallMeta.timings.capture as { checks: number; recording: number; dump: number };
        const periods = (ms: number): number => ms / 10;
        for (const [method, threads] of WAITERS) {
          const samples = weightThrough(wallStacks, new RegExp(`;Sleeper\\.${method}_\\[[ji]\\]`));
          const low = 0.5 * threads * periods(times.recording);
          const high = threads * periods(times.checks + times.recording + times.dump) + 1;
          tt.ok(
            samples >= low && samples <= high,
            `wall: Sleeper.${method}, ${threads} thread(s): ${samples} samples, within ${Math.ceil(low)}..${Math.floor(high)} ` +
              `(recording ${times.recording} ms, checks ${times.checks} ms, dump ${times.dump} ms)`,
          );
        }

        const cpu = await profile(app, 'cpu');
        tt.equal(cpu.status, 200, statusNote(cpu));
        tt.notMatch(cpu.text, /Sleeper\.awaitConnection/, 'cpu: the blocked thread uses no CPU, so it is not there');
        // The waiting threads run a few microseconds every 100 ms: perf may catch one of them once in a while, never
        // more than a sliver of the busy threads' samples.
        const cpuStacks = foldedOf(cpu);
        const cpuTotal = [...cpuStacks.values()].reduce((a, b) => a + b, 0);
        const cpuWaiting = weightThrough(cpuStacks, WAITING);
        tt.ok(
          cpuWaiting <= 0.02 * cpuTotal,
          `cpu: the sleeping, parked and waiting threads are not there (${cpuWaiting} of ${cpuTotal} samples)`,
        );
        tt.notMatch(heaviest(cpuStacks), WAITING, 'cpu: none of them on top');
        // (allocateBuffers itself may be inlined by C2 into its caller, which perf then names)
        tt.match(cpu.text, /AllocLoop\.[\w$]+_\[j\]/, 'cpu: the busy threads are');

        const svg = await call(url, 'POST', '/v1/profiles', {
          target: { containerId: app.id },
          durationSeconds: 2,
          event: 'lock',
        });
        tt.equal(svg.status, 200, statusNote(svg));
        tt.match(svg.text, /lock, [\d.]+ m?s blocked in 2 s/, 'the SVG subtitle names the event and its total');

        tt.notMatch(await recordingsOf(jvms, app, jdk), /podflame-/, 'no recording of ours left in the JVM');
      },
    );
  }

  t.test('a client that goes away mid-capture stops the recording in the JVM', async (tt) => {
    const jvms = jvmsOf(tt);
    const app = await startMix(jvms, 21);
    const client = new AbortController();
    const answer = call(
      url,
      'POST',
      '/v1/profiles',
      { target: { containerId: app.id }, durationSeconds: 60, event: 'wall' },
      { signal: client.signal },
    ).catch((err: unknown) => err);
    await waitFor(
      async () => /podflame-/.test(await recordingsOf(jvms, app, 21)),
      60_000,
      'our recording running in the JVM',
      500,
    );
    client.abort();
    await answer;
    await waitFor(
      async () => !/podflame-/.test(await recordingsOf(jvms, app, 21)),
      30_000,
      'the recording stopped after the client left',
      500,
    );
    tt.pass('no recording of ours is left running');
  });

  t.test('a JVM that refuses attaching cannot record: EVENT_UNSUPPORTED says why, never an empty graph', async (tt) => {
    const jvms = jvmsOf(tt);
    const app = await startMix(jvms, 17, { jvmFlags: ['-XX:+DisableAttachMechanism'] });
    const a = await profile(app, 'alloc');
    tt.equal(a.status, 422, statusNote(a, 422));
    tt.equal(a.json.error.code, 'EVENT_UNSUPPORTED');
    tt.match(a.json.error.message, /cannot record alloc: .*DisableAttachMechanism/);
  });
}
