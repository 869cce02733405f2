// `podflame profile` (Kubernetes mode) and `podflame agents` in process (CliIO with memory streams), against the
// stand-in API server and two in-process agents on 127.0.0.2/.3 whose container runtime is the in-memory fake: each
// capture "records" a real perf script capture (test/fixtures/perf/java-fp-pidtid.txt). Fast, no engine: option
// checks, output, merging, progress only on a terminal, exit statuses. Real captures are in profile-e2e.test.ts. The
// agents serve HTTPS as the manifests' do, their CA published in ConfigMap podflame/podflame-agent-ca, which the
// client finds by itself (bearer tokens go to agents over TLS only).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Agent } from '../../agent/agent.js';
import { registerAgents } from '../../client/cli/commands/agents.js';
import { registerProfile } from '../../client/cli/commands/profile.js';
import { runInProcess } from '../helpers/cli-io.js';
import * as library from '../../client/index.js';
import { ERROR_CODES } from '../../shared/errors.js';
import { parseFolded, serializeFolded, totalSamples, type FoldedStacks } from '../../shared/folded.js';
import type { CaptureSpec } from '../../agent/runtime/container-runtime.js';
import { FakeRuntime, hexId, podContainer } from '../agent/fake-runtime.js';
import { memoryLogger, testConfig } from '../agent/http.js';
import { FakeKubeApi, makeAgentPod, makePod, makeWorkload } from '../helpers/fake-kube-api.js';
import { AGENT_SERVER_NAME, makeTestPki } from '../security/tls-material.js';
import { testProfileWorker } from '../helpers/profile-worker.js';
import { JfrReader } from '../../shared/jfr/jfr-reader.js';
import { Profile } from 'pprof-format';
import { gunzipSync } from 'node:zlib';

const PERF_SCRIPT = readFileSync(new URL('../fixtures/perf/java-fp-pidtid.txt', import.meta.url), 'utf8');
// A real lock recording (JfrMix on JDK 21: test/fixtures/jfr/record.sh), as a lock capture writes it to stdout.
const LOCK_RECORDING = readFileSync(new URL('../fixtures/jfr/mix-jdk21.jfr', import.meta.url));
const pods = {
  a: { uid: '7a1c2a9e-5b7d-4c1e-9a8f-00000000000a', name: 'shop-a', namespace: 'shop' },
  b: { uid: '7a1c2a9e-5b7d-4c1e-9a8f-00000000000b', name: 'shop-b', namespace: 'shop' },
  // Known to the API, but its container is not on node-b's engine: that agent answers TARGET_NOT_FOUND.
  gone: { uid: '7a1c2a9e-5b7d-4c1e-9a8f-0000000000ff', name: 'shop-gone', namespace: 'shop' },
};

const api = new FakeKubeApi();
const dir = mkdtempSync(join(tmpdir(), 'podflame-cli-inprocess-'));
const agents: Agent[] = [];
let kubeconfig = '';
let finisher: NodeJS.Timeout | undefined;
/** The spec of every capture the agents ran, in the order they finished. */
const specs: CaptureSpec[] = [];

