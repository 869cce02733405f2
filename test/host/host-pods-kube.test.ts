// Host mode with the Kubernetes API (issue #8 follow-up): a JVM started by containerd alone (`ctr run`, which Docker
// does not know and whose cgroup path names no pod UID) is a pod's container only because the stand-in API server's
// pod reports `containerd://<its ID>` in status.containerStatuses, as kubelet does. The built agent
// (`--runtime host --auth kubernetes`, its own kubeconfig) watches the pods of its node and then answers the client's
// Kubernetes mode (`podflame profile -n NS POD --via direct`, pod UID + container name) with the workload's methods
// under the title NS/POD/CONTAINER; lists the container with its pod's names; refuses a caller whom a
// SubjectAccessReview refuses (by pod and by container ID); and a schedule selecting the pod by a label it gets later
// (a watch MODIFIED event) stores a profile with the pod's names.
import t from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, requireDockerEnv } from '../helpers/docker-env.js';
import { nativeDir } from '../helpers/native-build.js';
import { requireContainerdEnv } from '../helpers/containerd-env.js';
import { FakeKubeApi, makeAgentPod, makePod } from '../helpers/fake-kube-api.js';
import { runCli, spawnAgent } from '../agent/e2e-agent.js';
import { ERROR_CODES } from '../../shared/errors.js';
import type { StoredProfile } from '../../shared/history.js';
import { waitFor } from '../helpers/wait-for.js';

t.setTimeout(600_000);
const CAPTURE_SCRIPT = join(REPO_ROOT, 'agent/capture/podflame-capture.sh');
// The agent's "pod IP": a loopback address no other test file listens on.
const AGENT_IP = '127.0.0.18';
const docker = await requireDockerEnv(t, { jdk: true });
const ctr = docker ? await requireContainerdEnv(t, docker) : undefined;

