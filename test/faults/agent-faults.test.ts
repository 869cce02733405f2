// Faults on the real engine with the real agent process: the target killed mid-capture (a clear error naming the
// stopped target, never a hang), the agent SIGKILLed mid-capture and restarted (its leftover capture
// container removed), 50 concurrent requests against --max-concurrent 4 (the excess refused with 429/409, every
// accepted one completes, no container leaked), a client that vanishes mid-capture (its container removed) and one
// that sends headers and then stalls (cut by --read-timeout, no container started).
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import t from 'tap';
import { request } from 'undici';
import { BASE_IMAGE, requireDockerEnv, TEST_LABEL } from '../helpers/docker-env.js';
import { JvmContainers, KUBELET_LABELS, newPod } from '../helpers/jvm-containers.js';
import { startAgentProcess } from '../helpers/agent-process.js';
import { captureContainersOf, watchCaptures } from '../security/capture-watch.js';
import { waitFor } from '../helpers/wait-for.js';

t.setTimeout(600_000);

const env = await requireDockerEnv(t, { jdk: true });
if (env) {
  const docker = env.docker;
  const jvms = new JvmContainers(env);
  const extra: string[] = [];
  t.teardown(async () => {
    await jvms.cleanup();
    await Promise.all(
      extra.map((id) =>
        docker
          .getContainer(id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
    );
  });

  /** A light target: a shell loop held to 5% of a CPU, labelled as a pod's container. */
  const lightTarget = async (): Promise<{ id: string; podUid: string }> => {
    const pod = newPod('light');
    const c = await docker.createContainer({
      Image: BASE_IMAGE,
      name: `k8s_app_${pod.name}_${pod.namespace}_${pod.uid}_0`,
      Cmd: ['sh', '-c', 'while :; do :; done'],
      Labels: {
        [TEST_LABEL]: 'faults',
        [KUBELET_LABELS.podUid]: pod.uid,
        [KUBELET_LABELS.podName]: pod.name,
        [KUBELET_LABELS.namespace]: pod.namespace,
        [KUBELET_LABELS.containerName]: 'app',
        [KUBELET_LABELS.dockerType]: 'container',
      },
      HostConfig: { NetworkMode: 'none', NanoCpus: 50_000_000 },
    });
    extra.push(c.id);
    await c.start();
    return { id: c.id, podUid: pod.uid };
  };

  const agentArgs = (node: string, more: string[] = []) => [
    '--listen',
    '127.0.0.1:0',
    '--node-name',
    node,
    '--capture-image',
    env.captureImage,
    '--docker-socket',
    env.socketPath,
    '--rate-limit',
    '0',
    ...more,
  ];
  const post = async (url: string, body: unknown, signal?: AbortSignal) => {
    const res = await request(`${url}/v1/profiles`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      headersTimeout: 180_000,
      bodyTimeout: 180_000,
      ...(signal ? { signal } : {}),
    });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  };

  const node = `faults-${randomUUID().slice(0, 8)}`;
  // Every target here is in one namespace: the namespace's own limit (default 2) raised to the agent's, so that the
  // 50-request burst below still meets --max-concurrent (the namespace limit has its own test in http-api.test.ts).
  const agent = await startAgentProcess(agentArgs(node, ['--max-concurrent', '4', '--namespace-max-concurrent', '4']));
  t.teardown(() => agent.stop());

  t.test('the target killed mid-capture: a clear error naming the stopped target; never a hang', async (t) => {
    const pod = newPod('victim');
    const jvm = await jvms.startJvm({ pod, containerName: 'app' });
    await jvms.waitForWarmup(jvm, 1000);
    // 60 s: the kill must fall inside the recording, which takes its time to see on a loaded machine; the kill ends
    // the capture at once.
    const answer = post(agent.url, { target: { containerId: jvm.id }, durationSeconds: 60, format: 'folded' });
    await waitFor(async () => (await captureContainersOf(docker, node)).length > 0, 30_000, 'the capture runs', 200);
    // Killed once perf records it: the JVM is the container's PID 1, so its PID namespace ends, and the kernel kills
    // the capture's processes in it too (exit 137); the agent finds the target exited and answers CAPTURE_FAILED.
    await jvms.waitForRecording(jvm);
    await docker.getContainer(jvm.id).kill();
    const r = await answer;
    t.comment(`answer: ${r.status} ${r.text.slice(0, 300)}`);
    t.equal(r.status, 500, `status ${r.status}`);
    t.ok(r.status >= 400 && r.status < 600, `status ${r.status}`);
    const body = JSON.parse(r.text) as { error: { code: string; message: string } };
    t.equal(body.error.code, 'CAPTURE_FAILED');
    t.match(body.error.message, /stopped|exited|gone|not running/i, body.error.message);
    t.match(
      body.error.message,
      /stopped during the capture \(now exited\), and the capture with it \(exit code 137\)/,
      'the target stopped, and the capture with it',
    );
    await waitFor(
      async () => (await captureContainersOf(docker, node)).length === 0,
      30_000,
      'no capture container left',
      200,
    );
  });

  t.test('a client that vanishes mid-capture: its capture container is removed', async (t) => {
    const target = await lightTarget();
    const controller = new AbortController();
    const answer = post(agent.url, { target: { containerId: target.id }, durationSeconds: 30 }, controller.signal);
    await waitFor(async () => (await captureContainersOf(docker, node)).length > 0, 30_000, 'the capture runs', 200);
    controller.abort();
    await t.rejects(answer);
    await waitFor(
      async () => (await captureContainersOf(docker, node)).length === 0,
      15_000,
      'its container is removed',
      200,
    );
    t.pass('removed');
  });

  t.test('a client that sends headers and stalls is cut by --read-timeout, starting nothing', async (t) => {
    // An agent of its own: a 2 s read timeout would also cut the 50 concurrent requests below on a loaded machine.
    const stallNode = `stall-${randomUUID().slice(0, 8)}`;
    const stalling = await startAgentProcess(agentArgs(stallNode, ['--read-timeout', '2s']));
    t.teardown(() => stalling.stop());
    const watch = await watchCaptures(docker, stallNode);
    const { port } = new URL(stalling.url);
    const socket = connect(Number(port), '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8').on('data', (d: string) => (received += d));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(
      'POST /v1/profiles HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"target":',
    );
    await closed; // the test's own timeout is the bound: without the agent's read timeout this would wait forever
    t.match(received, /^HTTP\/1\.1 408/, 'answered 408 Request Timeout, then closed');
    t.equal(watch.created(), 0, 'no capture container');
    watch.stop();
    t.equal((await request(`${stalling.url}/healthz`)).statusCode, 200, 'the agent still serves');
  });

  t.test('50 concurrent requests against --max-concurrent 4', async (t) => {
    const targets = await Promise.all(Array.from({ length: 10 }, () => lightTarget()));
    const watch = await watchCaptures(docker, node);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        post(agent.url, {
          target: { containerId: targets[i % targets.length]!.id },
          durationSeconds: 4,
          format: 'folded',
        }),
      ),
    );
    watch.stop();
    const by = new Map<string, number>();
    for (const r of results) {
      const code = r.status === 200 ? 'ok' : (/"code":"([A-Z_]+)"/.exec(r.text)?.[1] ?? `body ${r.text.slice(0, 40)}`);
      by.set(`${r.status} ${code}`, (by.get(`${r.status} ${code}`) ?? 0) + 1);
    }
    t.comment(`outcomes: ${[...by.entries()].map(([k, n]) => `${k}×${n}`).join(', ')}`);
    t.comment(`capture containers created ${watch.created()}, at most ${watch.maxAlive()} at once`);
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status !== 200);
    t.ok(ok.length >= 4, 'the limit was used');
    t.ok(by.get('429 TOO_MANY_CAPTURES')! > 0, 'the excess got 429');
    const unexpected = refused.filter(
      (r) =>
        !(
          ((r.status === 429 && r.text.includes('TOO_MANY_CAPTURES')) ||
            (r.status === 409 && r.text.includes('CAPTURE_IN_PROGRESS'))) &&
          Number(r.headers['retry-after']) >= 1
        ),
    );
    t.same(
      unexpected.map((r) => `${r.status} ${r.text.slice(0, 160)}`),
      [],
      'every refusal is 429 TOO_MANY_CAPTURES or 409 CAPTURE_IN_PROGRESS, with Retry-After',
    );
    for (const r of ok) t.match(r.text, /^sh\S* \d+$/m, 'every accepted capture completed with a graph');
    t.equal(watch.created(), ok.length, 'one container per accepted capture, none for refusals');
    t.ok(watch.maxAlive() <= 4, `never more than 4 at once (${watch.maxAlive()})`);
    await waitFor(
      async () => (await captureContainersOf(docker, node)).length === 0,
      30_000,
      'no container leaked',
      200,
    );
    const metrics = await (await request(`${agent.url}/metrics`)).body.text();
    t.match(metrics, /^podflame_captures_in_flight 0$/m);
  });

  t.test('the agent SIGKILLed mid-capture, then restarted: the leftover capture container is removed', async (t) => {
    const target = await lightTarget();
    const killedNode = `sigkill-${randomUUID().slice(0, 8)}`;
    const first = await startAgentProcess(agentArgs(killedNode));
    const answer = post(first.url, { target: { containerId: target.id }, durationSeconds: 60 }).catch((e: Error) => e);
    await waitFor(
      async () => (await captureContainersOf(docker, killedNode)).length > 0,
      30_000,
      'the capture runs',
      200,
    );
    await first.stop('SIGKILL');
    t.type(await answer, Error, "the caller's connection broke");
    const left = await captureContainersOf(docker, killedNode);
    t.equal(left.length, 1, 'a leftover capture container, still running perf in the target');
    const second = await startAgentProcess(agentArgs(killedNode));
    t.teardown(() => second.stop());
    t.same(await captureContainersOf(docker, killedNode), [], 'removed by the new agent before it listened');
    t.ok(second.logs.some((l) => l.msg === 'removed capture containers left by an earlier agent' && l.removed === 1));
  });
}
