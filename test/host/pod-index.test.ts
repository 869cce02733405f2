// The pod index of host mode: pods of this node by UID and by the container IDs in their status (regular, init and
// ephemeral containers; `containerd://`, `cri-o://`, `docker://`), learnt through the pod watcher's list and watch
// from the stand-in API server (added, updated, deleted; no container ID yet; a restart's new ID); and HostRuntime
// naming the containers it finds in a /proc laid out from real cgroup samples (test/fixtures/cgroup) with it.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PodIndex, type PodDirectory, type PodObject } from '../../agent/pods/pod-index.js';
import { PodWatcher } from '../../agent/pods/pod-watcher.js';
import { HostRuntime } from '../../agent/runtime/host-runtime.js';
import { resolveTarget, targetTitle } from '../../agent/targets/resolve.js';
import { listTargets } from '../../agent/targets/list.js';
import { TargetFinder } from '../../agent/schedules/targets.js';
import { FakeKubeApi, makePod, type FakePodSpec } from '../helpers/fake-kube-api.js';
import { podWatcherOf } from '../../agent/agent.js';
import { connectKubeApi } from '../../agent/kube/connect.js';
import { waitFor } from '../helpers/wait-for.js';

const FIXTURES = new URL('../fixtures/cgroup/', import.meta.url);
const fixture = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');
const id = (c: string): string => c.repeat(64);

function pod(uid: string, status: PodObject['status'], labels: Record<string, string> = { app: 'shop' }): PodObject {
  return { metadata: { uid, namespace: 'shop', name: `shop-${uid.slice(0, 4)}`, labels }, status };
}

t.test('PodIndex: containers of every status list, by ID with or without the runtime scheme', async (t) => {
  const index = new PodIndex();
  index.put(
    pod('uid-1', {
      containerStatuses: [
        { name: 'app', containerID: `containerd://${id('a')}` },
        // ContainerCreating: no ID yet.
        { name: 'sidecar' },
      ],
      initContainerStatuses: [{ name: 'init-db', containerID: `cri-o://${id('b')}` }],
      ephemeralContainerStatuses: [{ name: 'debugger', containerID: `docker://${id('c')}` }],
    }),
  );
  t.equal(index.size, 1);
  t.match(index.podByUid('uid-1'), { namespace: 'shop', name: 'shop-uid-', labels: { app: 'shop' } });
  t.same(
    index.podByUid('uid-1')?.containers.map((c) => [c.name, c.kind]),
    [
      ['app', 'container'],
      ['init-db', 'init'],
      ['debugger', 'ephemeral'],
    ],
    'the sidecar without a container ID is not indexed',
  );
  t.equal(index.containerById(id('a'))?.container.name, 'app', 'a bare ID');
  t.equal(index.containerById(`containerd://${id('a')}`)?.container.name, 'app', 'the Kubernetes form');
  t.equal(index.containerById(id('A'))?.pod.uid, 'uid-1', 'upper case');
  t.equal(index.containerById(id('b'))?.container.kind, 'init');
  t.equal(index.containerById(id('c'))?.container.name, 'debugger');
  t.equal(index.containerById(id('a').slice(0, 12)), undefined, 'a prefix is not an ID');
  t.same(index.labelsFor('uid-1'), { app: 'shop' });
  t.equal(index.labelsFor('uid-2'), undefined);
});

t.test(
  'PodIndex: a restart replaces the container ID; a delete forgets the pod; bad objects are skipped',
  async (t) => {
    const index = new PodIndex();
    index.put(pod('uid-1', { containerStatuses: [{ name: 'app', containerID: `containerd://${id('1')}` }] }));
    index.put(pod('uid-1', { containerStatuses: [{ name: 'app', containerID: `containerd://${id('2')}` }] }, {}));
    t.equal(index.containerById(id('1')), undefined, 'the exited instance is forgotten');
    t.equal(index.containerById(id('2'))?.container.name, 'app');
    t.same(index.labelsFor('uid-1'), {}, 'labels follow the update');
    index.put({ metadata: { namespace: 'shop', name: 'no-uid' } });
    index.put(pod('uid-3', { containerStatuses: [{ name: 'app', containerID: 'containerd://not-an-id' }] }));
    t.equal(index.size, 2);
    t.same(index.podByUid('uid-3')?.containers, []);
    index.remove(pod('uid-1', {}));
    t.equal(index.containerById(id('2')), undefined);
    t.equal(index.podByUid('uid-1'), undefined);
    t.equal(index.size, 1);
  },
);

