// End to end on the real engine: the life cycle of captures — a target that exits mid-capture, a client that goes
// away, bad requests that must start nothing, SIGTERM during a capture, and an agent restart that removes the
// capture containers an earlier agent left behind (its own node's only).
import { randomUUID } from 'node:crypto';
import t, { type Test } from 'tap';
import { request } from 'undici';
import { CAPTURE_LABELS } from '../../agent/runtime/container-runtime.js';
import { HEADERS } from '../../shared/api.js';
import { requireDockerEnv, TEST_LABEL } from '../helpers/docker-env.js';
import { JvmContainers, newPod } from '../helpers/jvm-containers.js';
import { call, statusNote } from './http.js';
import { captureContainers, spawnAgent, startRealAgent } from './e2e-agent.js';
import { waitFor } from '../helpers/wait-for.js';

t.setTimeout(600_000);
const env = await requireDockerEnv(t, { jdk: true });

function containersOf(t: Test): JvmContainers {
  const jvms = new JvmContainers(env!);
  t.teardown(() => jvms.cleanup());
  return jvms;
}

if (env) {
  t.test('bad requests get 400/413 with a clear message and start no container', async (t) => {
    const jvms = containersOf(t);
    const { url, agent } = await startRealAgent(t, env);
    const pod = newPod('bad');
    const app = await jvms.startJvm({ pod, containerName: 'app' });
    const mine = { [CAPTURE_LABELS.agentInstance]: agent.instanceId };
    t.same(await captureContainers(env, mine), []);
    const cases: [string, { body?: unknown; raw?: string }, number, string, RegExp][] = [
      [
        'unknown field',
        { body: { target: { containerId: app.id }, image: 'evil' } },
        400,
        'INVALID_REQUEST',
        /'image'/,
      ],
      [
        'duration 0',
        { body: { target: { containerId: app.id }, durationSeconds: 0 } },
        400,
        'INVALID_REQUEST',
        /greater than or equal to 1, got 0/,
      ],
      [
        'duration 10000',
        { body: { target: { containerId: app.id }, durationSeconds: 10000 } },
        400,
        'INVALID_REQUEST',
        /less than or equal to 600, got 10000/,
      ],
      [
        'frequency 5000',
        { body: { target: { containerId: app.id }, frequencyHz: 5000 } },
        400,
        'INVALID_REQUEST',
        /frequencyHz: .*999, got 5000/,
      ],
      [
        'a container name with shell metacharacters',
        { body: { target: { podUid: pod.uid, container: 'a;rm -rf /' } } },
        400,
        'INVALID_REQUEST',
        /target\.container: a Kubernetes container name/,
      ],
      ['malformed JSON', { raw: '{"target": {"containerId": ' }, 400, 'INVALID_REQUEST', /not valid JSON/],
      [
        'a 10 MB body',
        { raw: JSON.stringify({ title: 'x'.repeat(10 * 1024 * 1024) }) },
        413,
        'BODY_TOO_LARGE',
        /bytes/,
      ],
    ];
    for (const [name, req, status, code, message] of cases) {
      const a = await call(url, 'POST', '/v1/profiles', req.body, req.raw !== undefined ? { raw: req.raw } : {});
      t.equal(a.status, status, `${name}: ${statusNote(a, status)}`);
      t.equal(a.json?.error?.code, code, `${name}: code`);
      t.match(a.json?.error?.message, message, `${name}: message`);
    }
    t.same(await captureContainers(env, mine), [], 'no capture container was ever created');
    t.notMatch((await call(url, 'GET', '/metrics')).text, 'podflame_captures_total{', 'and no capture ran');
  });

  t.test("a missing capture image: not ready, and a capture fails with Docker's own words", async (t) => {
    const jvms = containersOf(t);
    const missing = 'podflame-perf:missing-in-this-test';
    const { url, agent } = await startRealAgent(t, env, { captureImage: missing });
    const app = await jvms.startJvm({ pod: newPod('noimage'), containerName: 'app' });
    const ready = await call(url, 'GET', '/readyz');
    t.equal(ready.status, 503, statusNote(ready, 503));
    t.match(ready.json.error.message, `the capture image ${missing} is not present: build it with docker build`);
    const a = await call(url, 'POST', '/v1/profiles', { target: { containerId: app.id }, durationSeconds: 1 });
    t.equal(a.status, 503, statusNote(a, 503));
    t.equal(a.json.error.code, 'CAPTURE_IMAGE_MISSING');
    t.match(a.json.error.message, /No such image/i, "Docker's message is kept");
    t.same(await captureContainers(env, { [CAPTURE_LABELS.agentInstance]: agent.instanceId }), []);
    t.equal(agent.captures.inFlight, 0);
  });

  t.test(
    'a JVM that exits mid-capture: a partial graph with a warning; as PID 1, a clear error — never a hang',
    async (t) => {
      const jvms = containersOf(t);
      const { url, agent } = await startRealAgent(t, env);
      // Each JVM exits when the test touches this file in its container, once the capture records it (perf's events
      // enabled, CPU time spent since): never before perf starts, however busy the machine, and inside the recording
      // as long as seeing that takes less than its duration (60 s and 120 s here; seconds at a load of 4 on 2 cores).
      const exitFile = '/tmp/podflame-test-exit';
      // Under a shell, the container outlives its JVM: what was recorded before the exit is kept, with a warning.
      const shell = await jvms.startJvm({
        launch: 'shell',
        pod: newPod('exits'),
        containerName: 'app',
        args: [`--exit-file=${exitFile}`],
      });
      await jvms.waitForOutput(shell);
      // 60 s, which this capture runs to its end (the shell stays): the exit must fall inside the recording, which
      // takes its time to see on a loaded machine. perf records the shell and the JVM; once the JVM is gone it goes on
      // with the shell, and the capture ends normally (exit 0) with the JVM's samples and TARGET_EXITED for it.
      const pending = call(
        url,
        'POST',
        '/v1/profiles',
        { target: { containerId: shell.id }, durationSeconds: 60 },
        { timeoutMs: 400_000 },
      );
      await jvms.waitForRecording(shell);
      await jvms.exec(shell, ['touch', exitFile]);
      await jvms.waitForOutput(shell, 'java exited with status 0');
      const partial = await pending;
      t.equal(partial.status, 200, statusNote(partial));
      const warnings = JSON.parse(decodeURIComponent(partial.headers[HEADERS.warnings] ?? '[]')) as { code: string }[];
      t.ok(
        warnings.some((w) => w.code === 'TARGET_EXITED'),
        `TARGET_EXITED among the warnings: ${JSON.stringify(warnings)}`,
      );
      t.match(partial.text, /process exited during the capture/, 'and the SVG subtitle says so');
      t.ok(Number(partial.headers[HEADERS.samples]) > 0, 'with the samples recorded before the exit');

      // As PID 1, the JVM's exit ends the container and its PID namespace: the kernel kills the capture's processes
      // with it (exit 137), and the agent, finding the target exited, says so as CAPTURE_FAILED.
      const pid1 = await jvms.startJvm({
        pod: newPod('exits1'),
        containerName: 'app',
        args: [`--exit-file=${exitFile}`],
      });
      await jvms.waitForOutput(pid1);
      const ending = call(
        url,
        'POST',
        '/v1/profiles',
        { target: { containerId: pid1.id }, durationSeconds: 120 },
        { timeoutMs: 400_000 },
      );
      await jvms.waitForRecording(pid1);
      // Not `exec`: on a busy machine the JVM can exit before `touch` has, and then touch is killed with the PID
      // namespace (status 137) though the file is there.
      await jvms.execResult(pid1, ['touch', exitFile]);
      const gone = await ending;
      t.equal(gone.status, 500, statusNote(gone, 500));
      t.match(gone.json.error, { code: 'CAPTURE_FAILED' }, statusNote(gone, 500));
      t.match(gone.json.error.message, /stopped during the capture|not running|exited|no samples/);
      t.match(
        gone.json.error.message,
        /stopped during the capture \(now exited\), and the capture with it \(exit code 137\)/,
        'the target exited, and the capture with it',
      );
      await waitFor(
        async () => (await captureContainers(env, { [CAPTURE_LABELS.agentInstance]: agent.instanceId })).length === 0,
        10_000,
        'the capture containers to be removed',
      );
      t.pass('no capture container left');
    },
  );

  t.test('a client that disconnects leaves no container', async (t) => {
    const jvms = containersOf(t);
    const { url, agent, log } = await startRealAgent(t, env);
    const app = await jvms.startJvm({ pod: newPod('gone'), containerName: 'app' });
    await jvms.waitForOutput(app);
    const controller = new AbortController();
    const pending = request(`${url}/v1/profiles`, {
      method: 'POST',
      body: JSON.stringify({ target: { containerId: app.id }, durationSeconds: 30 }),
      headers: { 'content-type': 'application/json' },
      signal: controller.signal,
    }).catch((err: unknown) => err);
    const forTarget = { [CAPTURE_LABELS.target]: app.id };
    await waitFor(async () => (await captureContainers(env, forTarget)).length === 1, 30_000, 'the capture container');
    controller.abort();
    await pending;
    await waitFor(async () => (await captureContainers(env, forTarget)).length === 0, 5_000, 'its removal');
    t.pass('the capture container is gone');
    await waitFor(() => agent.captures.inFlight === 0, 5_000, 'the slot to be free');
    await waitFor(() => log.lines().some((l) => l.outcome === 'client_gone'), 5_000, 'the log line');
    t.match(
      log.lines().find((l) => l.outcome === 'client_gone'),
      { method: 'POST', path: '/v1/profiles' },
    );
    t.match((await call(url, 'GET', '/metrics')).text, 'podflame_captures_total{outcome="capture_aborted"} 1');
  });

  t.test('SIGTERM during a capture: the caller gets an answer, the container goes, the agent exits 0', async (t) => {
    const jvms = containersOf(t);
    const app = await jvms.startJvm({ pod: newPod('term'), containerName: 'app' });
    await jvms.waitForOutput(app);
    const agent = await spawnAgent([
      '--listen',
      '127.0.0.1:0',
      '--capture-image',
      env.captureImage,
      '--node-name',
      `term-${randomUUID().slice(0, 8)}`,
    ]);
    t.teardown(() => agent.stop('SIGKILL'));
    const pending = call(agent.url, 'POST', '/v1/profiles', { target: { containerId: app.id }, durationSeconds: 60 });
    const forTarget = { [CAPTURE_LABELS.target]: app.id };
    await waitFor(async () => (await captureContainers(env, forTarget)).length === 1, 30_000, 'the capture container');
    agent.child.kill('SIGTERM');
    const answer = await pending;
    t.equal(answer.status, 503, statusNote(answer, 503));
    t.equal(answer.json.error.code, 'AGENT_NOT_READY');
    t.match(answer.json.error.message, /shutting down/);
    t.same(await agent.exited, { code: 0, signal: null }, 'the agent exits 0');
    t.same(await captureContainers(env, forTarget), [], 'its capture container is gone');
    t.ok(agent.logs.some((l) => l.msg === 'podflame-agent stopped'));
  });

  t.test('an agent restart removes the capture containers left by an earlier agent of its node', async (t) => {
    const node = `restart-${randomUUID().slice(0, 8)}`;
    const otherNode = `${node}-other`;
    const leftover = async (nodeName: string): Promise<string> => {
      const c = await env.docker.createContainer({
        Image: env.jdkImage!,
        Cmd: ['sleep', 'infinity'],
        Labels: {
          [TEST_LABEL]: node,
          [CAPTURE_LABELS.owner]: 'true',
          [CAPTURE_LABELS.target]: '0123456789ab',
          [CAPTURE_LABELS.agentInstance]: `${nodeName}.${randomUUID()}`,
        },
        HostConfig: { NetworkMode: 'none' },
      });
      await c.start();
      return c.id;
    };
    const mine = await leftover(node);
    const anotherNodes = await leftover(otherNode);
    t.teardown(() => env.docker.getContainer(anotherNodes).remove({ force: true }));
    t.teardown(() =>
      env.docker
        .getContainer(mine)
        .remove({ force: true })
        .catch(() => undefined),
    );

    const agent = await spawnAgent(['--listen', '127.0.0.1:0', '--capture-image', env.captureImage], {
      NODE_NAME: node,
    });
    t.teardown(() => agent.stop());
    const started = agent.logs.find((l) => l.msg === 'removed capture containers left by an earlier agent');
    t.match(started, { removed: 1 });
    const remaining = await captureContainers(env, { [TEST_LABEL]: node });
    t.same(remaining, [anotherNodes], "the leftover of this node is gone; another node's is not touched");
    const health = await call(agent.url, 'GET', '/healthz');
    t.equal(health.headers[HEADERS.node], node, 'NODE_NAME names the node');
    t.equal((await call(agent.url, 'GET', '/readyz')).status, 200, 'ready: engine up, capture image present');
  });
}
