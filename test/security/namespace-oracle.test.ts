// Issue #13, findings N2 and N3: what a caller learns about namespaces they may not profile, and who owns a schedule
// name. The agent is real (HTTP on loopback, `--auth kubernetes` access control built as main.ts builds it, continuous
// profiling wired as agent.ts wires it); the stand-in API server answers TokenReview, SubjectAccessReview and pod
// reads with the real bodies; the runtime is the in-memory one. alice may profile pods of shop, bob of vault, carol of
// both. A caller's answer for something in a namespace they may not profile must be the answer for something that
// does not exist — status, code, message, headers, body, and the refusal counter on the open /metrics.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import t from 'tap';
import { request } from 'undici';
import { Agent, continuousProfilingFromConfig } from '../../agent/agent.js';
import { createAccessControl } from '../../agent/access/access-control.js';
import { historyRouter } from '../../agent/server/routes/history.js';
import type { ContinuousProfiling } from '../../agent/schedules/continuous-profiling.js';
import type { NewProfile } from '../../agent/store/profile-store.js';
import { agentKubeApi, FakeKubeApi, makePod, type AuthorizationAttributes } from '../helpers/fake-kube-api.js';
import { testProfileWorker } from '../helpers/profile-worker.js';
import { FakeRuntime, hexId, podContainer, sandboxContainer } from '../agent/fake-runtime.js';
import { memoryLogger, testConfig } from '../agent/http.js';
import { fixtureStacks } from '../history/fixtures.js';

const NODE = 'node-a';
const AGENT_TOKEN = 'agent-sa-token-4f2a9c1e7b3d';
const AGENT_USER = 'system:serviceaccount:podflame:podflame-agent';
const TOKENS = {
  alice: 'alice-token-1a2b3c4d5e6f',
  bob: 'bob-token-6f5e4d3c2b1a',
  carol: 'carol-token-0a9b8c7d6e5f',
} as const;
type User = keyof typeof TOKENS;
const MAY_PROFILE: Record<User, string[]> = { alice: ['shop'], bob: ['vault'], carol: ['shop', 'vault'] };

