// Issue #13, findings 1 and 7, through @kubernetes/client-node against the stand-in API server:
// - the agent's `--token-audience`: TokenReview with spec.audiences, a kubeconfig token (the API server's audience)
//   refused, a token minted with TokenRequest for the agent's audience accepted, an audience-unaware answer refused;
// - the client's audience-bound tokens (AudienceTokenSource, PodflameClient's agentTokenAudience): minted for its own
//   service account (SelfSubjectReview), reused until 80% of their lifetime, refused by the API server itself, and
//   the only token the agents get;
// - the SubjectAccessReview carries the TokenReview's user.extra and uid, so a scoped token gets no more at the
//   agent than at the API server.
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createLocalAccessControl } from '../../agent/access/access-control.js';
import { parseAgentConfig } from '../../agent/config.js';
import { kubeTokenReviewer } from '../../agent/auth/kube-token-reviewer.js';
import { KubernetesAuthenticator } from '../../agent/auth/token-review.js';
import { kubeAccessReviewer, kubePodLocator } from '../../agent/authz/kube-api.js';
import { KubernetesAuthorizer } from '../../agent/authz/kubernetes-authorizer.js';
import { AudienceTokenSource } from '../../client/kube/audience-token.js';
import { KubeLookup } from '../../client/kube/kube-lookup.js';
import { loadKubeConfig } from '../../client/kube/kubeconfig.js';
import { PodflameClient } from '../../client/profile-pod.js';
import {
  agentKubeApi,
  API_AUDIENCE,
  FakeKubeApi,
  makeAgentPod,
  makePod,
  type AuthorizationAttributes,
} from '../helpers/fake-kube-api.js';

const AUDIENCE = 'podflame-agent';
const AGENT_TOKEN = 'agent-service-account-token-0123456789';
const AGENT_USER = 'system:serviceaccount:podflame:podflame-agent';
const CI_TOKEN = 'ci-profiler-token-0123456789';
const CI_USER = 'system:serviceaccount:ci:profiler';
const ALICE_TOKEN = 'alice-token-0123456789abcdef';
const SCOPED_TOKEN = 'alice-scoped-token-0123456789';
const SCOPE = 'scopes.example.com/scope';
const NODE = 'node-a';

/** RBAC, plus an authorizer webhook that honours scoped tokens (user.extra) as the API server would. */
function policy(a: AuthorizationAttributes): { allowed: boolean; reason?: string } {
  const u = a.user.username;
  if (u === AGENT_USER) return { allowed: a.verb === 'create' || (a.verb === 'get' && a.resource === 'pods') };
  if (u === CI_USER) return { allowed: true };
  if (a.user.extra?.[SCOPE]?.includes('read-only') && a.verb !== 'get') {
    return { allowed: false, reason: 'the token is scoped read-only' };
  }
  return { allowed: u === 'alice' && a.namespace === 'shop' && a.resource === 'pods' };
}

const api = new FakeKubeApi({
  tokens: {
    [AGENT_TOKEN]: { username: AGENT_USER, uid: 'sa-1', groups: ['system:serviceaccounts', 'system:authenticated'] },
    [CI_TOKEN]: { username: CI_USER, uid: 'sa-ci', groups: ['system:serviceaccounts', 'system:authenticated'] },
    [ALICE_TOKEN]: { username: 'alice', uid: 'u-alice', groups: ['system:authenticated'] },
    [SCOPED_TOKEN]: {
      username: 'alice',
      uid: 'u-alice',
      groups: ['system:authenticated'],
      extra: { [SCOPE]: ['read-only'] },
    },
  },
  authorize: policy,
});
const dir = mkdtempSync(join(tmpdir(), 'podflame-token-audience-'));
await api.start();
t.teardown(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});
api.putServiceAccount('ci', 'profiler');
api.putPod(
  makePod({ namespace: 'shop', name: 'shop-1', uid: 'uid-shop-1', nodeName: NODE, containers: [{ name: 'app' }] }),
);
const agentKc = agentKubeApi(api.writeKubeconfig(join(dir, 'agent.kubeconfig'), { token: AGENT_TOKEN }));
const ciKubeconfig = api.writeKubeconfig(join(dir, 'ci.kubeconfig'), { token: CI_TOKEN, namespace: 'shop' });
const ciKc = loadKubeConfig({ kubeconfig: ciKubeconfig }).kubeConfig;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

