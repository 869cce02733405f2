// The client reaches the agent on the pod's own node — directly on the agent pod's IP and through the API server's
// pod proxy — checked by the node each real agent names (X-Podflame-Node). The agents serve HTTPS, their CA published
// in ConfigMap podflame/podflame-agent-ca (cluster.ts), so both routes are TLS to the agent. No capture runs here: the pods' UIDs are
// unknown to Docker, so each agent answers with its own TARGET_NOT_FOUND, which says which agent it was.
import t from 'tap';
import { PodflameClient } from '../../client/profile-pod.js';
import { AgentRouter } from '../../client/routing/agent-router.js';
import { AgentTransport } from '../../client/transport/agent-transport.js';
import { resolveApiCredentials } from '../../client/kube/api-credentials.js';
import { findAgentOnNode } from '../../client/kube/agent-discovery.js';
import { KubeLookup } from '../../client/kube/kube-lookup.js';
import { makeAgentPod, makePod, type AuthorizationAttributes } from '../helpers/fake-kube-api.js';
import { makeSelfSignedCert } from '../helpers/self-signed-cert.js';
import { AGENT_SERVER_NAME } from '../security/tls-material.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { registerProfile } from '../../client/cli/commands/profile.js';
import { startAgent, startKubeTestCluster, type KubeTestCluster } from './cluster.js';
import { runInProcess } from '../helpers/cli-io.js';

t.setTimeout(180_000);

const USERS = {
  'test-token': { username: 'tester' },
  'no-proxy-token': { username: 'no-proxy' },
  // Long enough for an agent's --token-file (16 characters at least).
  'alice-token-0123456789abcdef': { username: 'alice' },
};

let cluster: KubeTestCluster;
let kubeconfig: string;

t.before(async () => {
  cluster = await startKubeTestCluster({
    captureImage: 'podflame-perf:latest',
    api: {
      tokens: USERS,
      authorize: (a: AuthorizationAttributes) => ({
        allowed: !(a.user.username === 'no-proxy' && a.subresource === 'proxy'),
      }),
    },
  });
  const { api } = cluster;
  const pod = (name: string, node: string, n: number, extra: Partial<Parameters<typeof makePod>[0]> = {}): void =>
    api.putPod(
      makePod({
        namespace: 'shop',
        name,
        uid: `5b7d4c1e-0000-4000-8000-${String(n).padStart(12, '0')}`,
        nodeName: node,
        podIP: `10.0.0.${n}`,
        labels: { app: 'shop' },
        containers: [{ name: 'app' }],
        ...extra,
      }),
    );
  pod('shop-a1', 'node-a', 1);
  pod('shop-b1', 'node-b', 2);
  pod('shop-pending', 'node-b', 3, { phase: 'Pending' });
  pod('lonely', 'node-c', 4, { labels: { app: 'lonely' } });
  // node-c's agent pod has an address nothing listens on.
  api.putPod(makeAgentPod({ nodeName: 'node-c', podIP: '127.0.0.4', port: 9 }));
  kubeconfig = cluster.kubeconfig('tester', { namespace: 'shop' });
});
t.teardown(() => cluster?.close());

for (const via of ['direct', 'proxy'] as const) {
  t.test(`via ${via}: each pod's request reaches the agent on its own node`, async (t) => {
    const client = new PodflameClient({ kubeconfig, via });
    t.teardown(() => client.close());
    for (const [pod, node] of [
      ['shop-a1', 'node-a'],
      ['shop-b1', 'node-b'],
    ] as const) {
      const proxiedBefore = cluster.api.proxied.length;
      await t.rejects(client.profilePod({ pod, durationSeconds: 1 }), {
        code: 'TARGET_NOT_FOUND',
        details: { node, answeredNode: node, via, agentPod: `podflame-agent-${node}` },
      });
      const proxied = cluster.api.proxied.slice(proxiedBefore);
      if (via === 'proxy') {
        t.equal(proxied.length, 1, 'one request through the pod proxy');
        t.match(proxied[0], {
          pod: `podflame/podflame-agent-${node}`,
          target: `https://${node === 'node-a' ? '127.0.0.2' : '127.0.0.3'}:${cluster.agents[0]?.port}`,
          method: 'POST',
          path: '/v1/profiles',
        });
        t.equal(proxied[0]?.headers.authorization, undefined, 'the API server dropped Authorization');
        t.equal(
          proxied[0]?.headers['x-podflame-authorization'],
          'Bearer test-token',
          'X-Podflame-Authorization survives',
        );
      } else {
        t.equal(proxied.length, 0, 'direct: nothing through the API server');
      }
    }
    t.same(
      client.openPools().map((k) => k.split(' ')[0]),
      ['node-a', 'node-b'],
      via === 'direct' ? 'one pool per node' : 'one pool per node, both to the API server',
    );
  });
}

