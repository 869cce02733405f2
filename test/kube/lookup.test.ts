// Pod, workload and agent lookups through @kubernetes/client-node against the stand-in API server, and the errors
// the API's answers turn into.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { findAgentOnNode, listAgentPods } from '../../client/kube/agent-discovery.js';
import { KubeLookup, selectorToString } from '../../client/kube/kube-lookup.js';
import { loadKubeConfig } from '../../client/kube/kubeconfig.js';
import {
  FakeKubeApi,
  makeAgentPod,
  makePod,
  makeWorkload,
  parseFieldSelector,
  parseLabelSelector,
  type AuthorizationAttributes,
} from '../helpers/fake-kube-api.js';

const allowAll = (): { allowed: boolean } => ({ allowed: true });
const api = new FakeKubeApi({
  tokens: {
    'test-token': { username: 'tester' },
    'no-nodes-token': { username: 'no-nodes' },
    'no-pods-token': { username: 'no-pods' },
  },
  authorize: (a: AuthorizationAttributes) => {
    if (a.user.username === 'no-nodes' && a.resource === 'nodes') return { allowed: false };
    if (a.user.username === 'no-pods' && a.resource === 'pods') return { allowed: false, reason: 'no RBAC rule' };
    return allowAll();
  },
});
const dir = mkdtempSync(join(tmpdir(), 'podflame-lookup-'));
let lookup: KubeLookup;

function lookupWith(token: string): KubeLookup {
  const file = api.writeKubeconfig(join(dir, `${token}.yaml`), { token });
  return new KubeLookup(loadKubeConfig({ kubeconfig: file }).kubeConfig);
}