t.before(async () => {
  await api.start();
  const pki = makeTestPki(dir, [`DNS:${AGENT_SERVER_NAME}`]);
  api.putConfigMap('podflame', 'podflame-agent-ca', {
    'ca.crt': readFileSync(pki.caFile, 'utf8'),
    'server-name': AGENT_SERVER_NAME,
  });
  let port = 0;
  for (const [node, ip, pod, id] of [
    ['node-a', '127.0.0.2', pods.a, hexId('a1')],
    ['node-b', '127.0.0.3', pods.b, hexId('b1')],
  ] as const) {
    const runtime = new FakeRuntime();
    runtime.containers = [podContainer(id, pod, 'app')];
    runtime.processes.set(id, ['java -XX:+PreserveFramePointer -cp /app Workload']);
    // node-b's agent took host mode (its /readyz says so; `podflame agents` shows it).
    if (node === 'node-b')
      runtime.readiness = () => Promise.resolve({ runtime: 'host', checks: {}, reasons: [], failedOperations: [] });
    const agent = new Agent({
      worker: testProfileWorker(),
      config: testConfig({ listen: { host: ip, port }, nodeName: node, tlsCert: pki.certFile, tlsKey: pki.keyFile }),
      runtime,
      logger: memoryLogger('silent').logger,
    });
    const { url } = await agent.start();
    port = Number(new URL(url).port);
    agents.push(agent);
    api.putNode(node);
    api.putPod(makeAgentPod({ nodeName: node, podIP: ip, port }));
    // Every capture "records" the same real perf script as soon as it starts.
    const finish = (): void => {
      for (const c of runtime.captures.splice(0)) {
        specs.push(c.spec);
        c.finish({ output: c.spec.event === 'lock' ? LOCK_RECORDING : PERF_SCRIPT });
      }
    };
    finisher = setInterval(() => finish(), 10);
    const previous = finisher;
    t.teardown(() => clearInterval(previous));
  }
  const put = (p: { uid: string; name: string }, node: string): void =>
    api.putPod(
      makePod({
        namespace: 'shop',
        name: p.name,
        uid: p.uid,
        nodeName: node,
        labels: { app: 'shop' },
        containers: [{ name: 'app' }],
      }),
    );
  put(pods.a, 'node-a');
  put(pods.b, 'node-b');
  api.putWorkload('deployments', makeWorkload('deployments', 'shop', 'shop', { app: 'shop' }));
  api.putWorkload('statefulsets', makeWorkload('statefulsets', 'shop', 'all', { app: 'shop' }));
  kubeconfig = api.writeKubeconfig(join(dir, 'kubeconfig'), {
    namespace: 'shop',
    extraContexts: { elsewhere: { namespace: 'default' } },
  });
});
t.teardown(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

async function run(
  args: string[],
  options: { interactive?: boolean; env?: Record<string, string>; kubeconfig?: boolean } = {},
): Promise<{ code: number; out: Buffer; err: string }> {
  const withConfig = options.kubeconfig === false ? args : [...args, '--kubeconfig', kubeconfig];
  const r = await runInProcess([registerProfile, registerAgents], withConfig, {
    interactive: options.interactive ?? false,
    env: options.env ?? {},
    cwd: dir,
  });
  return { code: r.code, out: r.out, err: r.err };
}

const folded = (b: Buffer): FoldedStacks => parseFolded(b.toString('utf8')).stacks;

t.test('one pod as folded, quiet when not on a terminal', async (t) => {
  const r = await run(['profile', 'shop-a', '-d', '1', '--format', 'folded', '--via', 'direct']);
  t.equal(r.code, 0, r.err);
  t.equal(r.err, '');
  const stacks = folded(r.out);
  t.ok(totalSamples(stacks) > 100, `${totalSamples(stacks)} samples`);
  t.match(r.out.toString('utf8'), /Workload\.fib_\[j\] \d+$/m);
});

t.test('on a terminal: the time since the request, then the line cleared; "wrote FILE" with -o', async (t) => {
  const r = await run(['profile', '-n', 'shop', 'shop-b', '-d', '1', '-o', 'b.svg', '--via', 'proxy'], {
    interactive: true,
  });
  t.equal(r.code, 0, r.err);
  t.match(r.err, '\r\x1b[Kpodflame: capturing shop/shop-b: 0 s, the recording takes 1 s\r\x1b[K');
  t.match(r.err, /podflame: wrote b\.svg \(\d+ samples, shop\/shop-b on node node-b\)\n$/);
  t.match(readFileSync(join(dir, 'b.svg'), 'utf8'), /^<\?xml[\s\S]*Workload\.fib/);
});

t.test('deploy/NAME: every pod merged exactly; --per-pod roots each pod; sts/NAME and -l too', async (t) => {
  const one = folded((await run(['profile', 'shop-a', '-d', '1', '--format', 'folded'])).out);
  const merged = await run(['profile', 'deploy/shop', '-d', '1', '--format', 'folded']);
  t.equal(merged.code, 0, merged.err);
  // Both agents "recorded" the same perf script: every merged count is twice the single pod's.
  const doubled: FoldedStacks = new Map([...one].map(([k, v]) => [k, 2 * v]));
  t.equal(merged.out.toString('utf8'), serializeFolded(doubled));
  t.match(
    merged.err,
    /^podflame: 2 of 2 pods profiled, \d+ samples merged\n {2}ok +shop-a +container app, node node-a via direct/,
  );

  const perPod = await run(['profile', 'sts/all', '--per-pod', '-d', '1', '--format', 'folded', '--via', 'proxy']);
  t.equal(perPod.code, 0, perPod.err);
  const expected: FoldedStacks = new Map();
  for (const p of ['shop-a', 'shop-b']) for (const [k, v] of one) expected.set(`${p};${k}`, v);
  t.equal(perPod.out.toString('utf8'), serializeFolded(expected));

  const svg = await run(['profile', '-l', 'app=shop', '-d', '1', '-o', 'merged.svg']);
  t.equal(svg.code, 0, svg.err);
  const text = readFileSync(join(dir, 'merged.svg'), 'utf8');
  t.match(text, '-l app=shop in shop: 2 of 2 pods');
  t.match(text, `1 s at 99 Hz, ${2 * totalSamples(one)} samples`);
});

t.test('--inlined reaches every agent of a fan-out, and the graph says so', async (t) => {
  specs.splice(0);
  const plain = await run(['profile', 'deploy/shop', '-d', '1', '--format', 'folded']);
  t.equal(plain.code, 0, plain.err);
  t.same(
    specs.splice(0).map((s) => s.javaInlined),
    [false, false],
    'off without the flag',
  );
  const inlined = await run(['profile', 'deploy/shop', '-d', '1', '--inlined', '-o', 'inlined.svg']);
  t.equal(inlined.code, 0, inlined.err);
  t.same(
    specs.splice(0).map((s) => s.javaInlined),
    [true, true],
    'both agents asked for inlined frames',
  );
  t.match(readFileSync(join(dir, 'inlined.svg'), 'utf8'), /1 s at 99 Hz, \d+ samples, inlined frames/);
  const one = await run(['profile', 'shop-a', '-d', '1', '--inlined', '--format', 'folded', '--via', 'proxy']);
  t.equal(one.code, 0, one.err);
  t.same(
    specs.splice(0).map((s) => s.javaInlined),
    [true],
    'one pod, through the API server proxy',
  );
});

t.test('a pod that fails: the others are still written, its error listed, exit 8', async (t) => {
  api.putPod(
    makePod({
      namespace: 'shop',
      name: pods.gone.name,
      uid: pods.gone.uid,
      nodeName: 'node-b',
      labels: { app: 'shop' },
      containers: [{ name: 'app' }],
    }),
  );
  t.teardown(() => api.deletePod('shop', pods.gone.name));
  const r = await run(['profile', 'deploy/shop', '-d', '1', '--format', 'pprof', '-o', 'partial.pb.gz']);
  t.equal(r.code, ERROR_CODES.PARTIAL_CAPTURE.exitCode);
  t.match(r.err, /2 of 3 pods profiled/);
  t.match(r.err, /failed +shop-gone .*\[TARGET_NOT_FOUND\]/);
  t.match(
    r.err,
    /podflame: 1 of 3 pods could not be profiled \(listed above\); the graph holds the others \[PARTIAL_CAPTURE\]/,
  );
  t.same(readFileSync(join(dir, 'partial.pb.gz')).subarray(0, 2), Buffer.from([0x1f, 0x8b]), 'the pprof was written');
});

t.test("a workload's lock capture as pprof: each stack's contentions summed over its pods (#14)", async (t) => {
  // `-d 1`: the graph covers the recording's first second (jfr-window.test.ts), as the agents read it.
  const reader = new JfrReader({ kinds: ['lock'], windowNanos: 1e9 });
  reader.push(LOCK_RECORDING);
  const read = reader.finish();
  const r = await run(['profile', 'deploy/shop', '-d', '1', '-e', 'lock', '--format', 'pprof', '-o', 'lock.pb.gz']);
  t.equal(r.code, 0, r.err);
  const profile = Profile.decode(gunzipSync(readFileSync(join(dir, 'lock.pb.gz'))));
  const str = (i: number | bigint): string => profile.stringTable.strings[Number(i)] as string;
  t.same(
    profile.sampleType.map((v) => `${str(v.type)}/${str(v.unit)}`),
    ['contentions/count', 'delay/nanoseconds'],
    'both sample types, as a single pod gives',
  );
  const names = new Map(profile.function.map((f) => [Number(f.id), str(f.name)]));
  const byLeaf = new Map(profile.sample.map((s) => [names.get(Number(s.locationId[0])), s.value.map(Number)]));
  // Two pods, each answering the same recording: twice its events of each type.
  t.equal(byLeaf.get('LockContention.holdLock_[j]')?.[0], 2 * (read.events.get('jdk.JavaMonitorEnter') ?? NaN));
  t.equal(byLeaf.get('jdk.internal.misc.Unsafe.park_[j]')?.[0], 2 * (read.events.get('jdk.ThreadPark') ?? NaN));
});

t.test('usage and configuration errors exit 2 before any capture', async (t) => {
  const cases: [string[], RegExp][] = [
    [['profile', 'shop-a', '--via', 'sideways'], /--via must be one of direct, proxy, auto/],
    [['profile', 'shop-a', '--format', 'png'], /--format must be one of svg, folded, pprof, speedscope, json/],
    [['profile', 'deploy/shop', '--concurrency', '0'], /--concurrency must be a whole number from 1 to 256/],
    [['profile', 'shop-a', '--per-pod'], /--per-pod needs several pods/],
    [['profile', 'shop-a', '-l', 'app=shop'], /not both/],
    [['profile'], /Name a pod, deploy\/NAME, sts\/NAME or ds\/NAME, or give -l SELECTOR/],
    [['profile', 'job/x'], /Unknown kind "job"/],
    [['profile', 'shop-a', '--pod-uid', pods.a.uid], /--container-id and --pod-uid need --agent URL/],
    [['profile', 'shop-a', '--token-file', 'token'], /--token-file is for --agent URL \(local mode\)/],
    [['profile', 'shop-a', '-d', '11m'], /--duration must be whole seconds from 1 s to 600 s/],
    [['profile', 'shop-a', '--context', 'nope'], /Context "nope" is not in .*contexts there: fake, elsewhere/],
  ];
  for (const [args, message] of cases) {
    const r = await run(args);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.err, message);
  }
  const local = await run(
    ['profile', 'shop-a', '-n', 'shop', '--agent', 'http://127.0.0.1:9', '--container-id', 'a'.repeat(12)],
    {
      kubeconfig: false,
    },
  );
  t.equal(local.code, 2);
  t.match(local.err, 'the target shop-a, -n go with Kubernetes mode; with --agent URL name the container');
  const none = await run(['profile', 'shop-a'], { kubeconfig: false, env: { HOME: join(dir, 'no-home') } });
  t.equal(none.code, ERROR_CODES.CONFIG_INVALID.exitCode);
  t.match(none.err, /No Kubernetes configuration found/);
  const fromEnv = await run(['profile', 'ghost', '-d', '1'], { kubeconfig: false, env: { KUBECONFIG: kubeconfig } });
  t.equal(fromEnv.code, ERROR_CODES.POD_NOT_FOUND.exitCode, 'KUBECONFIG from the environment is used');
});

