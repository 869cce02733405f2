// Routes to an agent (direct and through the API server's pod proxy), the `auto` rule, per-node pools, bounded
// fan-out and how failed answers read.
import { createServer, type Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import type { AgentPod } from '../../client/kube/agent-discovery.js';
import type { ApiCredentials } from '../../client/kube/api-credentials.js';
import { directRoute, proxyRoute } from '../../client/routing/agent-route.js';
import { AgentRouter } from '../../client/routing/agent-router.js';
import { runBounded } from '../../client/routing/bounded.js';
import { canConnect } from '../../client/routing/tcp-probe.js';
import { errorFromAnswer } from '../../client/transport/agent-errors.js';
import { AgentPools } from '../../client/transport/agent-pools.js';

const agent: AgentPod = {
  name: 'podflame-agent-x7k2p',
  namespace: 'podflame',
  nodeName: 'node-a',
  podIP: '127.0.0.2',
  port: 7070,
  phase: 'Running',
  ready: true,
  version: '0.1.0',
};
const creds: ApiCredentials = {
  server: 'https://10.96.0.1:6443',
  bearerToken: 'tok',
  headers: { Authorization: 'Bearer tok', 'Impersonate-User': 'alice' },
  tls: { ca: Buffer.from('CA') },
};

t.test('direct: the pod IP and port, the token as Authorization and X-Podflame-Authorization', async (t) => {
  t.same(directRoute(agent, creds), {
    via: 'direct',
    node: 'node-a',
    agentPod: 'podflame-agent-x7k2p',
    origin: 'http://127.0.0.2:7070',
    basePath: '',
    headers: { authorization: 'Bearer tok', 'x-podflame-authorization': 'Bearer tok' },
    tls: {},
  });
  t.equal(directRoute({ ...agent, podIP: 'fd00::5' }, creds).origin, 'http://[fd00::5]:7070');
  const tls = directRoute(agent, creds, { ca: 'PEM', servername: 'agent.podflame' });
  t.equal(tls.origin, 'https://127.0.0.2:7070');
  t.same(tls.tls, { ca: Buffer.from('PEM'), servername: 'agent.podflame' });
  t.same(directRoute(agent, { ...creds, bearerToken: undefined }).headers, {}, 'no token: no credential headers');
});

t.test(
  "proxy: the API server's pod proxy path, the API credentials, the token as X-Podflame-Authorization",
  async (t) => {
    const r = proxyRoute(agent, creds);
    t.equal(r.origin, 'https://10.96.0.1:6443');
    t.equal(r.basePath, '/api/v1/namespaces/podflame/pods/podflame-agent-x7k2p:7070/proxy');
    t.same(r.headers, {
      authorization: 'Bearer tok',
      'impersonate-user': 'alice',
      'x-podflame-authorization': 'Bearer tok',
    });
    t.same(r.tls, creds.tls, "the kubeconfig's CA and client certificate");
    t.equal(
      proxyRoute(agent, { ...creds, server: 'https://rancher.example/k8s/clusters/c-1/' }).basePath,
      '/k8s/clusters/c-1/api/v1/namespaces/podflame/pods/podflame-agent-x7k2p:7070/proxy',
      'an API server behind a path prefix keeps it',
    );
    t.equal(
      proxyRoute(agent, creds, { ca: 'PEM' }).basePath,
      '/api/v1/namespaces/podflame/pods/https:podflame-agent-x7k2p:7070/proxy',
      'HTTPS agents: the https: scheme prefix',
    );
  },
);

t.test('auto: direct when the agent pod IP answers a TCP connect, else proxy; probed once per address', async (t) => {
  const server: Server = createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.2', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as { port: number }).port;
  const router = new AgentRouter({ via: 'auto', probeTimeoutMs: 500 });
  t.equal((await router.route({ ...agent, port }, creds)).via, 'direct');
  // A closed port on another loopback address: refused at once.
  const closed = await new Promise<number>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.3', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  t.equal((await router.route({ ...agent, podIP: '127.0.0.3', port: closed }, creds)).via, 'proxy');
  t.equal((await router.route({ ...agent, podIP: undefined }, creds)).via, 'proxy', 'no pod IP: proxy');
  t.equal((await new AgentRouter({ via: 'direct' }).route(agent, creds)).via, 'direct');
  t.equal((await new AgentRouter({ via: 'proxy' }).route({ ...agent, port }, creds)).via, 'proxy');
  t.equal(await canConnect('127.0.0.2', port, 500), true);
  t.equal(await canConnect('127.0.0.3', closed, 500), false);
  const aborted = AbortSignal.abort();
  t.equal(await canConnect('127.0.0.2', port, 500, aborted), false, 'an aborted probe is a no');
});

t.test('one pool per node, made on first use and closed once idle', async (t) => {
  const pools = new AgentPools({ idleTimeoutMs: 50 });
  t.teardown(() => pools.close());
  const a = directRoute(agent, creds);
  const b = directRoute({ ...agent, nodeName: 'node-b', podIP: '127.0.0.3' }, creds);
  t.same(pools.openKeys(), [], 'nothing until used');
  const l1 = pools.lease(a);
  const l2 = pools.lease(a);
  const l3 = pools.lease(b);
  t.equal(l1.pool, l2.pool, 'the same node shares its pool');
  t.not(l1.pool, l3.pool, 'another node has its own');
  t.same(pools.openKeys(), ['node-a http://127.0.0.2:7070', 'node-b http://127.0.0.3:7070']);
  l1.release();
  l1.release(); // idempotent
  l3.release();
  await sleep(120);
  t.same(pools.openKeys(), ['node-a http://127.0.0.2:7070'], 'node-b idle: closed; node-a still leased');
  l2.release();
  const again = pools.lease(a);
  t.equal(again.pool, l1.pool, 'leased again before the idle timeout: kept');
  again.release();
  await sleep(120);
  t.same(pools.openKeys(), []);
  t.ok(l1.pool.closed, 'the idle pool was closed');
  await pools.close();
  await pools.close();
  t.throws(() => pools.lease(a), /closed/);
});

t.test('bounded fan-out: limits in flight overall and per node, keeps every outcome', async (t) => {
  let inFlight = 0;
  let maxInFlight = 0;
  const perNode = new Map<string, number>();
  let maxPerNode = 0;
  const tasks = Array.from({ length: 12 }, (_, i) => ({
    key: `node-${i % 3}`,
    run: async (): Promise<number> => {
      inFlight++;
      perNode.set(`node-${i % 3}`, (perNode.get(`node-${i % 3}`) ?? 0) + 1);
      maxInFlight = Math.max(maxInFlight, inFlight);
      maxPerNode = Math.max(maxPerNode, ...perNode.values());
      await sleep(5 + (i % 4));
      inFlight--;
      perNode.set(`node-${i % 3}`, (perNode.get(`node-${i % 3}`) ?? 1) - 1);
      if (i === 4) throw new Error('pod 4 failed');
      return i;
    },
  }));
  const results = await runBounded(tasks, 4, 2);
  t.equal(maxInFlight, 4);
  t.equal(maxPerNode, 2);
  t.equal(results.length, 12);
  t.match(results[4], { status: 'rejected', reason: { message: 'pod 4 failed' } });
  t.same(
    results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<number>).value),
    [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11],
  );
  t.same(await runBounded([], 2, 1), []);
  await t.rejects(runBounded(tasks, 0, 1), RangeError);
});

