// 100 captures in a row of one JDK 8 JVM on the Docker path: each loads podflame's JVMTI map agent (JDK 8 has no
// Compiler.perfmap), so this is the agent run again and again in one long-lived JVM, as a schedule does. Every
// capture must succeed with a complete map and no warning; afterwards the JVM is alive, its resident memory has not
// grown (a fixed heap, pre-touched, so heap growth can neither hide nor fake a leak in the agent), the library is
// mapped once, and nothing of ours is left in the target's /tmp.
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { requireDockerEnv } from '../helpers/docker-env.js';
import { JvmContainers, newPod } from '../helpers/jvm-containers.js';
import { DockerRuntime } from '../../agent/runtime/docker-runtime.js';
import { captureToEnd, describeCapture, framesNaming, jitResolvedShare, uniqueId } from './capture-run.js';

const CAPTURES = 100;
/** The bound on the JVM's RSS growth from the end of the 1st capture to the end of the 100th. */
const MAX_RSS_GROWTH_BYTES = 5_000_000;

// A capture costs about 3 s on a quiet 2-CPU machine (capture container, perf start, 1 s recording, attach, perf
// script): 5 minutes in all. Under other tests' load (load average 20+) it was 10 s, and 30-60 s at a load of 30 (the
// suite beside two busy loops): hence the generous timeout.
t.setTimeout(5_400_000);
const env = await requireDockerEnv(t, { jdks: true });

if (env) {
  const runtime = new DockerRuntime({
    socketPath: env.socketPath,
    captureImage: env.captureImage,
    captureGroup: uniqueId('agent-soak'),
  });
  const jvms = new JvmContainers(env);
  t.teardown(async () => {
    await runtime.close();
    await jvms.cleanup();
  });
  const agentInstance = uniqueId('agent');

  t.test(`${CAPTURES} captures of one JDK 8 JVM through podflame's agent`, async (tt) => {
    const app = await jvms.startJvm({
      pod: newPod('soak'),
      containerName: 'shop',
      jdk: 8,
      mainClass: 'Shop8',
      user: '1000:1000',
      launch: 'shell',
      // After the helper's -Xmx128m: the last one wins.
      jvmFlags: ['-Xms64m', '-Xmx64m', '-XX:+AlwaysPreTouch'],
    });
    await jvms.waitForWarmup(app, 3000);
    const javaPid = await javaChildOf((await env.docker.getContainer(app.id).inspect()).State.Pid);

    const rssKiB: number[] = [];
    const failures: string[] = [];
    let named = 0;
    const started = Date.now();
    for (let i = 1; i <= CAPTURES; i++) {
      const o = await captureToEnd(runtime, {
        targetContainerId: app.id,
        durationSeconds: 1,
        frequencyHz: 99,
        agentInstance,
      });
      rssKiB.push(await rssOf(javaPid));
      // One line per bad capture rather than 300 assertions: the summary below fails with all of them listed.
      const problems = [
        ...(o.exit.exitCode === 0 ? [] : [`exit ${o.exit.exitCode}: ${o.exit.stderrTail}`]),
        ...(o.warnings.length === 0 ? [] : [`warnings ${JSON.stringify(o.warnings)}`]),
        ...(o.stats.jitFrames > 0 ? [] : ['no JIT frames']),
        ...(jitResolvedShare(o.stats) >= 0.99 ? [] : [`JIT frames resolved ${describeCapture(o)}`]),
      ];
      if (problems.length > 0) failures.push(`capture ${i}: ${problems.join('; ')}`);
      // perf script names a JIT frame only from a map, and on JDK 8 only our agent writes one.
      if (framesNaming(o.stats, 'long Shop8.forecastDemand(int)') > 0) named++;
      if (i === 1) tt.comment(`capture 1: ${describeCapture(o)}`);
      if (i % 10 === 0) {
        tt.comment(`after capture ${i}: JVM RSS ${rssKiB.at(-1)} KiB, ${((Date.now() - started) / 1000).toFixed(0)} s`);
      }
    }
    const seconds = (Date.now() - started) / 1000;
    tt.same(failures, [], `every capture exited 0, without warnings, with ≥ 99% of its JIT frames named`);
    // forecastDemand holds about a quarter of the CPU: a 1 s capture at 99 Hz misses it only by a rare chance.
    tt.ok(named >= CAPTURES * 0.9, `perf script named long Shop8.forecastDemand(int) in ${named} of ${CAPTURES}`);

    const growth = ((rssKiB.at(-1) as number) - (rssKiB[0] as number)) * 1024;
    tt.comment(
      `JVM RSS (KiB) after captures 1, 10, 20, ... 100: ${[0, ...Array.from({ length: 10 }, (_, k) => k * 10 + 9)]
        .map((k) => rssKiB[k])
        .join(', ')}; growth ${(growth / 1e6).toFixed(2)} MB; ${seconds.toFixed(0)} s for ${CAPTURES} captures`,
    );
    tt.ok(growth < MAX_RSS_GROWTH_BYTES, `RSS grew by ${(growth / 1e6).toFixed(2)} MB (< 5 MB)`);

    const status = await readFile(`/proc/${javaPid}/status`, 'utf8').catch(() => '');
    tt.match(status, /^State:\s+[RS]/m, 'the JVM is alive');
    tt.notMatch(await jvms.logs(app), /java exited with status/, 'and never exited');
    // The capture gives the library one name per build so that the JVM's dlopen finds it loaded: one copy mapped.
    const maps = await readFile(`/proc/${javaPid}/maps`, 'utf8');
    const libraries = new Set(
      maps
        .split('\n')
        .filter((l) => l.includes('podflame-perfmap'))
        .map((l) => l.split(/\s+/)[4]),
    );
    tt.equal(libraries.size, 1, `the agent library is mapped once, not once per capture (inodes ${[...libraries]})`);

    const left = await jvms.exec(app, ['sh', '-c', 'ls -A /tmp /dev/shm']);
    tt.notMatch(left, /podflame|perf-\d+\.map|\.perf-/, `nothing of ours is left in /tmp or /dev/shm: ${left}`);
  });
}

/** The PID of the one `java` child of the container's shell (the JVM runs under `sh -c`). */
async function javaChildOf(shellPid: number): Promise<number> {
  const children = (await readFile(`/proc/${shellPid}/task/${shellPid}/children`, 'utf8')).trim().split(' ');
  for (const child of children) {
    const cmdline = await readFile(`/proc/${child}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0')[0]?.endsWith('/java')) return Number(child);
  }
  throw new Error(`no java child of PID ${shellPid} (children: ${children.join(' ')})`);
}

/** VmRSS of a process, in KiB, read from this machine's /proc. */
async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kib);
}