t.test('SubjectAccessReview carries user.extra and uid from the TokenReview', async (t) => {
  const authn = new KubernetesAuthenticator(kubeTokenReviewer(agentKc));
  const authz = new KubernetesAuthorizer(kubeAccessReviewer(agentKc), kubePodLocator(agentKc), { nodeName: NODE });
  const target = { containerId: 'c'.repeat(64), namespace: 'shop', podName: 'shop-1', podUid: 'uid-shop-1' };

  const scoped = await authn.authenticate(bearer(SCOPED_TOKEN));
  t.same(scoped.extra, { [SCOPE]: ['read-only'] }, 'the identity keeps user.extra');
  await t.rejects(authz.authorizeTarget(scoped, target as never), {
    code: 'FORBIDDEN',
    message: /the token is scoped read-only/,
  });
  t.match(api.accessReviews.at(-1), {
    user: 'alice',
    uid: 'u-alice',
    groups: ['system:authenticated'],
    extra: { [SCOPE]: ['read-only'] },
    resourceAttributes: { namespace: 'shop', verb: 'create', resource: 'pods', subresource: 'exec', name: 'shop-1' },
  });

  // The same user without the scope: allowed, and the cached "no" of the scoped token is not reused for it.
  const whole = await authn.authenticate(bearer(ALICE_TOKEN));
  t.equal(whole.extra, undefined);
  await authz.authorizeTarget(whole, target as never);
  t.notOk('extra' in (api.accessReviews.at(-1) ?? {}), 'no extra when the TokenReview gave none');
});

t.test('--token-audience: only tokens bound to the agent audience', async (t) => {
  const authn = new KubernetesAuthenticator(kubeTokenReviewer(agentKc), { audiences: [AUDIENCE] });
  await t.rejects(authn.authenticate(bearer(ALICE_TOKEN)), {
    code: 'UNAUTHENTICATED',
    message: new RegExp(
      `token audiences \\["${API_AUDIENCE.replace(/\./g, '\\.')}"\\] is invalid for the target audiences \\["${AUDIENCE}"\\]`,
    ),
  });
  const minted = await new AudienceTokenSource(ciKc, { audience: AUDIENCE }).token();
  t.match(api.tokenRequests.at(-1), {
    serviceAccount: 'ci/profiler',
    spec: { audiences: [AUDIENCE], expirationSeconds: 3600 },
  });
  const who = await authn.authenticate(bearer(minted));
  t.equal(who.username, CI_USER);
  t.match(who.extra, { 'authentication.kubernetes.io/credential-id': [/^JTI=/] });

  // The API server itself does not take it: a token an agent receives is no good against the API.
  const stolen = loadKubeConfig({ kubeconfig: api.writeKubeconfig(join(dir, 'stolen.kubeconfig'), { token: minted }) });
  await t.rejects(new KubeLookup(stolen.kubeConfig).readPod('shop', 'shop-1'), { code: 'UNAUTHENTICATED' });
  // Without --token-audience the agent asks for the API server's audience: the minted token is refused there too.
  await t.rejects(new KubernetesAuthenticator(kubeTokenReviewer(agentKc)).authenticate(bearer(minted)), {
    code: 'UNAUTHENTICATED',
  });
});

t.test('an authenticator that ignores spec.audiences is not believed', async (t) => {
  const unaware = {
    review: async () => ({ authenticated: true, user: { username: 'alice', groups: [] } }),
  };
  const authn = new KubernetesAuthenticator(unaware, { audiences: [AUDIENCE] });
  await t.rejects(authn.authenticate(bearer(ALICE_TOKEN)), {
    code: 'UNAUTHENTICATED',
    message: /not bound to this agent's audience \(podflame-agent\).*kubectl create token/,
  });
  t.equal((await new KubernetesAuthenticator(unaware).authenticate(bearer(ALICE_TOKEN))).username, 'alice');
});

