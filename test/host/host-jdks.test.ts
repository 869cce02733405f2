// Host mode (HostRuntime: the capture script run on this machine in the host PID namespace, never the Docker API)
// on JDK 8, 11 and 21 of the multi-JDK image (11: Flight Recorder events, alloc and lock): JDK 8 through podflame's JVMTI agent, JDK 21 through Compiler.perfmap and,
// with inlined frames asked for, through the agent with the warnings that go with it. And a target whose /tmp is a
// symlink to an absolute path that also exists on this machine: host mode reaches the target's files from outside
// its mount namespace, where such a link would lead to this machine's directory; nothing may happen there.
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, javaBinaryFor, requireDockerEnv, type JdkMajor } from '../helpers/docker-env.js';
import { nativeDir } from '../helpers/native-build.js';
import { JvmContainers, newPod, type JvmOptions, type StartedContainer } from '../helpers/jvm-containers.js';
import { HostRuntime } from '../../agent/runtime/host-runtime.js';
import { createEventCollapser } from '../../agent/profiles/event-collapser.js';
import { parseFoldedBytes } from '../../agent/profiles/folded-bytes.js';
import { captureToEnd, describeCapture, framesNaming, jitResolvedShare, uniqueId } from '../capture/capture-run.js';

t.setTimeout(1_200_000);
const env = await requireDockerEnv(t, { jdks: true });

/** The test app's hot methods, one per thread (test/workloads/jdks/Shop8.java). */
const HOT_METHODS = ['Shop8.forecastDemand', 'Shop8.sortPrices', 'Shop8.planShelves', 'Shop8.shuffleBundles'];

