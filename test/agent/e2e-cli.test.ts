// The exact command forms of issue #3, spawned as a user types them (built entry points in dist/): an agent on
// loopback without authentication, and `podflame profile --agent URL ...` writing the SVG or folded text, with the
// agent's errors turned into the documented exit statuses.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { requireDockerEnv } from '../helpers/docker-env.js';
import { JvmContainers, newPod } from '../helpers/jvm-containers.js';
import { CAPTURE_LABELS } from '../../agent/runtime/container-runtime.js';
import { waitFor } from '../helpers/wait-for.js';
import { foldedTotal, runCli, spawnAgent } from './e2e-agent.js';

t.setTimeout(600_000);
const env = await requireDockerEnv(t, { jdk: true });

if (env) {
  const dir = await mkdtemp(join(tmpdir(), 'podflame-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const jvms = new JvmContainers(env);
  t.teardown(() => jvms.cleanup());
  const pod = newPod('cli');
  await jvms.startSandbox(pod);
  const app = await jvms.startJvm({ pod, containerName: 'app' });
  const node = `cli-node-${pod.uid.slice(0, 8)}`;
  const agent = await spawnAgent(['--listen', '127.0.0.1:0', '--capture-image', env.captureImage, '--node-name', node]);
  t.teardown(() => agent.stop());
  await jvms.waitForWarmup(app);

  t.test('profile --agent URL --container-id ID -d N -o out.svg writes the SVG', async (t) => {
    const r = await runCli(
      ['profile', '--agent', agent.url, '--container-id', app.id, '-d', '3', '-o', 'out.svg'],
      dir,
    );
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, '', 'nothing on stdout with -o');
    t.notMatch(r.stderr, /\r/, 'no progress when stderr is not a terminal');
    const svg = await readFile(join(dir, 'out.svg'), 'utf8');
    t.match(svg, /^<\?xml/);
    t.match(svg, 'Hot.hotFibonacci');
    t.match(svg, `${pod.namespace}/${pod.name}/app`);
    t.match(svg, `node ${node}, 3 s at 99 Hz`);
  });

  t.test('profile --agent URL --pod-uid UID -c NAME --format folded: folded stacks on stdout', async (t) => {
    const r = await runCli(
      [
        'profile',
        '--agent',
        agent.url,
        '--pod-uid',
        pod.uid,
        '-c',
        'app',
        '-d',
        '2s',
        '-F',
        '49',
        '--format',
        'folded',
      ],
      dir,
    );
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /^hot-\w+;.* \d+$/m);
    t.ok(foldedTotal(r.stdout) > 0);
    t.match(r.stdout, 'Hot.hotSieve_[j]');
  });

  t.test("the agent's warnings go to stderr and into the SVG's subtitle", async (t) => {
    const noFp = await jvms.startJvm({ pod: newPod('nofp'), containerName: 'app', preserveFramePointer: false });
    await jvms.waitForWarmup(noFp);
    const r = await runCli(
      ['profile', '--agent', agent.url, '--container-id', noFp.id, '-d', '2', '-o', 'nofp.svg'],
      dir,
    );
    t.equal(r.code, 0, r.stderr);
    t.match(
      r.stderr,
      /^podflame: warning: JVM \d+ runs without -XX:\+PreserveFramePointer.* \[NO_PRESERVE_FRAME_POINTER\]$/m,
    );
    t.match(await readFile(join(dir, 'nofp.svg'), 'utf8'), 'PreserveFramePointer off: stacks truncated');
  });

  t.test("the agent's errors become the documented exit statuses, with the agent's message", async (t) => {
    const wrong = await runCli(['profile', '--agent', agent.url, '--pod-uid', pod.uid, '-c', 'web', '-d', '1'], dir);
    t.equal(wrong.code, 3, 'TARGET_NOT_FOUND exits 3');
    t.match(wrong.stderr, `has no container 'web' on node ${node}; its containers: app [TARGET_NOT_FOUND]`);
    const bad = await runCli(['profile', '--agent', agent.url, '--container-id', app.id, '-d', '11m'], dir);
    t.equal(bad.code, 2, 'a usage error exits 2');
    const request = agent.logs.filter((l) => l.msg === 'request' && l.path === '/v1/profiles');
    t.equal(request.length, 4, 'one log line per request; the usage error never reached the agent');
    t.match(request[3], { status: 404, outcome: 'TARGET_NOT_FOUND', durationMs: Number });
  });
  t.test(
    'a busy target: the CLI waits and asks again (--busy-wait), or fails at once with --busy-wait 0',
    async (t) => {
      // The agent runs one capture per container: the second of two concurrent captures is refused with 409
      // CAPTURE_IN_PROGRESS and retryAfterSeconds, then succeeds once the first is done.
      const args = ['profile', '--agent', agent.url, '--container-id', app.id, '-d', '3', '--format', 'folded'];
      const [a, b] = await Promise.all([runCli(args, dir), runCli(args, dir)]);
      t.equal(a.code, 0, a.stderr);
      t.equal(b.code, 0, b.stderr);
      t.ok(foldedTotal(a.stdout) > 0 && foldedTotal(b.stdout) > 0, 'both got stacks');
      const waited = [a, b].filter((r) =>
        /the agent is busy \(CAPTURE_IN_PROGRESS: .*\); asking again in \d+ s$/m.test(r.stderr),
      );
      t.equal(waited.length, 1, 'exactly one of them waited, and said so on stderr');

      // The second asks once the first holds the container (its capture container runs), not after a guessed
      // second; the first captures 10 s, so the second's CLI has that long to start and ask on a loaded machine.
      const firstRun = runCli(
        ['profile', '--agent', agent.url, '--container-id', app.id, '-d', '10', '--format', 'folded'],
        dir,
      );
      await waitFor(
        async () =>
          (
            await env.docker.listContainers({
              filters: { label: [`${CAPTURE_LABELS.target}=${app.id}`], status: ['running'] },
            })
          ).length > 0,
        120_000,
        'the first capture to run',
        100,
      );
      const [first, refused] = await Promise.all([firstRun, runCli([...args, '--busy-wait', '0'], dir)]);
      t.equal(first.code, 0, first.stderr);
      t.equal(refused.code, 4, 'CAPTURE_IN_PROGRESS exits 4');
      t.match(refused.stderr, /\[CAPTURE_IN_PROGRESS\]/);
      t.notMatch(refused.stderr, /asking again/);
      const bad = await runCli([...args, '--busy-wait', 'soon'], dir);
      t.equal(bad.code, 2, 'a malformed --busy-wait is a usage error');
      t.match(bad.stderr, "--busy-wait must be a duration such as 30, 30s, 2m or 1h, got 'soon'");
    },
  );
}
