/**
 * `podflame install` and `podflame uninstall` against the stand-in Kubernetes API (test/helpers/fake-kube-api.ts):
 * --dry-run prints YAML that the Kubernetes schema accepts and asks nothing of the API; install applies every
 * object with server-side apply (content type application/apply-patch+yaml, field manager podflame, force) and waits,
 * one progress line per change on stderr, until the DaemonSet's status says every agent is ready; --timeout ends the
 * wait with AGENT_NOT_READY; a refused apply is FORBIDDEN; uninstall deletes every labelled object and waits until
 * the namespace is gone. The CLI runs in process (test/helpers/cli-io.ts); the built one reads dist/manifests.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';
import { runInProcess } from '../helpers/cli-io.js';
import { DIST_CLI, runBuiltCli } from '../helpers/built.js';
import { registerInstall } from '../../client/cli/commands/install.js';
import { registerUninstall } from '../../client/cli/commands/uninstall.js';
import { validate, type Doc } from '../manifests/manifest-docs.js';
import { existsSync } from 'node:fs';

const COMMANDS = [registerInstall, registerUninstall];

async function cluster(t: Test): Promise<{ api: FakeKubeApi; kubeconfig: string }> {
  const api = new FakeKubeApi();
  await api.start();
  t.teardown(() => api.close());
  const dir = mkdtempSync(join(tmpdir(), 'podflame-install-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { api, kubeconfig: api.writeKubeconfig(join(dir, 'config')) };
}

/** Resolves once `check` holds, polling the stand-in's state every 20 ms. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 20));
}

const dsGets = (api: FakeKubeApi): number =>
  api.requests.filter(
    (r) => r.method === 'GET' && r.url.startsWith('/apis/apps/v1/namespaces/podflame/daemonsets/podflame-agent'),
  ).length;

t.test('--dry-run prints the install as YAML the schema accepts, and asks nothing of any API server', async (t) => {
  const run = await runInProcess(COMMANDS, [
    'install',
    '--dry-run',
    '--image',
    'registry.example/podflame-agent:9',
    '--capture-image',
    'registry.example/podflame-perf:9',
    '--kubeconfig',
    '/nonexistent/kubeconfig',
  ]);
  t.equal(run.code, 0, run.err);
  const docs = parseAllDocuments(run.text, { version: '1.1' }).map((d) => d.toJS() as Doc);
  t.same(
    docs.map((d) => d.kind),
    [
      'Namespace',
      'ServiceAccount',
      'Role',
      'ClusterRole',
      'RoleBinding',
      'ClusterRoleBinding',
      'ConfigMap',
      'NetworkPolicy',
      'DaemonSet',
    ],
  );
  for (const doc of docs) t.doesNotThrow(() => validate(doc), `${doc.kind}/${doc.metadata.name}`);
  const container = docs.at(-1)?.spec.template.spec.containers[0];
  t.equal(container.image, 'registry.example/podflame-agent:9');
  t.equal(
    container.env.find((e: Doc) => e.name === 'PODFLAME_CAPTURE_IMAGE').value,
    'registry.example/podflame-perf:9',
  );
  t.equal(
    docs.at(-1)?.spec.template.spec.volumes.find((v: Doc) => v.name === 'tls').secret.defaultMode,
    0o400,
    'YAML 1.1 octal kept',
  );
});

t.test('--timeout 0 is a usage error: it could never be met', async (t) => {
  const run = await runInProcess(COMMANDS, ['install', '--timeout', '0']);
  t.equal(run.code, 2);
  t.match(run.err, /^podflame: --timeout must be longer than 0, got '0' \[USAGE\]/);
});

t.test('a bad --image is a usage error naming the flag', async (t) => {
  const run = await runInProcess(COMMANDS, ['install', '--dry-run', '--image', 'Not An Image']);
  t.equal(run.code, 2);
  t.match(
    run.err,
    /^podflame: --image must be an image reference such as REGISTRY\/NAME:TAG, got 'Not An Image' \[USAGE\]/,
  );
});

t.test('install applies every object server-side, then waits until the agents are ready', async (t) => {
  const { api, kubeconfig } = await cluster(t);
  const running = runInProcess(COMMANDS, [
    'install',
    '--kubeconfig',
    kubeconfig,
    '--image',
    'r.example/podflame-agent:2',
  ]);
  // The DaemonSet controller's part, played once install is waiting: first one agent of two, then both.
  await until(() => dsGets(api) >= 1);
  api.setDaemonSetStatus('podflame', 'podflame-agent', {
    desiredNumberScheduled: 2,
    numberReady: 1,
    updatedNumberScheduled: 2,
  });
  const seen = dsGets(api);
  await until(() => dsGets(api) > seen);
  api.setDaemonSetStatus('podflame', 'podflame-agent', {
    desiredNumberScheduled: 2,
    numberReady: 2,
    updatedNumberScheduled: 2,
  });
  const run = await running;
  t.equal(run.code, 0, run.err);

  t.same(
    api.applies.map((a) => a.path),
    [
      'namespaces//podflame',
      'serviceaccounts/podflame/podflame-agent',
      'roles/podflame/podflame-agent-ca-reader',
      'clusterroles//podflame-agent',
      'rolebindings/podflame/podflame-agent-ca-reader',
      'clusterrolebindings//podflame-agent',
      'configmaps/podflame/podflame-schedules',
      'networkpolicies/podflame/podflame-agent',
      'daemonsets/podflame/podflame-agent',
    ],
    'every object, the namespace first and the DaemonSet last',
  );
  for (const a of api.applies) {
    t.equal(a.contentType, 'application/apply-patch+yaml', `${a.path}: server-side apply`);
    t.equal(a.fieldManager, 'podflame', `${a.path}: field manager podflame`);
    t.equal(a.force, true, `${a.path}: podflame owns these fields`);
  }
  const ds = api.storedObject('daemonsets', 'podflame', 'podflame-agent') as Doc;
  t.equal(ds.spec.template.spec.containers[0].image, 'r.example/podflame-agent:2');
  t.match(run.text, /^Namespace podflame applied\n/);
  t.match(run.text, /DaemonSet podflame\/podflame-agent applied\n$/);
  t.same(
    run.err.split('\n').filter((l) => l !== ''),
    [
      'podflame: waiting for the DaemonSet controller',
      'podflame: 1/2 agents ready',
      'podflame: 2/2 agents ready',
      'podflame: installed; podflame agents lists the agents',
    ],
    'one line per change, not per poll',
  );
});

t.test('--timeout: agents that never get ready end the wait with AGENT_NOT_READY', async (t) => {
  const { api, kubeconfig } = await cluster(t);
  const running = runInProcess(COMMANDS, ['install', '--kubeconfig', kubeconfig, '--timeout', '1s']);
  await until(() => dsGets(api) >= 1);
  api.setDaemonSetStatus('podflame', 'podflame-agent', {
    desiredNumberScheduled: 3,
    numberReady: 1,
    updatedNumberScheduled: 3,
  });
  const run = await running;
  t.equal(run.code, 5);
  t.match(
    run.err,
    /podflame: The podflame agents are not ready after 1s \(1\/3 agents ready\): see kubectl -n podflame get pods -l app.kubernetes.io\/name=podflame-agent .*\[AGENT_NOT_READY\]/,
  );
  t.equal(api.applies.length, 9, 'applied before the wait');
});

t.test('an apply the API server forbids is FORBIDDEN, with its words', async (t) => {
  const { api, kubeconfig } = await cluster(t);
  api.authorize = (a) => ({ allowed: !(a.verb === 'patch' && a.resource === 'clusterroles') });
  const run = await runInProcess(COMMANDS, ['install', '--kubeconfig', kubeconfig]);
  t.equal(run.code, 7);
  t.match(
    run.err,
    /podflame: The Kubernetes API server forbids PATCH \/apis\/rbac.authorization.k8s.io\/v1\/clusterroles\/podflame-agent: clusterroles "podflame-agent" is forbidden: User "tester" cannot patch .*cluster-admin.*\[FORBIDDEN\]/,
  );
});

t.test('uninstall deletes what install created, and waits for the namespace to go', async (t) => {
  const { api, kubeconfig } = await cluster(t);
  const installed = await runInProcess(COMMANDS, ['install', '--kubeconfig', kubeconfig, '--no-wait']);
  t.equal(installed.code, 0, installed.err);
  api.putConfigMap('podflame', 'not-ours', { a: 'b' });
  api.namespaceTerminatingLists = 1;
  const run = await runInProcess(COMMANDS, ['uninstall', '--kubeconfig', kubeconfig]);
  t.equal(run.code, 0, run.err);
  t.same(
    [...api.deletes].sort(),
    [
      'clusterrolebindings//podflame-agent',
      'clusterroles//podflame-agent',
      'configmaps/podflame/podflame-schedules',
      'daemonsets/podflame/podflame-agent',
      'namespaces//podflame',
      'networkpolicies/podflame/podflame-agent',
      'rolebindings/podflame/podflame-agent-ca-reader',
      'roles/podflame/podflame-agent-ca-reader',
      'serviceaccounts/podflame/podflame-agent',
    ],
    'each object of the install, by name, and nothing else',
  );
  t.match(run.err, /podflame: 1 object still being deleted \(Namespace podflame\)\n/);
  t.match(run.err, /podflame: uninstalled\n$/);
  for (const [plural, ns, name] of [
    ['clusterroles', '', 'podflame-agent'],
    ['daemonsets', 'podflame', 'podflame-agent'],
  ] as const) {
    t.equal(api.storedObject(plural, ns, name), undefined, `${plural} ${name} gone`);
  }

  const again = await runInProcess(COMMANDS, ['uninstall', '--kubeconfig', kubeconfig]);
  t.equal(again.code, 0);
  t.match(again.err, /nothing to delete: podflame is not installed/);
});

const INSTALL_PATHS = (ns: string, suffix: string): string[] => [
  `clusterrolebindings//podflame-agent${suffix}`,
  `clusterroles//podflame-agent${suffix}`,
  `configmaps/${ns}/podflame-schedules`,
  `daemonsets/${ns}/podflame-agent`,
  `namespaces//${ns}`,
  `networkpolicies/${ns}/podflame-agent`,
  `rolebindings/${ns}/podflame-agent-ca-reader`,
  `roles/${ns}/podflame-agent-ca-reader`,
  `serviceaccounts/${ns}/podflame-agent`,
];

t.test('uninstall -n NS deletes that install by name, and leaves other installs alone', async (t) => {
  const { api, kubeconfig } = await cluster(t);
  for (const ns of [[], ['-n', 'other']]) {
    const installed = await runInProcess(COMMANDS, ['install', '--kubeconfig', kubeconfig, '--no-wait', ...ns]);
    t.equal(installed.code, 0, installed.err);
  }
  const run = await runInProcess(COMMANDS, ['uninstall', '--kubeconfig', kubeconfig, '-n', 'other']);
  t.equal(run.code, 0, run.err);
  t.same([...api.deletes].sort(), INSTALL_PATHS('other', '-other'), 'one DELETE per bundled object, by name');
  t.notOk(
    api.requests.some((r) => r.url.includes('labelSelector')),
    'nothing listed by label: an object of another install is never found, so never deleted',
  );
  for (const [plural, ns, name] of [
    ['namespaces', '', 'podflame'],
    ['clusterroles', '', 'podflame-agent'],
    ['clusterrolebindings', '', 'podflame-agent'],
    ['daemonsets', 'podflame', 'podflame-agent'],
  ] as const) {
    t.ok(api.storedObject(plural, ns, name), `the default install's ${plural} ${name} stays`);
  }
});

t.test('installs in two namespaces each get their own cluster-scoped RBAC', async (t) => {
  const { api, kubeconfig } = await cluster(t);
  for (const ns of [[], ['-n', 'team-a']]) {
    const installed = await runInProcess(COMMANDS, ['install', '--kubeconfig', kubeconfig, '--no-wait', ...ns]);
    t.equal(installed.code, 0, installed.err);
  }
  const defaultBinding = api.storedObject('clusterrolebindings', '', 'podflame-agent') as Doc;
  t.same(defaultBinding.subjects, [{ kind: 'ServiceAccount', name: 'podflame-agent', namespace: 'podflame' }]);
  t.equal(defaultBinding.roleRef.name, 'podflame-agent', 'the default install keeps its names');
  const teamBinding = api.storedObject('clusterrolebindings', '', 'podflame-agent-team-a') as Doc;
  t.same(teamBinding.subjects, [{ kind: 'ServiceAccount', name: 'podflame-agent', namespace: 'team-a' }]);
  t.equal(teamBinding.roleRef.name, 'podflame-agent-team-a');
  t.ok(api.storedObject('clusterroles', '', 'podflame-agent-team-a'));
});

t.test('a DaemonSet that no node runs (0 desired) is not ready: the timeout says what to check', async (t) => {
  const { api, kubeconfig } = await cluster(t);
  const running = runInProcess(COMMANDS, ['install', '--kubeconfig', kubeconfig, '--timeout', '1s']);
  await until(() => dsGets(api) >= 1);
  api.setDaemonSetStatus('podflame', 'podflame-agent', {
    desiredNumberScheduled: 0,
    numberReady: 0,
    updatedNumberScheduled: 0,
  });
  const run = await running;
  t.equal(run.code, 5, run.err);
  t.match(run.err, /no node runs a podflame agent/);
  t.match(run.err, /taints.*tolerations.*nodeSelector.*\[AGENT_NOT_READY\]/s);
});

t.test('a DaemonSet read that is never answered ends at --timeout, not later', async (t) => {
  const { api, kubeconfig } = await cluster(t);
  api.neverAnswer = (method, path) => method === 'GET' && path.endsWith('/daemonsets/podflame-agent');
  const run = await runInProcess(COMMANDS, ['install', '--kubeconfig', kubeconfig, '--timeout', '1s']);
  t.equal(run.code, 5, run.err);
  t.match(
    run.err,
    /did not answer GET \/apis\/apps\/v1\/namespaces\/podflame\/daemonsets\/podflame-agent within (0\.\d|1)s.*\[KUBERNETES_API_ERROR\]/,
  );
});

t.test('--timeout bounds the whole install: no apply starts after it, each apply gets what is left', async (t) => {
  // Issue #13 (cold attack 7): an API server that answers after 3 s; --timeout 1s. Before, each of the 9 applies got
  // 30 s of its own, outside --timeout (33.7 s in all).
  const { api, kubeconfig } = await cluster(t);
  api.answerDelayMs = (method) => (method === 'PATCH' ? 3000 : 0);
  const run = await runInProcess(COMMANDS, ['install', '--kubeconfig', kubeconfig, '--timeout', '1s']);
  t.equal(run.code, 5, run.err);
  t.match(
    run.err,
    /did not answer PATCH \/api\/v1\/namespaces\/podflame.* within (0\.\d|1)s.*\[KUBERNETES_API_ERROR\]/,
  );
  const patches = api.requests.filter((r) => r.method === 'PATCH');
  t.equal(patches.length, 1, 'the first apply used the whole --timeout; no other started after it');
  t.equal(dsGets(api), 0, 'no wait started either');
});

t.test('Ctrl-C during the wait is a clean cancellation, not a bug report', async (t) => {
  const { api, kubeconfig } = await cluster(t);
  const controller = new AbortController();
  const running = runInProcess(COMMANDS, ['install', '--kubeconfig', kubeconfig], { signal: controller.signal });
  await until(() => dsGets(api) >= 1);
  controller.abort(new Error('received SIGINT'));
  const run = await running;
  t.equal(run.code, 6, run.err);
  t.match(run.err, /podflame: podflame install was cancelled \(received SIGINT\).*\[CAPTURE_ABORTED\]/);
  t.notMatch(run.err, /INTERNAL|a bug in podflame/);
});

t.test(
  'the built CLI ships the manifests it installs (dist/manifests)',
  { skip: existsSync(DIST_CLI) ? false : 'run npm run build first' },
  async (t) => {
    const run = await runBuiltCli(['install', '--dry-run'], tmpdir());
    t.equal(run.code, 0, run.stderr);
    const docs = parseAllDocuments(run.stdout.toString('utf8'), { version: '1.1' }).map((d) => d.toJS() as Doc);
    t.equal(docs.length, 9);
    t.match(docs.at(-1)?.spec.template.spec.containers[0].args, [
      '--listen=0.0.0.0:7070',
      '--auth=kubernetes',
      '--runtime=auto',
    ]);
  },
);
