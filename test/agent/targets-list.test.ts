import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express from 'express';
import t from 'tap';
import { targetsRouter } from '../../agent/server/routes/targets.js';
import { call } from './http.js';
import { listTargets, looksLikeJvm, mapWithConcurrency } from '../../agent/targets/list.js';
import { FakeRuntime, hexId, podContainer, sandboxContainer } from './fake-runtime.js';

const pod = { uid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c', name: 'shop-1', namespace: 'prod' };

t.test('JVM command lines', async (t) => {
  t.ok(looksLikeJvm('/usr/lib/jvm/java-17-openjdk-amd64/bin/java -XX:+PreserveFramePointer -cp /app Hot'));
  t.ok(looksLikeJvm('java -jar app.jar'));
  t.notOk(looksLikeJvm('sh -c java -cp /app Hot'), 'the shell is not the JVM (its child is)');
  t.notOk(looksLikeJvm('/usr/bin/javac Hot.java'));
  t.notOk(looksLikeJvm(''));
});

t.test('mapWithConcurrency keeps order and bounds calls at once', async (t) => {
  let now = 0;
  let max = 0;
  const out = await mapWithConcurrency([5, 1, 4, 2, 3, 0, 6], 3, async (x) => {
    max = Math.max(max, ++now);
    await new Promise((r) => setTimeout(r, x));
    now--;
    return x * 10;
  });
  t.same(out, [50, 10, 40, 20, 30, 0, 60]);
  t.equal(max, 3);
  t.same(await mapWithConcurrency([], 3, async (x) => x), []);
});

t.test('targets: running containers, no sandboxes or captures, JVMs marked, sorted', async (t) => {
  const r = new FakeRuntime();
  r.containers = [
    { id: hexId('e1'), name: 'zz-plain', image: 'busybox', state: 'running', labels: {} },
    podContainer(hexId('a2'), pod, 'sidecar'),
    podContainer(hexId('a1'), pod, 'app'),
    podContainer(hexId('a3'), pod, 'old', 'exited'),
    sandboxContainer(hexId('5a'), pod),
    { id: hexId('d1'), name: 'cap', image: 'p', state: 'running', labels: { 'io.podflame.capture': 'x' } },
  ];
  r.processes.set(hexId('a1'), ['sh -c java Hot', '/usr/lib/jvm/java-17-openjdk-amd64/bin/java Hot']);
  r.processes.set(hexId('a2'), ['envoy']);
  // zz-plain has no process list: it went away between the listing and `docker top`.
  const items = await listTargets(r, { concurrency: 2 });
  t.same(
    items.map((i) => [i.containerName ?? i.name, i.jvm]),
    [
      ['app', true],
      ['sidecar', false],
      ['zz-plain', false],
    ],
  );
  t.same(items[0], {
    containerId: hexId('a1'),
    name: `k8s_app_shop-1_prod_${pod.uid}_0`,
    image: 'app:1',
    state: 'running',
    podUid: pod.uid,
    podName: 'shop-1',
    namespace: 'prod',
    containerName: 'app',
    jvm: true,
  });
  t.notOk('containerName' in (items[2] as object), 'no pod fields for a container kubelet did not start');
  t.ok(r.listProcessesMaxConcurrent <= 2);
});

t.test('GET /v1/targets reads no process list of a container the caller may not see', async (t) => {
  const other = { uid: '9a9a9a9a-5b7d-4c1e-9a8f-1d2e3f4a5b6c', name: 'bill-1', namespace: 'billing' };
  const r = new FakeRuntime();
  r.containers = [podContainer(hexId('a1'), pod, 'app'), podContainer(hexId('b1'), other, 'app')];
  r.processes.set(hexId('a1'), ['java -cp /app Shop']);
  r.processes.set(hexId('b1'), ['java -cp /app Billing']);
  const app = express().use(
    targetsRouter({
      runtime: r,
      nodeName: 'node-a',
      // As authorization filters: this caller may profile pods of `prod` only.
      filterTargets: async (_req, items) => items.filter((i) => i.namespace === 'prod'),
    }),
  );
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => void server.close());
  const { port } = server.address() as AddressInfo;
  const res = await call(`http://127.0.0.1:${port}`, 'GET', '/v1/targets');
  t.equal(res.status, 200);
  t.same(
    res.json.items.map((i: { podName: string; jvm: boolean }) => [i.podName, i.jvm]),
    [['shop-1', true]],
  );
  t.same(r.listProcessesCalls, [hexId('a1')], "billing's processes were never read");
});