t.test('auto: the agent pods are reachable from here, so direct', async (t) => {
  const client = new PodflameClient({ kubeconfig, via: 'auto' });
  t.teardown(() => client.close());
  await t.rejects(client.profilePod({ pod: 'shop-b1', durationSeconds: 1 }), {
    code: 'TARGET_NOT_FOUND',
    details: { via: 'direct', answeredNode: 'node-b' },
  });
});

t.test('GET /v1/targets on both routes names the node', async (t) => {
  const lookup = new KubeLookup(new PodflameClient({ kubeconfig }).kubeConfig);
  const creds = await resolveApiCredentials(new PodflameClient({ kubeconfig }).kubeConfig);
  for (const via of ['direct', 'proxy'] as const) {
    // The building blocks by hand: the router is told the agents' CA (PodflameClient reads it from the cluster).
    const router = new AgentRouter({
      via,
      agentTls: { ca: readFileSync(cluster.pki.caFile), servername: AGENT_SERVER_NAME },
    });
    const transport = new AgentTransport();
    for (const node of ['node-a', 'node-b']) {
      const route = await router.route(await findAgentOnNode(lookup, 'podflame', node), creds);
      const answer = await transport.request(route, { method: 'GET', path: '/v1/targets', timeoutMs: 30_000 });
      t.equal(answer.statusCode, 200);
      t.equal(answer.headers['x-podflame-node'], node, `${via}: X-Podflame-Node`);
      t.equal((JSON.parse(answer.body.toString('utf8')) as { node: string }).node, node);
    }
    t.same(
      transport.openPools().map((k) => k.split(' ')[0]),
      ['node-a', 'node-b'],
    );
    await transport.close();
  }
});

t.test('an agent pod whose address does not answer: AGENT_UNREACHABLE, saying what to try', async (t) => {
  const direct = new PodflameClient({ kubeconfig, via: 'direct' });
  const proxy = new PodflameClient({ kubeconfig, via: 'proxy' });
  t.teardown(async () => {
    await direct.close();
    await proxy.close();
  });
  await t.rejects(direct.profilePod({ pod: 'lonely', durationSeconds: 1 }), {
    code: 'AGENT_UNREACHABLE',
    message: /cannot reach the podflame agent on node node-c .* at https:\/\/127\.0\.0\.4:9: .*try --via proxy/,
  });
  await t.rejects(proxy.profilePod({ pod: 'lonely', durationSeconds: 1 }), {
    code: 'AGENT_UNREACHABLE',
    message:
      /API server could not pass the request on to the podflame agent on node node-c .*error trying to reach service/,
  });
});

t.test('a caller who may read pods but not use pods/proxy: FORBIDDEN, naming the permission', async (t) => {
  const client = new PodflameClient({
    kubeconfig: cluster.kubeconfig('no-proxy', { token: 'no-proxy-token', namespace: 'shop' }),
    via: 'proxy',
  });
  t.teardown(() => client.close());
  await t.rejects(client.profilePod({ pod: 'shop-a1', durationSeconds: 1 }), {
    code: 'FORBIDDEN',
    message:
      /does not let you use the pod proxy .*cannot create resource "pods\/proxy" in API group "" in the namespace "podflame"/,
  });
});

t.test('a fan-out reports every pod: skipped, failed, each with its reason; all failed is an error', async (t) => {
  const client = new PodflameClient({ kubeconfig, via: 'proxy' });
  t.teardown(() => client.close());
  const seen: string[] = [];
  const err = await client
    .profileSelector({
      labelSelector: 'app=shop',
      durationSeconds: 1,
      format: 'folded',
      onPodDone: (o) => seen.push(`${o.pod}:${o.status}`),
    })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  t.match(err, {
    code: 'TARGET_NOT_FOUND',
    message: /Every pod matching -l app=shop in namespace shop failed:\n {2}shop-a1: .*\n {2}shop-b1: /,
  });
  t.same(seen.sort(), ['shop-a1:failed', 'shop-b1:failed', 'shop-pending:skipped']);
  await t.rejects(client.profileSelector({ labelSelector: 'app=nothing', durationSeconds: 1 }), {
    code: 'POD_NOT_FOUND',
    message: /No pods match -l app=nothing in namespace shop: check with kubectl -n shop get pods -l 'app=nothing'/,
  });
  await t.rejects(client.profileSelector({ workload: 'deploy/ghost', durationSeconds: 1 }), { code: 'POD_NOT_FOUND' });
});

