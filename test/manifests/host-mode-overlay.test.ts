/**
 * The host-mode overlay (manifests/overlays/host-mode: the base plus components/host-mode: host mode forced), as
 * `kubectl kustomize` renders it: valid against the Kubernetes schema, the same install as manifests/ except the agent
 * DaemonSet, and that DaemonSet in the node's PID namespace, without docker.sock, with `--runtime=host`, only flags and
 * environment variables the agent knows, and exactly the capabilities host mode needs. The image test runs the agent
 * image with these capabilities (test/images/agent-image.test.ts).
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AGENT_OPTIONS, parseAgentConfig } from '../../agent/config.js';
import {
  HOST_MODE_OVERLAY,
  MANIFESTS,
  agentContainer,
  kubectlSkip,
  renderKustomization,
  validate,
  type Doc,
} from './manifest-docs.js';

const skip = await kubectlSkip();
const [base, overlay] = skip
  ? [[], []]
  : await Promise.all([renderKustomization(MANIFESTS), renderKustomization(HOST_MODE_OVERLAY)]);

function daemonSet(docs: readonly Doc[]): Doc {
  const ds = docs.find((d) => d.kind === 'DaemonSet');
  if (!ds) throw new Error('no DaemonSet in the rendering');
  return ds;
}

/**
 * What host mode needs, each for a reason given in components/host-mode/daemonset-host-mode.yaml: perf_event_open
 * (SYS_ADMIN), perf -p, jattach and /proc/<pid>/root of other users' processes (SYS_PTRACE), kernel symbols (SYSLOG),
 * jattach taking the JVM's uid and gid (SETUID, SETGID), and a non-root JVM's /proc/<pid>/environ, where
 * JAVA_TOOL_OPTIONS may disable attaching (DAC_READ_SEARCH; test/host/host-script-files.test.ts).
 */
const HOST_MODE_CAPABILITIES = [
  'SYS_ADMIN',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SYSLOG',
  'SETUID',
  'SETGID',
  'DAC_READ_SEARCH',
];

t.test('every rendered resource validates against the Kubernetes schema', { skip }, async (t) => {
  t.same(overlay.map((d) => d.kind).sort(), [
    'ClusterRole',
    'ClusterRoleBinding',
    'ConfigMap',
    'DaemonSet',
    'Namespace',
    'NetworkPolicy',
    'Role',
    'RoleBinding',
    'ServiceAccount',
  ]);
  for (const doc of overlay) t.doesNotThrow(() => validate(doc), `${doc.kind}/${doc.metadata.name}`);
  const broken = structuredClone(daemonSet(overlay));
  broken.spec.template.spec.hostPID = 'yes';
  t.throws(() => validate(broken), 'a non-boolean hostPID is refused (so the check above can fail)');
});

t.test('only the agent DaemonSet differs from manifests/', { skip }, async (t) => {
  const key = (d: Doc): string => `${d.kind}/${d.metadata.name}`;
  t.same(overlay.map(key), base.map(key), 'the same resources in the same order');
  for (const doc of overlay) {
    if (doc.kind === 'DaemonSet') continue;
    t.same(
      doc,
      base.find((b) => key(b) === key(doc)),
      `${key(doc)} as in manifests/`,
    );
  }
  const [ds, baseDs] = [daemonSet(overlay), daemonSet(base)];
  t.same(ds.metadata, baseDs.metadata, 'same name and labels: the client finds agents of both variants alike');
  t.same(ds.spec.selector, baseDs.spec.selector);
  t.same(agentContainer(overlay).image, agentContainer(base).image, 'the same agent image');
  t.same(agentContainer(overlay).ports, agentContainer(base).ports);
  t.same(
    agentContainer(overlay).securityContext,
    agentContainer(base).securityContext,
    'the same privileges: manifests/ takes host mode by itself where no Docker engine answers',
  );
  t.equal(baseDs.spec.template.spec.hostPID, true);
});