t.test('AudienceTokenSource: its own service account, reused until 80% of its lifetime, then renewed', async (t) => {
  let now = Date.now();
  const source = new AudienceTokenSource(ciKc, { audience: AUDIENCE, expirationSeconds: 1000, now: () => now });
  const before = api.tokenRequests.length;
  const selfReviews = (): number =>
    api.requests.filter((r) => r.url === '/apis/authentication.k8s.io/v1/selfsubjectreviews').length;
  const reviewsBefore = selfReviews();
  const first = await source.token();
  t.equal(await source.token(), first, 'reused');
  now += 700_000;
  t.equal(await source.token(), first, 'at 70% still reused');
  now += 150_000;
  const second = await source.token();
  t.not(second, first, 'renewed past 80%');
  t.equal(api.tokenRequests.length - before, 2);
  t.equal(selfReviews() - reviewsBefore, 1, 'asked who it is once');

  const alice = loadKubeConfig({
    kubeconfig: api.writeKubeconfig(join(dir, 'alice.kubeconfig'), { token: ALICE_TOKEN }),
  });
  await t.rejects(new AudienceTokenSource(alice.kubeConfig, { audience: AUDIENCE }).token(), {
    code: 'USAGE',
    message: /only a service account can mint a token for the agents' audience podflame-agent, and you are alice/,
  });
  await t.rejects(
    new AudienceTokenSource(ciKc, { audience: AUDIENCE, serviceAccount: { namespace: 'ci', name: 'ghost' } }).token(),
    { code: 'KUBERNETES_API_ERROR', message: /service account ci\/ghost/ },
  );
});

t.test(
  'PodflameClient agentTokenAudience: the agents get the minted token, the API server the kubeconfig one',
  async (t) => {
    const seen: { authorization?: string; podflame?: string }[] = [];
    const listener = http.createServer((req, res) => {
      seen.push({
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
        ...(req.headers['x-podflame-authorization']
          ? { podflame: String(req.headers['x-podflame-authorization']) }
          : {}),
      });
      req.resume();
      res.writeHead(404, { 'content-type': 'application/json', 'x-podflame-node': NODE });
      res.end(JSON.stringify({ error: { code: 'TARGET_NOT_FOUND', message: 'none here' } }));
    });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.31', r));
    t.teardown(() => new Promise<void>((r) => listener.close(() => r())));
    api.putPod(makeAgentPod({ nodeName: NODE, podIP: '127.0.0.31', port: (listener.address() as AddressInfo).port }));
    for (const via of ['direct', 'proxy'] as const) {
      const client = new PodflameClient({
        kubeconfig: ciKubeconfig,
        via,
        agentTokenAudience: AUDIENCE,
        // A plain-HTTP stand-in agent: the transport rule is tested in test/client/token-transport.test.ts.
        insecureSendTokenOverHttp: true,
      });
      t.teardown(() => client.close());
      await t.rejects(client.profilePod({ pod: 'shop-1', durationSeconds: 1 }), { code: 'TARGET_NOT_FOUND' });
    }
    const [direct, proxied] = seen;
    t.match(direct?.podflame, /^Bearer minted-/, 'direct: the minted token');
    t.equal(direct?.authorization, direct?.podflame, 'direct: in both headers');
    t.match(proxied?.podflame, /^Bearer minted-/, 'proxy: the minted token for the agent');
    t.equal(proxied?.authorization, undefined, 'proxy: Authorization was for the API server');
    t.equal(
      api.proxied.at(-1) && api.requests.at(-1)?.headers.authorization,
      `Bearer ${CI_TOKEN}`,
      'the API server got the kubeconfig token',
    );
    const token = direct?.podflame?.replace('Bearer ', '') ?? '';
    t.match(api.reviewToken(token, [AUDIENCE]), { user: { username: CI_USER } }, 'good for the agent audience');
    t.match(api.reviewToken(token, undefined), { error: /invalid for the target audiences/ }, 'not for the API server');
  },
);

t.test('agent flags: --token-audience parses, and needs --auth kubernetes', async (t) => {
  const parsed = parseAgentConfig({
    argv: ['--auth', 'kubernetes', '--listen', '0.0.0.0:7070', '--token-audience', 'podflame-agent,other'],
    env: {},
    hostname: 'n',
  });
  t.match(parsed, { kind: 'config', config: { tokenAudiences: ['podflame-agent', 'other'] } });
  t.match(parseAgentConfig({ argv: [], env: { PODFLAME_TOKEN_AUDIENCE: 'a' }, hostname: 'n' }), {
    config: { tokenAudiences: ['a'] },
  });
  t.throws(() => parseAgentConfig({ argv: ['--token-audience', 'a,,b'], env: {}, hostname: 'n' }), {
    code: 'CONFIG_INVALID',
  });
  t.throws(
    () =>
      createLocalAccessControl({ auth: 'none', tokenAudiences: ['a'], nodeName: 'n', listen: { host: '127.0.0.1' } }),
    { code: 'CONFIG_INVALID', message: /--token-audience is only used with --auth kubernetes/ },
  );
});
