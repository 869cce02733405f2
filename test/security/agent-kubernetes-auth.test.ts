// `podflame-agent --auth kubernetes` end to end: the real agent process, the real engine with a JVM in a
// kubelet-labelled pod, and the stand-in API server answering TokenReview and SubjectAccessReview with the real
// bodies. No token → 401, a token the TokenReview rejects → 401, a caller the SubjectAccessReview denies → the 404
// of a target that does not exist (the refusal in the log line only), a pod the API places on another node → 403, an allowed caller → the graph; refusals start no
// container, and each request is one audit line that never contains a token.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { requireDockerEnv } from '../helpers/docker-env.js';
import { FakeKubeApi, makePod, type AuthorizationAttributes } from '../helpers/fake-kube-api.js';
import { JvmContainers, newPod } from '../helpers/jvm-containers.js';
import { requestLines, startAgentProcess } from '../helpers/agent-process.js';
import { captureContainersOf, watchCaptures } from './capture-watch.js';

t.setTimeout(240_000);

const AGENT_TOKEN = 'agent-sa-token-5d1e0c3b9a7f';
const AGENT_USER = 'system:serviceaccount:podflame:podflame-agent';
const ALICE_TOKEN = 'alice-token-8c2f4e6a1b3d';
const BOB_TOKEN = 'bob-token-0e9d8c7b6a5f';
const NODE = `authz-${Math.random().toString(16).slice(2, 8)}`;