t.test('the current context and --context; the target errors keep their exit status', async (t) => {
  const elsewhere = await run(['profile', 'shop-a', '--context', 'elsewhere', '-d', '1']);
  t.equal(elsewhere.code, ERROR_CODES.POD_NOT_FOUND.exitCode);
  t.match(elsewhere.err, 'There is no pod "shop-a" in namespace "default"');
  const selector = await run(['profile', '-l', 'app=none', '-d', '1']);
  t.equal(selector.code, ERROR_CODES.POD_NOT_FOUND.exitCode);

  api.putPod(
    makePod({
      namespace: 'shop',
      name: 'two-containers',
      uid: '7a1c2a9e-5b7d-4c1e-9a8f-0000000000c2',
      nodeName: 'node-a',
      containers: [{ name: 'app' }, { name: 'envoy' }],
    }),
  );
  api.putPod(
    makePod({
      namespace: 'shop',
      name: 'starting',
      uid: '7a1c2a9e-5b7d-4c1e-9a8f-0000000000c3',
      phase: 'Pending',
      containers: [{ name: 'app' }],
    }),
  );
  t.teardown(() => {
    api.deletePod('shop', 'two-containers');
    api.deletePod('shop', 'starting');
  });
  const two = await run(['profile', 'two-containers', '-d', '1']);
  t.equal(two.code, ERROR_CODES.CONTAINER_REQUIRED.exitCode);
  t.match(two.err, 'has 2 containers (app, envoy): choose one with -c NAME [CONTAINER_REQUIRED]');
  const starting = await run(['profile', 'starting', '-d', '1']);
  t.equal(starting.code, ERROR_CODES.POD_NOT_RUNNING.exitCode);
  t.match(starting.err, /is Pending \(not scheduled on a node yet\), so there is nothing to profile/);
});

