// The Docker engine stopped during a capture, on a private dockerd of this test's own (private-dockerd.ts) so that
// stopping it disturbs no other test file: the capture's caller gets a clear 503 DOCKER_UNAVAILABLE, the agent stays
// up, /readyz turns false (503) and every capture request is refused with 503 while the engine is away; once dockerd
// is back, /readyz turns true by itself, no capture container is left over, and captures work again.
import { randomUUID } from 'node:crypto';
import Docker from 'dockerode';
import t from 'tap';
import { request } from 'undici';
import { BASE_IMAGE, requireDockerEnv } from '../helpers/docker-env.js';
import { KUBELET_LABELS } from '../helpers/jvm-containers.js';
import { startAgentProcess } from '../helpers/agent-process.js';
import { captureContainersOf } from '../security/capture-watch.js';
import { PrivateDockerd } from './private-dockerd.js';
import { waitFor } from '../helpers/wait-for.js';

t.setTimeout(600_000);

const env = await requireDockerEnv(t);
if (env) {
  const engine = new PrivateDockerd();
  t.teardown(() => engine.stop());
  await engine.start();
  const loaded = await engine.loadImages([BASE_IMAGE, env.captureImage]);
  t.comment(`private dockerd at ${engine.socket}; images copied in: ${loaded.join(', ') || 'none (cached)'}`);
  const docker = new Docker({ socketPath: engine.socket });
  const node = `dockerd-fault-${randomUUID().slice(0, 8)}`;
  const podUid = randomUUID();

  // The target: a busy shell labelled as kubelet labels a pod's container.
  const startTarget = async (): Promise<string> => {
    const c = await docker.createContainer({
      Image: BASE_IMAGE,
      name: `k8s_app_busy-${podUid.slice(0, 8)}_podflame-test_${podUid}_0`,
      Cmd: ['sh', '-c', 'while :; do :; done'],
      Labels: {
        [KUBELET_LABELS.podUid]: podUid,
        [KUBELET_LABELS.podName]: `busy-${podUid.slice(0, 8)}`,
        [KUBELET_LABELS.namespace]: 'podflame-test',
        [KUBELET_LABELS.containerName]: 'app',
        [KUBELET_LABELS.dockerType]: 'container',
      },
      HostConfig: { NetworkMode: 'none', NanoCpus: 300_000_000 },
    });
    await c.start();
    return c.id;
  };
  await startTarget();

  const agent = await startAgentProcess([
    '--listen',
    '127.0.0.1:0',
    '--node-name',
    node,
    '--docker-socket',
    engine.socket,
    '--capture-image',
    env.captureImage,
    '--max-concurrent',
    '2',
  ]);
  t.teardown(() => agent.stop());
  const get = async (path: string) => {
    const res = await request(`${agent.url}${path}`);
    return { status: res.statusCode, text: await res.body.text() };
  };
  const profile = async (durationSeconds: number) => {
    const res = await request(`${agent.url}/v1/profiles`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ target: { podUid, container: 'app' }, durationSeconds, format: 'folded' }),
      headersTimeout: 120_000,
      bodyTimeout: 120_000,
    });
    return { status: res.statusCode, text: await res.body.text() };
  };

  t.test('dockerd stopped mid-capture', async (t) => {
    t.equal((await get('/readyz')).status, 200, 'ready with the engine up');
    const inFlight = profile(20);
    await waitFor(
      async () => (await captureContainersOf(docker, node)).length > 0,
      30_000,
      'the capture container runs',
      200,
    );
    await engine.stop('SIGTERM');

    const answer = await inFlight;
    t.equal(answer.status, 503, answer.text);
    t.match(JSON.parse(answer.text), { error: { code: 'DOCKER_UNAVAILABLE', message: /does not answer/ } });

    t.equal((await get('/healthz')).status, 200, 'the agent stays up');
    t.equal(agent.child.exitCode, null);
    const ready = await get('/readyz');
    t.equal(ready.status, 503, '/readyz is false');
    t.match(JSON.parse(ready.text), { error: { code: 'AGENT_NOT_READY', details: { checks: { docker: /./ } } } });

    const refused = await profile(2);
    t.equal(refused.status, 503, 'a new capture is refused while the engine is away');
    t.match(refused.text, /DOCKER_UNAVAILABLE/);
  });

  t.test('dockerd back: ready again, nothing left over, captures work', async (t) => {
    await engine.start();
    await waitFor(async () => (await get('/readyz')).status === 200, 60_000, '/readyz is true again', 200);
    await waitFor(
      async () => (await captureContainersOf(docker, node)).length === 0,
      60_000,
      'no capture container left',
      200,
    );
    t.same(await captureContainersOf(docker, node), []);
    // dockerd stopped the target with itself (no live-restore); kubelet would restart it: so does the test.
    const target = (
      await docker.listContainers({ all: true, filters: { label: [`${KUBELET_LABELS.podUid}=${podUid}`] } })
    )[0];
    if (target && target.State !== 'running') await docker.getContainer(target.Id).start();
    const again = await profile(2);
    t.equal(again.status, 200, again.text.slice(0, 300));
    t.match(again.text, /^sh\S* \d+$/m, 'the busy shell was sampled');
    t.same(await captureContainersOf(docker, node), [], 'and its container removed');
  });

  t.teardown(async () => {
    if (!(await engine.answers())) return;
    const mine = await docker.listContainers({ all: true, filters: { label: [`${KUBELET_LABELS.podUid}=${podUid}`] } });
    await Promise.all(
      mine.map((c) =>
        docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
    );
  });
}