t.test(
  "an agent with --auth token: the caller's token reaches it on both paths; an unknown one is refused",
  async (t) => {
    const tokenFile = join(cluster.dir, 'agent-tokens.csv');
    writeFileSync(tokenFile, 'alice-token-0123456789abcdef,alice\n');
    const port = cluster.agents[0]?.port ?? 0;
    const guarded = await startAgent('node-e', '127.0.0.6', port, 'podflame-perf:latest', [
      ...cluster.tlsArgs,
      '--auth',
      'token',
      '--token-file',
      tokenFile,
    ]);
    t.teardown(() => guarded.stop());
    cluster.api.putPod(makeAgentPod({ nodeName: 'node-e', podIP: '127.0.0.6', port }));
    cluster.api.putPod(
      makePod({
        namespace: 'shop',
        name: 'guarded',
        uid: '5b7d4c1e-0000-4000-8000-0000000000e1',
        nodeName: 'node-e',
        containers: [{ name: 'app' }],
      }),
    );
    const alice = cluster.kubeconfig('alice', { token: 'alice-token-0123456789abcdef', namespace: 'shop' });
    for (const via of ['direct', 'proxy'] as const) {
      const known = new PodflameClient({ kubeconfig: alice, via });
      const unknown = new PodflameClient({ kubeconfig, via });
      t.teardown(async () => {
        await known.close();
        await unknown.close();
      });
      // Authenticated: the agent goes on to look for the container (none exists here).
      await t.rejects(known.profilePod({ pod: 'guarded', durationSeconds: 1 }), {
        code: 'TARGET_NOT_FOUND',
        details: { answeredNode: 'node-e', via },
      });
      await t.rejects(unknown.profilePod({ pod: 'guarded', durationSeconds: 1 }), {
        code: 'UNAUTHENTICATED',
        message: new RegExp(
          `^the podflame agent on node node-e \\(pod podflame-agent-node-e, via ${via}\\) refused the request: .+`,
        ),
        details: { answeredNode: 'node-e', via },
      });
    }
  },
);

t.test(
  'an HTTPS agent (--tls-cert): verified with --ca-file on the direct path, reached through https: on the proxy',
  async (t) => {
    // A self-signed certificate for the agent pod's IP, its own CA.
    const { certFile: cert, keyFile: key } = makeSelfSignedCert(cluster.dir, {
      name: 'podflame-agent',
      altNames: ['IP:127.0.0.7'],
    });
    const port = cluster.agents[0]?.port ?? 0;
    const tls = await startAgent('node-f', '127.0.0.7', port, 'podflame-perf:latest', [
      '--tls-cert',
      cert,
      '--tls-key',
      key,
    ]);
    t.teardown(() => tls.stop());
    t.match(tls.url, /^https:/);
    cluster.api.putPod(makeAgentPod({ nodeName: 'node-f', podIP: '127.0.0.7', port }));
    cluster.api.putPod(
      makePod({
        namespace: 'shop',
        name: 'secure',
        uid: '5b7d4c1e-0000-4000-8000-0000000000f1',
        nodeName: 'node-f',
        containers: [{ name: 'app' }],
      }),
    );
    const ca = readFileSync(cert);
    for (const via of ['direct', 'proxy'] as const) {
      const client = new PodflameClient({ kubeconfig, via, agentTls: { ca } });
      t.teardown(() => client.close());
      await t.rejects(client.profilePod({ pod: 'secure', durationSeconds: 1 }), {
        code: 'TARGET_NOT_FOUND',
        details: { answeredNode: 'node-f', via },
      });
    }
    const before = cluster.api.proxied.length;
    const plain = new PodflameClient({ kubeconfig, via: 'direct' });
    t.teardown(() => plain.close());
    await t.rejects(
      plain.profilePod({ pod: 'secure', durationSeconds: 1 }),
      { code: 'AGENT_UNREACHABLE', message: /self-signed certificate/ },
      "without --ca-file: the cluster's published CA, which did not sign this agent's certificate",
    );
    t.equal(cluster.api.proxied.length, before);

    // The CLI's --ca-file, in process.
    const args = [
      'profile',
      '-n',
      'shop',
      'secure',
      '-d',
      '1',
      '--via',
      'direct',
      '--kubeconfig',
      kubeconfig,
      '--ca-file',
      cert,
    ];
    const { code, err } = await runInProcess([registerProfile], args, { cwd: cluster.dir });
    t.equal(code, 3, err);
    t.match(err, /the podflame agent on node node-f .* answered: .*\[TARGET_NOT_FOUND\]/);
  },
);
