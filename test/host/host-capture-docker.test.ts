// Host mode against containers the Docker engine started, found only through /proc/<pid>/cgroup: HostRuntime never
// calls the Docker API (Docker only starts the targets here). The same flame-graph checks as the Docker path
// (test/capture/capture-jvm.test.ts), plus what host mode does itself: JIT maps read in the target's mount namespace,
// abort within 2 s with no perf left, leftovers of an earlier agent instance killed, work directories removed.
import t, { type Test } from 'tap';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, requireDockerEnv } from '../helpers/docker-env.js';
import { nativeDir } from '../helpers/native-build.js';
import { JvmContainers, newPod, type StartedContainer } from '../helpers/jvm-containers.js';
import { CAPTURE_ENV, HostRuntime, type HostRuntimeOptions } from '../../agent/runtime/host-runtime.js';
import { processesWithEnv } from '../../agent/runtime/proc-scan.js';
import { waitFor } from '../helpers/wait-for.js';
import {
  captureToEnd,
  checkHotCapture as checkHotOutcome,
  framesNaming,
  uniqueId,
  type CaptureOutcome,
} from '../capture/capture-run.js';

t.setTimeout(1_200_000);
const env = await requireDockerEnv(t, { jdk: true });

export const CAPTURE_SCRIPT = join(REPO_ROOT, 'agent/capture/podflame-capture.sh');

