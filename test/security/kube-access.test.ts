// TokenReview and SubjectAccessReview through @kubernetes/client-node against the stand-in API server: real HTTPS,
// the real request and response bodies, the agent's own service-account token on every review.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createAccessControl, createLocalAccessControl } from '../../agent/access/access-control.js';
import { connectKubeApi } from '../../agent/kube/connect.js';
import type { CallerIdentity } from '../../agent/auth/identity.js';
import { kubeTokenReviewer } from '../../agent/auth/kube-token-reviewer.js';
import { KubernetesAuthenticator } from '../../agent/auth/token-review.js';
import { kubeAccessReviewer, kubePodLocator } from '../../agent/authz/kube-api.js';
import { KubernetesAuthorizer } from '../../agent/authz/kubernetes-authorizer.js';
import { parseAuthzResource } from '../../agent/authz/resource.js';
import { PodflameError } from '../../shared/errors.js';
import { agentKubeApi, FakeKubeApi, makePod, type AuthorizationAttributes } from '../helpers/fake-kube-api.js';

const AGENT_TOKEN = 'agent-service-account-token-0123456789';
const AGENT_USER = 'system:serviceaccount:podflame:podflame-agent';
const ALICE_TOKEN = 'alice-token-0123456789abcdef';
const BOB_TOKEN = 'bob-token-0123456789abcdef';
const CAROL_TOKEN = 'carol-token-0123456789abcdef';
const NODE = 'node-a';

/** RBAC as a cluster admin would write it for these tests. */
function policy(a: AuthorizationAttributes): { allowed: boolean; reason?: string } {
  const u = a.user.username;
  if (u === AGENT_USER) {
    const ok =
      (a.verb === 'create' && ['tokenreviews', 'subjectaccessreviews'].includes(a.resource)) ||
      (a.verb === 'get' && a.resource === 'pods' && a.subresource === '');
    return { allowed: ok };
  }
  // alice may exec into pods of namespace shop.
  if (
    u === 'alice' &&
    a.namespace === 'shop' &&
    a.resource === 'pods' &&
    a.subresource === 'exec' &&
    a.verb === 'create'
  ) {
    return { allowed: true, reason: 'RBAC: allowed by RoleBinding "exec/shop" of Role "exec" to User "alice"' };
  }
  // carol may profile (dedicated resource) but not exec.
  if (u === 'carol' && a.group === 'podflame.io' && a.resource === 'profiles' && a.verb === 'create') {
    return { allowed: true };
  }
  return { allowed: false, reason: '' };
}

const api = new FakeKubeApi({
  tokens: {
    [AGENT_TOKEN]: { username: AGENT_USER, uid: 'sa-1', groups: ['system:serviceaccounts', 'system:authenticated'] },
    [ALICE_TOKEN]: { username: 'alice', uid: 'u-alice', groups: ['developers', 'system:authenticated'] },
    [BOB_TOKEN]: { username: 'bob', uid: 'u-bob', groups: ['system:authenticated'] },
    [CAROL_TOKEN]: { username: 'carol', groups: ['system:authenticated'] },
  },
  authorize: policy,
});
const dir = mkdtempSync(join(tmpdir(), 'podflame-kube-access-'));

