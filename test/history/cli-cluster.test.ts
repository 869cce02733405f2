/**
 * The history commands cluster-wide: a stand-in Kubernetes API server with two agent pods, whose pod IPs
 * (127.0.0.2, 127.0.0.3, one port as a DaemonSet's) are two real agents with their own stores. The DIST_CLI finds the
 * agents through the API, asks each (directly, or through the API server's pod proxy) and merges their answers;
 * the namespace defaults to the kubeconfig context's. The built DIST_CLI is also run exactly as a user types it. The
 * agents serve HTTPS, their CA published in ConfigMap podflame/podflame-agent-ca, as the manifests have it.
 */
import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { COMMANDS } from '../../client/cli/commands/index.js';
import { runInProcess } from '../helpers/cli-io.js';
import { mergeFolded, parseFolded, serializeFolded, totalSamples, type FoldedStacks } from '../../shared/folded.js';
import type { NewProfile } from '../../agent/store/profile-store.js';
import { FakeKubeApi, makeAgentPod } from '../helpers/fake-kube-api.js';
import { fixtureStacks } from './fixtures.js';
import { startHistoryAgent } from './agent-harness.js';
import { DIST_CLI } from '../helpers/built.js';
import { AGENT_SERVER_NAME, makeTestPki } from '../security/tls-material.js';

t.setTimeout(240_000);

const MIN = 60_000;
const NOW = Date.now();

async function podflame(args: string[]) {
  const r = await runInProcess(COMMANDS, args);
  return { code: r.code, out: r.text, err: r.err };
}

function profile(node: string, pod: string, agoMin: number, stacks: FoldedStacks, over: Partial<NewProfile> = {}) {
  return {
    namespace: 'shop',
    pod,
    container: 'app',
    node,
    startMs: NOW - agoMin * MIN,
    durationSeconds: 30,
    frequencyHz: 99,
    warnings: [],
    schedule: 'shop-10m',
    podUid: `uid-${pod}`,
    containerId: 'd'.repeat(64),
    labels: { app: 'shop' },
    stacks,
    ...over,
  } satisfies NewProfile;
}

async function cluster(t: Test) {
  const pki = makeTestPki(t.testdir(), [`DNS:${AGENT_SERVER_NAME}`]);
  const tls = { certFile: pki.certFile, keyFile: pki.keyFile };
  const a = await startHistoryAgent(t, { nodeName: 'node-a', listen: { host: '127.0.0.2', port: 0 }, tls });
  const port = Number(new URL(a.url).port);
  const b = await startHistoryAgent(t, { nodeName: 'node-b', listen: { host: '127.0.0.3', port }, tls });
  const before = fixtureStacks('before');
  const after = fixtureStacks('after');
  await a.history.store.put(profile('node-a', 'shop-a', 90, before));
  await a.history.store.put(profile('node-a', 'shop-a', 30, after));
  await b.history.store.put(profile('node-b', 'shop-b', 80, before));
  await b.history.store.put(profile('node-b', 'shop-b', 20, after));
  await b.history.store.put(profile('node-b', 'shop-b', 10, after, { labels: { app: 'other' } }));
  await b.history.store.put(profile('node-b', 'bill-0', 15, after, { namespace: 'billing' }));
  const api = new FakeKubeApi();
  await api.start();
  t.teardown(() => api.close());
  api.putConfigMap('podflame', 'podflame-agent-ca', {
    'ca.crt': readFileSync(pki.caFile, 'utf8'),
    'server-name': AGENT_SERVER_NAME,
  });
  for (const [node, ip] of [
    ['node-a', '127.0.0.2'],
    ['node-b', '127.0.0.3'],
  ] as const) {
    api.putNode(node);
    api.putPod(makeAgentPod({ nodeName: node, podIP: ip, port }));
  }
  const kubeconfig = api.writeKubeconfig(join(t.testdir(), 'kubeconfig'), { namespace: 'shop' });
  return { api, kubeconfig, before, after };
}