if (env) {
  const workRoot = await mkdtemp(join(tmpdir(), 'podflame-host-work-'));
  const natives = await nativeDir();
  const captureGroup = uniqueId('host-docker');
  const make = (o: HostRuntimeOptions = {}): HostRuntime =>
    new HostRuntime(
      { captureScript: CAPTURE_SCRIPT, nativeDir: natives, workRoot, captureGroup, ...o },
      { kill: process.kill.bind(process) },
    );
  const runtime = make();
  const jvms = new JvmContainers(env);
  const agentInstance = `host-docker-node.${uniqueId('agent')}`;
  t.teardown(async () => {
    await runtime.close();
    await jvms.cleanup();
    await rm(workRoot, { recursive: true, force: true });
  });

  const capture = (target: StartedContainer, durationSeconds = 3, r = runtime): Promise<CaptureOutcome> =>
    captureToEnd(r, { targetContainerId: target.id, durationSeconds, frequencyHz: 99, agentInstance });
  const checkHotCapture = (tt: Test, o: CaptureOutcome): void => {
    checkHotOutcome(tt, o);
    tt.same(readdirSync(workRoot), [], 'the work directory is removed');
  };
  const hostPidOf = async (c: StartedContainer): Promise<number> =>
    (await env.docker.getContainer(c.id).inspect()).State.Pid;

  t.test('listing, inspection and processes come from /proc, with the pod UID from cgroups', async (tt) => {
    const app = await jvms.startJvm({ pod: newPod('host-ro'), launch: 'shell' });
    await jvms.waitForOutput(app);
    const listed = await runtime.listContainers();
    const mine = listed.find((c) => c.id === app.id);
    tt.ok(mine, 'the container is found by its ID in /proc/*/cgroup');
    tt.match(mine, { name: app.id.slice(0, 12), state: 'running' });
    const info = await runtime.inspectContainer(`docker://${app.id}`);
    tt.equal(info.pid, await hostPidOf(app), 'its init is the lowest host PID in the container');
    tt.equal((await runtime.inspectContainer(app.id.slice(0, 12))).id, app.id, 'a 12-digit prefix resolves');
    const processes = await runtime.listProcesses(app.id);
    tt.ok(
      processes.some((p) => /^java .*Hot$/.test(p)),
      `the JVM is in the list: ${JSON.stringify(processes)}`,
    );
    await tt.rejects(runtime.inspectContainer('f'.repeat(64)), { code: 'TARGET_NOT_FOUND' });
    await tt.rejects(
      runtime.runCapture(
        { targetContainerId: 'e'.repeat(64), durationSeconds: 1, frequencyHz: 99, agentInstance },
        new AbortController().signal,
      ),
      { code: 'TARGET_NOT_FOUND' },
    );
    await runtime.ping();
    tt.equal(await runtime.toolsPresent(), true, 'the capture script is there');
    tt.equal(await make({ captureScript: '/nonexistent/podflame-capture' }).toolsPresent(), false);
    tt.equal(await make({ nativeDir: '/nonexistent' }).toolsPresent(), false, 'so are the native parts');
  });

  t.test('JVM as PID 1', async (tt) => {
    const app = await jvms.startJvm({ pod: newPod('host-pid1') });
    await jvms.waitForWarmup(app);
    const o = await capture(app);
    checkHotCapture(tt, o);
    tt.same(
      o.warnings.map((w) => w.code),
      [],
      'no warnings',
    );
    const hostPid = await hostPidOf(app);
    tt.same([...o.stats.samplesByPid.keys()], [hostPid], 'every sample is from the JVM, by its host PID');
    tt.ok(framesNaming(o.stats, 'thread_native_entry') > 0, 'stacks reach down to the thread entry');
    tt.notOk(existsSync(`/tmp/perf-${hostPid}.map`), 'the map copy in our /tmp is removed');
  });

  t.test('perf reads the JIT map in the target mount namespace (no copy)', async (tt) => {
    const app = await jvms.startJvm({ pod: newPod('host-nocopy') });
    await jvms.waitForWarmup(app);
    const o = await capture(app, 3, make({ copyJitMaps: false }));
    checkHotCapture(tt, o);
    const hostPid = await hostPidOf(app);
    tt.match(o.text, `(/tmp/perf-${hostPid}.map)`, 'perf names the map by the host PID');
    tt.notOk(existsSync(`/tmp/perf-${hostPid}.map`), 'no copy was made');
  });

  t.test('JVM under sh -c', async (tt) => {
    const app = await jvms.startJvm({ pod: newPod('host-shell'), launch: 'shell' });
    await jvms.waitForWarmup(app);
    const o = await capture(app);
    checkHotCapture(tt, o);
    const init = await hostPidOf(app);
    tt.equal([...o.stats.samplesByPid.keys()].filter((p) => p !== init).length, 1, 'samples from the JVM child');
  });

  t.test('JVM as uid 1000', async (tt) => {
    const app = await jvms.startJvm({ pod: newPod('host-uid'), user: '1000:1000', launch: 'shell' });
    await jvms.waitForWarmup(app);
    const o = await capture(app);
    checkHotCapture(tt, o);
    tt.notOk(
      o.warnings.some((w) => w.code === 'ATTACH_FAILED' || w.code === 'PERFMAP_FAILED'),
      'jattach reaches the non-root JVM from the host',
    );
  });

  t.test('JVM without -XX:+PreserveFramePointer: the warning arrives', async (tt) => {
    const app = await jvms.startJvm({ pod: newPod('host-nofp'), preserveFramePointer: false });
    await jvms.waitForWarmup(app);
    const o = await capture(app, 2);
    tt.equal(o.exit.exitCode, 0, o.exit.stderrTail);
    const w = o.warnings.find((x) => x.code === 'NO_PRESERVE_FRAME_POINTER');
    tt.ok(w, 'NO_PRESERVE_FRAME_POINTER is reported');
    tt.equal(w?.pid, await hostPidOf(app), 'for the JVM, by its host PID');
    tt.ok(o.stats.samples > 0);
  });

  t.test('abort: the process group is gone within 2 s, no perf left, work directory removed', async (tt) => {
    const app = await jvms.startJvm({ pod: newPod('host-abort') });
    await jvms.waitForOutput(app);
    const controller = new AbortController();
    const running = await runtime.runCapture(
      { targetContainerId: app.id, durationSeconds: 60, frequencyHz: 99, agentInstance },
      controller.signal,
    );
    running.stdout.resume();
    // Aborted once its perf records, not after a guessed time.
    await waitForPerfRecord(CAPTURE_ENV.owner, captureGroup);
    const before = await processesWithEnv('/proc', CAPTURE_ENV.owner);
    tt.ok(
      before.some((p) => p.env.get(CAPTURE_ENV.owner) === captureGroup),
      'the capture runs, tagged with its owner',
    );
    const t0 = performance.now();
    controller.abort(new Error('client went away'));
    await tt.rejects(running.done, { code: 'CAPTURE_ABORTED' });
    const ms = Math.round(performance.now() - t0);
    const after = await processesWithEnv('/proc', CAPTURE_ENV.owner);
    tt.same(
      after.filter((p) => p.env.get(CAPTURE_ENV.owner) === captureGroup).map((p) => p.pid),
      [],
      'no capture process (perf, jattach, script) is left',
    );
    tt.same(readdirSync(workRoot), [], 'the work directory is removed');
    tt.comment(`abort → process group gone in ${ms} ms (target: within 2 s)`);
  });

  t.test('removeLeftoverCaptures kills an earlier instance’s capture, not ours nor another owner’s', async (tt) => {
    const app = await jvms.startJvm({ pod: newPod('host-leftover') });
    await jvms.waitForOutput(app);
    const earlier = make();
    const leftover = await earlier.runCapture(
      { targetContainerId: app.id, durationSeconds: 60, frequencyHz: 49, agentInstance: 'host-docker-node.earlier' },
      new AbortController().signal,
    );
    leftover.stdout.resume();
    const otherNode = await make().runCapture(
      { targetContainerId: app.id, durationSeconds: 60, frequencyHz: 49, agentInstance: 'another-node.x' },
      new AbortController().signal,
    );
    otherNode.stdout.resume();
    // Both captures under way (their perf records), not after a guessed time.
    await waitForPerfRecord(CAPTURE_ENV.instance, 'host-docker-node.earlier');
    await waitForPerfRecord(CAPTURE_ENV.instance, 'another-node.x');
    const removed = await runtime.removeLeftoverCaptures(agentInstance);
    tt.equal(removed, 1, 'one leftover capture of this node');
    const exit = await leftover.done;
    tt.not(exit.exitCode, 0, `the leftover was killed (exit ${exit.exitCode})`);
    const alive = await processesWithEnv('/proc', CAPTURE_ENV.instance);
    tt.ok(
      alive.some((p) => p.env.get(CAPTURE_ENV.instance) === 'another-node.x'),
      "another node's capture (another agent scope) is untouched",
    );
    tt.equal(await make({ captureGroup: uniqueId('other-owner') }).removeLeftoverCaptures('x.y'), 0);
    await earlier.close();
    const other = make();
    await other.close();
    // The capture of "another-node" belongs to no runtime still open here: end it as its agent would.
    for (const p of alive.filter((q) => q.env.get(CAPTURE_ENV.instance) === 'another-node.x')) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await otherNode.done.catch(() => undefined);
  });

  t.test('a container without a JVM: NO_JVM, profiled anyway', async (tt) => {
    const shell = await jvms.startBusyShell(newPod('host-nojvm'));
    await jvms.waitForOutput(shell);
    const o = await captureToEnd(runtime, {
      targetContainerId: shell.id,
      durationSeconds: 2,
      frequencyHz: 99,
      agentInstance,
    });
    tt.equal(o.exit.exitCode, 0, o.exit.stderrTail);
    tt.same(
      o.warnings.map((w) => w.code),
      ['NO_JVM'],
    );
    tt.ok(o.stats.samples > 0);
  });
}

/** Waits until a process whose environment holds NAME=VALUE (HostRuntime tags each capture's) runs `perf record`. */
async function waitForPerfRecord(name: string, value: string): Promise<void> {
  await waitFor(
    async () => {
      for (const p of await processesWithEnv('/proc', name)) {
        if (p.env.get(name) !== value) continue;
        const argv = (await readFile(`/proc/${p.pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
        if (argv[0]?.endsWith('perf') === true && argv[1] === 'record') return true;
      }
      return false;
    },
    120_000,
    `perf record in the capture with ${name}=${value}`,
    100,
  );
}