t.test('the pod watcher keeps the index: added, started, restarted, relabelled, deleted', async (t) => {
  const api = new FakeKubeApi();
  await api.start();
  const watcher = new PodWatcher({ api: api.agentApi(), nodeName: 'node-a', retryDelayMs: 50 });
  t.teardown(async () => {
    await watcher.close();
    await api.close();
  });
  const spec = (containerID: string | undefined, labels: Record<string, string> = { app: 'shop' }): FakePodSpec => ({
    namespace: 'shop',
    name: 'shop-1',
    uid: 'uid-1',
    nodeName: 'node-a',
    labels,
    phase: containerID === undefined ? ('Pending' as const) : ('Running' as const),
    containers: [{ name: 'app', ...(containerID === undefined ? {} : { containerID }) }],
  });
  api.putPod(makePod({ ...spec(`containerd://${id('9')}`), name: 'other', uid: 'uid-9', nodeName: 'node-b' }));
  watcher.start();
  watcher.start(); // idempotent: host mode and the schedules share the watcher
  await waitFor(() => watcher.ready(), 60_000, 'the first list', 10);
  await waitFor(() => api.podWatchCount === 1, 60_000, 'the watch', 10);
  t.equal(watcher.containerById(id('9')), undefined, "another node's pod is not listed");

  api.putPod(makePod(spec(undefined)));
  await waitFor(() => watcher.podByUid('uid-1') !== undefined, 60_000, 'the added pod', 10);
  t.same(watcher.podByUid('uid-1')?.containers, [], 'no container ID while it is being created');
  api.putPod(makePod(spec(`containerd://${id('1')}`)));
  await waitFor(() => watcher.containerById(id('1')) !== undefined, 60_000, 'the started container', 10);
  t.match(watcher.containerById(id('1')), { pod: { namespace: 'shop', name: 'shop-1' }, container: { name: 'app' } });
  api.putPod(makePod(spec(`containerd://${id('2')}`, { app: 'shop', profiled: 'yes' })));
  await waitFor(() => watcher.containerById(id('2')) !== undefined, 60_000, 'the restarted container', 10);
  t.equal(watcher.containerById(id('1')), undefined, 'the old ID is gone');
  t.same(watcher.labelsFor('uid-1'), { app: 'shop', profiled: 'yes' });
  api.deletePod('shop', 'shop-1');
  await waitFor(() => watcher.podByUid('uid-1') === undefined, 60_000, 'the deleted pod', 10);
  t.equal(watcher.containerById(id('2')), undefined);
  t.equal(watcher.size, 0);
});

t.test("a pod watcher only with the agent's own Kubernetes access", async (t) => {
  t.equal(await connectKubeApi({}), undefined, 'none outside a cluster');
  await t.rejects(connectKubeApi({ kubeconfig: '/nonexistent/kubeconfig' }), {
    code: 'CONFIG_INVALID',
    message: /cannot load the agent's kubeconfig \/nonexistent\/kubeconfig/,
  });
  const api = new FakeKubeApi();
  await api.start();
  const file = join(t.testdir(), 'agent.kubeconfig');
  api.writeKubeconfig(file);
  api.putPod(
    makePod({
      namespace: 'shop',
      name: 'shop-1',
      uid: 'uid-1',
      nodeName: 'node-a',
      containers: [{ name: 'app', containerID: `cri-o://${id('d')}` }],
    }),
  );
  const kubeApi = await connectKubeApi({ kubeconfig: file });
  const watcher = kubeApi && podWatcherOf(kubeApi, { nodeName: 'node-a' });
  t.teardown(async () => {
    await watcher?.close();
    kubeApi?.close();
    await api.close();
  });
  t.equal(watcher?.ready(), false, 'not started by the factory');
  watcher?.start();
  await waitFor(() => watcher?.ready() === true, 60_000, 'the first list', 10);
  t.equal(watcher?.containerById(id('d'))?.container.name, 'app');
});

/** A host /proc with one process per entry, from real /proc/<pid>/cgroup samples. */
function fakeProc(dir: string, processes: { pid: number; cgroup: string; comm: string; cmdline: string[] }[]): string {
  for (const p of processes) {
    const d = join(dir, String(p.pid));
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'cgroup'), p.cgroup);
    writeFileSync(join(d, 'comm'), `${p.comm}\n`);
    writeFileSync(join(d, 'cmdline'), `${p.cmdline.join('\0')}\0`);
  }
  return dir;
}

function directory(index: PodIndex, ready = true): PodDirectory {
  return {
    ready: () => ready,
    notReadyReason: () => 'the pods of node node-a cannot be listed from the Kubernetes API: connection refused',
    podByUid: (uid) => index.podByUid(uid),
    containerById: (cid) => index.containerById(cid),
  };
}

