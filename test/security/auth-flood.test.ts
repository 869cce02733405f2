// Unauthenticated floods against `--auth kubernetes` (issue #13, finding 5): real agents over the in-memory engine,
// authenticating through @kubernetes/client-node against the stand-in API server, whose recorded requests count the
// TokenReviews. Junk tokens from one address cost at most the address's budget of reviews; a caller already known
// still gets in from that address; reviews in flight are capped; junk tokens never evict an accepted identity; one
// request costs one review whichever headers carry the token.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { Agent as UndiciAgent, request, type Dispatcher } from 'undici';
import { createAccessControl } from '../../agent/access/access-control.js';
import { Agent } from '../../agent/agent.js';
import type { AgentConfig } from '../../agent/config.js';
import { addressKey } from '../../agent/server/middleware/authenticate.js';
import { kubeTokenReviewer } from '../../agent/auth/kube-token-reviewer.js';
import { KubernetesAuthenticator, type KubernetesAuthenticatorOptions } from '../../agent/auth/token-review.js';
import { AllowAllAuthorizer } from '../../agent/authz/authorizer.js';
import { agentKubeApi, FakeKubeApi } from '../helpers/fake-kube-api.js';
import { FakeRuntime } from '../agent/fake-runtime.js';
import { memoryLogger, testConfig } from '../agent/http.js';
import { waitFor } from '../helpers/wait-for.js';

const AGENT_TOKEN = 'agent-sa-token-5d1e0c3b9a7f';
const ALICE_TOKEN = 'alice-token-8c2f4e6a1b3d';
const BOB_TOKEN = 'bob-token-0e9d8c7b6a5f';

const api = new FakeKubeApi({
  tokens: {
    [AGENT_TOKEN]: { username: 'system:serviceaccount:podflame:podflame-agent' },
    [ALICE_TOKEN]: { username: 'alice', groups: ['developers'] },
    [BOB_TOKEN]: { username: 'bob', groups: ['developers'] },
  },
  authorize: () => ({ allowed: true }),
});
const dir = mkdtempSync(join(tmpdir(), 'podflame-flood-'));
let kubeconfig = '';
t.before(async () => {
  await api.start();
  kubeconfig = api.writeKubeconfig(join(dir, 'agent.kubeconfig'), { token: AGENT_TOKEN });
});
t.teardown(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

const tokenReviews = (): number => api.requests.filter((r) => r.url.includes('/tokenreviews')).length;

async function startAgent(
  t: Test,
  overrides: Partial<AgentConfig> = {},
  authenticator?: KubernetesAuthenticatorOptions,
): Promise<string> {
  const config = testConfig({ auth: 'kubernetes', kubeconfig, rateLimitPerMinute: 0, ...overrides });
  const access = authenticator
    ? {
        authenticator: new KubernetesAuthenticator(kubeTokenReviewer(agentKubeApi(kubeconfig)), authenticator),
        authorizer: new AllowAllAuthorizer(),
      }
    : await createAccessControl(
        { auth: 'kubernetes', nodeName: config.nodeName, listen: config.listen },
        { kubeApi: agentKubeApi(kubeconfig) },
      );
  const agent = new Agent({ config, runtime: new FakeRuntime(), logger: memoryLogger().logger, access });
  const { url } = await agent.start();
  t.teardown(() => agent.close());
  return url;
}

/** Connections from one loopback address (127.0.0.0/8 all reach the agent). */
function from(t: Test, localAddress: string): Dispatcher {
  const dispatcher = new UndiciAgent({ localAddress });
  t.teardown(() => dispatcher.close());
  return dispatcher;
}

async function targets(url: string, headers: Record<string, string>, dispatcher?: Dispatcher) {
  const res = await request(`${url}/v1/targets`, { headers, ...(dispatcher ? { dispatcher } : {}) });
  const text = await res.body.text();
  const error =
    res.statusCode >= 400 ? (JSON.parse(text) as { error: { code: string; message: string } }).error : undefined;
  return {
    status: res.statusCode,
    code: error?.code ?? 'ok',
    message: error?.message ?? '',
    retryAfter: res.headers['retry-after'],
  };
}

/** Runs `count` tasks, `width` at a time. */
async function inParallel<T>(count: number, width: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await task(i);
      }
    }),
  );
  return out;
}

