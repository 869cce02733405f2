// The agent image from Dockerfile.agent, end to end on the real engine: built once per content hash, its entrypoint
// is the agent, it carries production dependencies only and a working HEALTHCHECK, and — run with the Docker socket
// mounted and the host network, as the README says — it serves the API and profiles a JVM container. For host mode
// it carries perf, jattach and the capture script, and — run in the host PID namespace with no socket and only the
// capabilities of the host-mode overlay — it profiles JVM containers it finds through their cgroups, as
// `podflame profile --agent URL --container-id ID` asks.
import t, { type Test } from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_NODE_FLAGS } from '../../agent/node-flags.js';
import { HEADERS } from '../../shared/api.js';
import { REPO_ROOT, TEST_LABEL, dockerCli, requireDockerEnv } from '../helpers/docker-env.js';
import { JvmContainers, newPod } from '../helpers/jvm-containers.js';
import { requireContainerdEnv } from '../helpers/containerd-env.js';
import { call, statusNote } from '../agent/http.js';
import { foldedTotal, runCli } from '../agent/e2e-agent.js';
import { hostModeCapabilities, kubectlSkip } from '../manifests/manifest-docs.js';
import { ensureAgentImage } from './agent-image.js';
import { waitFor } from '../helpers/wait-for.js';

// The first run builds the image (npm ci twice, tsc) on a loaded machine.
t.setTimeout(1_500_000);
const env = await requireDockerEnv(t, { jdk: true });

interface ImageConfig {
  Config: { Entrypoint: string[] | null; Healthcheck?: { Test?: string[] } };
}

async function waitForListening(name: string): Promise<string> {
  return waitFor(
    async () => {
      const logs = await dockerCli(['logs', name]).catch(() => '');
      for (const line of logs.split('\n')) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'podflame-agent listening' && entry.url) return entry.url;
      }
      const state = (await dockerCli(['inspect', '-f', '{{.State.Status}}', name])).trim();
      if (state !== 'running') throw new Error(`the agent container is ${state}: ${logs}`);
      return undefined;
    },
    60_000,
    `the agent in container ${name} to log its listening URL`,
    500,
  );
}

/** Linux capability numbers (linux/capability.h) of the capabilities host mode may be granted. */
const CAPABILITY_BITS: Readonly<Record<string, number>> = {
  DAC_READ_SEARCH: 2,
  KILL: 5,
  SETGID: 6,
  SETUID: 7,
  SYS_CHROOT: 18,
  SYS_PTRACE: 19,
  SYS_ADMIN: 21,
  SYSLOG: 34,
  PERFMON: 38,
};

/** The capability names in a CapEff mask from /proc/PID/status, e.g. `00000004002800c0`; unknown bits by number. */
function capabilityNames(mask: string): string[] {
  const bits = BigInt(`0x${mask}`);
  const names: string[] = [];
  for (let bit = 0; bit < 64; bit++) {
    if ((bits >> BigInt(bit)) & 1n) {
      names.push(Object.keys(CAPABILITY_BITS).find((k) => CAPABILITY_BITS[k] === bit) ?? `bit ${bit}`);
    }
  }
  return names.sort();
}

