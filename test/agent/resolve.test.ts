import t, { type Test } from 'tap';
import { resolveTarget, targetTitle } from '../../agent/targets/resolve.js';
import { PodflameError } from '../../shared/errors.js';
import { FakeRuntime, hexId, podContainer, sandboxContainer } from './fake-runtime.js';

const shop = { uid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c', name: 'shop-7d4b9', namespace: 'prod' };
const other = { uid: '0a1b2c3d-0000-4c1e-9a8f-1d2e3f4a5b6c', name: 'cart-1', namespace: 'prod' };

function runtime(): FakeRuntime {
  const r = new FakeRuntime();
  r.containers = [
    sandboxContainer(hexId('5a'), shop),
    podContainer(hexId('a1'), shop, 'app'),
    podContainer(hexId('a2'), shop, 'sidecar'),
    // The exited instance of a restarted container, kept by kubelet beside the running one.
    podContainer(hexId('a3'), shop, 'app', 'exited'),
    podContainer(hexId('b1'), other, 'cart', 'exited'),
    { id: hexId('c1'), name: 'plain', image: 'x', state: 'running', labels: {} },
    { id: 'c1c1c1c1c1c1ffff' + hexId('0').slice(16), name: 'plain2', image: 'x', state: 'running', labels: {} },
    {
      id: hexId('d1'),
      name: 'podflame-capture-1',
      image: 'podflame-perf',
      state: 'running',
      labels: { 'io.podflame.capture': 'true' },
    },
  ];
  return r;
}

async function rejects(t: Test, p: Promise<unknown>, code: string): Promise<PodflameError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, PodflameError);
  t.equal((err as PodflameError).code, code);
  return err as PodflameError;
}

t.test('pod UID + container name picks the running container, never the sandbox', async (t) => {
  const r = runtime();
  const { target, container } = await resolveTarget(r, { podUid: shop.uid, container: 'app' }, 'node-1');
  t.equal(container.id, hexId('a1'));
  t.same(target, {
    containerId: hexId('a1'),
    containerName: 'app',
    podUid: shop.uid,
    podName: shop.name,
    namespace: 'prod',
  });
  t.equal(targetTitle(target), 'prod/shop-7d4b9/app');
  const side = await resolveTarget(r, { podUid: shop.uid.toUpperCase(), container: 'sidecar' }, 'node-1');
  t.equal(side.container.id, hexId('a2'), 'UIDs compare in lower case');
});

t.test('a wrong container name is 404 listing the containers the pod has (not the sandbox)', async (t) => {
  const err = await rejects(
    t,
    resolveTarget(runtime(), { podUid: shop.uid, container: 'web' }, 'node-1'),
    'TARGET_NOT_FOUND',
  );
  t.same(err.details?.containers, ['app', 'sidecar']);
  t.match(err.message, /prod\/shop-7d4b9 .* has no container 'web' on node node-1; its containers: app, sidecar/);
});

t.test('a pod with no containers here is 404 naming the node', async (t) => {
  const err = await rejects(
    t,
    resolveTarget(runtime(), { podUid: 'ffffffff-0000-4c1e-9a8f-1d2e3f4a5b6c', container: 'app' }, 'node-1'),
    'TARGET_NOT_FOUND',
  );
  t.match(err.message, /no containers of pod UID ffffffff.* on node node-1/);
  t.same(err.details?.containers, []);
});

t.test('a pod container that is not running is 409', async (t) => {
  const err = await rejects(
    t,
    resolveTarget(runtime(), { podUid: other.uid, container: 'cart' }, 'n'),
    'TARGET_NOT_RUNNING',
  );
  t.equal(err.httpStatus, 409);
  t.match(err.message, /state: exited/);
});

t.test('container ID: full, prefix of 12+, with a runtime scheme', async (t) => {
  const r = runtime();
  t.equal((await resolveTarget(r, { containerId: hexId('a2') }, 'n')).container.id, hexId('a2'));
  t.equal((await resolveTarget(r, { containerId: hexId('a2').slice(0, 12) }, 'n')).container.id, hexId('a2'));
  t.equal((await resolveTarget(r, { containerId: `docker://${hexId('a2')}` }, 'n')).container.id, hexId('a2'));
  const plain = await resolveTarget(r, { containerId: hexId('c1').slice(0, 16) }, 'n');
  t.same(plain.target, { containerId: hexId('c1'), containerName: 'plain' }, 'a container without pod labels');
  t.equal(targetTitle(plain.target), 'plain');
});

t.test('an ambiguous prefix is 409 listing the matches', async (t) => {
  const err = await rejects(t, resolveTarget(runtime(), { containerId: 'c1c1c1c1c1c1' }, 'n'), 'TARGET_AMBIGUOUS');
  t.equal(err.httpStatus, 409);
  t.equal((err.details?.containerIds as string[]).length, 2);
});

t.test('unknown IDs, sandboxes and capture containers are not targets', async (t) => {
  await rejects(t, resolveTarget(runtime(), { containerId: 'eeeeeeeeeeee' }, 'n'), 'TARGET_NOT_FOUND');
  const sandbox = await rejects(t, resolveTarget(runtime(), { containerId: hexId('5a') }, 'n'), 'TARGET_NOT_FOUND');
  t.match(sandbox.message, /pod sandbox/);
  await rejects(t, resolveTarget(runtime(), { containerId: hexId('d1') }, 'n'), 'TARGET_NOT_FOUND');
  await rejects(t, resolveTarget(runtime(), { containerId: hexId('a3') }, 'n'), 'TARGET_NOT_RUNNING');
});