if (env) {
  const workRoot = await mkdtemp(join(tmpdir(), 'podflame-host-jdks-'));
  const runtime = new HostRuntime(
    {
      captureScript: join(REPO_ROOT, 'agent/capture/podflame-capture.sh'),
      nativeDir: await nativeDir(),
      workRoot,
      captureGroup: uniqueId('host-jdks'),
    },
    { kill: process.kill.bind(process) },
  );
  const agentInstance = `host-jdks-node.${uniqueId('agent')}`;
  t.teardown(async () => {
    await runtime.close();
    await rm(workRoot, { recursive: true, force: true });
  });

  /** A JvmContainers whose JVMs stop with the subtest: JVMs run one at a time (each keeps five threads busy). */
  const jvmsOf = (tt: Test): JvmContainers => {
    const jvms = new JvmContainers(env);
    tt.teardown(() => jvms.cleanup());
    return jvms;
  };
  // As most pods run Java: under `sh -c`, uid 1000, frame pointers on; warmed up before the capture.
  const startShop = async (jvms: JvmContainers, jdk: JdkMajor, more: Partial<JvmOptions> = {}) => {
    const app = await jvms.startJvm({
      pod: newPod(`host-jdk${jdk}`),
      containerName: 'shop',
      jdk,
      mainClass: 'Shop8',
      user: '1000:1000',
      launch: 'shell',
      ...more,
    });
    await jvms.waitForWarmup(app, 3000);
    return app;
  };
  const capture = (app: StartedContainer, javaInlined = false) =>
    captureToEnd(runtime, {
      targetContainerId: app.id,
      durationSeconds: 3,
      frequencyHz: 99,
      agentInstance,
      javaInlined,
    });
  /** The host PID of the container's JVM, the child of its shell. */
  const javaPidOf = async (app: StartedContainer): Promise<number> => {
    const shell = (await env.docker.getContainer(app.id).inspect()).State.Pid;
    const children = (await readFile(`/proc/${shell}/task/${shell}/children`, 'utf8')).trim().split(' ');
    for (const child of children) {
      if ((await readFile(`/proc/${child}/cmdline`, 'utf8').catch(() => '')).split('\0')[0]?.endsWith('java')) {
        return Number(child);
      }
    }
    throw new Error(`no java child of ${shell} in ${app.name}`);
  };
  /** Whether podflame's agent library was ever loaded into the JVM (it stays mapped once loaded). */
  const agentLoaded = async (pid: number): Promise<boolean> =>
    (await readFile(`/proc/${pid}/maps`, 'utf8')).includes('podflame-perfmap');
  const checkNamed = async (tt: Test, o: Awaited<ReturnType<typeof capture>>, javaPid: number): Promise<void> => {
    tt.equal(o.exit.exitCode, 0, `the capture succeeded (stderr: ${o.exit.stderrTail})`);
    tt.ok(o.stats.jitFrames > 0, 'JIT frames were sampled');
    tt.ok(jitResolvedShare(o.stats) >= 0.99, `≥ 99% of JIT frames named (${describeCapture(o)})`);
    tt.ok(o.stats.samplesByPid.has(javaPid), `samples of the JVM by its host PID ${javaPid}`);
    for (const m of HOT_METHODS) tt.ok(framesNaming(o.stats, m) > 0, `${m} named`);
    tt.same(await readdir(workRoot), [], 'the work directory is removed');
  };
  const codes = (o: Awaited<ReturnType<typeof capture>>): string[] => o.warnings.map((w) => w.code).sort();

  t.test('JDK 8: named through podflame’s JVMTI agent, no warnings', async (tt) => {
    const app = await startShop(jvmsOf(tt), 8);
    const pid = await javaPidOf(app);
    tt.notOk(await agentLoaded(pid), 'no agent before the capture');
    const o = await capture(app);
    await checkNamed(tt, o, pid);
    tt.same(codes(o), [], `no warnings: ${JSON.stringify(o.warnings)}`);
    tt.ok(await agentLoaded(pid), 'the names came from our agent (JDK 8 has no Compiler.perfmap)');
  });

  t.test(
    'JDK 21: Compiler.perfmap without an agent; inlined frames through the agent, with both warnings',
    async (tt) => {
      const app = await startShop(jvmsOf(tt), 21);
      const pid = await javaPidOf(app);
      const plain = await capture(app);
      await checkNamed(tt, plain, pid);
      tt.same(codes(plain), [], `no warnings: ${JSON.stringify(plain.warnings)}`);
      tt.notOk(await agentLoaded(pid), 'no agent was loaded (JEP 451 has nothing to say)');

      const inlined = await capture(app, true);
      await checkNamed(tt, inlined, pid);
      tt.same(codes(inlined), ['DYNAMIC_AGENT_LOADED', 'INLINING_IMPRECISE'], JSON.stringify(inlined.warnings));
      tt.ok(await agentLoaded(pid), 'the agent was loaded for the inline chains');
      tt.ok(framesNaming(inlined.stats, '->') > 0, 'perf names frames by their inline chains (outer->inner)');
      tt.equal(framesNaming(plain.stats, '->'), 0, 'which the plain capture has none of');
    },
  );

  t.test('JDK 11: Flight Recorder events in host mode, the recording gone afterwards', async (tt) => {
    const jvms = jvmsOf(tt);
    // JfrMix (test/workloads/jdks/): an allocating thread, threads contending on a monitor, a thread in accept().
    const app = await jvms.startJvm({
      pod: newPod('host-jfr11'),
      containerName: 'mix',
      jdk: 11,
      mainClass: 'JfrMix',
      user: '1000:1000',
      launch: 'shell',
    });
    await jvms.waitForWarmup(app, 2000);
    for (const [event, top] of [
      ['alloc', /;AllocLoop\.allocateBuffers_\[[ji]\]$/],
      ['lock', /;LockContention\.holdLock_\[[ji]\]$/],
    ] as const) {
      const running = await runtime.runCapture(
        { targetContainerId: app.id, durationSeconds: 3, frequencyHz: 99, agentInstance, event },
        new AbortController().signal,
      );
      const collapser = createEventCollapser(event);
      for await (const chunk of running.stdout as AsyncIterable<Buffer>) collapser.push(chunk);
      const exit = await running.done;
      tt.equal(exit.exitCode, 0, `${event}: the capture succeeded (stderr: ${exit.stderrTail})`);
      const result = collapser.finish({ maxStacks: 1e6, maxBytes: 1e9 });
      const heaviest = [...parseFoldedBytes(result.folded)].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '';
      tt.match(
        heaviest,
        top,
        `${event}: the known method on top (${result.samples} ${event === 'alloc' ? 'bytes' : 'ns'})`,
      );
    }
    const jcmd = javaBinaryFor(11).replace(/java$/, 'jcmd');
    const recordings = await jvms.exec(
      app,
      ['sh', '-c', `for p in $(pgrep -x java); do ${jcmd} $p JFR.check; done`],
      '1000:1000',
    );
    tt.notMatch(recordings, /podflame-/, 'no recording of ours left in the JVM');
    const left = await jvms.exec(app, ['sh', '-c', 'ls -A /tmp']);
    tt.notMatch(left, /podflame/, `no file of ours in the target's /tmp: ${left}`);
    tt.same(await readdir(workRoot), [], 'the work directory is removed');
  });

  t.test('a /tmp that is a symlink to a path this machine has too: only the target’s is used', async (tt) => {
    const canary = `/var/tmp/podflame-canary-${randomBytes(4).toString('hex')}`;
    await mkdir(canary);
    await chmod(canary, 0o1777); // as the target's: a map or a library written through the link would fit here
    tt.teardown(() => rm(canary, { recursive: true, force: true }));
    // Every event in this machine's directory, during the whole test: a file made and removed again shows too.
    const events: string[] = [];
    let seen: (() => void) | undefined;
    const watcher: FSWatcher = watch(canary, (event, name) => {
      events.push(`${event} ${name}`);
      seen?.();
    });
    tt.teardown(() => watcher.close());
    // The watch sees a file made and removed at once: its silence below means something.
    const probe = new Promise<void>((resolve) => (seen = resolve));
    await writeFile(join(canary, 'probe'), '');
    await rm(join(canary, 'probe'));
    await probe;
    tt.ok(events.length > 0, `the watch works (${events.join(', ')})`);
    seen = undefined;

    const jvms = jvmsOf(tt);
    // The link is made as root before Java starts, then Java runs as uid 1000 (setpriv, util-linux in the image).
    const app = await startShop(jvms, 8, {
      user: '0:0',
      shellPrefix:
        `mkdir -p ${canary} && chmod 1777 ${canary} && rm -rf /tmp && ln -s ${canary} /tmp; ` +
        `java1000() { setpriv --reuid=1000 --regid=1000 --clear-groups ${javaBinaryFor(8)} "$@"; }`,
      javaBinary: 'java1000',
    });
    const pid = await javaPidOf(app);
    tt.match(await readFile(`/proc/${pid}/status`, 'utf8'), /^Uid:\s+1000\s/m, 'the JVM runs as uid 1000');
    tt.equal((await jvms.exec(app, ['readlink', '/tmp'])).trim(), canary, "the target's /tmp is the link");

    const o = await capture(app);
    await checkNamed(tt, o, pid);
    tt.same(codes(o), [], `no warnings: ${JSON.stringify(o.warnings)}`);
    tt.ok(await agentLoaded(pid), 'through our agent, placed behind the link');

    tt.same(await readdir(canary), [], "this machine's directory is empty");
    tt.same(
      events.filter((e) => !e.endsWith(' probe')),
      [],
      'and nothing happened in it while the capture ran',
    );
    const left = await jvms.exec(app, ['ls', '-A', canary]);
    tt.notMatch(left, /podflame|perf-\d+\.map|\.perf-|\.attach_pid/, `nothing of ours in the target's: ${left}`);
  });
}
