// End to end on the real engine: how captures end (target exits, abort, engine or image missing), leftovers,
// targets without a JVM, JVMs whose threads come and go, and the runtime's read-only calls.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import Docker from 'dockerode';
import { requireDockerEnv } from '../helpers/docker-env.js';
import { JvmContainers, newPod } from '../helpers/jvm-containers.js';
import { DockerRuntime } from '../../agent/runtime/docker-runtime.js';
import { CAPTURE_LABELS, type CaptureSpec } from '../../agent/runtime/container-runtime.js';
import { PodflameError } from '../../shared/errors.js';
import { captureToEnd, framesNaming, jitResolvedShare, uniqueId } from './capture-run.js';

t.setTimeout(1_200_000);
const env = await requireDockerEnv(t, { jdk: true });

if (env) {
  const captureGroup = uniqueId('capture-lifecycle');
  const runtime = new DockerRuntime({ socketPath: env.socketPath, captureImage: env.captureImage, captureGroup });
  const jvms = new JvmContainers(env);
  const agentInstance = uniqueId('agent');
  t.teardown(async () => {
    await runtime.close();
    await jvms.cleanup();
  });
  const spec = (targetContainerId: string, durationSeconds = 3): CaptureSpec => ({
    targetContainerId,
    durationSeconds,
    frequencyHz: 99,
    agentInstance,
  });
  const capturesOf = (target: string) =>
    runtime.listContainers({ labels: { [CAPTURE_LABELS.target]: target }, all: true });

  t.test('read-only calls: ping, images, labels, inspect, processes', async (tt) => {
    await runtime.ping();
    tt.equal(await runtime.toolsPresent(), true, 'the capture image is present');
    const absent = `podflame-perf:absent-${randomBytes(4).toString('hex')}`;
    tt.equal(
      await new DockerRuntime({ socketPath: env.socketPath, captureImage: absent, captureGroup }).toolsPresent(),
      false,
    );
    const pod = newPod('ro');
    const app = await jvms.startJvm({ pod, launch: 'shell', containerName: 'app' });
    await jvms.waitForOutput(app);
    const listed = await runtime.listContainers({ labels: { 'io.kubernetes.pod.uid': pod.uid } });
    tt.same(
      listed.map((c) => [c.id, c.name, c.state, c.labels['io.kubernetes.container.name']]),
      [[app.id, app.name, 'running', 'app']],
      'found by its pod UID label',
    );
    const info = await runtime.inspectContainer(app.id);
    tt.equal(info.running, true);
    tt.ok(info.pid > 1, 'the host PID of its init');
    tt.equal(info.labels['io.kubernetes.pod.name'], pod.name);
    const processes = await runtime.listProcesses(app.id);
    tt.ok(
      processes.some((p) => /^java .*Hot$/.test(p)),
      `the JVM is in the process list: ${JSON.stringify(processes)}`,
    );
    await tt.rejects(runtime.inspectContainer('f'.repeat(64)), { code: 'TARGET_NOT_FOUND' });
  });

  // The JVMs below exit when the test touches this file in their container, once the capture records them (perf's
  // events enabled and CPU time spent since): never before perf starts, however busy the machine.
  const EXIT_FILE = '/tmp/podflame-test-exit';

  t.test('a JVM (not PID 1) that exits during the capture: TARGET_EXITED, and what was recorded', async (tt) => {
    const app = await jvms.startJvm({ pod: newPod('exit'), launch: 'shell', args: [`--exit-file=${EXIT_FILE}`] });
    await jvms.waitForWarmup(app, 1000);
    // 60 s: the exit must fall inside the recording, and seeing perf record and the JVM spend CPU since takes its
    // time on a loaded machine (20 s was not enough at a load of 70 on 2 cores). The capture runs to its end.
    const outcome = captureToEnd(runtime, spec(app.id, 60));
    await jvms.waitForRecording(app);
    await jvms.exec(app, ['touch', EXIT_FILE]);
    await jvms.waitForOutput(app, 'java exited with status 0');
    const o = await outcome;
    tt.equal(o.exit.exitCode, 0, `the capture ends normally (${o.exit.stderrTail})`);
    const exited = o.warnings.find((w) => w.code === 'TARGET_EXITED');
    tt.ok(exited, `TARGET_EXITED is reported: ${JSON.stringify(o.warnings)}`);
    tt.not(exited?.pid, 1, 'for the JVM, not the shell');
    tt.ok(o.stats.samples > 0, 'the samples before the exit are kept');
    tt.comment(`${o.stats.samples} samples; warnings ${JSON.stringify(o.warnings)}`);
    tt.same(await capturesOf(app.id), [], 'the capture container is removed');
  });

  t.test('a JVM as PID 1 that exits during the capture: a clear failure, never a hang', async (tt) => {
    const app = await jvms.startJvm({ pod: newPod('exit1'), args: [`--exit-file=${EXIT_FILE}`] });
    await jvms.waitForWarmup(app, 500);
    const running = await runtime.runCapture(spec(app.id, 120), new AbortController().signal);
    running.stdout.resume();
    await jvms.waitForRecording(app);
    await jvms.exec(app, ['touch', EXIT_FILE]);
    // The PID namespace ends with its init, and every process in it (the capture's too) is killed.
    const exit = await running.done;
    tt.not(exit.exitCode, 0, `the capture fails (exit ${exit.exitCode})`);
    tt.equal(exit.exitCode, 137, 'killed (SIGKILL) with the PID namespace');
    const target = await runtime.inspectContainer(app.id);
    tt.equal(target.running, false, 'the agent can tell the target stopped');
    tt.same(await capturesOf(app.id), [], 'the capture container is removed');
  });

  t.test('abort mid-capture removes the capture container', async (tt) => {
    const app = await jvms.startJvm({ pod: newPod('abort') });
    await jvms.waitForOutput(app);
    const controller = new AbortController();
    const running = await runtime.runCapture(spec(app.id, 60), controller.signal);
    running.stdout.resume();
    tt.equal((await capturesOf(app.id)).length, 1, 'the capture container runs');
    await jvms.waitForRecording(app, { cpuMs: 0 });
    const t0 = performance.now();
    controller.abort(new Error('client went away'));
    await tt.rejects(running.done, { code: 'CAPTURE_ABORTED' }, 'done rejects with CAPTURE_ABORTED');
    const ms = Math.round(performance.now() - t0);
    tt.same(await capturesOf(app.id), [], 'and the container is gone when it does');
    tt.ok(running.stdout.destroyed, 'stdout is closed');
    tt.comment(`abort → container removed in ${ms} ms (target: within 2 s)`);
  });

  t.test('an already aborted signal starts nothing', async (tt) => {
    const controller = new AbortController();
    controller.abort();
    const app = await jvms.startBusyShell();
    await tt.rejects(runtime.runCapture(spec(app.id), controller.signal), { code: 'CAPTURE_ABORTED' });
    tt.same(await capturesOf(app.id), []);
  });

  t.test('removeLeftoverCaptures removes another instance’s captures, not ours', async (tt) => {
    const docker = env.docker;
    const target = await jvms.startBusyShell();
    const make = (instance: string) =>
      docker.createContainer({
        Image: env.captureImage,
        Cmd: ['1', '1'],
        Labels: {
          [CAPTURE_LABELS.owner]: captureGroup,
          [CAPTURE_LABELS.target]: target.id,
          [CAPTURE_LABELS.agentInstance]: instance,
        },
        HostConfig: { NetworkMode: 'none' },
      });
    const leftover = await make('an-earlier-agent');
    const ours = await make(agentInstance);
    try {
      const removed = await runtime.removeLeftoverCaptures(agentInstance);
      tt.equal(removed, 1, 'one leftover removed');
      const remaining = (await capturesOf(target.id)).map((c) => c.id);
      tt.same(remaining, [ours.id], "this instance's container is kept");
      tt.notOk(remaining.includes(leftover.id));
      const other = new DockerRuntime({
        socketPath: env.socketPath,
        captureImage: env.captureImage,
        captureGroup: uniqueId('other-group'),
      });
      tt.equal(await other.removeLeftoverCaptures('x'), 0, 'a runtime of another capture group touches nothing');
    } finally {
      await ours.remove({ force: true }).catch(() => undefined);
      await leftover.remove({ force: true }).catch(() => undefined);
    }
  });

  t.test('missing capture image: CAPTURE_IMAGE_MISSING saying how to build it', async (tt) => {
    const image = `podflame-perf:missing-${randomBytes(4).toString('hex')}`;
    const noImage = new DockerRuntime({ socketPath: env.socketPath, captureImage: image, captureGroup });
    const target = await jvms.startBusyShell();
    const err = await noImage.runCapture(spec(target.id), new AbortController().signal).then(
      () => undefined,
      (e: unknown) => e,
    );
    tt.ok(err instanceof PodflameError);
    tt.equal((err as PodflameError).code, 'CAPTURE_IMAGE_MISSING');
    tt.match((err as PodflameError).message, `docker build --network host -f Dockerfile.perf -t ${image} .`);
    tt.same(await capturesOf(target.id), [], 'no container was left');
  });

  t.test('target gone or stopped', async (tt) => {
    await tt.rejects(runtime.runCapture(spec('0123456789ab'.repeat(4)), new AbortController().signal), {
      code: 'TARGET_NOT_FOUND',
    });
    const stopped = await jvms.startBusyShell();
    await env.docker.getContainer(stopped.id).kill();
    await jvms.waitForExit(stopped);
    await tt.rejects(runtime.runCapture(spec(stopped.id), new AbortController().signal), {
      code: 'TARGET_NOT_RUNNING',
    });
    await tt.rejects(runtime.listProcesses(stopped.id), { code: 'TARGET_NOT_RUNNING' });
    tt.same(await capturesOf(stopped.id), [], 'no container was left');
  });

  t.test('Docker engine unreachable: DOCKER_UNAVAILABLE', async (tt) => {
    const socketPath = `/tmp/podflame-no-engine-${randomBytes(4).toString('hex')}.sock`;
    const gone = new DockerRuntime({ socketPath, captureImage: env.captureImage });
    await tt.rejects(gone.ping(), { code: 'DOCKER_UNAVAILABLE' });
    await tt.rejects(gone.runCapture(spec('a'.repeat(64)), new AbortController().signal), {
      code: 'DOCKER_UNAVAILABLE',
    });
    await tt.rejects(gone.listContainers(), { code: 'DOCKER_UNAVAILABLE' });
    await gone.close();
  });

  t.test('a container without a JVM: NO_JVM, and its processes are profiled anyway', async (tt) => {
    const shell = await jvms.startBusyShell(newPod('nojvm'));
    await jvms.waitForOutput(shell);
    const o = await captureToEnd(runtime, spec(shell.id, 2));
    tt.equal(o.exit.exitCode, 0, o.exit.stderrTail);
    tt.same(
      o.warnings.map((w) => w.code),
      ['NO_JVM'],
    );
    tt.ok(o.stats.samples > 0, `the shell was sampled (${o.stats.samples} samples)`);
  });

  t.test('a JVM whose threads come and go: perf is restarted, not left spinning', async (tt) => {
    const app = await jvms.startJvm({ pod: newPod('churn'), mainClass: 'Churn' });
    await jvms.waitForWarmup(app);
    const o = await captureToEnd(runtime, spec(app.id, 5));
    tt.equal(o.exit.exitCode, 0, o.exit.stderrTail);
    tt.ok((o.exit.timings?.segments ?? 0) > 1, `perf ran in several segments (${JSON.stringify(o.exit.timings)})`);
    tt.match(o.exit.stderrTail, /a recorded thread exited; restarting perf/);
    tt.ok(framesNaming(o.stats, 'Churn.') > 0, 'the workload is named');
    tt.equal(o.collapsed.samples, o.stats.samples, 'the segments collapse as one capture');
    tt.ok(jitResolvedShare(o.stats) >= 0.95, `JIT frames resolve (${o.stats.jitFramesResolved}/${o.stats.jitFrames})`);
    tt.comment(`${o.stats.samples} samples, timings ${JSON.stringify(o.exit.timings)}`);
  });

  t.test('the capture script refuses bad arguments before doing anything', async (tt) => {
    const docker = new Docker({ socketPath: env.socketPath });
    for (const args of [['0', '99'], ['10000', '99'], ['5', '5000'], ['5;id', '99'], ['5'], ['-1', '99']]) {
      const c = await docker.createContainer({
        Image: env.captureImage,
        Cmd: args,
        HostConfig: { NetworkMode: 'none' },
        Labels: { 'io.podflame.test': 'capture-args' },
      });
      try {
        await c.start();
        const { StatusCode } = (await c.wait()) as { StatusCode: number };
        const logs = String(await c.logs({ stdout: true, stderr: true }));
        tt.equal(StatusCode, 2, `${JSON.stringify(args)} → exit 2`);
        tt.match(logs, /usage: podflame-capture DURATION_SECONDS/, 'with the usage line');
        tt.notMatch(logs, /recording processes/, 'and nothing recorded');
      } finally {
        await c.remove({ force: true });
      }
    }
  });
}
