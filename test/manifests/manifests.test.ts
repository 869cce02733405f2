/**
 * manifests/ (the install for every node: manifests/base/ through manifests/kustomization.yaml) against the Kubernetes schema
 * (kubernetes-models) and against the agent itself: every flag in the DaemonSet's args exists in agent/config.ts and
 * parses, the listen port is the container port named `http`, the probes' paths are routes of the agent, and the RBAC
 * rules are exactly what the agent calls. Issue #13 (findings 1 and 9): HTTPS by default from a mounted Secret, probes
 * over HTTPS, the CA ConfigMap readable by every user (and nothing else), the namespace's Pod Security label, a
 * NetworkPolicy on the agent port, control-plane nodes opt-in (components/control-plane), cert-manager optional
 * (components/cert-manager). Issue #16: one DaemonSet for Docker, containerd and CRI-O nodes (`--runtime=auto`, hostPID
 * and host mode's capabilities, docker.sock mounted without a type check), both images set by `images:`. The
 * host-mode overlay: host-mode-overlay.test.ts; what `podflame install` ships: install-manifests.test.ts.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Router } from 'express';
import { AGENT_OPTIONS, parseAgentConfig } from '../../agent/config.js';
import { healthRouter } from '../../agent/server/routes/health.js';
import { metricsRouter } from '../../agent/server/routes/metrics.js';
import { AgentMetrics } from '../../agent/metrics.js';
import { parseSchedulesFile } from '../../agent/schedules/schedule-config.js';
import { AGENT_LABEL_SELECTOR, AGENT_PORT_NAME, DEFAULT_AGENT_NAMESPACE } from '../../client/kube/agent-discovery.js';
import { AGENT_CA_CONFIGMAP, AGENT_CA_KEY } from '../../client/kube/agent-ca.js';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { FakeRuntime } from '../agent/fake-runtime.js';
import { MANIFESTS, kubectlSkip, renderKustomization, validate, type Doc } from './manifest-docs.js';

/** The resources of both installs; manifests/kustomization.yaml includes this directory and nothing else. */
const BASE = join(MANIFESTS, 'base');

async function readDocs(file: string, dir = BASE): Promise<Doc[]> {
  const text = await readFile(join(dir, file), 'utf8');
  return parseAllDocuments(text).map((d) => d.toJS() as Doc);
}

async function kustomization(): Promise<{ resources: string[]; namespace: string }> {
  const [k] = await readDocs('kustomization.yaml');
  return k as { resources: string[]; namespace: string };
}

async function allResources(): Promise<Doc[]> {
  const k = await kustomization();
  return (await Promise.all(k.resources.map((file) => readDocs(file)))).flat();
}

async function daemonSet(): Promise<Doc> {
  const ds = (await allResources()).find((d) => d.kind === 'DaemonSet');
  if (!ds) throw new Error('no DaemonSet in manifests/');
  return ds;
}

function routePaths(router: Router): string[] {
  return router.stack.flatMap((layer) => (layer.route ? [String(layer.route.path)] : []));
}

t.test('manifests/ is the base and nothing else (the install for every node)', async (t) => {
  const [top] = await readDocs('kustomization.yaml', MANIFESTS);
  t.same(top, { apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: ['base'] });
});