t.test('podflame agents: one row per node; nodes without an agent; no agents at all', async (t) => {
  api.putNode('node-z');
  const r = await run(['agents']);
  t.equal(r.code, 0, r.err);
  t.match(
    r.out.toString('utf8'),
    /^NODE +AGENT POD +READY +VERSION +RUNTIME +IP\nnode-a +podflame-agent-node-a +yes +0\.1\.0 +docker +127\.0\.0\.2\nnode-b +podflame-agent-node-b +yes +0\.1\.0 +host +127\.0\.0\.3\nnode-z +- +no agent +- +- +-\n$/,
  );
  const empty = await run(['agents', '--agent-namespace', 'nowhere']);
  t.equal(empty.code, 0);
  t.match(empty.err, /no agent pods in namespace nowhere: is the agent DaemonSet installed\?/);
});

t.test('the library entry exports the client and its parts', async (t) => {
  for (const name of [
    'PodflameClient',
    'profilePod',
    'profileSelector',
    'loadKubeConfig',
    'findAgentOnNode',
    'AgentRouter',
    'AgentTransport',
    'AgentPools',
    'AgentClient',
    'urlEndpoint',
    'PodflameError',
  ]) {
    t.type((library as Record<string, unknown>)[name], 'function', name);
  }
  t.same(library.PROFILE_FORMATS, ['svg', 'folded', 'pprof', 'speedscope', 'json']);
  const r = await library.profilePod({ pod: 'shop-a', durationSeconds: 1, format: 'json' }, { kubeconfig });
  t.match(JSON.parse(r.body.toString('utf8')), { name: String, value: Number });
  const s = await library.profileSelector(
    { workload: 'deploy/shop', durationSeconds: 1, format: 'speedscope' },
    { kubeconfig },
  );
  t.equal(s.pods.length, 2);
  t.throws(() => new library.PodflameClient({ kubeconfig, via: 'sideways' as library.Via }), { code: 'USAGE' });
  t.throws(() => new library.PodflameClient({ kubeconfig, concurrency: 0 }), { code: 'USAGE' });
  const closed = new library.PodflameClient({ kubeconfig });
  await closed.close();
  await t.rejects(closed.profilePod({ pod: 'shop-a' }), { code: 'INTERNAL' });
  await t.rejects(new library.PodflameClient({ kubeconfig }).profilePod({ pod: 'shop-a', durationSeconds: 0 }), {
    code: 'USAGE',
  });
  await t.rejects(new library.PodflameClient({ kubeconfig }).profilePod({ pod: 'shop-a', frequencyHz: 5000 }), {
    code: 'USAGE',
  });
  await t.rejects(new library.PodflameClient({ kubeconfig }).profileSelector({}), {
    code: 'USAGE',
    message: /exactly one/,
  });
});