t.test('address keys', async (t) => {
  t.equal(addressKey('127.0.0.1'), '127.0.0.1');
  t.equal(addressKey('::ffff:10.1.2.3'), '10.1.2.3', 'IPv4-mapped is IPv4');
  t.equal(addressKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64', 'IPv6 by its /64');
  t.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  t.equal(addressKey('::1'), '0:0:0:0::/64');
});

t.test('300 junk-token requests from one address cause at most 60 TokenReviews', { timeout: 120_000 }, async (t) => {
  const url = await startAgent(t);
  t.equal((await targets(url, { authorization: `Bearer ${ALICE_TOKEN}` })).status, 200, 'alice is known first');
  const before = tokenReviews();
  const answers = await inParallel(300, 50, (i) => targets(url, { authorization: `Bearer junk-token-${i}` }));
  const reviews = tokenReviews() - before;
  const count = (code: string) => answers.filter((a) => a.code === code).length;
  t.ok(reviews <= 60, `${reviews} TokenReviews for 300 junk tokens`);
  t.equal(count('UNAUTHENTICATED'), reviews, 'each review was a 401');
  t.equal(count('RATE_LIMITED'), 300 - reviews, 'the rest: 429 without a review');
  t.ok(
    answers.filter((a) => a.code === 'RATE_LIMITED').every((a) => Number(a.retryAfter) >= 1),
    'with Retry-After',
  );

  const alice = await targets(url, { authorization: `Bearer ${ALICE_TOKEN}` });
  t.equal(alice.status, 200, 'a caller already known still gets in from the flooded address');
  const bob = await targets(url, { authorization: `Bearer ${BOB_TOKEN}` });
  t.equal(bob.code, 'RATE_LIMITED', 'a token not yet known waits for the address budget');
  t.equal(tokenReviews() - before, reviews, 'neither asked the API server');
  const elsewhere = await targets(url, { authorization: `Bearer ${BOB_TOKEN}` }, from(t, '127.0.0.2'));
  t.equal(elsewhere.status, 200, 'another address has its own budget');
});

t.test(
  'while TokenReviews fail, 300 junk tokens from one address still cause at most 60',
  { timeout: 120_000 },
  async (t) => {
    // Issue #13, cold attacker F4: an API server answering 502 (or not at all) must not lift the address budget, or a
    // flood during an outage sends it one TokenReview per request; yet a failed review is no verdict on the token.
    const url = await startAgent(t);
    api.tokenReviewFailure = 502;
    t.teardown(() => (api.tokenReviewFailure = undefined));
    const before = tokenReviews();
    const aliceDuringOutage = await targets(url, { authorization: `Bearer ${ALICE_TOKEN}` }, from(t, '127.0.0.2'));
    t.equal(aliceDuringOutage.code, 'KUBERNETES_API_ERROR', "alice's review failed: 502");
    t.equal(tokenReviews() - before, 1, 'one review for alice');

    const flood = tokenReviews();
    // 8 at a time, below the cap of 16 reviews in flight: only the address budget can stop a review.
    const answers = await inParallel(300, 8, (i) => targets(url, { authorization: `Bearer outage-junk-${i}` }));
    const reviews = tokenReviews() - flood;
    const count = (code: string) => answers.filter((a) => a.code === code).length;
    t.ok(reviews <= 60, `${reviews} TokenReviews for 300 junk tokens while reviews fail`);
    t.equal(count('KUBERNETES_API_ERROR'), reviews, 'each review was a 502');
    t.equal(
      answers.filter((a) => a.code === 'RATE_LIMITED' && /from 127\.0\.0\.1: at most 30 per minute/.test(a.message))
        .length,
      300 - reviews,
      "the rest: 429 on the address's budget, without a review",
    );

    api.tokenReviewFailure = undefined;
    const alice = await targets(url, { authorization: `Bearer ${ALICE_TOKEN}` }, from(t, '127.0.0.2'));
    t.equal(alice.status, 200, 'once the API server is back, the token whose review failed is accepted');
    t.equal(tokenReviews() - flood, reviews + 1, 'it was reviewed again, not refused from a cache');
  },
);

t.test('while TokenReviews time out, junk tokens spend the address budget too', { timeout: 120_000 }, async (t) => {
  const url = await startAgent(t, {}, { timeoutMs: 100 });
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  api.tokenReviewGate = () => held;
  t.teardown(() => {
    api.tokenReviewGate = undefined;
    release();
  });
  const before = tokenReviews();
  // One at a time, so the cap on reviews in flight never answers for the budget: only the budget can stop them.
  const answers = await inParallel(60, 1, (i) => targets(url, { authorization: `Bearer slow-junk-${i}` }));
  const reviews = tokenReviews() - before;
  const count = (code: string) => answers.filter((a) => a.code === code).length;
  t.ok(reviews < 60 && reviews >= 30, `${reviews} TokenReviews for 60 junk tokens, the burst of 30 and its refill`);
  t.equal(count('KUBERNETES_API_ERROR'), reviews, 'each review timed out: 502');
  t.equal(
    answers.filter((a) => a.code === 'RATE_LIMITED' && /from 127\.0\.0\.1: at most 30 per minute/.test(a.message))
      .length,
    60 - reviews,
    "the rest: 429 on the address's budget, without a review",
  );
});

t.test('TokenReviews in flight are capped at 16', { timeout: 120_000 }, async (t) => {
  const url = await startAgent(t);
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  api.tokenReviewGate = () => held;
  t.teardown(() => {
    api.tokenReviewGate = undefined;
    release();
  });
  const before = tokenReviews();
  // 40 addresses with one junk token each: no address runs out of budget, only the cap can stop them.
  const pending = Array.from({ length: 40 }, (_, i) =>
    targets(url, { authorization: `Bearer held-junk-${i}` }, from(t, `127.0.1.${i + 1}`)),
  );
  const settled: { code: string; message: string }[] = [];
  for (const p of pending) void p.then((a) => settled.push(a));
  await waitFor(() => settled.length === 24, 60_000, 'the requests beyond the cap answered');
  t.equal(tokenReviews() - before, 16, '16 reviews reached the API server');
  t.ok(
    settled.every((a) => a.code === 'RATE_LIMITED' && /already checking 16 tokens/.test(a.message)),
    'those beyond the cap: 429 without waiting for the API server',
  );
  release();
  const all = await Promise.all(pending);
  t.equal(all.filter((a) => a.code === 'UNAUTHENTICATED').length, 16);
  t.equal(tokenReviews() - before, 16);
});

t.test('a real caller stays cached after 1,100 junk tokens', { timeout: 300_000 }, async (t) => {
  // No address budget here: the point is what the caches keep when junk tokens do get reviewed. The agent's own
  // TokenReview path with the default cache sizes, but a TTL longer than the flood takes on a busy machine.
  const url = await startAgent(t, { authFailureLimitPerMinute: 0 }, { cacheTtlMs: 3_600_000 });
  t.equal((await targets(url, { authorization: `Bearer ${ALICE_TOKEN}` })).status, 200);
  const before = tokenReviews();
  const answers = await inParallel(1100, 8, (i) => targets(url, { authorization: `Bearer flush-token-${i}` }));
  t.ok(
    answers.every((a) => a.code === 'UNAUTHENTICATED'),
    'every junk token refused',
  );
  t.equal(tokenReviews() - before, 1100, 'each junk token reviewed once');
  const again = await targets(url, { authorization: `Bearer ${ALICE_TOKEN}` });
  t.equal(again.status, 200);
  t.equal(tokenReviews() - before, 1100, 'alice answered from the cache: no new TokenReview');
});

t.test('one request, one TokenReview, whichever headers carry the token', async (t) => {
  const url = await startAgent(t);
  const cases: [string, Record<string, string>][] = [
    ['Authorization only', { authorization: 'Bearer one-header-junk' }],
    ['X-Podflame-Authorization only', { 'x-podflame-authorization': 'Bearer podflame-header-junk' }],
    ['both, the same token', { authorization: 'Bearer both-junk', 'x-podflame-authorization': 'Bearer both-junk' }],
    [
      'both, different tokens',
      { authorization: 'Bearer direct-junk', 'x-podflame-authorization': 'Bearer proxied-junk' },
    ],
  ];
  for (const [what, headers] of cases) {
    const before = tokenReviews();
    t.equal((await targets(url, headers)).code, 'UNAUTHENTICATED', what);
    t.equal(tokenReviews() - before, 1, `${what}: one review`);
  }
  const before = tokenReviews();
  const both = await targets(url, {
    authorization: 'Bearer direct-junk',
    'x-podflame-authorization': `Bearer ${ALICE_TOKEN}`,
  });
  t.equal(both.status, 200, 'X-Podflame-Authorization is the one reviewed');
  t.equal(tokenReviews() - before, 1);
});