t.test('every agent of the cluster, directly and through the pod proxy', async (t) => {
  const { api, kubeconfig, before, after } = await cluster(t);
  const expected = new Map<string, number>();
  for (const s of [after, after]) mergeFolded(expected, s);
  for (const via of ['direct', 'proxy']) {
    const fg = await podflame([
      'flamegraph',
      '-l',
      'app=shop',
      '--since',
      '1h',
      '--kubeconfig',
      kubeconfig,
      '--via',
      via,
      '--format',
      'folded',
    ]);
    t.equal(fg.code, 0, fg.err);
    t.equal(
      fg.out,
      serializeFolded(expected),
      `${via}: the last hour of app=shop in the context's namespace, both nodes`,
    );
  }
  t.ok(
    api.proxied.some((p) => JSON.stringify(p).includes('/v1/flamegraph')),
    'the proxy path went through the API server',
  );

  const all = await podflame(['flamegraph', '-A', '--since', '2h', '--kubeconfig', kubeconfig, '--format', 'folded']);
  t.equal(
    totalSamples(parseFolded(all.out).stacks),
    2 * totalSamples(before) + 4 * totalSamples(after),
    '-A: every namespace',
  );

  const history = await podflame(['history', '--kubeconfig', kubeconfig, '--json']);
  const listed = JSON.parse(history.out);
  t.same(
    listed.agents.map((x: { agent: string; status: string }) => [x.agent, x.status]),
    [
      ['node node-a', 'ok'],
      ['node node-b', 'ok'],
    ],
  );
  t.same(
    listed.items.map((i: { pod: string; node: string }) => `${i.node}/${i.pod}`),
    ['node-a/shop-a', 'node-b/shop-b', 'node-a/shop-a', 'node-b/shop-b', 'node-b/shop-b'],
  );

  const diff = await podflame([
    'diff',
    '-l',
    'app=shop',
    '--base',
    '2h..1h',
    '--target',
    '1h..now',
    '--kubeconfig',
    kubeconfig,
    '--format',
    'folded',
  ]);
  t.equal(diff.code, 0, diff.err);
  const target = diff.out
    .trimEnd()
    .split('\n')
    .reduce((s, l) => s + Number(/ (\d+)$/.exec(l)?.[1]), 0);
  t.equal(target, 2 * totalSamples(after), 'the target column is both nodes’ last hour');
});

t.test('an agent that cannot be reached is named; a cluster without agents says so', async (t) => {
  const { api, kubeconfig } = await cluster(t);
  api.putNode('node-c');
  api.putPod(makeAgentPod({ nodeName: 'node-c', podIP: '127.0.0.4', port: 9 }));
  api.putPod(makeAgentPod({ nodeName: 'node-d', podIP: '127.0.0.5', port: 9, ready: false }));
  const fg = await podflame([
    'flamegraph',
    '--since',
    '2h',
    '--kubeconfig',
    kubeconfig,
    '--via',
    'direct',
    '--format',
    'folded',
  ]);
  t.equal(fg.code, 0);
  t.match(fg.err, /node node-d not asked: agent pod podflame-agent-node-d is not ready/);
  t.match(fg.err, /node node-c left out: .*127\.0\.0\.4:9.*\[AGENT_UNREACHABLE\]/);
  t.ok(totalSamples(parseFolded(fg.out).stacks) > 0);
  const none = await podflame(['history', '--kubeconfig', kubeconfig, '--agent-namespace', 'elsewhere']);
  t.equal(none.code, 5);
  t.match(none.err, /no podflame agent pods in namespace elsewhere/);
});

t.test(
  'the built DIST_CLI, exactly as typed',
  { skip: !existsSync(DIST_CLI) && 'run npm run build first' },
  async (t) => {
    const { kubeconfig } = await cluster(t);
    // Each process loads the Kubernetes client (seconds on a busy machine): the two forms users type, no more.
    const run = promisify(execFile);
    const env = { ...process.env, KUBECONFIG: kubeconfig };
    const svg = await run(process.execPath, [DIST_CLI, 'flamegraph', '-l', 'app=shop', '--since', '1h'], {
      env,
      maxBuffer: 64 << 20,
    });
    t.match(svg.stdout, /^<\?xml/);
    t.match(svg.stdout, /2 profiles of 2 pods on 2 nodes/);
    const diff = await run(process.execPath, [DIST_CLI, 'diff', '--base', '2h..1h', '--target', '1h..now'], {
      env,
      maxBuffer: 64 << 20,
    });
    t.match(diff.stdout, /<svg/);
    t.match(diff.stdout, /normalized/);
  },
);
