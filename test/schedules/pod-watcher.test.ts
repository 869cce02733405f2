/**
 * Learning pod labels by watching the pods of this node through the Kubernetes API (the stand-in API server of
 * test/helpers/fake-kube-api.ts, speaking the list and watch wire format), and matching schedules against them.
 */
import t, { type Test } from 'tap';
import { PodWatcher } from '../../agent/pods/pod-watcher.js';
import { TargetFinder } from '../../agent/schedules/targets.js';
import { KUBE_LABELS, matchesPodFilter } from '../../agent/runtime/container-runtime.js';
import { fromLabels, type LabelledContainer } from '../agent/fake-runtime.js';
import { FakeKubeApi, makePod, type FakePodSpec } from '../helpers/fake-kube-api.js';
import { waitFor } from '../helpers/wait-for.js';

async function setup(t: Test, retryDelayMs = 50) {
  const api = new FakeKubeApi();
  await api.start();
  const watcher = new PodWatcher({ api: api.agentApi(), nodeName: 'node-a', retryDelayMs });
  t.teardown(async () => {
    await watcher.close();
    await api.close();
  });
  return { api, watcher };
}

const shop = (name: string, uid: string, labels: Record<string, string>, nodeName = 'node-a') =>
  makePod({
    namespace: 'shop',
    name,
    uid,
    nodeName,
    labels,
    containers: [{ name: 'app' }],
  } satisfies FakePodSpec);

t.test('lists, then watches, the pods of its own node only', async (t) => {
  const { api, watcher } = await setup(t);
  api.putPod(shop('shop-1', 'uid-1', { app: 'shop', tier: 'web' }));
  api.putPod(shop('shop-2', 'uid-2', { app: 'shop' }, 'node-b'));
  t.equal(watcher.ready(), false);
  t.match(watcher.notReadyReason(), /have not been listed/);
  watcher.start();
  await waitFor(() => watcher.ready(), 60_000, 'the first list', 10);
  t.same(watcher.labelsFor('uid-1'), { app: 'shop', tier: 'web' });
  t.equal(watcher.labelsFor('uid-2'), undefined, 'a pod of another node is unknown');
  t.ok(
    api.requests.some((r) => r.url === '/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a'),
    'listed with the node field selector',
  );
  await waitFor(() => api.podWatchCount === 1, 60_000, 'the watch', 10);
  t.ok(
    api.requests.some((r) => r.url.includes('watch=true') && r.url.includes('fieldSelector=spec.nodeName%3Dnode-a')),
  );

  api.putPod(shop('shop-3', 'uid-3', { app: 'shop', canary: 'true' }));
  await waitFor(() => watcher.labelsFor('uid-3') !== undefined, 60_000, 'the added pod', 10);
  api.putPod(shop('shop-1', 'uid-1', { app: 'shop', tier: 'api' }));
  await waitFor(() => watcher.labelsFor('uid-1')?.tier === 'api', 60_000, 'the relabelled pod', 10);
  api.deletePod('shop', 'shop-3');
  await waitFor(() => watcher.labelsFor('uid-3') === undefined, 60_000, 'the deleted pod', 10);
  api.putPod(shop('shop-4', 'uid-4', { app: 'shop' }, 'node-b'));

  // The API server ends watches now and then: the watcher watches again.
  api.dropPodWatches();
  await waitFor(() => api.podWatchCount === 1, 60_000, 'the watch again', 10);
  api.putPod(shop('shop-5', 'uid-5', { app: 'shop' }));
  await waitFor(() => watcher.labelsFor('uid-5') !== undefined, 60_000, 'a pod added after the reconnect', 10);
  t.equal(watcher.size, 2);
  t.equal(watcher.labelsFor('uid-4'), undefined);
});

t.test('an API server that fails is retried; until then targets cannot be matched', async (t) => {
  const { api, watcher } = await setup(t);
  api.putPod(shop('shop-1', 'uid-1', { app: 'shop' }));
  api.failPodLists(500, 503);
  watcher.start();
  await waitFor(() => watcher.notReadyReason().includes('cannot be listed'), 60_000, 'the error', 10);
  const finder = new TargetFinder({ listContainers: async () => [] }, watcher);
  await t.rejects(finder.find({ namespace: 'shop' }), { code: 'KUBERNETES_API_ERROR', message: /cannot be listed/ });
  await waitFor(() => watcher.ready(), 60_000, 'the list after retries', 10);
  t.same(watcher.labelsFor('uid-1'), { app: 'shop' });
  t.same(await finder.find({ namespace: 'shop' }), []);
});

function container(
  id: string,
  pod: string,
  uid: string,
  name: string,
  extra: Partial<LabelledContainer> = {},
): LabelledContainer {
  return {
    id: id.padEnd(64, '0'),
    name: `k8s_${name}_${pod}`,
    image: 'shop:1',
    state: 'running',
    labels: {
      [KUBE_LABELS.namespace]: 'shop',
      [KUBE_LABELS.podName]: pod,
      [KUBE_LABELS.podUid]: uid,
      [KUBE_LABELS.containerName]: name,
      [KUBE_LABELS.dockerType]: 'container',
    },
    ...extra,
  };
}

t.test('schedules match the labels the API server has', async (t) => {
  const { api, watcher } = await setup(t);
  api.putPod(shop('shop-1', 'uid-1', { app: 'shop', tier: 'web' }));
  api.putPod(shop('shop-2', 'uid-2', { app: 'shop', tier: 'api' }));
  watcher.start();
  await waitFor(() => watcher.ready(), 60_000, 'the list', 10);
  const containers = [
    container('a1', 'shop-1', 'uid-1', 'app'),
    container('a2', 'shop-1', 'uid-1', 'sidecar'),
    container('b1', 'shop-2', 'uid-2', 'app'),
    // Running here, but the API server places it elsewhere (a stale container): never profiled.
    container('c1', 'shop-9', 'uid-9', 'app'),
  ];
  const finder = new TargetFinder(
    {
      listContainers: async (filter) => containers.map(fromLabels).filter((c) => matchesPodFilter(c, filter ?? {})),
    },
    watcher,
  );
  const names = async (sel: Parameters<TargetFinder['find']>[0]) =>
    (await finder.find(sel)).map((x) => `${x.pod}/${x.container}`);
  t.same(await names({ namespace: 'shop' }), ['shop-1/app', 'shop-1/sidecar', 'shop-2/app']);
  t.same(await names({ namespace: 'shop', labelSelector: 'tier=web' }), ['shop-1/app', 'shop-1/sidecar']);
  t.same(await names({ namespace: 'shop', labelSelector: 'tier=api', container: 'app' }), ['shop-2/app']);
  const [one] = await finder.find({ namespace: 'shop', pod: 'shop-2' });
  t.same(one, {
    namespace: 'shop',
    pod: 'shop-2',
    podUid: 'uid-2',
    container: 'app',
    containerId: 'b1'.padEnd(64, '0'),
    labels: { app: 'shop', tier: 'api' },
  });
});