const env = await requireDockerEnv(t, { jdk: true });
if (env) {
  const jvms = new JvmContainers(env);
  const api = new FakeKubeApi({
    tokens: {
      [AGENT_TOKEN]: { username: AGENT_USER, groups: ['system:serviceaccounts'] },
      [ALICE_TOKEN]: { username: 'alice', uid: 'u-alice', groups: ['developers'] },
      [BOB_TOKEN]: { username: 'bob', uid: 'u-bob', groups: ['system:authenticated'] },
    },
    authorize: (a: AuthorizationAttributes) => {
      if (a.user.username === AGENT_USER) {
        return {
          allowed:
            (a.verb === 'create' && ['tokenreviews', 'subjectaccessreviews'].includes(a.resource)) ||
            (a.verb === 'get' && a.resource === 'pods'),
        };
      }
      // alice may exec into pods of the test namespace; bob may not.
      const exec = a.verb === 'create' && a.resource === 'pods' && a.subresource === 'exec';
      if (a.user.username === 'alice' && exec && a.namespace === 'podflame-test') return { allowed: true };
      return { allowed: false, reason: 'no RBAC policy matched' };
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'podflame-authz-'));
  const pod = newPod('authz');
  const elsewhere = newPod('elsewhere');

  t.teardown(async () => {
    await jvms.cleanup();
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  await api.start();
  const kubeconfig = api.writeKubeconfig(join(dir, 'agent.kubeconfig'), { token: AGENT_TOKEN });
  await jvms.startSandbox(pod);
  const app = await jvms.startJvm({ pod, containerName: 'app' });
  // A container on this engine whose labels claim a pod the API server places on another node.
  await jvms.startSandbox(elsewhere);
  await jvms.startBusyShell(elsewhere, 'app');
  api.putPod(
    makePod({ namespace: pod.namespace, name: pod.name, uid: pod.uid, nodeName: NODE, containers: [{ name: 'app' }] }),
  );
  api.putPod(
    makePod({
      namespace: elsewhere.namespace,
      name: elsewhere.name,
      uid: elsewhere.uid,
      nodeName: 'some-other-node',
      containers: [{ name: 'app' }],
    }),
  );
  await jvms.waitForWarmup(app);

  const agent = await startAgentProcess([
    '--auth',
    'kubernetes',
    '--kubeconfig',
    kubeconfig,
    '--node-name',
    NODE,
    '--listen',
    '127.0.0.1:0',
    '--capture-image',
    env.captureImage,
    '--docker-socket',
    env.socketPath,
  ]);
  t.teardown(() => agent.stop());
  const watch = await watchCaptures(env.docker, NODE);
  t.teardown(() => watch.stop());

  const profile = async (headers: Record<string, string>, target: unknown = { podUid: pod.uid, container: 'app' }) => {
    const res = await request(`${agent.url}/v1/profiles`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ target, durationSeconds: 2, format: 'folded' }),
    });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      headers: res.headers,
      text,
      json: res.statusCode >= 400 ? JSON.parse(text) : undefined,
    };
  };

  t.test('no token: 401, and the probes stay open', async (t) => {
    const r = await profile({});
    t.equal(r.status, 401);
    t.equal(r.json.error.code, 'UNAUTHENTICATED');
    t.match(r.json.error.message, /no credentials/);
    t.equal(r.headers['www-authenticate'], 'Bearer realm="podflame-agent"');
    const health = await request(`${agent.url}/healthz`);
    t.equal(health.statusCode, 200, '/healthz needs no token (kubelet probes)');
    await health.body.dump();
  });

  t.test('a token the TokenReview rejects: 401 with its reason', async (t) => {
    const r = await profile({ authorization: 'Bearer forged-token-123456' });
    t.equal(r.status, 401);
    t.equal(r.json.error.code, 'UNAUTHENTICATED');
    t.match(r.json.error.message, /did not accept the bearer token: \[invalid bearer token, token lookup failed\]/);
  });

  t.test('a caller the SubjectAccessReview denies: the 404 of a target that does not exist', async (t) => {
    const bob = { authorization: `Bearer ${BOB_TOKEN}`, 'x-podflame-authorization': `Bearer ${BOB_TOKEN}` };
    const r = await profile(bob);
    t.equal(r.status, 404);
    t.equal(r.json.error.code, 'TARGET_NOT_FOUND');
    t.match(r.json.error.message, /or you may not profile it/);
    t.notMatch(r.text, new RegExp(`podflame-test|${pod.name}`), 'neither the namespace nor the pod');
    const none = await profile(bob, { podUid: '00000000-0000-4000-8000-000000000000', container: 'app' });
    t.same([none.status, none.json], [r.status, r.json], 'exactly what a pod that does not exist gets');
    const metrics = await request(`${agent.url}/metrics`);
    t.match(
      await metrics.body.text(),
      /^podflame_requests_rejected_total\{code="TARGET_NOT_FOUND"\} [1-9]/m,
      'the refusal is counted as what it was answered',
    );
  });

  t.test('a pod the API server places on another node: 403', async (t) => {
    const r = await profile({ authorization: `Bearer ${ALICE_TOKEN}` }, { podUid: elsewhere.uid, container: 'app' });
    t.equal(r.status, 403);
    t.match(
      r.json.error.message,
      `pod podflame-test/${elsewhere.name} runs on node some-other-node, not on this agent's node ${NODE}`,
    );
  });

  t.test('refusals started no capture container', async (t) => {
    t.equal(watch.created(), 0);
    t.same(await captureContainersOf(env.docker, NODE), []);
  });

  let profileId = '';
  t.test(
    'an allowed caller gets the graph (token only in X-Podflame-Authorization, as through the proxy)',
    async (t) => {
      const r = await profile({ 'x-podflame-authorization': `Bearer ${ALICE_TOKEN}` });
      t.equal(r.status, 200, r.text.slice(0, 500));
      t.match(r.text, /Hot\.hotFibonacci/);
      profileId = String(r.headers['x-podflame-profile-id']);
      t.equal(watch.created(), 1, 'one capture container');
    },
  );

  t.test('a stored profile is readable only by callers who may profile its pod', async (t) => {
    const as = async (token: string) => {
      const res = await request(`${agent.url}/v1/profiles/${profileId}/folded`, {
        headers: { authorization: `Bearer ${token}` },
      });
      return { status: res.statusCode, text: await res.body.text() };
    };
    t.equal((await as(ALICE_TOKEN)).status, 200);
    const bob = await as(BOB_TOKEN);
    t.equal(bob.status, 404);
    t.match(bob.text, /PROFILE_NOT_FOUND/);
  });

  t.test('GET /v1/targets lists only the pods the caller may profile', async (t) => {
    const list = async (token: string) => {
      const res = await request(`${agent.url}/v1/targets`, { headers: { authorization: `Bearer ${token}` } });
      return (await res.body.json()) as { items: { containerId: string; namespace?: string }[] };
    };
    const alice = await list(ALICE_TOKEN);
    t.ok(
      alice.items.some((i) => i.containerId === app.id),
      "alice sees her pod's container",
    );
    t.ok(
      alice.items.every((i) => i.namespace === 'podflame-test'),
      'and nothing outside the namespace she may exec in',
    );
    const bob = await list(BOB_TOKEN);
    t.same(bob.items, [], 'bob sees nothing');
  });

  t.test('audit: one line per request with caller, target, outcome and duration; never a token', async (t) => {
    const lines = requestLines(agent).filter((l) => String(l.path).startsWith('/v1/'));
    const forbidden = lines.find(
      (l) => l.user === 'bob' && l.outcome === 'TARGET_NOT_FOUND' && l.path === '/v1/profiles' && l.denied,
    );
    t.ok(forbidden, 'the refusal is logged with the caller');
    t.equal(forbidden?.target, `podflame-test/${pod.name}/app`);
    t.match(
      forbidden?.denied,
      /user bob cannot create pods\/exec in namespace podflame-test/,
      'and why, for the operator',
    );
    t.equal(forbidden?.auth, 'kubernetes');
    t.type(forbidden?.durationMs, 'number');
    const ok = lines.find((l) => l.user === 'alice' && l.outcome === 'ok' && l.path === '/v1/profiles');
    t.ok(ok);
    t.same(ok?.groups, ['developers']);
    t.equal(ok?.target, `podflame-test/${pod.name}/app`);
    t.ok(lines.some((l) => l.outcome === 'UNAUTHENTICATED' && l.user === undefined));
    const all = JSON.stringify(agent.logs);
    for (const token of [AGENT_TOKEN, ALICE_TOKEN, BOB_TOKEN, 'forged-token-123456'])
      t.notOk(all.includes(token), 'no token in the log');
  });
}