t.before(async () => {
  await api.start();
  api.writeKubeconfig(join(dir, 'agent.kubeconfig'), { token: AGENT_TOKEN });
  api.putPod(
    makePod({ namespace: 'shop', name: 'shop-1', uid: 'uid-shop-1', nodeName: NODE, containers: [{ name: 'app' }] }),
  );
  api.putPod(
    makePod({
      namespace: 'shop',
      name: 'shop-2',
      uid: 'uid-shop-2',
      nodeName: 'node-b',
      containers: [{ name: 'app' }],
    }),
  );
});
t.teardown(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const reviewsOf = (kind: 'tokenreviews' | 'subjectaccessreviews') => api.requests.filter((r) => r.url.includes(kind));
const target = (podName: string, podUid: string, namespace = 'shop') => ({
  containerId: 'a'.repeat(64),
  podName,
  podUid,
  namespace,
});

async function rejects(t: Test, p: Promise<unknown>, code: string, message?: RegExp): Promise<PodflameError> {
  try {
    await p;
  } catch (err) {
    t.type(err, PodflameError);
    t.equal((err as PodflameError).code, code);
    if (message) t.match((err as PodflameError).message, message);
    return err as PodflameError;
  }
  t.fail(`expected ${code}`);
  throw new Error('unreachable');
}

t.test('TokenReview: no token, bad token, good token, cache', async (t) => {
  const kc = agentKubeApi(join(dir, 'agent.kubeconfig'));
  const authn = new KubernetesAuthenticator(kubeTokenReviewer(kc));
  const before = reviewsOf('tokenreviews').length;

  const none = await rejects(t, authn.authenticate({}), 'UNAUTHENTICATED', /no credentials/);
  t.equal(none.httpStatus, 401);
  t.equal(reviewsOf('tokenreviews').length, before, 'no TokenReview without a token');

  await rejects(
    t,
    authn.authenticate({ authorization: 'Basic YWxpY2U6cHc=' }),
    'UNAUTHENTICATED',
    /not a bearer token/,
  );

  const bad = await rejects(t, authn.authenticate(bearer('not-a-known-token')), 'UNAUTHENTICATED');
  t.match(bad.message, /did not accept the bearer token: \[invalid bearer token, token lookup failed\]/);
  t.notMatch(bad.message, /not-a-known-token/, 'the token never appears in the message');
  await rejects(t, authn.authenticate(bearer('not-a-known-token')), 'UNAUTHENTICATED');
  t.equal(reviewsOf('tokenreviews').length, before + 1, 'a rejected token is remembered briefly');

  const alice = await authn.authenticate(bearer(ALICE_TOKEN));
  t.same(alice, {
    username: 'alice',
    uid: 'u-alice',
    groups: ['developers', 'system:authenticated'],
    mode: 'kubernetes',
  });
  // Concurrent requests with one token share one review, later ones hit the cache.
  const many = await Promise.all(Array.from({ length: 10 }, () => authn.authenticate(bearer(ALICE_TOKEN))));
  t.ok(many.every((c) => c.username === 'alice'));
  t.equal(reviewsOf('tokenreviews').length, before + 2);

  // The proxy path: only X-Podflame-Authorization arrives; it also wins when both are present.
  const bob = await authn.authenticate({
    podflameAuthorization: `Bearer ${BOB_TOKEN}`,
    authorization: `Bearer ${ALICE_TOKEN}`,
  });
  t.equal(bob.username, 'bob');

  // Every review went out as the agent's own service account.
  t.ok(reviewsOf('tokenreviews').every((r) => r.user === AGENT_USER && r.method === 'POST'));
});

t.test('TokenReview: cache expires, API errors are 502 and not cached', async (t) => {
  let clock = 1_000_000;
  const kc = agentKubeApi(join(dir, 'agent.kubeconfig'));
  const authn = new KubernetesAuthenticator(kubeTokenReviewer(kc), { now: () => clock, cacheTtlMs: 30_000 });
  await authn.authenticate(bearer(CAROL_TOKEN));
  clock += 29_000;
  await authn.authenticate(bearer(CAROL_TOKEN));
  t.equal(authn.reviews, 1);
  clock += 2_000;
  await authn.authenticate(bearer(CAROL_TOKEN));
  t.equal(authn.reviews, 2, 'asked again after the TTL');

  // An agent whose service account may not create tokenreviews: the API answers 403, the caller gets 502.
  const weak = new FakeKubeApi({
    tls: false,
    tokens: { [AGENT_TOKEN]: { username: 'nobody' } },
    authorize: () => ({ allowed: false }),
  });
  await weak.start();
  t.teardown(() => weak.close());
  weak.writeKubeconfig(join(dir, 'weak.kubeconfig'), { token: AGENT_TOKEN });
  const denied = new KubernetesAuthenticator(kubeTokenReviewer(agentKubeApi(join(dir, 'weak.kubeconfig'))));
  const err = await rejects(t, denied.authenticate(bearer(ALICE_TOKEN)), 'KUBERNETES_API_ERROR', /TokenReview/);
  t.equal(err.httpStatus, 502);
  await rejects(t, denied.authenticate(bearer(ALICE_TOKEN)), 'KUBERNETES_API_ERROR');
  t.equal(denied.reviews, 2, 'failures are not cached');

  // An API server that does not answer in time.
  const hung = new KubernetesAuthenticator({ review: () => new Promise(() => {}) }, { timeoutMs: 50 });
  await rejects(t, hung.authenticate(bearer(ALICE_TOKEN)), 'KUBERNETES_API_ERROR', /no answer within 50 ms/);
});

t.test('SubjectAccessReview on pods/exec and the node check', async (t) => {
  const kc = agentKubeApi(join(dir, 'agent.kubeconfig'));
  const authz = new KubernetesAuthorizer(kubeAccessReviewer(kc), kubePodLocator(kc), { nodeName: NODE });
  const alice: CallerIdentity = { username: 'alice', uid: 'u-alice', groups: ['developers'], mode: 'kubernetes' };
  const bob: CallerIdentity = { username: 'bob', groups: ['system:authenticated'], mode: 'kubernetes' };

  await authz.authorizeTarget(alice, target('shop-1', 'uid-shop-1'));
  t.pass('alice may profile shop-1 on this node');

  const denied = await rejects(t, authz.authorizeTarget(bob, target('shop-1', 'uid-shop-1')), 'FORBIDDEN');
  t.equal(denied.httpStatus, 403);
  t.match(denied.message, /^user bob cannot create pods\/exec in namespace shop \(needed to profile pod shop-1\)/);
  t.same(denied.details, { user: 'bob', permission: 'create pods/exec', namespace: 'shop', pod: 'shop-1' });

  // The SAR went out with the real attributes, as the agent.
  const sars = reviewsOf('subjectaccessreviews');
  t.ok(sars.length >= 2 && sars.every((r) => r.user === AGENT_USER));

  const elsewhere = await rejects(t, authz.authorizeTarget(alice, target('shop-2', 'uid-shop-2')), 'FORBIDDEN');
  t.match(elsewhere.message, /pod shop\/shop-2 runs on node node-b, not on this agent's node node-a/);

  await rejects(
    t,
    authz.authorizeTarget(alice, target('ghost', 'uid-ghost')),
    'FORBIDDEN',
    /pod shop\/ghost is not in the Kubernetes API/,
  );
  await rejects(
    t,
    authz.authorizeTarget(alice, target('shop-1', 'uid-old')),
    'FORBIDDEN',
    /does not match pod shop\/shop-1/,
  );
  await rejects(
    t,
    authz.authorizeTarget(alice, { containerId: 'b'.repeat(64) }),
    'FORBIDDEN',
    /container bbbbbbbbbbbb is not part of a Kubernetes pod/,
  );
  // bob is refused before the pod is even looked up: a denied caller learns nothing about placement.
  const podReads = api.requests.filter((r) => r.url === '/api/v1/namespaces/shop/pods/shop-2').length;
  await rejects(t, authz.authorizeTarget(bob, target('shop-2', 'uid-shop-2')), 'FORBIDDEN', /cannot create pods\/exec/);
  t.equal(api.requests.filter((r) => r.url === '/api/v1/namespaces/shop/pods/shop-2').length, podReads);

  await authz.authorizeNamespace(alice, 'shop');
  await rejects(
    t,
    authz.authorizeNamespace(alice, 'bank'),
    'FORBIDDEN',
    /cannot create pods\/exec in namespace bank \(needed to profile pods of namespace bank\)/,
  );

  const listed = await authz.filterTargets(alice, [
    { containerId: '1', namespace: 'shop', podName: 'shop-1' },
    { containerId: '2', namespace: 'bank', podName: 'vault-0' },
    { containerId: '3' },
    { containerId: '4', namespace: 'shop', podName: 'shop-9' },
  ]);
  t.same(
    listed.map((x) => x.containerId),
    ['1', '4'],
  );
});

t.test('a dedicated resource: podflame.io/profiles', async (t) => {
  const kc = agentKubeApi(join(dir, 'agent.kubeconfig'));
  const authz = new KubernetesAuthorizer(kubeAccessReviewer(kc), kubePodLocator(kc), {
    nodeName: NODE,
    resource: parseAuthzResource('podflame.io/profiles'),
  });
  const carol: CallerIdentity = { username: 'carol', groups: [], mode: 'kubernetes' };
  const alice: CallerIdentity = { username: 'alice', groups: [], mode: 'kubernetes' };
  await authz.authorizeTarget(carol, target('shop-1', 'uid-shop-1'));
  await rejects(
    t,
    authz.authorizeTarget(alice, target('shop-1', 'uid-shop-1')),
    'FORBIDDEN',
    /^user alice cannot create profiles\.podflame\.io in namespace shop \(needed to profile pod shop-1\)/,
  );
});

t.test('createAccessControl wires the modes', async (t) => {
  const listen = { host: '127.0.0.1', port: 7070 };
  const k = await createAccessControl(
    { auth: 'kubernetes', nodeName: NODE, listen },
    { kubeApi: agentKubeApi(join(dir, 'agent.kubeconfig')) },
  );
  const caller = await k.authenticator.authenticate(bearer(ALICE_TOKEN));
  await k.authorizer.authorizeTarget(caller, target('shop-1', 'uid-shop-1'));
  t.equal(k.authenticator.mode, 'kubernetes');

  await t.rejects(connectKubeApi({ kubeconfig: join(dir, 'missing.kubeconfig') }), {
    code: 'CONFIG_INVALID',
    message: /cannot load the agent's kubeconfig .*missing\.kubeconfig/,
  });
  await t.rejects(createAccessControl({ auth: 'kubernetes', nodeName: NODE, listen }), {
    code: 'CONFIG_INVALID',
    message: /--auth kubernetes .* run it in a pod \(in-cluster, with a service account\) or pass --kubeconfig FILE/,
  });
  await t.rejects(createAccessControl({ auth: 'token', nodeName: NODE, listen }), {
    code: 'CONFIG_INVALID',
    message: /--token-file/,
  });
  await t.rejects(createAccessControl({ auth: 'none', nodeName: NODE, listen: { host: '0.0.0.0', port: 7070 } }), {
    code: 'CONFIG_INVALID',
    message: /--auth none is only allowed on a loopback listen address.*0\.0\.0\.0:7070/,
  });
  await t.rejects(createAccessControl({ auth: 'kubernetes', tokenFile: '/x', nodeName: NODE, listen }), {
    code: 'CONFIG_INVALID',
    message: /--token-file is only used with --auth token/,
  });
  t.equal((await createAccessControl({ nodeName: NODE, listen })).authenticator.mode, 'none', 'none is the default');
  t.throws(() => createLocalAccessControl({ auth: 'kubernetes', nodeName: NODE, listen }), { code: 'INTERNAL' });
});