if (ctr) {
  const AGENT_TOKEN = `agent-sa-${randomBytes(8).toString('hex')}`;
  const INTRUDER_TOKEN = `intruder-${randomBytes(8).toString('hex')}`;
  const api = new FakeKubeApi({
    tokens: {
      'test-token': { username: 'tester', groups: ['system:authenticated'] },
      [INTRUDER_TOKEN]: { username: 'intruder', groups: ['system:authenticated'] },
      [AGENT_TOKEN]: { username: 'system:serviceaccount:podflame:podflame-agent', groups: ['system:serviceaccounts'] },
    },
    // The intruder may read pods (so the client finds the pod and the agent) but not exec into them.
    authorize: (a) =>
      a.user.username === 'intruder' && a.subresource === 'exec'
        ? { allowed: false, reason: 'no RBAC policy matched' }
        : { allowed: true },
  });
  await api.start();
  const dir = await mkdtemp(join(tmpdir(), 'podflame-host-pods-'));
  t.teardown(async () => {
    await api.close();
    await ctr.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  const suffix = randomBytes(3).toString('hex');
  const node = `host-pods-${suffix}`;
  const namespace = `hp-${suffix}`;
  const podName = `shop-${suffix}`;
  const uid = randomUUID();
  const app = await ctr.startJvm();
  const workloadPod = (labels: Record<string, string>) =>
    makePod({
      namespace,
      name: podName,
      uid,
      nodeName: node,
      labels,
      // As kubectl does, the client profiles the default container unless -c says otherwise.
      annotations: { 'kubectl.kubernetes.io/default-container': 'app' },
      // The sidecar has no container ID yet (being created): never a target.
      containers: [{ name: 'app', containerID: `containerd://${app.id}` }, { name: 'sidecar' }],
    });

  const schedules = join(dir, 'schedules.yaml');
  await writeFile(
    schedules,
    [
      'schedules:',
      '  - name: host-pods-every-3s',
      '    cron: "*/3 * * * * *"',
      `    namespace: ${namespace}`,
      '    labelSelector: profiled=yes',
      '    durationSeconds: 2',
      '    frequencyHz: 99',
      '',
    ].join('\n'),
  );
  const agent = await spawnAgent([
    '--listen',
    `${AGENT_IP}:0`,
    '--runtime',
    'host',
    '--capture-script',
    CAPTURE_SCRIPT,
    '--native-dir',
    await nativeDir(),
    '--node-name',
    node,
    '--auth',
    'kubernetes',
    '--kubeconfig',
    api.writeKubeconfig(join(dir, 'agent.kubeconfig'), { token: AGENT_TOKEN }),
    '--data-dir',
    join(dir, 'data'),
    '--schedules',
    schedules,
    '--schedule-jitter',
    '0',
  ]);
  t.teardown(() => agent.stop());
  const port = Number(new URL(agent.url).port);
  api.putNode(node);
  api.putPod(makeAgentPod({ nodeName: node, podIP: AGENT_IP, port }));
  // Added after the agent watches: it must learn the pod from the watch, not only from its first list.
  await waitFor(
    () => api.requests.some((r) => r.url.includes('watch=true') && r.url.includes(`spec.nodeName%3D${node}`)),
    30_000,
    'the agent to watch the pods of its node',
    200,
  );
  api.putPod(workloadPod({ app: 'shop' }));
  await ctr.waitForWarmup(app);

  const kubeconfig = api.writeKubeconfig(join(dir, 'tester.kubeconfig'), { namespace });
  const intruder = api.writeKubeconfig(join(dir, 'intruder.kubeconfig'), { namespace, token: INTRUDER_TOKEN });
  const asTester = { authorization: 'Bearer test-token' };
  // This agent serves plain HTTP (the test also calls it with fetch): the token goes only because the CLI is told to.
  const PLAIN_HTTP = ['--insecure-send-token-over-http'];

  t.test('the start-up line and /readyz say where container names come from', async (tt) => {
    tt.match(
      agent.logs.find((l) => l.msg === 'capture path chosen'),
      { runtime: 'host', podNames: 'kubernetes-api' },
    );
    const ready = await waitFor(
      async () => {
        const body = (await (await fetch(`${agent.url}/readyz`)).json()) as { checks?: { podNames?: string } };
        return body.checks?.podNames === 'ok' ? body : undefined;
      },
      30_000,
      'the first pod list',
      200,
    );
    tt.match(ready, { status: 'ready', runtime: 'host', checks: { hostProc: 'ok', captureTools: 'ok' } });
  });

  t.test('GET /v1/targets: the ctr container with its pod namespace, name and container name', async (tt) => {
    const item = await waitFor(
      async () => {
        const res = await fetch(`${agent.url}/v1/targets`, { headers: asTester });
        const body = (await res.json()) as { runtime: string; items: Record<string, unknown>[] };
        tt.equal(body.runtime, 'host');
        return body.items.find((i) => i.containerId === app.id && i.namespace !== undefined);
      },
      30_000,
      'the pod in the agent index',
      200,
    );
    tt.match(item, { namespace, podName, podUid: uid, containerName: 'app', jvm: true });
  });

  t.test('podflame profile -n NS POD --via direct: pod UID + container name on a host-mode node', async (tt) => {
    const r = await runCli(
      [
        'profile',
        '-n',
        namespace,
        podName,
        '-d',
        '3',
        '-o',
        'out.svg',
        '--kubeconfig',
        kubeconfig,
        '--via',
        'direct',
        ...PLAIN_HTTP,
      ],
      dir,
    );
    tt.equal(r.code, 0, r.stderr);
    const svg = await readFile(join(dir, 'out.svg'), 'utf8');
    tt.match(svg, /^<\?xml/);
    tt.match(svg, 'Hot.hotFibonacci');
    tt.match(svg, `${namespace}/${podName}/app`, 'titled NS/POD/CONTAINER');
    tt.match(svg, `node ${node}`);
    const reviews = api.requests.filter((q) => q.url === '/apis/authorization.k8s.io/v1/subjectaccessreviews');
    tt.ok(reviews.length > 0, 'the agent asked the API server whether the caller may profile the pod');
  });

  t.test('a container without a container ID in the pod status is not found, and says why', async (tt) => {
    const r = await runCli(
      [
        'profile',
        '-n',
        namespace,
        podName,
        '-c',
        'sidecar',
        '-d',
        '1',
        '--kubeconfig',
        kubeconfig,
        '--via',
        'direct',
        ...PLAIN_HTTP,
      ],
      dir,
    );
    tt.equal(r.code, ERROR_CODES.TARGET_NOT_FOUND.exitCode, r.stderr);
    tt.match(r.stderr, /kubelet has not reported a container ID for 'sidecar' yet/);
  });

  t.test('a caller the SubjectAccessReview refuses learns nothing, by pod and by container ID', async (tt) => {
    const r = await runCli(
      ['profile', '-n', namespace, podName, '-d', '1', '--kubeconfig', intruder, '--via', 'direct', ...PLAIN_HTTP],
      dir,
    );
    tt.equal(r.code, ERROR_CODES.TARGET_NOT_FOUND.exitCode, r.stderr);
    tt.match(r.stderr, /or you may not profile it/);
    tt.notMatch(r.stderr, /intruder cannot create/);
    const byId = await fetch(`${agent.url}/v1/profiles?format=folded`, {
      method: 'POST',
      headers: { authorization: `Bearer ${INTRUDER_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ target: { containerId: app.id }, durationSeconds: 1 }),
    });
    tt.equal(byId.status, 404);
    const body = (await byId.json()) as { error: { code: string; message: string; details?: unknown } };
    tt.match(body.error, { code: 'TARGET_NOT_FOUND', message: /or you may not profile it/ });
    tt.equal(body.error.details, undefined);
    tt.notMatch(JSON.stringify(body), new RegExp(`${namespace}|${podName}`), 'neither its namespace nor its pod');
  });

  t.test('a schedule selects the pod by a label it gets later, and stores profiles with its names', async (tt) => {
    api.putPod(workloadPod({ app: 'shop', profiled: 'yes' }));
    const items = await waitFor(
      async () => {
        const res = await fetch(`${agent.url}/v1/profiles?namespace=${namespace}&pod=${podName}`, {
          headers: asTester,
        });
        const body = (await res.json()) as { items?: StoredProfile[] };
        return (body.items?.length ?? 0) >= 1 ? body.items : undefined;
      },
      120_000,
      'a stored profile',
      200,
    );
    tt.match(items[0], {
      namespace,
      pod: podName,
      podUid: uid,
      container: 'app',
      containerId: app.id,
      node,
      schedule: 'host-pods-every-3s',
      labels: { app: 'shop', profiled: 'yes' },
    });
    tt.ok((items[0]?.samples ?? 0) > 0, 'with samples');
    const folded = await fetch(`${agent.url}/v1/flamegraph?namespace=${namespace}&pod=${podName}&format=folded`, {
      headers: asTester,
    });
    tt.equal(folded.status, 200);
    tt.match(await folded.text(), /Hot\.hot(Fibonacci|Sieve)/);
  });
}