t.test('the agent runs in the node PID namespace, without docker.sock or other hostPaths', { skip }, async (t) => {
  const spec = daemonSet(overlay).spec.template.spec;
  t.equal(spec.hostPID, true, 'hostPID: the pod /proc is the node one');
  t.equal(spec.hostNetwork, undefined, 'not on the host network');
  t.equal(spec.hostIPC, undefined, 'not in the host IPC namespace');
  const volumes = spec.volumes as Doc[];
  const hostPaths = volumes.filter((v) => v.hostPath).map((v) => v.hostPath.path as string);
  t.same(hostPaths, ['/var/lib/podflame'], 'the profile store is the only hostPath: no docker.sock, no /proc');
  t.notOk(
    volumes.some((v) => v.name === 'docker-sock'),
    'no docker-sock volume',
  );
  const mounts = agentContainer(overlay).volumeMounts as Doc[];
  t.notOk(
    mounts.some((m) => String(m.mountPath).includes('docker')),
    'no docker mount',
  );
  for (const mount of mounts) {
    t.ok(
      volumes.some((v) => v.name === mount.name),
      `mount ${mount.mountPath} has its volume`,
    );
  }
  const tmp = volumes.find((v) => v.name === mounts.find((m) => m.mountPath === '/tmp')?.name);
  t.ok(tmp?.emptyDir, 'a writable /tmp for perf data and copied JIT maps (the root filesystem is read-only)');
  t.equal(agentContainer(overlay).securityContext.readOnlyRootFilesystem, true);
});

t.test('args and environment are flags of the agent, and they parse to host mode', { skip }, async (t) => {
  const container = agentContainer(overlay);
  const args = container.args as string[];
  const flags = new Set(AGENT_OPTIONS.map((o) => o.flag));
  for (const arg of args) {
    const m = /^--([a-z-]+)=/.exec(arg);
    t.ok(m && flags.has(m[1] as string), `${arg}: --${m?.[1]} is a flag of agent/config.ts`);
  }
  t.ok(args.includes('--runtime=host'), '--runtime=host');
  t.notOk(
    args.some((a) => a.startsWith('--docker-socket=') || a.startsWith('--capture-image=')),
    'no Docker-only flags',
  );
  t.notOk(
    (container.env as Doc[]).some((e) => e.name === 'PODFLAME_CAPTURE_IMAGE'),
    'no capture image: host mode starts no container',
  );
  const envNames = new Set(AGENT_OPTIONS.flatMap((o) => [...o.env]));
  for (const env of container.env as Doc[]) {
    t.ok(envNames.has(env.name as string), `env ${env.name} is read by the agent`);
  }

  const env = Object.fromEntries(
    (container.env as Doc[]).map((e) => [e.name as string, e.value === undefined ? 'from-the-api' : String(e.value)]),
  );
  const parsed = parseAgentConfig({ argv: args, env, hostname: 'ignored' });
  t.equal(parsed.kind, 'config');
  if (parsed.kind !== 'config') return;
  const config = parsed.config;
  t.equal(config.runtime, 'host', 'the agent takes the host path, never Docker');
  t.equal(config.nodeName, 'from-the-api', 'NODE_NAME gives the node name');
  t.equal(config.auth, 'kubernetes');
});

t.test('least privilege for host mode: the listed capabilities, seccomp and AppArmor off', { skip }, async (t) => {
  const sc = agentContainer(overlay).securityContext;
  t.same(sc.capabilities, { drop: ['ALL'], add: HOST_MODE_CAPABILITIES });
  t.notOk(
    (sc.capabilities.add as string[]).includes('PERFMON'),
    'no PERFMON: SYS_ADMIN covers it, and old runtimes reject it',
  );
  for (const broad of ['DAC_OVERRIDE', 'FOWNER', 'KILL']) {
    t.notOk((sc.capabilities.add as string[]).includes(broad), `no ${broad}: nothing host mode does needs it`);
  }
  t.same(sc.seccompProfile, { type: 'Unconfined' }, 'seccomp: perf_event_open and setns');
  t.same(sc.appArmorProfile, { type: 'Unconfined' }, 'AppArmor: ptrace of processes outside the container');
  t.equal(sc.privileged, false, 'never privileged');
  t.equal(sc.allowPrivilegeEscalation, false);
  t.equal(sc.runAsUser, 0);
  const limits = agentContainer(overlay).resources.limits;
  t.equal(limits.memory, '1Gi', 'room for perf record and perf script in the agent container');
});

t.test('a base whose args moved fails to render instead of losing the wrong flag', { skip }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'podflame-kustomize-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await cp(MANIFESTS, dir, { recursive: true });
  const daemonSetFile = join(dir, 'base', 'daemonset.yaml');
  const text = await readFile(daemonSetFile, 'utf8');
  const swapped = text.replace(
    /( +- --runtime=\S+\n)( +- --docker-socket=\S+\n)/,
    (_all, runtime: string, dockerSocket: string) => dockerSocket + runtime,
  );
  t.not(swapped, text, 'the two flags were swapped');
  await writeFile(daemonSetFile, swapped);
  const render = promisify(execFile)('kubectl', ['kustomize', join(dir, 'overlays', 'host-mode')]);
  await t.rejects(
    render,
    /testing value \/spec\/template\/spec\/containers\/0\/args\/3 failed/,
    'the test op stops it',
  );
});