t.before(async () => {
  await api.start();
  api.putPod(
    makePod({
      namespace: 'shop',
      name: 'shop-1',
      uid: '3f1c2a9e-5b7d-4c1e-9a8f-000000000001',
      nodeName: 'node-a',
      podIP: '10.0.0.11',
      labels: { app: 'shop', tier: 'web' },
      containers: [{ name: 'app' }],
    }),
  );
  api.putPod(
    makePod({
      namespace: 'shop',
      name: 'shop-2',
      uid: '3f1c2a9e-5b7d-4c1e-9a8f-000000000002',
      nodeName: 'node-b',
      labels: { app: 'shop', tier: 'api' },
      containers: [{ name: 'app' }],
    }),
  );
  api.putPod(
    makePod({
      namespace: 'other',
      name: 'db-0',
      uid: 'aaaaaaaa-0000',
      labels: { app: 'db' },
      containers: [{ name: 'db' }],
    }),
  );
  api.putPod(makeAgentPod({ nodeName: 'node-a', podIP: '127.0.0.2', port: 7071 }));
  api.putPod(makeAgentPod({ nodeName: 'node-b', podIP: '127.0.0.3', port: 7072, portName: null, version: '0.2.0' }));
  api.putPod(makeAgentPod({ nodeName: 'node-c', podIP: '127.0.0.4', port: 7070, ready: false }));
  api.putPod(makeAgentPod({ nodeName: 'node-a', podIP: '127.0.0.5', port: 7070, namespace: 'elsewhere' }));
  api.putWorkload('deployments', makeWorkload('deployments', 'shop', 'shop', { app: 'shop' }));
  api.putWorkload('statefulsets', makeWorkload('statefulsets', 'shop', 'web', { app: 'shop', tier: 'web' }));
  api.putWorkload('daemonsets', makeWorkload('daemonsets', 'other', 'db', { app: 'db' }));
  for (const n of ['node-a', 'node-b', 'node-c', 'node-d']) api.putNode(n);
  lookup = lookupWith('test-token');
});
t.teardown(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

t.test('reads a pod as the API server sends it', async (t) => {
  const pod = await lookup.readPod('shop', 'shop-1');
  t.equal(pod.spec?.nodeName, 'node-a');
  t.equal(pod.metadata?.uid, '3f1c2a9e-5b7d-4c1e-9a8f-000000000001');
  t.equal(pod.status?.phase, 'Running');
  t.same(
    pod.spec?.containers.map((c) => c.name),
    ['app'],
  );
  t.equal(pod.status?.containerStatuses?.[0]?.ready, true);
  const req = api.requests.find((r) => r.url === '/api/v1/namespaces/shop/pods/shop-1');
  t.equal(req?.headers.authorization, 'Bearer test-token', 'client-node sends the bearer token');
});

t.test('a missing pod is POD_NOT_FOUND, naming it and what to run', async (t) => {
  await t.rejects(lookup.readPod('shop', 'ghost'), {
    code: 'POD_NOT_FOUND',
    message: 'There is no pod "ghost" in namespace "shop": check the name and namespace (kubectl -n shop get pods)',
    details: { httpStatus: 404, reason: 'NotFound' },
  });
});

t.test('refused credentials, missing permissions and an unreachable API server', async (t) => {
  await t.rejects(lookupWith('wrong-token').readPod('shop', 'shop-1'), {
    code: 'UNAUTHENTICATED',
    message: /refused your credentials \(HTTP 401\): log in again/,
  });
  await t.rejects(lookupWith('no-pods-token').readPod('shop', 'shop-1'), {
    code: 'FORBIDDEN',
    message:
      /does not let you read the pod "shop-1".*User "no-pods" cannot get resource "pods" in API group "" in the namespace "shop"/,
  });
  const down = new FakeKubeApi({ tls: false });
  await down.start();
  const file = down.writeKubeconfig(join(dir, 'down.yaml'));
  await down.close();
  await t.rejects(new KubeLookup(loadKubeConfig({ kubeconfig: file }).kubeConfig).readPod('shop', 'shop-1'), {
    code: 'KUBERNETES_API_ERROR',
    message: /Could not reach the Kubernetes API server at http:\/\/127\.0\.0\.1:\d+ .*kubectl cluster-info/,
  });
});

t.test('lists pods by label selector, filtered by the server', async (t) => {
  const names = async (sel: string): Promise<string[]> =>
    (await lookup.listPods('shop', { labelSelector: sel })).map((p) => p.metadata?.name ?? '');
  t.same(await names('app=shop'), ['shop-1', 'shop-2']);
  t.same(await names('app=shop,tier in (api)'), ['shop-2']);
  t.same(await names('tier!=api'), ['shop-1']);
  t.same(await names('app=db'), [], 'namespaced: pods of other namespaces are not listed');
  await t.rejects(lookup.listPods('shop', { labelSelector: 'app===' }), {
    code: 'KUBERNETES_API_ERROR',
    message: /unable to parse/,
  });
});

t.test('workloads: the selector of a deployment, statefulset or daemonset', async (t) => {
  t.equal(await lookup.workloadSelector('shop', 'deploy', 'shop'), 'app=shop');
  t.equal(await lookup.workloadSelector('shop', 'sts', 'web'), 'app=shop,tier=web');
  t.equal(await lookup.workloadSelector('other', 'ds', 'db'), 'app=db');
  await t.rejects(lookup.workloadSelector('shop', 'deploy', 'nope'), {
    code: 'POD_NOT_FOUND',
    message:
      'There is no deployment "nope" in namespace "shop": check the name and namespace (kubectl -n shop get deployments)',
  });
  t.equal(
    selectorToString({
      matchLabels: { b: '2', a: '1' },
      matchExpressions: [
        { key: 'env', operator: 'In', values: ['prod', 'canary'] },
        { key: 'x', operator: 'NotIn', values: ['y'] },
        { key: 'has', operator: 'Exists' },
        { key: 'hasnt', operator: 'DoesNotExist' },
      ],
    }),
    'a=1,b=2,env in (canary,prod),x notin (y),has,!hasnt',
  );
});

t.test(
  'finds the agent on a node by label and spec.nodeName, with its port named http (7070 when none is)',
  async (t) => {
    const a = await findAgentOnNode(lookup, 'podflame', 'node-a');
    t.match(a, { name: 'podflame-agent-node-a', podIP: '127.0.0.2', port: 7071, ready: true, version: '0.1.0' });
    const b = await findAgentOnNode(lookup, 'podflame', 'node-b');
    t.match(b, { podIP: '127.0.0.3', port: 7070, version: '0.2.0' }, 'no port named http: 7070');
    const req = api.requests.findLast((r) => r.url.startsWith('/api/v1/namespaces/podflame/pods?'));
    const q = new URL(req?.url ?? '/', 'http://x').searchParams;
    t.equal(q.get('labelSelector'), 'app.kubernetes.io/name=podflame-agent');
    t.equal(q.get('fieldSelector'), 'spec.nodeName=node-b');
    t.match(await findAgentOnNode(lookup, 'elsewhere', 'node-a'), { podIP: '127.0.0.5' }, '--agent-namespace');
  },
);

t.test('no agent on the node, or one not ready, says what to check', async (t) => {
  await t.rejects(findAgentOnNode(lookup, 'podflame', 'node-d'), {
    code: 'NO_AGENT_ON_NODE',
    message:
      /No podflame agent runs on node node-d .*kubectl -n podflame get pods -l app.kubernetes.io\/name=podflame-agent -o wide/,
    details: { node: 'node-d', agentNamespace: 'podflame' },
  });
  await t.rejects(findAgentOnNode(lookup, 'podflame', 'node-c'), {
    code: 'AGENT_NOT_READY',
    message:
      /agent on node node-c \(pod podflame-agent-node-c\) is not ready.*kubectl -n podflame describe pod podflame-agent-node-c/,
  });
});

t.test('lists every agent and, when allowed, every node', async (t) => {
  const agents = await listAgentPods(lookup, 'podflame');
  t.same(
    agents.map((a) => `${a.nodeName}:${a.name}:${a.ready}`),
    ['node-a:podflame-agent-node-a:true', 'node-b:podflame-agent-node-b:true', 'node-c:podflame-agent-node-c:false'],
  );
  t.same(await lookup.listNodeNames(), ['node-a', 'node-b', 'node-c', 'node-d']);
  t.equal(await lookupWith('no-nodes-token').listNodeNames(), undefined, 'no permission to list nodes: undefined');
});

t.test("the stand-in's selectors behave as the API server's", async (t) => {
  const match = (sel: string, labels: Record<string, string>): boolean =>
    parseLabelSelector(sel).every((r) => r(labels));
  t.ok(match('a=1,b', { a: '1', b: '' }));
  t.notOk(match('!b', { b: 'x' }));
  t.ok(match('a notin (x,y)', { a: 'z' }));
  t.ok(match('a notin (x,y)', {}));
  t.notOk(match('a in (x,y)', {}));
  t.throws(() => parseLabelSelector('a in x'));
  const pod = makePod({ namespace: 'n', name: 'p', uid: 'u', nodeName: 'node-a', containers: [{ name: 'c' }] });
  t.ok(parseFieldSelector('spec.nodeName=node-a,status.phase=Running')(pod));
  t.notOk(parseFieldSelector('spec.nodeName!=node-a')(pod));
  t.throws(() => parseFieldSelector('spec.image=x'), /field label not supported/);
});
