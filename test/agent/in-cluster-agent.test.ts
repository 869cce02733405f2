// The built agent as it runs in a pod: KUBERNETES_SERVICE_HOST/_PORT set and the service account's files (here in
// PODFLAME_SERVICE_ACCOUNT_DIR, kubelet's mount stood in for), no --kubeconfig. It watches its node's pods and checks
// callers with TokenReview and SubjectAccessReview through the stand-in API server, with the service account's token,
// and never loads @kubernetes/client-node (some 70 MiB of idle memory): none of the CommonJS packages only
// client-node uses is in its require cache at exit.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { requireBuild } from '../helpers/built.js';
import { PRINT_CJS_CACHE, cjsFilesFrom } from '../helpers/cjs-cache.js';
import { startAgentProcess } from '../helpers/agent-process.js';
import { FakeKubeApi, makePod } from '../helpers/fake-kube-api.js';
import { waitFor } from '../helpers/wait-for.js';

const AGENT_TOKEN = 'in-cluster-agent-token-0123456789';
// CommonJS dependencies of @kubernetes/client-node that nothing else of the agent uses.
const CLIENT_NODE_ONLY = ['node-fetch', 'hpagent', 'ws', 'socks-proxy-agent', 'isomorphic-ws'];

t.test('in a pod: pods watched and callers checked through the service account, without client-node', async (t) => {
  requireBuild();
  const api = new FakeKubeApi({
    tokens: {
      [AGENT_TOKEN]: { username: 'system:serviceaccount:podflame:podflame-agent' },
      'alice-token': { username: 'alice' },
    },
  });
  await api.start();
  t.teardown(() => api.close());
  api.putPod(makePod({ namespace: 'shop', name: 'web-1', uid: 'uid-web-1', nodeName: 'node-a', containers: [] }));
  const dir = mkdtempSync(join(tmpdir(), 'podflame-in-cluster-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sa = join(dir, 'serviceaccount');
  mkdirSync(sa);
  writeFileSync(join(sa, 'token'), AGENT_TOKEN);
  writeFileSync(join(sa, 'ca.crt'), api.caPem as string);

  const agent = await startAgentProcess(
    [
      ...['--runtime', 'docker', '--docker-socket', join(dir, 'no-engine.sock'), '--listen', '127.0.0.1:0'],
      ...['--data-dir', join(dir, 'data'), '--node-name', 'node-a', '--auth', 'kubernetes'],
    ],
    {
      nodeArgs: ['--import', PRINT_CJS_CACHE],
      env: {
        KUBERNETES_SERVICE_HOST: '127.0.0.1',
        KUBERNETES_SERVICE_PORT: new URL(api.url).port,
        PODFLAME_SERVICE_ACCOUNT_DIR: sa,
      },
    },
  );
  t.teardown(() => agent.stop());
  await waitFor(() => api.podWatchCount === 1, 30_000, "the agent's pod watch", 20);
  t.ok(
    agent.logs.some((l) => l.msg === 'watching the pods of this node' && l.pods === 1),
    'the pods of node-a listed',
  );
  const lists = api.requests.filter((r) => r.url.startsWith('/api/v1/pods?'));
  t.ok(lists.length >= 2, 'a list and a watch');
  t.ok(
    lists.every((r) => r.headers.authorization === `Bearer ${AGENT_TOKEN}`),
    "with the service account's token",
  );

  const ask = (token: string) =>
    fetch(`${agent.url}/v1/schedules/none?namespace=shop`, { headers: { Authorization: `Bearer ${token}` } });
  const allowed = await ask('alice-token');
  t.equal(allowed.status, 404, 'alice is authenticated and allowed; the schedule does not exist');
  t.match(await allowed.json(), { error: { code: 'SCHEDULE_NOT_FOUND' } });
  const review = api.requests.find((r) => r.url === '/apis/authentication.k8s.io/v1/tokenreviews');
  t.equal(review?.headers.authorization, `Bearer ${AGENT_TOKEN}`, 'the TokenReview is sent as the agent');
  t.match(api.accessReviews.at(-1), { user: 'alice', resourceAttributes: { namespace: 'shop' } });
  const refused = await ask('not-a-token');
  t.equal(refused.status, 401);

  const exit = await agent.stop();
  t.equal(exit.code, 0);
  const loaded = cjsFilesFrom(agent.stderr(), exit.code);
  t.ok(
    loaded.some((f) => f.includes('/node_modules/express/')),
    'the list holds the CommonJS packages loaded (express)',
  );
  t.same(
    loaded.filter((f) => CLIENT_NODE_ONLY.some((p) => f.includes(`/node_modules/${p}/`))),
    [],
    'no package only @kubernetes/client-node uses',
  );
});
