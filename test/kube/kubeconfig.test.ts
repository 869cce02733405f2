// Finding and loading the caller's configuration as kubectl does, and taking the credentials out of it.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import t from 'tap';
import { resolveApiCredentials } from '../../client/kube/api-credentials.js';
import { loadKubeConfig } from '../../client/kube/kubeconfig.js';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';

const api = new FakeKubeApi();
const dir = mkdtempSync(join(tmpdir(), 'podflame-kubeconfig-'));
t.before(() => api.start());
t.teardown(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

t.test('--kubeconfig: current context, its namespace, token and CA', async (t) => {
  const file = api.writeKubeconfig(join(dir, 'one.yaml'), {
    namespace: 'shop',
    extraContexts: { staging: { namespace: 'staging', token: 'other-token' } },
  });
  const loaded = loadKubeConfig({ kubeconfig: file });
  t.equal(loaded.namespace, 'shop');
  t.equal(loaded.source, file);
  const creds = await resolveApiCredentials(loaded.kubeConfig);
  t.equal(creds.server, api.url);
  t.equal(creds.bearerToken, 'test-token');
  t.equal(creds.headers.Authorization, 'Bearer test-token');
  t.equal(creds.tls.ca?.toString('utf8'), api.caPem, 'the CA comes from certificate-authority-data');

  const staging = loadKubeConfig({ kubeconfig: file, context: 'staging' });
  t.equal(staging.namespace, 'staging', '--context switches the namespace too');
  t.equal((await resolveApiCredentials(staging.kubeConfig)).bearerToken, 'other-token', '... and the user');

  t.throws(() => loadKubeConfig({ kubeconfig: file, context: 'prod' }), {
    code: 'CONFIG_INVALID',
    message: /Context "prod" is not in .*contexts there: fake, staging/,
  });
  t.throws(() => loadKubeConfig({ kubeconfig: join(dir, 'missing.yaml') }), {
    code: 'CONFIG_INVALID',
    message: /does not exist/,
  });
});

t.test('a context without a namespace means default; insecure-skip-tls-verify is kept', async (t) => {
  const file = api.writeKubeconfig(join(dir, 'insecure.yaml'), { insecure: true, token: null });
  const loaded = loadKubeConfig({ kubeconfig: file });
  t.equal(loaded.namespace, 'default');
  const creds = await resolveApiCredentials(loaded.kubeConfig);
  t.equal(creds.tls.rejectUnauthorized, false);
  t.equal(creds.tls.ca, undefined);
  t.equal(creds.bearerToken, undefined, 'no token in the kubeconfig: none sent');
});

t.test('KUBECONFIG lists files: merged, the first to name a thing wins, missing ones skipped', async (t) => {
  const a = api.writeKubeconfig(join(dir, 'a.yaml'), { context: 'first', namespace: 'ns-a' });
  const b = api.writeKubeconfig(join(dir, 'b.yaml'), {
    context: 'second',
    namespace: 'ns-b',
    extraContexts: { first: { namespace: 'shadowed' } },
  });
  const env = { KUBECONFIG: [join(dir, 'nope.yaml'), a, b].join(delimiter) };
  const loaded = loadKubeConfig({ env });
  t.equal(loaded.namespace, 'ns-a', "the first file's current context and its definition of `first` win");
  t.same(
    loaded.kubeConfig.contexts.map((c) => c.name),
    ['first', 'second'],
  );
  t.equal(loadKubeConfig({ env, context: 'second' }).namespace, 'ns-b', 'contexts of later files are usable');
  t.throws(() => loadKubeConfig({ env: { KUBECONFIG: join(dir, 'nope.yaml') } }), {
    code: 'CONFIG_INVALID',
    message: /None of the files in KUBECONFIG exists/,
  });
});

t.test('~/.kube/config when nothing else is given; in-cluster when there is no file', async (t) => {
  const home = join(dir, 'home');
  mkdirSync(join(home, '.kube'), { recursive: true });
  api.writeKubeconfig(join(home, '.kube', 'config'), { namespace: 'from-home' });
  t.equal(loadKubeConfig({ env: { HOME: home } }).namespace, 'from-home');

  const sa = join(dir, 'serviceaccount');
  mkdirSync(sa);
  writeFileSync(join(sa, 'token'), 'in-cluster-token');
  writeFileSync(join(sa, 'ca.crt'), api.caPem ?? '');
  writeFileSync(join(sa, 'namespace'), 'tools\n');
  const env = { HOME: join(dir, 'empty-home'), KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: '6443' };
  const loaded = loadKubeConfig({ env, serviceAccountDir: sa });
  t.equal(loaded.source, 'in-cluster');
  t.equal(loaded.namespace, 'tools', "the service account's namespace");
  const creds = await resolveApiCredentials(loaded.kubeConfig);
  t.equal(creds.server, 'https://127.0.0.1:6443');
  t.equal(creds.bearerToken, 'in-cluster-token', 'the mounted token, read from its file');
  t.equal(creds.tls.ca?.toString('utf8'), api.caPem);
  t.throws(() => loadKubeConfig({ env, serviceAccountDir: sa, context: 'x' }), { code: 'CONFIG_INVALID' });

  t.throws(() => loadKubeConfig({ env: { HOME: join(dir, 'empty-home') } }), {
    code: 'CONFIG_INVALID',
    message: /No Kubernetes configuration found: pass --kubeconfig FILE, set KUBECONFIG/,
  });
});

t.test('a kubeconfig that is not YAML, or has no current context, says so', async (t) => {
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'clusters: [unclosed');
  t.throws(() => loadKubeConfig({ kubeconfig: bad }), {
    code: 'CONFIG_INVALID',
    message: /Cannot read the kubeconfig/,
  });
  const noCurrent = join(dir, 'no-current.yaml');
  writeFileSync(noCurrent, api.kubeconfigYaml().replace(/current-context: .*/, ''));
  t.throws(() => loadKubeConfig({ kubeconfig: noCurrent }), {
    code: 'CONFIG_INVALID',
    message: /has no current context: pass --context NAME/,
  });
});