t.test('every resource of the kustomization validates against the Kubernetes schema', async (t) => {
  const docs = await allResources();
  t.same(docs.map((d) => d.kind).sort(), [
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
  for (const doc of docs) {
    t.doesNotThrow(() => validate(doc), `${doc.kind}/${doc.metadata.name}`);
  }
});

t.test('the validation rejects a broken DaemonSet (so the check above can fail)', async (t) => {
  const ds = await daemonSet();
  const broken = structuredClone(ds);
  broken.spec.template.spec.containers[0].ports[0].containerPort = 'seventy';
  t.throws(() => validate(broken));
  const noSelector = structuredClone(ds);
  delete noSelector.spec.selector;
  t.throws(() => validate(noSelector));
});

t.test('namespaced resources live in the namespace the client looks agents up in', async (t) => {
  const k = await kustomization();
  t.equal(k.namespace, DEFAULT_AGENT_NAMESPACE);
  for (const doc of await allResources()) {
    if (['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(doc.kind as string)) continue;
    if (doc.kind === 'RoleBinding' || doc.kind === 'Role') {
      t.equal(doc.metadata.namespace, DEFAULT_AGENT_NAMESPACE, `${doc.kind}/${doc.metadata.name}`);
      continue;
    }
    t.equal(doc.metadata.namespace, DEFAULT_AGENT_NAMESPACE, `${doc.kind}/${doc.metadata.name}`);
  }
});

t.test('the DaemonSet args are flags of the agent, and they parse', async (t) => {
  const ds = await daemonSet();
  const container = ds.spec.template.spec.containers[0];
  const args = container.args as string[];
  const known = new Set(AGENT_OPTIONS.map((o) => o.flag));
  for (const arg of args) {
    const m = /^--([a-z-]+)=/.exec(arg);
    t.ok(m, `${arg} is written --flag=value`);
    t.ok(m && known.has(m[1] as string), `${arg}: --${m?.[1]} is a flag of agent/config.ts`);
  }
  const env = container.env as Doc[];
  const envNames = new Set(AGENT_OPTIONS.flatMap((o) => [...o.env]));
  for (const e of env) t.ok(envNames.has(e.name as string), `env ${e.name} is read by the agent`);
  const envValues = Object.fromEntries(env.map((e) => [e.name as string, (e.value as string | undefined) ?? 'node-a']));
  const parsed = parseAgentConfig({ argv: args, env: envValues, hostname: 'ignored' });
  t.equal(parsed.kind, 'config');
  if (parsed.kind !== 'config') return;
  const config = parsed.config;
  t.equal(config.nodeName, 'node-a', 'NODE_NAME gives the node name');
  t.equal(config.auth, 'kubernetes', 'a cluster install authenticates callers');
  t.equal(config.runtime, 'auto', 'Docker where the engine answers, else host mode: one DaemonSet for every node');
  t.equal(config.captureImage, 'podflame-perf', 'the capture image from PODFLAME_CAPTURE_IMAGE (tagged by images:)');
  t.notOk(
    args.some((a) => a.startsWith('--capture-image=')),
    'no --capture-image flag, which kustomize images: cannot rewrite',
  );
  t.same(env.find((e) => e.name === 'NODE_NAME')?.valueFrom, { fieldRef: { fieldPath: 'spec.nodeName' } });

  const http = (container.ports as Doc[]).find((p) => p.name === AGENT_PORT_NAME);
  t.equal(http?.containerPort, config.listen.port, 'the container port named http is the listen port');

  const mounts = container.volumeMounts as Doc[];
  const volumes = ds.spec.template.spec.volumes as Doc[];
  const hostPathOf = (mountPath: string): string | undefined => {
    const mount = mounts.find((m) => mountPath === m.mountPath || mountPath.startsWith(`${m.mountPath}/`));
    return volumes.find((v) => v.name === mount?.name)?.hostPath?.path;
  };
  t.equal(hostPathOf(config.dockerSocket), '/var/run/docker.sock', '--docker-socket is the node socket');
  t.ok(hostPathOf(config.dataDir ?? 'unset'), '--data-dir is on a hostPath');
  const schedulesMount = mounts.find((m) => config.schedulesFile?.startsWith(`${m.mountPath}/`));
  const schedulesVolume = volumes.find((v) => v.name === schedulesMount?.name);
  t.ok(schedulesVolume?.configMap?.name, '--schedules is in a mounted ConfigMap');
});

t.test('the schedules ConfigMap holds a schedules file the agent accepts', async (t) => {
  const ds = await daemonSet();
  const docs = await allResources();
  const volume = (ds.spec.template.spec.volumes as Doc[]).find((v) => v.configMap);
  const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === volume?.configMap.name);
  t.ok(cm, 'the mounted ConfigMap is part of the install');
  const args = ds.spec.template.spec.containers[0].args as string[];
  const file =
    args
      .find((a) => a.startsWith('--schedules='))
      ?.split('/')
      .pop() ?? '';
  t.type(cm?.data?.[file], 'string', `the ConfigMap has the key ${file}`);
  t.same(parseSchedulesFile(cm?.data?.[file] as string, file), []);
});

t.test('probes name the http port and paths the agent serves', async (t) => {
  const container = (await daemonSet()).spec.template.spec.containers[0];
  const served = routePaths(healthRouter({ runtime: new FakeRuntime(), nodeName: 'n', inFlight: () => 0 }));
  t.equal(container.readinessProbe.httpGet.path, '/readyz');
  t.equal(container.livenessProbe.httpGet.path, '/healthz');
  for (const probe of [container.readinessProbe, container.livenessProbe]) {
    t.equal(probe.httpGet.port, AGENT_PORT_NAME);
    t.equal(probe.httpGet.scheme, 'HTTPS', 'the agent serves HTTPS: so do its probes');
    t.ok(served.includes(probe.httpGet.path as string), `${probe.httpGet.path} is a route of the agent`);
  }
  t.notOk(served.includes('/not-a-route'), 'the route list is not everything');
});

t.test('labels, tolerations, updates, resources and least privilege', async (t) => {
  const ds = await daemonSet();
  const [key, value] = AGENT_LABEL_SELECTOR.split('=');
  t.equal(ds.spec.template.metadata.labels[key as string], value, 'pods carry the label the client selects');
  t.equal(ds.spec.selector.matchLabels[key as string], value);
  t.equal(
    ds.spec.template.spec.tolerations,
    undefined,
    'no toleration: tainted nodes (the control plane among them) are opt-in',
  );
  t.equal(ds.spec.updateStrategy.type, 'RollingUpdate');
  const container = ds.spec.template.spec.containers[0];
  t.ok(container.resources.requests.cpu && container.resources.requests.memory);
  t.ok(container.resources.limits.cpu && container.resources.limits.memory);
  const sc = container.securityContext;
  t.same(
    sc.capabilities,
    { drop: ['ALL'], add: ['SYS_ADMIN', 'SYS_CHROOT', 'SYS_PTRACE', 'SYSLOG', 'SETUID', 'SETGID', 'DAC_READ_SEARCH'] },
    'host mode capabilities (auto may take host mode on any node), and nothing else',
  );
  t.same(sc.seccompProfile, { type: 'Unconfined' }, 'host mode: perf_event_open and setns');
  t.same(sc.appArmorProfile, { type: 'Unconfined' }, 'host mode: ptrace of processes outside the container');
  t.equal(sc.privileged, false);
  t.equal(sc.allowPrivilegeEscalation, false);
  t.equal(sc.readOnlyRootFilesystem, true);
  t.equal(container.resources.limits.memory, '1Gi', 'room for perf record and perf script in host mode');
  t.equal(ds.spec.template.spec.hostNetwork, undefined, 'not on the host network');
  t.equal(ds.spec.template.spec.hostPID, true, 'in the host PID namespace: host mode where no Docker engine answers');
});

t.test('docker.sock is mounted without a type check, so a node without Docker still starts the pod', async (t) => {
  const ds = await daemonSet();
  const volumes = ds.spec.template.spec.volumes as Doc[];
  const sock = volumes.find((v) => v.hostPath?.path === '/var/run/docker.sock');
  t.ok(sock, 'the socket is mounted for Docker nodes');
  // `type: Socket` makes the kubelet refuse to start the pod where the path is no socket (containerd, CRI-O nodes).
  t.equal(sock?.hostPath.type, '', 'type "": no check (a missing path becomes an empty directory, and auto: host)');
  const hostPaths = volumes.filter((v) => v.hostPath).map((v) => v.hostPath.path as string);
  t.same(hostPaths.sort(), ['/var/lib/podflame', '/var/run/docker.sock'], 'no other hostPath (no /proc: hostPID)');
  const tmp = volumes.find((v) => v.name === 'tmp');
  t.equal(tmp?.emptyDir?.sizeLimit, '2Gi', "room for perf's recordings in host mode");
});

t.test('the ClusterRole grants only what the agent calls', async (t) => {
  const docs = await allResources();
  const role = docs.find((d) => d.kind === 'ClusterRole');
  t.same(role?.rules, [
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
    { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
  ]);
  const binding = docs.find((d) => d.kind === 'ClusterRoleBinding');
  const sa = docs.find((d) => d.kind === 'ServiceAccount');
  const ds = await daemonSet();
  t.equal(binding?.roleRef.name, role?.metadata.name);
  t.same(binding?.subjects, [{ kind: 'ServiceAccount', name: sa?.metadata.name, namespace: sa?.metadata.namespace }]);
  t.equal(ds.spec.template.spec.serviceAccountName, sa?.metadata.name);
});

t.test('the optional PodMonitor scrapes the agent /metrics route on the http port', async (t) => {
  const [pm] = await readDocs('optional/podmonitor.yaml', MANIFESTS);
  const [key, value] = AGENT_LABEL_SELECTOR.split('=');
  t.equal(pm?.kind, 'PodMonitor');
  t.equal(pm?.spec.selector.matchLabels[key as string], value);
  const endpoint = pm?.spec.podMetricsEndpoints[0];
  t.equal(endpoint.port, AGENT_PORT_NAME);
  t.equal(endpoint.scheme, 'https');
  t.same(
    endpoint.tlsConfig.ca,
    { configMap: { name: AGENT_CA_CONFIGMAP, key: AGENT_CA_KEY } },
    'the CA the client uses',
  );
  t.ok(routePaths(metricsRouter(new AgentMetrics())).includes(endpoint.path as string), `${endpoint.path} is served`);
});

t.test('kubectl kustomize renders the whole install', { skip: await kubectlSkip() }, async (t) => {
  const rendered = await renderKustomization(MANIFESTS);
  t.same(rendered.map((d) => d.kind).sort(), [
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
  for (const doc of rendered) t.doesNotThrow(() => validate(doc), `rendered ${doc.kind}/${doc.metadata.name}`);
  const ds = rendered.find((d) => d.kind === 'DaemonSet');
  t.match(ds?.spec.template.spec.containers[0].image, /^podflame-agent:/, 'the image tag is set by the kustomization');
  const env = ds?.spec.template.spec.containers[0].env as Doc[];
  t.same(
    env.find((e) => e.name === 'PODFLAME_CAPTURE_IMAGE')?.value,
    `podflame-perf:${ds?.spec.template.spec.containers[0].image.split(':')[1]}`,
    'the capture image carries the same tag, set by the same images: list',
  );
});

t.test(
  'an overlay images: entry sets both images, the agent and the capture one',
  { skip: await kubectlSkip() },
  async (t) => {
    const work = await mkdtemp(join(tmpdir(), 'podflame-images-'));
    t.teardown(() => rm(work, { recursive: true, force: true }));
    await cp(MANIFESTS, join(work, 'manifests'), { recursive: true });
    await writeFile(
      join(work, 'kustomization.yaml'),
      [
        'resources: [manifests]',
        'images:',
        '  - {name: podflame-agent, newName: registry.example/podflame-agent, newTag: "7"}',
        '  - {name: podflame-perf, newName: registry.example/podflame-perf, newTag: "7"}',
        '',
      ].join('\n'),
    );
    const ds = (await renderKustomization(work)).find((d) => d.kind === 'DaemonSet');
    const container = ds?.spec.template.spec.containers[0];
    t.equal(container.image, 'registry.example/podflame-agent:7');
    const env = container.env as Doc[];
    t.equal(env.find((e) => e.name === 'PODFLAME_CAPTURE_IMAGE')?.value, 'registry.example/podflame-perf:7');
    t.same(
      env.find((e) => e.name === 'NODE_NAME'),
      { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      'other variables untouched',
    );
  },
);

t.test('HTTPS by default: --tls-cert and --tls-key from the mounted Secret podflame-agent-tls', async (t) => {
  const ds = await daemonSet();
  const container = ds.spec.template.spec.containers[0];
  const parsed = parseAgentConfig({ argv: container.args as string[], env: { NODE_NAME: 'n' }, hostname: 'n' });
  if (parsed.kind !== 'config') throw new Error('no config');
  const { tlsCert, tlsKey } = parsed.config;
  t.ok(tlsCert && tlsKey, 'both flags are set');
  const mount = (container.volumeMounts as Doc[]).find((m) => tlsCert?.startsWith(`${m.mountPath}/`));
  t.equal(mount?.readOnly, true);
  t.ok(tlsKey?.startsWith(`${mount?.mountPath}/`), 'the key is in the same mount');
  const volume = (ds.spec.template.spec.volumes as Doc[]).find((v) => v.name === mount?.name);
  t.equal(volume?.secret?.secretName, 'podflame-agent-tls');
  t.same(
    [tlsCert?.split('/').pop(), tlsKey?.split('/').pop()],
    ['tls.crt', 'tls.key'],
    'the keys of a kubernetes.io/tls Secret',
  );
  t.notOk(
    (container.volumeMounts as Doc[]).some((m) => m !== mount && mount?.mountPath.startsWith(`${m.mountPath}/`)),
    'not nested in another (read-only) mount',
  );
});

t.test('the agent namespace enforces the privileged Pod Security level, which is why it is its own', async (t) => {
  const ns = (await allResources()).find((d) => d.kind === 'Namespace');
  t.equal(ns?.metadata.labels['pod-security.kubernetes.io/enforce'], 'privileged');
});

t.test('every user may read the CA ConfigMap, and nothing else through that Role', async (t) => {
  const docs = await allResources();
  const role = docs.find((d) => d.kind === 'Role');
  t.same(role?.rules, [
    { apiGroups: [''], resources: ['configmaps'], resourceNames: [AGENT_CA_CONFIGMAP], verbs: ['get'] },
  ]);
  const binding = docs.find((d) => d.kind === 'RoleBinding');
  t.same(binding?.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role?.metadata.name });
  t.same(binding?.subjects, [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:authenticated' }]);
});

t.test('the NetworkPolicy lets only the control plane and labelled namespaces reach the agent port', async (t) => {
  const docs = await allResources();
  const np = docs.find((d) => d.kind === 'NetworkPolicy');
  const ds = await daemonSet();
  const [key, value] = AGENT_LABEL_SELECTOR.split('=');
  t.same(np?.spec.podSelector, { matchLabels: { [key as string]: value } }, 'selects the agent pods');
  t.same(np?.spec.policyTypes, ['Ingress']);
  const parsed = parseAgentConfig({
    argv: ds.spec.template.spec.containers[0].args as string[],
    env: { NODE_NAME: 'n' },
    hostname: 'n',
  });
  if (parsed.kind !== 'config') throw new Error('no config');
  t.same(np?.spec.ingress, [
    {
      from: [
        { ipBlock: { cidr: '192.0.2.0/24' } },
        { namespaceSelector: { matchLabels: { 'podflame.io/agent-access': 'true' } } },
      ],
      ports: [{ protocol: 'TCP', port: parsed.config.listen.port }],
    },
  ]);
});

t.test('components/control-plane: the one way onto control-plane nodes', { skip: await kubectlSkip() }, async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'podflame-cp-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  await cp(MANIFESTS, join(work, 'manifests'), { recursive: true });
  await writeFile(
    join(work, 'kustomization.yaml'),
    'resources: [manifests/base]\ncomponents: [manifests/components/control-plane]\n',
  );
  const ds = (await renderKustomization(work)).find((d) => d.kind === 'DaemonSet');
  t.same(ds?.spec.template.spec.tolerations, [
    { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' },
    { key: 'node-role.kubernetes.io/master', operator: 'Exists', effect: 'NoSchedule' },
  ]);
  t.doesNotThrow(() => validate(ds as Doc));
});

t.test(
  'components/cert-manager issues the Secret the DaemonSet mounts, for the name clients check',
  { skip: await kubectlSkip() },
  async (t) => {
    const work = await mkdtemp(join(tmpdir(), 'podflame-cm-'));
    t.teardown(() => rm(work, { recursive: true, force: true }));
    await cp(MANIFESTS, join(work, 'manifests'), { recursive: true });
    await writeFile(
      join(work, 'kustomization.yaml'),
      'resources: [manifests/base]\ncomponents: [manifests/components/cert-manager]\n',
    );
    const docs = await renderKustomization(work);
    const certs = docs.filter((d) => d.kind === 'Certificate');
    const ds = docs.find((d) => d.kind === 'DaemonSet');
    const secretName = (ds?.spec.template.spec.volumes as Doc[]).find((v) => v.secret)?.secret.secretName;
    const serving = certs.find((c) => c.spec.secretName === secretName);
    t.ok(serving, 'a Certificate writes the mounted Secret');
    const [pm] = await readDocs('optional/podmonitor.yaml', MANIFESTS);
    t.same(serving?.spec.dnsNames, [pm?.spec.podMetricsEndpoints[0].tlsConfig.serverName], 'the name clients check');
    t.ok(serving?.spec.usages.includes('server auth'));
    const issuer = docs.find((d) => d.kind === 'Issuer' && d.metadata.name === serving?.spec.issuerRef.name);
    const root = certs.find((c) => c.spec.secretName === issuer?.spec.ca?.secretName);
    t.equal(root?.spec.isCA, true, 'signed by a CA of its own, whose ca.crt goes into the CA ConfigMap');
    for (const d of [...certs, issuer]) t.equal(d?.metadata.namespace, DEFAULT_AGENT_NAMESPACE);
  },
);