if (env) {
  const image = await ensureAgentImage(env.docker);
  const inspected = (await env.docker.getImage(image).inspect()) as unknown as ImageConfig;

  /**
   * The agent image as the host-mode DaemonSet runs it: node PID namespace, no docker.sock, every capability dropped
   * but the given ones, seccomp unconfined, no privilege escalation, read-only root with a writable /tmp. The host
   * network only so that this test reaches it on loopback (the pod has its own). Returns the capabilities its
   * process holds, read from the host's /proc.
   */
  const startHostModeAgent = async (t: Test, capabilities: readonly string[]) => {
    const name = `podflame-agent-host-${randomBytes(4).toString('hex')}`;
    t.teardown(() => dockerCli(['rm', '-f', name]).catch(() => undefined));
    const containerId = (
      await dockerCli([
        'run',
        '-d',
        '--name',
        name,
        '--label',
        `${TEST_LABEL}=image`,
        '--pid',
        'host',
        '--network',
        'host',
        '--cap-drop',
        'ALL',
        ...capabilities.flatMap((c) => ['--cap-add', c]),
        '--security-opt',
        'seccomp=unconfined',
        '--security-opt',
        'no-new-privileges',
        '--read-only',
        '--tmpfs',
        '/tmp:rw,size=512m',
        image,
        '--listen',
        '127.0.0.1:0',
        '--runtime',
        'host',
        '--node-name',
        `image-host-${randomBytes(3).toString('hex')}`,
      ])
    ).trim();
    const url = await waitForListening(name);
    const pid = (await dockerCli(['inspect', '-f', '{{.State.Pid}}', name])).trim();
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const effective = capabilityNames(/^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? '0');
    return { url, containerId, effective };
  };

  t.test('the entrypoint is the agent, on Node 20, with production dependencies only', async (t) => {
    t.same(inspected.Config.Entrypoint, ['node', ...AGENT_NODE_FLAGS, '/app/dist/agent/main.js']);
    const help = await dockerCli([
      'run',
      '--rm',
      '--network',
      'none',
      '--label',
      `${TEST_LABEL}=image`,
      image,
      '--help',
    ]);
    t.match(help, '--capture-image', 'the image runs the agent (its --help)');
    const probe = await dockerCli([
      'run',
      '--rm',
      '--network',
      'none',
      '--label',
      `${TEST_LABEL}=image`,
      '--entrypoint',
      'node',
      image,
      '-e',
      "const fs=require('fs');console.log(process.versions.node, fs.existsSync('/app/node_modules/express'), " +
        "fs.existsSync('/app/node_modules/typescript'), fs.existsSync('/app/node_modules/tap'), " +
        "fs.existsSync('/app/dist/client'))",
    ]);
    const [version, express, typescript, tap, client] = probe.trim().split(' ');
    const [major, minor] = (version ?? '').split('.').map(Number);
    t.ok((major ?? 0) > 20 || (major === 20 && (minor ?? 0) >= 18), `Node ${version} satisfies engines >=20.18.1`);
    t.equal(express, 'true', 'runtime dependencies are installed');
    t.equal(typescript, 'false', 'no typescript (a devDependency)');
    t.equal(tap, 'false', 'no tap (a devDependency)');
    t.equal(client, 'false', 'only the agent is compiled in');
  });

  t.test('run with the socket mounted: serves the API, is healthy, profiles a JVM', async (t) => {
    const name = `podflame-agent-test-${randomBytes(4).toString('hex')}`;
    const nodeName = `image-${randomBytes(3).toString('hex')}`;
    t.teardown(() => dockerCli(['rm', '-f', name]).catch(() => undefined));
    await dockerCli([
      'run',
      '-d',
      '--name',
      name,
      '--label',
      `${TEST_LABEL}=image`,
      '-v',
      `${env.socketPath}:/var/run/docker.sock`,
      '--network',
      'host',
      image,
      '--listen',
      '127.0.0.1:0',
      '--capture-image',
      env.captureImage,
      '--node-name',
      nodeName,
    ]);
    const url = await waitForListening(name);
    t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);

    const health = await call(url, 'GET', '/healthz');
    t.equal(health.status, 200, statusNote(health));
    const ready = await call(url, 'GET', '/readyz');
    t.equal(ready.status, 200, `ready: the engine answers through the mounted socket (${statusNote(ready)})`);

    // The image's HEALTHCHECK command, against the listening port and against a closed one.
    const check = inspected.Config.Healthcheck?.Test ?? [];
    t.equal(check[0], 'CMD', 'the image has a HEALTHCHECK');
    const port = new URL(url).port;
    await t.resolves(dockerCli(['exec', '-e', `PODFLAME_LISTEN=0.0.0.0:${port}`, name, ...check.slice(1)]));
    await t.rejects(dockerCli(['exec', '-e', 'PODFLAME_LISTEN=127.0.0.1:1', name, ...check.slice(1)]));

    const jvms = new JvmContainers(env);
    t.teardown(() => jvms.cleanup());
    const pod = newPod('image');
    await jvms.startSandbox(pod);
    const app = await jvms.startJvm({ pod, containerName: 'app' });
    await jvms.waitForWarmup(app);
    const profile = await call(url, 'POST', '/v1/profiles', {
      target: { podUid: pod.uid, container: 'app' },
      durationSeconds: 3,
      frequencyHz: 99,
    });
    t.equal(profile.status, 200, statusNote(profile));
    t.match(profile.headers['content-type'], /^image\/svg\+xml/);
    t.equal(profile.headers[HEADERS.node], nodeName);
    t.ok(Number(profile.headers[HEADERS.samples]) > 0, `${profile.headers[HEADERS.samples]} samples`);
    t.match(profile.text, 'Hot.hotFibonacci', 'the JVM hot method is named');
  });

  t.test('host mode tools: perf, jattach, procps and the capture script the agent runs by default', async (t) => {
    const script = await readFile(join(REPO_ROOT, 'agent/capture/podflame-capture.sh'));
    const probe = await dockerCli([
      'run',
      '--rm',
      '--network',
      'none',
      '--label',
      `${TEST_LABEL}=image`,
      '--entrypoint',
      'bash',
      image,
      '-c',
      // jattach without arguments prints its usage and exits 1; `|| true` keeps that from failing the probe.
      'set -e; perf --version; { jattach 2>&1 || true; } | head -n 1; ps --version; ' +
        'stat -c "%a %U" /usr/local/bin/podflame-capture; sha256sum < /usr/local/bin/podflame-capture; ' +
        'ls /var/lib/apt/lists /var/cache/apt/archives | grep -c -e "_" -e "\\.deb$" || true',
    ]);
    const [perf, jattach, ps, mode, sha, leftovers] = probe.trim().split('\n');
    t.match(perf, /^perf version \d+\.\d+/, `perf runs: ${perf}`);
    t.match(jattach, /jattach|Usage/i, `jattach runs: ${jattach}`);
    t.match(ps, /procps/, `ps runs: ${ps}`);
    t.equal(mode, '755 root', 'the capture script is executable, owned by root');
    t.equal(
      sha?.split(' ')[0],
      createHash('sha256').update(script).digest('hex'),
      'it is agent/capture/podflame-capture.sh',
    );
    t.equal(leftovers, '0', 'no package lists or downloaded packages left in the image');

    const help = await dockerCli([
      'run',
      '--rm',
      '--network',
      'none',
      '--label',
      `${TEST_LABEL}=image`,
      image,
      '--help',
    ]);
    t.match(help, /--runtime /, 'the agent has --runtime');
    t.match(
      help,
      /--capture-script PATH\n.*default \/usr\/local\/bin\/podflame-capture\)/,
      "the agent's --capture-script default is where the image puts the script",
    );
  });

  t.test(
    'host mode, with only the overlay capabilities: profiles JVMs found through cgroups, root and uid 1000',
    { skip: await kubectlSkip() },
    async (t) => {
      const capabilities = await hostModeCapabilities();
      const { url, containerId, effective } = await startHostModeAgent(t, capabilities);
      t.same(effective, [...capabilities].sort(), 'the agent process holds exactly the overlay capabilities');

      const ready = await call(url, 'GET', '/readyz');
      t.equal(ready.status, 200, statusNote(ready));
      t.equal((ready.json as { runtime?: string }).runtime, 'host', '/readyz says host mode');
      const targets = await call(url, 'GET', '/v1/targets');
      t.equal(targets.status, 200, statusNote(targets));
      t.equal((targets.json as { runtime?: string }).runtime, 'host', 'GET /v1/targets says host mode');

      const jvms = new JvmContainers(env);
      t.teardown(() => jvms.cleanup());
      const rootJvm = await jvms.startJvm({ pod: newPod('image-host'), containerName: 'app' });
      const userJvm = await jvms.startJvm({
        pod: newPod('image-host-uid'),
        containerName: 'app',
        launch: 'shell',
        user: '1000:1000',
      });
      await Promise.all([jvms.waitForWarmup(rootJvm), jvms.waitForWarmup(userJvm)]);
      const dir = await mkdtemp(join(tmpdir(), 'podflame-image-host-'));
      t.teardown(() => rm(dir, { recursive: true, force: true }));

      for (const [what, jvm] of [
        ['a root JVM as PID 1', rootJvm],
        ['a uid 1000 JVM under sh -c', userJvm],
      ] as const) {
        const r = await runCli(
          ['profile', '--agent', url, '--container-id', jvm.id, '-d', '3', '--format', 'folded'],
          dir,
        );
        t.equal(r.code, 0, `${what}: ${r.stderr}`);
        t.ok(foldedTotal(r.stdout) > 0, `${what}: ${foldedTotal(r.stdout)} samples`);
        t.match(r.stdout, 'Hot.hotFibonacci', `${what}: JIT frames named (jattach wrote the perf map)`);
        t.notMatch(r.stderr, /ATTACH_FAILED|PERFMAP_FAILED|TARGET_NOT_FOUND/, `${what}: no attach or lookup warning`);
      }

      // perf record and perf script ran inside the agent's container: its peak memory must fit the overlay's limit.
      const peak = await readFile(`/sys/fs/cgroup/memory/docker/${containerId}/memory.max_usage_in_bytes`, 'utf8')
        .catch(() => readFile(`/sys/fs/cgroup/system.slice/docker-${containerId}.scope/memory.peak`, 'utf8'))
        .then(Number)
        .catch(() => undefined);
      if (peak === undefined) t.comment('the agent container memory peak is not readable on this host');
      else {
        t.comment(`agent container peak memory over both captures: ${(peak / 2 ** 20).toFixed(0)} MiB`);
        t.ok(peak < 2 ** 30, 'within the host-mode overlay memory limit (1Gi)');
      }

      // The overlay grants no more than needed: without SETUID and SETGID, jattach cannot take a non-root JVM's
      // identity, and its Java frames go unnamed (the capture itself still succeeds).
      const fewer = capabilities.filter((c) => c !== 'SETUID' && c !== 'SETGID');
      t.not(fewer.length, capabilities.length, 'the overlay grants SETUID and SETGID');
      const trimmed = await startHostModeAgent(t, fewer);
      const r = await runCli(
        ['profile', '--agent', trimmed.url, '--container-id', userJvm.id, '-d', '2', '--format', 'folded'],
        dir,
      );
      t.equal(r.code, 0, r.stderr);
      t.match(r.stderr, /\[ATTACH_FAILED\]/, `without SETUID and SETGID: ${r.stderr.trim().split('\n')[0]}`);
      t.notMatch(r.stdout, 'Hot.hotFibonacci', 'and no Java names');
    },
  );

  t.test(
    'host mode, with only the overlay capabilities: a uid 1000 JVM that containerd runs and Docker does not know',
    { skip: await kubectlSkip() },
    async (t) => {
      const containerd = await requireContainerdEnv(t, env);
      if (!containerd) return;
      t.teardown(() => containerd.cleanup());
      const { url } = await startHostModeAgent(t, await hostModeCapabilities());
      const app = await containerd.startJvm({ launch: 'shell', uid: 1000 });
      await t.rejects(dockerCli(['inspect', app.id]), /No such object/i, 'Docker does not know the container');
      await containerd.waitForWarmup(app);
      const dir = await mkdtemp(join(tmpdir(), 'podflame-image-ctr-'));
      t.teardown(() => rm(dir, { recursive: true, force: true }));
      const r = await runCli(['profile', '--agent', url, '--container-id', app.id, '-d', '3', '-o', 'ctr.svg'], dir);
      t.equal(r.code, 0, r.stderr);
      t.notMatch(r.stderr, /ATTACH_FAILED|PERFMAP_FAILED/, 'no attach warning');
      t.match(await readFile(join(dir, 'ctr.svg'), 'utf8'), 'Hot.hotFibonacci', 'the JVM hot method is named');
    },
  );
}
