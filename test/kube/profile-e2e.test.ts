// End to end through the stand-in Kubernetes API: real JVM containers labelled as kubelet labels them (their pod UIDs
// are the pods' UIDs in the stand-in), two real agents playing node-a and node-b, and a third on node-c whose capture
// image cannot run. The library and the CLI profile one pod (direct and proxy), a deployment and a selector; the
// fan-out is checked to merge exactly (the sum of the per-pod folded counts each agent kept), pprof to decode back
// to those stacks, speedscope to validate against its schema; `kubectl podflame` runs the CLI as a plugin.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Ajv } from 'ajv';
import { createRequire } from 'node:module';
import { Profile } from 'pprof-format';
import t, { type Test } from 'tap';
import { Agent as HttpDispatcher, request } from 'undici';
import { PodflameClient, type PodOutcome } from '../../client/profile-pod.js';
import { ERROR_CODES } from '../../shared/errors.js';
import { mergeFolded, parseFolded, serializeFolded, totalSamples, type FoldedStacks } from '../../shared/folded.js';
import { requireDockerEnv } from '../helpers/docker-env.js';
import { makeAgentPod, makePod, makeWorkload } from '../helpers/fake-kube-api.js';
import { JvmContainers, newPod, type PodIdentity } from '../helpers/jvm-containers.js';
import { DIST_CLI } from '../helpers/built.js';
import { startAgent, startKubeTestCluster, type RunningAgent } from './cluster.js';
import { AGENT_SERVER_NAME } from '../security/tls-material.js';

// Read, not imported: the tests' TypeScript loader (swc) drops import attributes.
const draft06MetaSchema = JSON.parse(
  readFileSync(createRequire(import.meta.url).resolve('ajv/dist/refs/json-schema-draft-06.json'), 'utf8'),
) as object;

t.setTimeout(1_800_000);
const env = await requireDockerEnv(t, { jdk: true });