const shopA = { uid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c', name: 'shop-a', namespace: 'shop' };
const vault0 = { uid: '9b8a7c6d-5b7d-4c1e-9a8f-1d2e3f4a5b6c', name: 'vault-0', namespace: 'vault' };
// Its container runs here, but the API server places the pod on another node.
const shopAway = { uid: '7d6c5b4a-5b7d-4c1e-9a8f-1d2e3f4a5b6c', name: 'shop-away', namespace: 'shop' };
const NO_SUCH_UID = '00000000-0000-4000-8000-000000000000';

function policy(a: AuthorizationAttributes): { allowed: boolean; reason?: string } {
  const user = a.user.username;
  if (user === AGENT_USER) {
    return {
      allowed:
        (a.verb === 'create' && ['tokenreviews', 'subjectaccessreviews'].includes(a.resource)) ||
        (a.verb === 'get' && a.resource === 'pods'),
    };
  }
  const exec = a.verb === 'create' && a.resource === 'pods' && a.subresource === 'exec';
  const may = MAY_PROFILE[user as User] ?? [];
  return exec && may.includes(a.namespace) ? { allowed: true } : { allowed: false, reason: 'no RBAC policy matched' };
}

const api = new FakeKubeApi({
  tokens: {
    [AGENT_TOKEN]: { username: AGENT_USER, groups: ['system:serviceaccounts'] },
    [TOKENS.alice]: { username: 'alice', groups: ['system:authenticated'] },
    [TOKENS.bob]: { username: 'bob', groups: ['system:authenticated'] },
    [TOKENS.carol]: { username: 'carol', groups: ['system:authenticated'] },
  },
  authorize: policy,
});
const dir = mkdtempSync(join(tmpdir(), 'podflame-oracle-'));
const runtime = new FakeRuntime();
let url = '';
let history: ContinuousProfiling;
// Set once built: the scheduler's captures go through the agent's capture service.
const built: { agent?: Agent } = {};

t.before(async () => {
  await api.start();
  const kubeconfig = api.writeKubeconfig(join(dir, 'agent.kubeconfig'), { token: AGENT_TOKEN });
  for (const [pod, node] of [
    [shopA, NODE],
    [vault0, NODE],
    [shopAway, 'node-b'],
  ] as const) {
    api.putPod(makePod({ ...pod, nodeName: node, containers: [{ name: 'app' }] }));
  }
  runtime.images.add('podflame-perf:latest');
  runtime.containers = [
    sandboxContainer(hexId('a0'), shopA),
    podContainer(hexId('a1'), shopA, 'app'),
    podContainer(hexId('a2'), shopA, 'old', 'exited'),
    podContainer(hexId('b1'), vault0, 'app'),
    podContainer(hexId('c1'), shopAway, 'app'),
  ];
  const config = testConfig({ nodeName: NODE, dataDir: join(dir, 'data'), rateLimitPerMinute: 100_000 });
  const access = await createAccessControl(
    { auth: 'kubernetes', nodeName: NODE, listen: config.listen },
    { kubeApi: agentKubeApi(kubeconfig) },
  );
  const { logger } = memoryLogger();
  const captures = {
    resolve: (...a: Parameters<Agent['captures']['resolve']>) => (built.agent as Agent).captures.resolve(...a),
    start: (...a: Parameters<Agent['captures']['start']>) => (built.agent as Agent).captures.start(...a),
    countRefusal: (err: unknown) => (built.agent as Agent).captures.countRefusal(err),
  };
  history = (await continuousProfilingFromConfig(config, {
    captures,
    containers: runtime,
    registry: new Registry(),
    logger,
    authorizer: access.authorizer,
  })) as ContinuousProfiling;
  const agent = new Agent({
    worker: testProfileWorker(),
    config,
    runtime,
    logger,
    access,
    app: { routers: [historyRouter(history.routes)] },
  });
  built.agent = agent;
  url = (await agent.start()).url;
  await history.start();
});
t.teardown(async () => {
  await history?.close();
  await built.agent?.close();
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Seen {
  status: number;
  headers: Record<string, unknown>;
  body: string;
}

/** One request as `user`; the whole answer but its Date header. */
async function as(user: User, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<Seen> {
  const res = await request(url + path, {
    method,
    headers: {
      authorization: `Bearer ${TOKENS[user]}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.body.text();
  const { date: _date, ...headers } = res.headers;
  return { status: res.statusCode, headers, body: text };
}

/** podflame_requests_rejected_total by code, from the open /metrics. */
async function rejections(): Promise<Map<string, number>> {
  const res = await request(`${url}/metrics`);
  const counts = new Map<string, number>();
  for (const m of (await res.body.text()).matchAll(/^podflame_requests_rejected_total\{code="(\w+)"\} (\d+)/gm)) {
    counts.set(m[1] as string, Number(m[2]));
  }
  return counts;
}

/** The answer and what it added to the refusal counters. */
async function observed(ask: () => Promise<Seen>): Promise<{ answer: Seen; counted: Record<string, number> }> {
  const before = await rejections();
  const answer = await ask();
  const counted: Record<string, number> = {};
  for (const [code, n] of await rejections())
    if (n !== (before.get(code) ?? 0)) counted[code] = n - (before.get(code) ?? 0);
  return { answer, counted };
}

const capture = (target: unknown) => ({ target, durationSeconds: 5, format: 'folded' });

t.test('bob cannot tell a pod of shop from a pod that does not exist', async (t) => {
  const pairs: [string, unknown, unknown][] = [
    ['pod UID and container', { podUid: shopA.uid, container: 'app' }, { podUid: NO_SUCH_UID, container: 'app' }],
    [
      'a guessed container name',
      { podUid: shopA.uid, container: 'nosuch' },
      { podUid: NO_SUCH_UID, container: 'nosuch' },
    ],
    [
      'a 12-hex container ID prefix',
      { containerId: hexId('a1').slice(0, 12) },
      { containerId: hexId('ee').slice(0, 12) },
    ],
    ['a full container ID', { containerId: hexId('a1') }, { containerId: hexId('ee') }],
    ['the pod sandbox', { containerId: hexId('a0').slice(0, 12) }, { containerId: hexId('ef').slice(0, 12) }],
    ['an exited container', { containerId: hexId('a2').slice(0, 12) }, { containerId: hexId('fe').slice(0, 12) }],
    [
      'a pod placed on another node',
      { podUid: shopAway.uid, container: 'app' },
      { podUid: NO_SUCH_UID, container: 'app' },
    ],
  ];
  for (const [what, existing, missing] of pairs) {
    const seen = await observed(() => as('bob', 'POST', '/v1/profiles', capture(existing)));
    const none = await observed(() => as('bob', 'POST', '/v1/profiles', capture(missing)));
    t.same(seen, none, `${what}: the same answer and the same count`);
    t.equal(seen.answer.status, 404, what);
    t.notMatch(seen.answer.body, /shop|vault|pods\/exec in namespace/, `${what}: nothing of the namespace`);
  }
  t.same(runtime.captures.length, 0, 'no capture started');
});

t.test('a caller who may profile the namespace still gets the whole story', async (t) => {
  const wrong = await as('alice', 'POST', '/v1/profiles', capture({ podUid: shopA.uid, container: 'nosuch' }));
  t.equal(wrong.status, 404);
  t.match(JSON.parse(wrong.body).error, { details: { containers: ['app', 'old'] } });
  const away = await as('alice', 'POST', '/v1/profiles', capture({ podUid: shopAway.uid, container: 'app' }));
  t.equal(away.status, 403, 'a pod of her namespace on another node: told as is');
  t.match(JSON.parse(away.body).error.message, /pod shop\/shop-away runs on node node-b/);
  const bobs = await as('bob', 'POST', '/v1/profiles', capture({ podUid: shopA.uid, container: 'app' }));
  const carols = await as('carol', 'POST', '/v1/profiles', capture({ podUid: vault0.uid, container: 'nosuch' }));
  t.equal(bobs.status, 404);
  t.equal(carols.status, 404);
  t.match(JSON.parse(carols.body).error.message, /pod vault\/vault-0 .* has no container 'nosuch'/);
});

t.test('a kept profile of shop is, to bob, an ID that does not exist', async (t) => {
  const started = await as('alice', 'POST', '/v1/profiles?async=1', capture({ podUid: shopA.uid, container: 'app' }));
  t.equal(started.status, 202, started.body);
  const id = JSON.parse(started.body).id as string;
  const other = '6a1d7e0c-3b5f-4c2a-9e8d-7f6a5b4c3d2e';
  for (const suffix of ['', '/folded', '/flamegraph.svg']) {
    const seen = await observed(() => as('bob', 'GET', `/v1/profiles/${id}${suffix}`));
    const none = await observed(() => as('bob', 'GET', `/v1/profiles/${other}${suffix}`));
    // The answer repeats the ID asked for; apart from it, nothing differs.
    const blind = (s: typeof seen) => ({
      ...s,
      answer: { ...s.answer, body: s.answer.body.replaceAll(id, 'ID').replaceAll(other, 'ID') },
    });
    t.same(blind(seen), blind(none), `GET /v1/profiles/ID${suffix}`);
    t.equal(seen.answer.status, 404);
    t.match(seen.answer.body, /PROFILE_NOT_FOUND/);
  }
  t.equal((await as('alice', 'GET', `/v1/profiles/${id}`)).status, 200, 'alice reads it');
});

t.test('bob cannot tell whether a schedule of shop exists', async (t) => {
  const probes: [string, 'GET' | 'DELETE', string][] = [
    ['GET one', 'GET', '/v1/schedules/nightly'],
    ['DELETE one', 'DELETE', '/v1/schedules/nightly'],
    ['GET one naming shop', 'GET', '/v1/schedules/nightly?namespace=shop'],
    ['DELETE one naming shop', 'DELETE', '/v1/schedules/nightly?namespace=shop'],
    ['GET the list', 'GET', '/v1/schedules'],
    ['profiles by schedule', 'GET', '/v1/profiles?schedule=nightly'],
    ['a graph by schedule', 'GET', '/v1/flamegraph?schedule=nightly&format=folded'],
  ];
  const ask = async () => {
    const out: Seen[] = [];
    for (const [, method, path] of probes) out.push(await as('bob', method, path));
    return out;
  };
  const before = await ask();
  const put = await as('alice', 'PUT', '/v1/schedules/nightly', {
    cron: '0 0 3 * * *',
    namespace: 'shop',
    durationSeconds: 5,
    frequencyHz: 49,
  });
  t.equal(put.status, 201, put.body);
  await history.store.put(stored('shop', 'shop-a'));
  const after = await ask();
  for (const [i, [what]] of probes.entries()) t.same(after[i], before[i], `${what}: the same answer`);
  t.equal(after[0]?.status, 404);
  t.equal(after[2]?.status, 403, 'naming the namespace is refused, whether the schedule is there or not');
  t.notMatch(after[0]?.body, /shop/);
  t.ok(history.scheduler.status('shop', 'nightly'), "bob's DELETE removed nothing");
});

t.test('alice and bob both own a schedule "nightly", each in their namespace', async (t) => {
  const body = (namespace: string) => ({ cron: '0 0 3 * * *', namespace, durationSeconds: 5, frequencyHz: 49 });
  const alices = await as('alice', 'PUT', '/v1/schedules/nightly', body('shop'));
  t.equal(alices.status, 200, 'alice replaces her own');
  const bobs = await as('bob', 'PUT', '/v1/schedules/nightly', body('vault'));
  t.equal(bobs.status, 201, bobs.body);
  t.equal((await as('alice', 'PUT', '/v1/schedules/nightly', body('shop'))).status, 200, 'alice is not refused either');
  t.equal((await as('bob', 'PUT', '/v1/schedules/nightly', body('shop'))).status, 403, "bob cannot write shop's");
  t.match(JSON.parse((await as('alice', 'GET', '/v1/schedules/nightly')).body), { namespace: 'shop' });
  t.match(JSON.parse((await as('bob', 'GET', '/v1/schedules/nightly')).body), { namespace: 'vault' });
  const lists = await Promise.all((['alice', 'bob'] as const).map((u) => as(u, 'GET', '/v1/schedules')));
  t.same(
    lists.map((l) =>
      JSON.parse(l.body).items.map((s: { namespace: string; name: string }) => `${s.namespace}/${s.name}`),
    ),
    [['shop/nightly'], ['vault/nightly']],
  );
  const mismatch = await as('bob', 'PUT', '/v1/schedules/nightly?namespace=shop', body('vault'));
  t.equal(mismatch.status, 400, 'a ?namespace= that is not the body’s');
});

t.test('carol sees both: the name alone is ambiguous, the namespace picks one', async (t) => {
  const ambiguous = await as('carol', 'GET', '/v1/schedules/nightly');
  t.equal(ambiguous.status, 409);
  t.match(JSON.parse(ambiguous.body).error, {
    code: 'SCHEDULE_AMBIGUOUS',
    message: /schedule name 'nightly' is used in 2 namespaces you may see \(shop, vault\): add \?namespace=NAMESPACE/,
    details: { schedule: 'nightly', namespaces: ['shop', 'vault'] },
  });
  t.match(JSON.parse((await as('carol', 'GET', '/v1/schedules/nightly?namespace=vault')).body), { namespace: 'vault' });
  t.equal((await as('carol', 'DELETE', '/v1/schedules/nightly')).status, 409, 'nothing deleted on a guess');

  // History by schedule: never both namespaces' profiles as one.
  await history.store.put(stored('vault', 'vault-0'));
  for (const path of ['/v1/profiles?schedule=nightly', '/v1/flamegraph?schedule=nightly&format=folded']) {
    const both = await as('carol', 'GET', path);
    t.equal(both.status, 409, path);
    t.match(both.body, /SCHEDULE_AMBIGUOUS/);
    t.equal((await as('carol', 'GET', `${path}&namespace=vault`)).status, 200, `${path} in vault`);
    t.equal((await as('bob', 'GET', path)).status, 200, `${path}: bob sees one namespace only`);
  }
  const diff = await as(
    'carol',
    'GET',
    '/v1/diff?schedule=nightly&baseFrom=now-3h&baseTo=now-90m&targetFrom=now-90m&targetTo=now&format=folded',
  );
  t.equal(diff.status, 409);
  const bobsOwn = JSON.parse((await as('bob', 'GET', '/v1/profiles?schedule=nightly')).body).items;
  t.same(
    bobsOwn.map((p: { namespace: string }) => p.namespace),
    ['vault'],
  );

  t.equal((await as('carol', 'DELETE', '/v1/schedules/nightly?namespace=vault')).status, 204);
  t.match(JSON.parse((await as('carol', 'GET', '/v1/schedules/nightly')).body), { namespace: 'shop' }, "shop's stays");
});

function stored(namespace: string, pod: string): NewProfile {
  return {
    namespace,
    pod,
    container: 'app',
    node: NODE,
    startMs: Date.now() - 2 * 3600_000 + Math.floor(Math.random() * 1000),
    durationSeconds: 5,
    frequencyHz: 49,
    warnings: [],
    schedule: 'nightly',
    podUid: namespace === 'shop' ? shopA.uid : vault0.uid,
    containerId: hexId(namespace === 'shop' ? 'a1' : 'b1'),
    labels: {},
    stacks: fixtureStacks('before'),
  };
}