t.test('HostRuntime places the containers the index knows in their pods', async (t) => {
  const ctrId = fixture('ctr-containerd-v1.id').trim();
  const kubeId = '0a1b22ec1361a97c3511db37a4bae932d41b22264e5b97611748f8b662312574';
  const procRoot = fakeProc(t.testdir(), [
    { pid: 1, cgroup: fixture('host-process.txt'), comm: 'systemd', cmdline: ['/sbin/init'] },
    { pid: 200, cgroup: fixture('ctr-containerd-v1.txt'), comm: 'java', cmdline: ['java', '-cp', '/app', 'Hot'] },
    { pid: 300, cgroup: fixture('kubepods-cgroupfs-v1.txt'), comm: 'sleep', cmdline: ['sleep', 'infinity'] },
  ]);
  const uid = randomUUID();
  const index = new PodIndex();
  index.put({
    metadata: { uid, namespace: 'shop', name: 'shop-7d9', labels: { app: 'shop' } },
    status: {
      containerStatuses: [{ name: 'app', containerID: `containerd://${ctrId}` }, { name: 'sidecar' }],
    },
  });
  const kill = (): void => undefined;
  const runtime = new HostRuntime({ procRoot }, { kill, pods: directory(index) });
  t.equal(runtime.knowsPodNames, true);
  t.equal(runtime.podNamesStatus(), 'ok');

  const listed = await runtime.listContainers();
  t.same(
    listed.map((c) => c.id),
    [kubeId, ctrId].sort(),
  );
  t.same(listed.find((c) => c.id === ctrId)?.pod, {
    uid,
    name: 'shop-7d9',
    namespace: 'shop',
    container: 'app',
    sandbox: false,
  });
  t.same(
    listed.find((c) => c.id === kubeId)?.pod,
    { uid: 'fbc202d3-da21-11e8-ab5e-42010a80014b', sandbox: false },
    'a container the index does not know keeps what its cgroup says',
  );
  t.same(listed.find((c) => c.id === ctrId)?.labels, {}, 'and no made-up engine labels');

  const byPod = await resolveTarget(runtime, { podUid: uid, container: 'app' }, 'node-a');
  t.equal(byPod.container.id, ctrId, 'pod UID + container name → the container ID from the pod status');
  t.equal(targetTitle(byPod.target), 'shop/shop-7d9/app');
  const byId = await resolveTarget(runtime, { containerId: `containerd://${ctrId}` }, 'node-a');
  t.same(byId.target, {
    containerId: ctrId,
    containerName: 'app',
    podUid: uid,
    podName: 'shop-7d9',
    namespace: 'shop',
  });
  await t.rejects(resolveTarget(runtime, { podUid: uid, container: 'sidecar' }, 'node-a'), {
    code: 'TARGET_NOT_FOUND',
    message: /has no container 'sidecar'.*kubelet has not reported a container ID for 'sidecar' yet/,
  });

  const targets = await listTargets(runtime);
  t.match(targets[0], { containerId: ctrId, namespace: 'shop', podName: 'shop-7d9', containerName: 'app', jvm: true });
  t.notOk('namespace' in (targets[1] ?? {}), 'the unknown container is listed by ID');

  const finder = new TargetFinder(runtime, {
    labelsFor: (u) => index.labelsFor(u),
    ready: () => true,
    notReadyReason: () => '',
  });
  t.same(
    (await finder.find({ namespace: 'shop', labelSelector: 'app=shop' })).map((x) => `${x.pod}/${x.container}`),
    ['shop-7d9/app'],
    'schedules select it by its pod labels',
  );
  t.same(await finder.find({ namespace: 'shop', labelSelector: 'app=other' }), []);

  const unready = new HostRuntime({ procRoot }, { kill, pods: directory(index, false) });
  await t.rejects(resolveTarget(unready, { podUid: uid, container: 'app' }, 'node-a'), {
    code: 'KUBERNETES_API_ERROR',
    message: /cannot be listed from the Kubernetes API/,
  });
  t.equal((await unready.listContainers()).length, 2, 'listing by ID still works');
  t.match(unready.podNamesStatus(), /cannot be listed from the Kubernetes API: connection refused/);

  const alone = new HostRuntime({ procRoot }, { kill });
  t.equal(alone.knowsPodNames, false);
  t.equal(alone.podNamesStatus(), 'none');
  await t.rejects(resolveTarget(alone, { podUid: uid, container: 'app' }, 'node-a'), {
    code: 'TARGET_NOT_FOUND',
    message: /host mode knows containers by ID only.*kubectl get pod -o jsonpath/,
  });
  t.equal((await resolveTarget(alone, { containerId: ctrId }, 'node-a')).target.namespace, undefined);
});

t.test('HostRuntime reuses one /proc scan within scanReuseMs, and rescans with 0', async (t) => {
  const dir = t.testdir();
  const procRoot = fakeProc(dir, [
    { pid: 200, cgroup: fixture('ctr-containerd-v1.txt'), comm: 'java', cmdline: ['java', '-cp', '/app', 'Hot'] },
  ]);
  const kill = (): void => undefined;
  const reusing = new HostRuntime({ procRoot, scanReuseMs: 60_000 }, { kill });
  const fresh = new HostRuntime({ procRoot, scanReuseMs: 0 }, { kill });
  t.equal((await reusing.listContainers()).length, 1);
  t.equal((await fresh.listContainers()).length, 1);
  // A second container appears: only a new scan sees it.
  fakeProc(dir, [{ pid: 300, cgroup: fixture('kubepods-cgroupfs-v1.txt'), comm: 'sleep', cmdline: ['sleep', '1'] }]);
  t.equal((await reusing.listContainers()).length, 1, 'within the window: the earlier scan answers');
  t.equal((await fresh.listContainers()).length, 2, 'scanReuseMs 0: every call scans');
  t.throws(() => new HostRuntime({ procRoot, scanReuseMs: -1 }, { kill }), { code: 'CONFIG_INVALID' });
});