if (env) {
  // tester may do anything; viewer may read pods and use the pod proxy but not exec into pods (so not profile them);
  // the agent on node-d (--auth kubernetes) reviews callers with its own service account token.
  const AGENT_TOKEN = 'agent-sa-token-0123456789abcdef';
  const VIEWER_TOKEN = 'viewer-token-0123456789abcdef';
  const cluster = await startKubeTestCluster({
    captureImage: env.captureImage,
    api: {
      tokens: {
        'test-token': { username: 'tester', groups: ['system:authenticated'] },
        [VIEWER_TOKEN]: { username: 'viewer', groups: ['system:authenticated'] },
        [AGENT_TOKEN]: {
          username: 'system:serviceaccount:podflame:podflame-agent',
          groups: ['system:serviceaccounts'],
        },
      },
      authorize: (a) => ({ allowed: !(a.user.username === 'viewer' && a.subresource === 'exec') }),
    },
  });
  t.teardown(() => cluster.close());
  const jvms = new JvmContainers(env);
  t.teardown(() => jvms.cleanup());

  // Two JVM pods of deployment shop, one per node; a third pod of it on node-c, whose agent's capture image is the
  // JDK image (no capture script in it), so every capture there fails in Docker; a fourth pod on node-d, whose agent
  // authenticates and authorizes its callers through the API.
  const [p1, p2, p3, p4] = [
    newPod('shop', 'shop'),
    newPod('shop', 'shop'),
    newPod('shop', 'shop'),
    newPod('vault', 'shop'),
  ];
  const [c1, c2] = await Promise.all([jvms.startJvm({ pod: p1 }), jvms.startJvm({ pod: p2 })]);
  // Half a CPU each: two busy JVMs must not starve the agents and CLI processes on a 2-core machine.
  await Promise.all([c1, c2].map((c) => env.docker.getContainer(c.id).update({ NanoCpus: 500_000_000 })));
  // Containers that only sleep, labelled as kubelet would: targets whose capture never gets to run.
  for (const p of [p3, p4]) {
    const sleeper = await env.docker.createContainer({
      name: `k8s_app_${p.name}_${p.namespace}_${p.uid}_0`,
      Image: env.jdkImage as string,
      Cmd: ['sleep', 'infinity'],
      Labels: jvms.labels(p, 'app', 'container'),
      HostConfig: { NetworkMode: 'none' },
    });
    t.teardown(() => sleeper.remove({ force: true }).catch(() => undefined));
    await sleeper.start();
  }
  const port = cluster.agents[0]?.port ?? 0;
  // HTTPS like the cluster's own agents (cluster.ts): the client sends tokens to no plain-HTTP agent.
  const broken: RunningAgent = await startAgent('node-c', '127.0.0.4', port, env.jdkImage as string, cluster.tlsArgs);
  t.teardown(() => broken.stop());
  const guarded: RunningAgent = await startAgent('node-d', '127.0.0.5', port, env.captureImage, [
    ...cluster.tlsArgs,
    '--auth',
    'kubernetes',
    '--kubeconfig',
    cluster.kubeconfig('agent-sa', { token: AGENT_TOKEN }),
  ]);
  t.teardown(() => guarded.stop());
  await Promise.all([jvms.waitForWarmup(c1), jvms.waitForWarmup(c2)]);

  const { api } = cluster;
  const put = (p: PodIdentity, node: string, labels: Record<string, string>): void =>
    api.putPod(
      makePod({ namespace: 'shop', name: p.name, uid: p.uid, nodeName: node, labels, containers: [{ name: 'app' }] }),
    );
  put(p1, 'node-a', { app: 'shop', jvm: 'yes' });
  put(p2, 'node-b', { app: 'shop', jvm: 'yes' });
  put(p3, 'node-c', { app: 'shop' });
  put(p4, 'node-d', { app: 'vault' });
  for (const a of [broken, guarded]) {
    api.putNode(a.node);
    api.putPod(makeAgentPod({ nodeName: a.node, podIP: a.ip, port: a.port }));
  }
  api.putWorkload('deployments', makeWorkload('deployments', 'shop', 'shop', { app: 'shop' }));
  const kubeconfig = cluster.kubeconfig('tester', { namespace: 'shop' });
  const agentUrl = (node: string): string =>
    [...cluster.agents, broken, guarded].find((a) => a.node === node)?.url ?? 'http://127.0.0.1:9';

  /** The folded stacks the agent kept for a profile (GET /v1/profiles/:id/folded), straight from that agent. */
  // The test's own reads of the agents verify them as the client does: the cluster's CA, the certificate's name.
  const agentsTls = new HttpDispatcher({
    connect: { ca: readFileSync(cluster.pki.caFile), servername: AGENT_SERVER_NAME },
  });
  t.teardown(() => agentsTls.close());
  const keptStacks = async (t: Test, o: PodOutcome): Promise<FoldedStacks> => {
    const res = await request(`${agentUrl(o.node ?? '')}/v1/profiles/${o.profileId}/folded`, {
      dispatcher: agentsTls,
    });
    t.equal(res.statusCode, 200, `agent ${o.node} kept profile ${o.profileId}`);
    return parseFolded(await res.body.text()).stacks;
  };

  const decodePprof = (gz: Buffer): { stacks: FoldedStacks; period: number; cpu: number } => {
    const profile = Profile.decode(gunzipSync(gz));
    const str = (i: number | bigint): string => profile.stringTable.strings[Number(i)] as string;
    const fn = new Map(profile.function.map((f) => [Number(f.id), str(f.name)]));
    const loc = new Map(profile.location.map((l) => [Number(l.id), fn.get(Number(l.line[0]?.functionId)) as string]));
    const stacks: FoldedStacks = new Map();
    let cpu = 0;
    for (const s of profile.sample) {
      // pprof lists the leaf first.
      const stack = s.locationId
        .map((id) => loc.get(Number(id)))
        .reverse()
        .join(';');
      stacks.set(stack, (stacks.get(stack) ?? 0) + Number(s.value[0]));
      cpu += Number(s.value[1]);
    }
    return { stacks, period: Number(profile.period), cpu };
  };

  t.test('one pod, direct: folded stacks from the agent on its node', async (t) => {
    const client = new PodflameClient({ kubeconfig, via: 'direct' });
    t.teardown(() => client.close());
    const r = await client.profilePod({ pod: p1.name, durationSeconds: 3, format: 'folded' });
    t.match(r.pods, [{ pod: p1.name, status: 'ok', node: 'node-a', via: 'direct', container: 'app' }]);
    t.ok(r.samples > 0, `${r.samples} samples`);
    t.equal(r.pods[0]?.samples, r.samples, 'the X-Podflame-Samples header equals the folded total');
    t.equal(r.body.toString('utf8'), serializeFolded(r.stacks ?? new Map()));
    t.match(r.body.toString('utf8'), /^hot-fibonacci;.*Hot\.hotFibonacci_\[j\] \d+$/m);
    t.same(r.warnings, []);
    t.same(client.openPools(), [`node-a https://127.0.0.2:${cluster.agents[0]?.port}`]);
  });

  t.test('one pod, proxy: the SVG comes through the API server from node-b', async (t) => {
    const client = new PodflameClient({ kubeconfig, via: 'proxy' });
    t.teardown(() => client.close());
    const before = api.proxied.length;
    const r = await client.profilePod({ pod: p2.name, durationSeconds: 3, format: 'svg' });
    t.match(r.pods, [{ pod: p2.name, status: 'ok', node: 'node-b', via: 'proxy' }]);
    const svg = r.body.toString('utf8');
    t.match(svg, /^<\?xml/);
    t.match(svg, 'Hot.hotSieve');
    t.match(svg, `shop/${p2.name}/app`, "titled by the agent with the pod's name");
    const proxied = api.proxied.slice(before);
    t.match(proxied, [{ pod: 'podflame/podflame-agent-node-b', method: 'POST', path: '/v1/profiles' }]);
    t.equal(proxied[0]?.headers.authorization, undefined);
    t.equal(proxied[0]?.headers['x-podflame-authorization'], 'Bearer test-token');
  });

  t.test('deploy/shop: merged exactly, every pod reported, the failing one does not lose the others', async (t) => {
    const client = new PodflameClient({ kubeconfig, via: 'auto' });
    t.teardown(() => client.close());
    const r = await client.profileSelector({ workload: 'deploy/shop', durationSeconds: 3, format: 'folded' });
    const byPod = new Map(r.pods.map((o) => [o.pod, o]));
    t.match(byPod.get(p1.name), { status: 'ok', node: 'node-a', via: 'direct' });
    t.match(byPod.get(p2.name), { status: 'ok', node: 'node-b', via: 'direct' });
    t.match(byPod.get(p3.name), {
      status: 'failed',
      node: 'node-c',
      error: { code: 'CAPTURE_FAILED', message: /the podflame agent on node node-c .* answered: .*"3"/ },
    });
    const expected: FoldedStacks = new Map();
    for (const o of r.pods.filter((o) => o.status === 'ok')) mergeFolded(expected, await keptStacks(t, o));
    t.equal(
      serializeFolded(r.stacks ?? new Map()),
      serializeFolded(expected),
      'merged = sum of the per-pod folded counts',
    );
    t.equal(r.samples, totalSamples(expected));
    t.equal(r.samples, (byPod.get(p1.name)?.samples ?? 0) + (byPod.get(p2.name)?.samples ?? 0));
    t.equal(r.body.toString('utf8'), serializeFolded(expected));
  });

  t.test('-l with --per-pod as pprof: each pod under its own root, decoding to the kept stacks', async (t) => {
    const client = new PodflameClient({ kubeconfig, via: 'proxy' });
    t.teardown(() => client.close());
    const r = await client.profileSelector({
      labelSelector: 'jvm=yes',
      perPod: true,
      durationSeconds: 3,
      frequencyHz: 49,
      format: 'pprof',
    });
    t.same(
      r.pods.map((o) => o.status),
      ['ok', 'ok'],
    );
    const expected: FoldedStacks = new Map();
    for (const o of r.pods) mergeFolded(expected, await keptStacks(t, o), o.pod);
    const decoded = decodePprof(r.body);
    t.equal(serializeFolded(decoded.stacks), serializeFolded(expected), 'pprof decodes to the per-pod stacks');
    t.equal(decoded.period, Math.round(1e9 / 49), 'period from the frequency');
    t.equal(decoded.cpu, totalSamples(expected) * Math.round(1e9 / 49), 'cpu/nanoseconds totals');
    t.same(new Set([...decoded.stacks.keys()].map((k) => k.split(';')[0])), new Set([p1.name, p2.name]));
  });

  t.test('speedscope output of one pod validates against the file format schema', async (t) => {
    const client = new PodflameClient({ kubeconfig });
    t.teardown(() => client.close());
    const r = await client.profilePod({ pod: p1.name, durationSeconds: 2, format: 'speedscope' });
    const schema = JSON.parse(
      readFileSync(new URL('../export/speedscope-schema.json', import.meta.url), 'utf8'),
    ) as object;
    const ajv = new Ajv({ strict: false, allErrors: true });
    ajv.addMetaSchema(draft06MetaSchema);
    const validate = ajv.compile(schema);
    const file = JSON.parse(r.body.toString('utf8')) as { profiles: { weights: number[] }[] };
    t.ok(validate(file), `valid: ${ajv.errorsText(validate.errors)}`);
    const kept = await keptStacks(t, r.pods[0] as PodOutcome);
    const weights = file.profiles[0]?.weights.reduce((a, b) => a + b, 0);
    t.equal(weights, totalSamples(kept) * Math.round(1e9 / 99), 'weights are the samples in CPU nanoseconds');
  });

  t.test(
    'an agent with --auth kubernetes answers a caller its SubjectAccessReview denies as for a target it lacks',
    async (t) => {
      const viewer = cluster.kubeconfig('viewer', { token: VIEWER_TOKEN, namespace: 'shop' });
      for (const via of ['direct', 'proxy'] as const) {
        const client = new PodflameClient({ kubeconfig: viewer, via });
        t.teardown(() => client.close());
        // The agent's TokenReview knew the token (it passed the API server's proxy as X-Podflame-Authorization),
        // then its SubjectAccessReview said no: the agent tells nothing of a pod the caller may not profile.
        await t.rejects(client.profilePod({ pod: p4.name, durationSeconds: 1 }), {
          code: 'TARGET_NOT_FOUND',
          message: new RegExp(
            `^the podflame agent on node node-d \\(pod podflame-agent-node-d, via ${via}\\) answered: .*or you may not profile it.*pods/exec`,
          ),
          details: { answeredNode: 'node-d' },
        });
      }
    },
  );

  // --- the CLI ------------------------------------------------------------------------------------------------

  const dir = mkdtempSync(join(tmpdir(), 'podflame-kube-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  const run = (
    cmd: string,
    args: string[],
    envExtra: Record<string, string> = {},
  ): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = spawn(cmd, args, {
        cwd: dir,
        env: { ...process.env, ...envExtra },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
  const cli = (args: string[]) => run(process.execPath, [DIST_CLI, ...args]);

  t.test('podflame profile -n NS POD -d 2 -o out.svg --kubeconfig FILE --via direct|proxy', async (t) => {
    for (const [via, pod] of [
      ['direct', p1],
      ['proxy', p2],
    ] as const) {
      const out = `${via}.svg`;
      const r = await cli([
        'profile',
        '-n',
        'shop',
        pod.name,
        '-d',
        '2',
        '-o',
        out,
        '--kubeconfig',
        kubeconfig,
        '--via',
        via,
      ]);
      t.equal(r.code, 0, r.stderr);
      const svg = readFileSync(join(dir, out), 'utf8');
      t.match(svg, /^<\?xml/);
      t.match(svg, 'Hot.hot');
      t.equal(r.stdout, '', 'the graph went to the file');
      t.equal(r.stderr, '', 'quiet when not on a terminal');
    }
  });

  t.test('podflame profile -l SEL and deploy/NAME: one merged graph; a partial fan-out exits 8', async (t) => {
    const merged = await cli(['profile', '-l', 'jvm=yes', '-d', '2', '-o', 'merged.svg', '--kubeconfig', kubeconfig]);
    t.equal(merged.code, 0, merged.stderr);
    const svg = readFileSync(join(dir, 'merged.svg'), 'utf8');
    t.match(svg, /-l jvm=yes in shop: 2 of 2 pods/);
    t.match(merged.stderr, /2 of 2 pods profiled, \d+ samples merged/);

    const deploy = await cli([
      'profile',
      'deploy/shop',
      '-d',
      '2',
      '--format',
      'folded',
      '--via',
      'proxy',
      '--kubeconfig',
      kubeconfig,
    ]);
    t.equal(deploy.code, ERROR_CODES.PARTIAL_CAPTURE.exitCode, 'some pods failed: exit 8');
    t.match(deploy.stdout, /^hot-/m, 'the merged folded stacks are still written');
    t.match(deploy.stderr, new RegExp(`failed +${p3.name} .*\\[CAPTURE_FAILED\\]`));
    t.match(deploy.stderr, new RegExp(`ok +${p1.name} +container app, node node-a via proxy`));
    t.match(deploy.stderr, /1 of 3 pods could not be profiled .*\[PARTIAL_CAPTURE\]/);
  });

  t.test('errors from the built CLI: exit codes from ERROR_CODES, messages that say what to do', async (t) => {
    const ghost = await cli(['profile', 'ghost', '-d', '1', '--kubeconfig', kubeconfig]);
    t.equal(ghost.code, ERROR_CODES.POD_NOT_FOUND.exitCode);
    t.match(ghost.stderr, 'podflame: There is no pod "ghost" in namespace "shop"');
    const c3 = await cli(['profile', p3.name, '-d', '1', '--kubeconfig', kubeconfig]);
    t.equal(c3.code, ERROR_CODES.CAPTURE_FAILED.exitCode);
    t.match(c3.stderr, /agent on node node-c .* answered: .* \[CAPTURE_FAILED\]/);
    // Usage errors (exit 2) are checked in process, in cli-inprocess.test.ts.
  });

  t.test('podflame agents: one row per node', async (t) => {
    const r = await cli(['agents', '--kubeconfig', kubeconfig]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /^NODE +AGENT POD +READY +VERSION +RUNTIME +IP\n/);
    t.match(r.stdout, /\nnode-a +podflame-agent-node-a +yes +0\.1\.0 +\S+ +127\.0\.0\.2\n/);
    t.match(r.stdout, /\nnode-b +podflame-agent-node-b +yes +0\.1\.0 +\S+ +127\.0\.0\.3\n/);
    t.match(r.stdout, /\nnode-c +podflame-agent-node-c +yes +0\.1\.0 +\S+ +127\.0\.0\.4\n/);
    t.match(r.stdout, /\nnode-d +podflame-agent-node-d +yes +0\.1\.0 +\S+ +127\.0\.0\.5\n/);
  });

  t.test('kubectl podflame: found on PATH as a plugin, honours --context and -n', async (t) => {
    // The current context's token is refused; --context picks a good one; -n the pod's namespace.
    const file = cluster.kubeconfig('plugin', {
      context: 'stale',
      token: 'expired-token',
      extraContexts: { good: { namespace: 'default', token: 'test-token' } },
    });
    const bin = join(dir, 'bin');
    rmSync(bin, { recursive: true, force: true });
    mkdirSync(bin);
    // What `npm install -g podflame` puts on PATH: an executable named kubectl-podflame running the CLI.
    const shim = join(dir, 'podflame-shim');
    writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${DIST_CLI}" "$@"\n`);
    chmodSync(shim, 0o755);
    symlinkSync(shim, join(bin, 'kubectl-podflame'));
    const pathEnv = { PATH: `${bin}${delimiter}${process.env.PATH ?? ''}`, KUBECONFIG: file };
    const kubectl = await run('kubectl', ['version', '--client'], pathEnv);
    const viaKubectl = kubectl.code === 0;
    // Without kubectl, run the plugin by its own name, as kubectl would.
    const plugin = (args: string[]) =>
      viaKubectl ? run('kubectl', ['podflame', ...args], pathEnv) : run(join(bin, 'kubectl-podflame'), args, pathEnv);
    t.comment(viaKubectl ? 'running through kubectl' : 'kubectl not installed: running kubectl-podflame directly');
    if (viaKubectl) {
      const list = await run('kubectl', ['plugin', 'list'], pathEnv);
      t.match(list.stdout, join(bin, 'kubectl-podflame'), 'kubectl plugin list finds it');
    }

    const stale = await plugin(['profile', '-n', 'shop', p1.name, '-d', '1']);
    t.equal(stale.code, ERROR_CODES.UNAUTHENTICATED.exitCode, 'the current context is used by default');
    const noNs = await plugin(['profile', p1.name, '--context', 'good', '-d', '1']);
    t.equal(noNs.code, ERROR_CODES.POD_NOT_FOUND.exitCode, '--context good: its namespace (default) has no such pod');
    t.match(noNs.stderr, `There is no pod "${p1.name}" in namespace "default"`);
    const ok = await plugin([
      'profile',
      '-n',
      'shop',
      p1.name,
      '--context',
      'good',
      '-d',
      '2',
      '--format',
      'folded',
      '-o',
      'plugin.folded',
    ]);
    t.equal(ok.code, 0, ok.stderr);
    t.match(readFileSync(join(dir, 'plugin.folded'), 'utf8'), /Hot\.hot\w+_\[j\] \d+$/m);
  });
}
