// What the user names (pod, workload, selector) and what a pod object says about it: the container to profile, or
// an error that says what to do.
import type { V1Pod } from '@kubernetes/client-node';
import t from 'tap';
import { podTarget } from '../../client/kube/pod-target.js';
import { describeTargetSpec, parseTargetSpec } from '../../client/kube/target-spec.js';
import { makePod, type FakePodSpec } from '../helpers/fake-kube-api.js';

// The stand-in's JSON is the wire format; client-node's V1Pod reads the same field names.
const pod = (spec: Partial<FakePodSpec>): V1Pod =>
  makePod({
    namespace: 'shop',
    name: 'shop-1',
    uid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c',
    nodeName: 'node-a',
    containers: [{ name: 'app' }],
    ...spec,
  }) as unknown as V1Pod;

t.test('one container: chosen without -c', async (t) => {
  t.same(podTarget(pod({})), {
    namespace: 'shop',
    pod: 'shop-1',
    podUid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c',
    nodeName: 'node-a',
    container: 'app',
  });
});

t.test(
  'several containers: CONTAINER_REQUIRED lists them; -c or the default-container annotation picks one',
  async (t) => {
    const two = pod({ containers: [{ name: 'app' }, { name: 'istio-proxy' }] });
    t.throws(() => podTarget(two), {
      code: 'CONTAINER_REQUIRED',
      message: 'The pod shop-1 in namespace shop has 2 containers (app, istio-proxy): choose one with -c NAME',
      details: { containers: ['app', 'istio-proxy'] },
    });
    t.equal(podTarget(two, 'istio-proxy').container, 'istio-proxy');
    const annotated = pod({
      containers: [{ name: 'app' }, { name: 'istio-proxy' }],
      annotations: { 'kubectl.kubernetes.io/default-container': 'app' },
    });
    t.equal(podTarget(annotated).container, 'app', "kubectl's default-container annotation is honoured");
    t.throws(() => podTarget(two, 'db'), {
      code: 'TARGET_NOT_FOUND',
      message: 'The pod shop-1 in namespace shop has no container "db"; its containers are: app, istio-proxy',
    });
  },
);

t.test('a pod that is not running, or not yet on a node, is POD_NOT_RUNNING', async (t) => {
  t.throws(() => podTarget(pod({ phase: 'Pending' })), {
    code: 'POD_NOT_RUNNING',
    message:
      /is Pending, so there is nothing to profile: wait until it is Running \(kubectl -n shop get pod shop-1 -w\)/,
  });
  t.throws(() => podTarget(pod({ phase: 'Pending', nodeName: undefined })), {
    code: 'POD_NOT_RUNNING',
    message: /is Pending \(not scheduled on a node yet\)/,
  });
  t.throws(() => podTarget(pod({ phase: 'Succeeded' })), { code: 'POD_NOT_RUNNING', message: /is Succeeded/ });
});

t.test('a running pod whose container is not running says so', async (t) => {
  const p = pod({ containers: [{ name: 'app' }] });
  const status = p.status?.containerStatuses?.[0];
  if (status) status.state = { waiting: { reason: 'CrashLoopBackOff' } };
  t.throws(() => podTarget(p), {
    code: 'POD_NOT_RUNNING',
    message:
      'Container app of the pod shop-1 in namespace shop is not running (waiting: CrashLoopBackOff): see kubectl -n shop describe pod shop-1',
  });
});

t.test('targets as kubectl spells them', async (t) => {
  t.same(parseTargetSpec('shop-7d9f', undefined), { kind: 'pod', name: 'shop-7d9f' });
  t.same(parseTargetSpec('pod/shop-7d9f', undefined), { kind: 'pod', name: 'shop-7d9f' });
  t.same(parseTargetSpec('deploy/shop', undefined), { kind: 'workload', workload: 'deploy', name: 'shop' });
  t.same(parseTargetSpec('deployment.apps/shop', undefined), { kind: 'workload', workload: 'deploy', name: 'shop' });
  t.same(parseTargetSpec('sts/db', undefined), { kind: 'workload', workload: 'sts', name: 'db' });
  t.same(parseTargetSpec('statefulsets/db', undefined), { kind: 'workload', workload: 'sts', name: 'db' });
  t.same(parseTargetSpec('ds/logger', undefined), { kind: 'workload', workload: 'ds', name: 'logger' });
  t.same(parseTargetSpec(undefined, ' app=shop '), { kind: 'selector', labelSelector: 'app=shop' });
  t.equal(describeTargetSpec(parseTargetSpec('ds/logger', undefined)), 'ds/logger');
  t.equal(describeTargetSpec(parseTargetSpec(undefined, 'a=b')), 'pods matching a=b');
  t.throws(() => parseTargetSpec('job/x', undefined), { code: 'USAGE', message: /Unknown kind "job"/ });
  t.throws(() => parseTargetSpec('Shop_1', undefined), { code: 'USAGE', message: /not a Kubernetes object name/ });
  t.throws(() => parseTargetSpec('shop', 'app=shop'), { code: 'USAGE', message: /not both/ });
  t.throws(() => parseTargetSpec(undefined, undefined), { code: 'USAGE', message: /Name a pod, deploy\/NAME/ });
  t.throws(() => parseTargetSpec(undefined, '  '), { code: 'USAGE' });
});
