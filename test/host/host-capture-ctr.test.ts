// Host mode against containers started by containerd alone (`ctr run`, namespace podflame-test), which the Docker
// engine does not know: a JVM as PID 1, under `sh -c`, and as uid 1000, with the Docker path's flame-graph checks;
// and the exact command of issue #8: an agent started with `--runtime host` answers
// `podflame profile --agent URL --container-id ID` for such a container, finding it by its ID in /proc/*/cgroup.
import t, { type Test } from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, dockerCli, requireDockerEnv } from '../helpers/docker-env.js';
import { nativeDir } from '../helpers/native-build.js';
import { requireContainerdEnv, type CtrContainer } from '../helpers/containerd-env.js';
import { HostRuntime } from '../../agent/runtime/host-runtime.js';
import { captureToEnd, checkHotCapture, uniqueId, type CaptureOutcome } from '../capture/capture-run.js';
import { foldedTotal, runCli, spawnAgent } from '../agent/e2e-agent.js';

t.setTimeout(1_200_000);
const CAPTURE_SCRIPT = join(REPO_ROOT, 'agent/capture/podflame-capture.sh');
const docker = await requireDockerEnv(t, { jdk: true });
const ctr = docker ? await requireContainerdEnv(t, docker) : undefined;

if (ctr) {
  const workRoot = await mkdtemp(join(tmpdir(), 'podflame-ctr-work-'));
  const runtime = new HostRuntime(
    { captureScript: CAPTURE_SCRIPT, nativeDir: await nativeDir(), workRoot, captureGroup: uniqueId('host-ctr') },
    { kill: process.kill.bind(process) },
  );
  const agentInstance = `host-ctr-node.${uniqueId('agent')}`;
  t.teardown(async () => {
    await runtime.close();
    await ctr.cleanup();
    await rm(workRoot, { recursive: true, force: true });
  });

  const capture = (c: CtrContainer, durationSeconds = 3): Promise<CaptureOutcome> =>
    captureToEnd(runtime, { targetContainerId: c.id, durationSeconds, frequencyHz: 99, agentInstance });
  const notInDocker = async (tt: Test, c: CtrContainer): Promise<void> => {
    await tt.rejects(dockerCli(['inspect', c.id]), /No such object/i, 'Docker does not know the container');
  };

  t.test('ctr: JVM as PID 1', async (tt) => {
    const app = await ctr.startJvm();
    await notInDocker(tt, app);
    await ctr.waitForWarmup(app);
    const listed = await runtime.listContainers();
    tt.ok(
      listed.some((c) => c.id === app.id),
      'found by its ID in /proc/*/cgroup',
    );
    tt.equal((await runtime.inspectContainer(`containerd://${app.id}`)).pid, app.pid, 'its init is the task PID');
    const o = await capture(app);
    checkHotCapture(tt, o);
    tt.same(
      o.warnings.map((w) => w.code),
      [],
      'no warnings',
    );
    tt.same([...o.stats.samplesByPid.keys()], [app.pid], 'every sample is from the JVM (its host PID)');
  });

  t.test('ctr: JVM under sh -c', async (tt) => {
    const app = await ctr.startJvm({ launch: 'shell' });
    await notInDocker(tt, app);
    await ctr.waitForWarmup(app);
    const o = await capture(app);
    checkHotCapture(tt, o);
    tt.equal([...o.stats.samplesByPid.keys()].filter((p) => p !== app.pid).length, 1, 'samples from the JVM child');
  });

  t.test('ctr: JVM as uid 1000', async (tt) => {
    const app = await ctr.startJvm({ uid: 1000 });
    await ctr.waitForWarmup(app);
    const o = await capture(app);
    checkHotCapture(tt, o);
    tt.notOk(
      o.warnings.some((w) => w.code === 'ATTACH_FAILED' || w.code === 'PERFMAP_FAILED'),
      `jattach reaches the uid-1000 JVM: ${JSON.stringify(o.warnings)}`,
    );
  });

  t.test('ctr: JVM without -XX:+PreserveFramePointer: NO_PRESERVE_FRAME_POINTER', async (tt) => {
    const app = await ctr.startJvm({ preserveFramePointer: false });
    await ctr.waitForWarmup(app);
    const o = await capture(app, 2);
    tt.equal(o.exit.exitCode, 0, o.exit.stderrTail);
    const w = o.warnings.find((x) => x.code === 'NO_PRESERVE_FRAME_POINTER');
    tt.equal(w?.pid, app.pid, `reported for the JVM: ${JSON.stringify(o.warnings)}`);
  });

  t.test('issue #8: podflame profile --agent URL --container-id ID, agent --runtime host', async (tt) => {
    const app = await ctr.startJvm();
    await notInDocker(tt, app);
    const dir = await mkdtemp(join(tmpdir(), 'podflame-ctr-cli-'));
    tt.teardown(() => rm(dir, { recursive: true, force: true }));
    const node = `ctr-node-${app.id.slice(0, 8)}`;
    const agent = await spawnAgent([
      '--listen',
      '127.0.0.1:0',
      '--runtime',
      'host',
      '--capture-script',
      CAPTURE_SCRIPT,
      '--native-dir',
      await nativeDir(),
      '--node-name',
      node,
    ]);
    tt.teardown(() => agent.stop());
    await ctr.waitForWarmup(app);

    const ready = (await (await fetch(`${agent.url}/readyz`)).json()) as Record<string, unknown>;
    tt.match(ready, { status: 'ready', runtime: 'host', checks: { hostProc: 'ok', captureTools: 'ok' } });
    const targets = (await (await fetch(`${agent.url}/v1/targets`)).json()) as {
      runtime: string;
      items: { containerId: string; jvm: boolean }[];
    };
    tt.equal(targets.runtime, 'host', '/v1/targets names the capture path');
    tt.match(
      targets.items.find((i) => i.containerId === app.id),
      { jvm: true },
      'the ctr container is listed, as a JVM',
    );

    const svg = await runCli(
      ['profile', '--agent', agent.url, '--container-id', `containerd://${app.id}`, '-d', '3', '-o', 'out.svg'],
      dir,
    );
    tt.equal(svg.code, 0, svg.stderr);
    const text = await readFile(join(dir, 'out.svg'), 'utf8');
    tt.match(text, /^<\?xml/);
    tt.match(text, 'Hot.hotFibonacci');
    tt.match(text, `node ${node}, 3 s at 99 Hz`);

    const folded = await runCli(
      ['profile', '--agent', agent.url, '--container-id', app.id.slice(0, 12), '-d', '2', '--format', 'folded'],
      dir,
    );
    tt.equal(folded.code, 0, folded.stderr);
    tt.ok(foldedTotal(folded.stdout) > 0, 'folded stacks with samples');
    tt.match(folded.stdout, 'Hot.hotSieve_[j]');

    const missing = await runCli(['profile', '--agent', agent.url, '--container-id', 'ab'.repeat(32), '-d', '1'], dir);
    tt.equal(missing.code, 3, 'an ID no process runs in: TARGET_NOT_FOUND, exit 3');
    tt.match(missing.stderr, /none of \/proc\/\*\/cgroup names it|no container with ID/);
    const log = agent.logs.find((l) => l.msg === 'capture path chosen');
    tt.match(log, { runtime: 'host', reason: '--runtime host' });
  });
}
