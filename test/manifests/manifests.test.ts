/**
 * manifests/ (the Docker install: manifests/base/ through manifests/kustomization.yaml) against the Kubernetes schema
 * (kubernetes-models) and against the agent itself: every flag in the DaemonSet's args exists in agent/config.ts and
 * parses, the listen port is the container port named `http`, the probes' paths are routes of the agent, and the RBAC
 * rules are exactly what the agent calls. The host-mode overlay: host-mode-overlay.test.ts.
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

t.test('manifests/ is the base and nothing else (the Docker install)', async (t) => {
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
  const parsed = parseAgentConfig({ argv: args, env: { NODE_NAME: 'node-a' }, hostname: 'ignored' });
  t.equal(parsed.kind, 'config');
  if (parsed.kind !== 'config') return;
  const config = parsed.config;
  t.equal(config.nodeName, 'node-a', 'NODE_NAME gives the node name');
  t.equal(config.auth, 'kubernetes', 'a cluster install authenticates callers');

  const env = container.env as Doc[];
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
    t.ok(served.includes(probe.httpGet.path as string), `${probe.httpGet.path} is a route of the agent`);
  }
  t.notOk(served.includes('/not-a-route'), 'the route list is not everything');
});

t.test('labels, tolerations, updates, resources and least privilege', async (t) => {
  const ds = await daemonSet();
  const [key, value] = AGENT_LABEL_SELECTOR.split('=');
  t.equal(ds.spec.template.metadata.labels[key as string], value, 'pods carry the label the client selects');
  t.equal(ds.spec.selector.matchLabels[key as string], value);
  t.same(ds.spec.template.spec.tolerations, [{ operator: 'Exists' }], 'runs on every node, tainted or not');
  t.equal(ds.spec.updateStrategy.type, 'RollingUpdate');
  const container = ds.spec.template.spec.containers[0];
  t.ok(container.resources.requests.cpu && container.resources.requests.memory);
  t.ok(container.resources.limits.cpu && container.resources.limits.memory);
  const sc = container.securityContext;
  t.same(sc.capabilities, { drop: ['ALL'] }, 'the agent itself needs no capability');
  t.equal(sc.privileged, false);
  t.equal(sc.allowPrivilegeEscalation, false);
  t.equal(ds.spec.template.spec.hostNetwork, undefined, 'not on the host network');
  t.equal(ds.spec.template.spec.hostPID, undefined, 'not in the host PID namespace');
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
    'ServiceAccount',
  ]);
  for (const doc of rendered) t.doesNotThrow(() => validate(doc), `rendered ${doc.kind}/${doc.metadata.name}`);
  const ds = rendered.find((d) => d.kind === 'DaemonSet');
  t.match(ds?.spec.template.spec.containers[0].image, /^podflame-agent:/, 'the image tag is set by the kustomization');
});