t.test("failed answers: the agent's own error keeps its code; the API server's Status says what to do", async (t) => {
  const proxy = proxyRoute(agent, creds);
  const answer = (
    statusCode: number,
    body: unknown,
  ): { statusCode: number; headers: Record<string, string>; body: Buffer } => ({
    statusCode,
    headers: {},
    body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
  });
  t.match(
    errorFromAnswer(
      proxy,
      answer(403, { error: { code: 'FORBIDDEN', message: 'user "bob" may not create pods/exec in namespace shop' } }),
    ),
    {
      code: 'FORBIDDEN',
      message:
        'the podflame agent on node node-a (pod podflame-agent-x7k2p, via proxy) refused the request: user "bob" may not create pods/exec in namespace shop',
    },
  );
  t.match(
    errorFromAnswer(proxy, answer(500, { error: { code: 'CAPTURE_FAILED', message: 'perf: permission denied' } })),
    { code: 'CAPTURE_FAILED', message: /answered: perf: permission denied$/ },
  );
  const status = (code: number, message: string): unknown => ({
    kind: 'Status',
    apiVersion: 'v1',
    status: 'Failure',
    message,
    code,
  });
  t.match(errorFromAnswer(proxy, answer(401, status(401, 'Unauthorized'))), {
    code: 'UNAUTHENTICATED',
    message: /API server refused your credentials on the pod proxy/,
  });
  t.match(
    errorFromAnswer(
      proxy,
      answer(
        403,
        status(403, 'pods "podflame-agent-x7k2p" is forbidden: User "bob" cannot create resource "pods/proxy"'),
      ),
    ),
    { code: 'FORBIDDEN', message: /does not let you use the pod proxy.*pods\/proxy.*or use --via direct/ },
  );
  t.match(errorFromAnswer(proxy, answer(503, status(503, 'error trying to reach service: dial tcp 10.1.2.3:7070'))), {
    code: 'AGENT_UNREACHABLE',
    message: /could not pass the request on to .*error trying to reach service/,
  });
  t.match(errorFromAnswer(directRoute(agent, creds), answer(502, '<html>bad gateway</html>')), {
    code: 'AGENT_UNREACHABLE',
    message: /answered HTTP 502: <html>bad gateway<\/html>/,
  });
  t.match(errorFromAnswer(directRoute(agent, creds), answer(401, '')), {
    code: 'UNAUTHENTICATED',
    message: /\(empty body\)/,
  });
});
