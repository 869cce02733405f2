/**
 * Local mode: which containers a schedule selects, from the Docker labels kubelet puts on them — namespace, pod
 * name, container name — and the pod's own labels as dockershim/cri-dockerd copy them onto the pod's sandbox.
 */
import t from 'tap';
import { TargetFinder } from '../../agent/schedules/targets.js';
import { FakeRuntime, type LabelledContainer, hexId, podContainer, sandboxContainer } from '../agent/fake-runtime.js';

const shop1 = { uid: '11111111-1111-4111-8111-111111111111', name: 'shop-1', namespace: 'shop' };
const shop2 = { uid: '22222222-2222-4222-8222-222222222222', name: 'shop-2', namespace: 'shop' };
const bill = { uid: '33333333-3333-4333-8333-333333333333', name: 'bill-0', namespace: 'billing' };

function runtime(): FakeRuntime {
  const r = new FakeRuntime();
  const withLabels = (c: LabelledContainer, labels: Record<string, string>) => ({
    ...c,
    labels: { ...c.labels, ...labels },
  });
  r.containers = [
    withLabels(sandboxContainer(hexId('a0'), shop1), {
      app: 'shop',
      tier: 'web',
      'annotation.kubernetes.io/config.seen': '2025-11-27T10:00:00Z',
    }),
    podContainer(hexId('a1'), shop1, 'app'),
    podContainer(hexId('a2'), shop1, 'sidecar'),
    podContainer(hexId('a3'), shop1, 'app', 'exited'), // the previous instance of a restarted container
    withLabels(sandboxContainer(hexId('b0'), shop2), { app: 'shop', tier: 'api' }),
    podContainer(hexId('b1'), shop2, 'app'),
    sandboxContainer(hexId('c0'), bill),
    podContainer(hexId('c1'), bill, 'app'),
    // A container with no pod labels at all (not started by kubelet): never a target.
    { id: hexId('d1'), name: 'plain', image: 'x', state: 'running', labels: {} },
  ];
  return r;
}

t.test('namespace, pod, container and labels from the sandbox', async (t) => {
  const finder = new TargetFinder(runtime());
  const names = async (sel: Parameters<TargetFinder['find']>[0]) =>
    (await finder.find(sel)).map((x) => `${x.pod}/${x.container}`);
  t.same(await names({ namespace: 'shop' }), ['shop-1/app', 'shop-1/sidecar', 'shop-2/app']);
  t.same(await names({ namespace: 'shop', container: 'app' }), ['shop-1/app', 'shop-2/app']);
  t.same(await names({ namespace: 'shop', pod: 'shop-2' }), ['shop-2/app']);
  t.same(await names({ namespace: 'shop', labelSelector: 'tier=web' }), ['shop-1/app', 'shop-1/sidecar']);
  t.same(await names({ namespace: 'shop', labelSelector: 'tier in (web,api),app=shop', container: 'app' }), [
    'shop-1/app',
    'shop-2/app',
  ]);
  t.same(await names({ namespace: 'billing', labelSelector: 'app' }), [], 'a pod without labels matches no selector');
  t.same(await names({ namespace: 'billing' }), ['bill-0/app']);
  t.same(await names({ namespace: 'nowhere' }), []);
  const [one] = await finder.find({ namespace: 'shop', pod: 'shop-1', container: 'app' });
  t.same(one, {
    namespace: 'shop',
    pod: 'shop-1',
    podUid: shop1.uid,
    container: 'app',
    containerId: hexId('a1'),
    labels: { app: 'shop', tier: 'web' },
  });
});

t.test('a bad selector is refused', async (t) => {
  await t.rejects(new TargetFinder(runtime()).find({ namespace: 'shop', labelSelector: 'a b' }), {
    code: 'INVALID_REQUEST',
  });
});
