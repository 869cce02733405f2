/**
 * What `podflame install` ships and applies (client/install/bundled-manifests.ts): manifests/base/ rendered in
 * TypeScript exactly as `kubectl kustomize manifests/` renders it, every object valid against the Kubernetes schema,
 * and the --image, --capture-image and --namespace settings applied where kustomize's `images:` and `namespace:`
 * would apply them.
 */
import t from 'tap';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundledInstall, renderBase, rewriteImage } from '../../client/install/bundled-manifests.js';
import { MANIFESTS, kubectlSkip, renderKustomization, validate, type Doc } from './manifest-docs.js';

const key = (d: Doc): string => `${d.kind}/${d.metadata.namespace ?? ''}/${d.metadata.name}`;

t.test(
  'the TypeScript rendering of manifests/base is what kubectl kustomize renders',
  { skip: await kubectlSkip() },
  async (t) => {
    const [ours, kubectl] = await Promise.all([renderBase(join(MANIFESTS, 'base')), renderKustomization(MANIFESTS)]);
    t.same(ours.map(key).sort(), kubectl.map(key).sort(), 'the same objects');
    for (const doc of ours)
      t.same(
        doc,
        kubectl.find((k) => key(k) === key(doc)),
        `${key(doc)} field for field`,
      );
  },
);

t.test(
  'the comparison above sees a difference: an images: entry kubectl applies and the rendering must too',
  { skip: await kubectlSkip() },
  async (t) => {
    const work = await mkdtemp(join(tmpdir(), 'podflame-bundle-'));
    t.teardown(() => rm(work, { recursive: true, force: true }));
    await cp(MANIFESTS, join(work, 'manifests'), { recursive: true });
    const kustomization = join(work, 'manifests', 'base', 'kustomization.yaml');
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(kustomization, 'utf8');
    await writeFile(
      kustomization,
      text.replace(
        '  - name: podflame-perf\n    newTag: 0.1.0',
        '  - name: podflame-perf\n    newName: r.example/perf\n    newTag: "3"',
      ),
    );
    const [ours, kubectl] = await Promise.all([
      renderBase(join(work, 'manifests', 'base')),
      renderKustomization(join(work, 'manifests')),
    ]);
    const env = (docs: Doc[]): unknown =>
      docs
        .find((d) => d.kind === 'DaemonSet')
        ?.spec.template.spec.containers[0].env.find((e: Doc) => e.name === 'PODFLAME_CAPTURE_IMAGE').value;
    t.equal(env(kubectl), 'r.example/perf:3');
    t.equal(env(ours), 'r.example/perf:3');
  },
);

t.test('every object of the install validates against the Kubernetes schema, in apply order', async (t) => {
  const docs = await bundledInstall();
  t.equal(docs[0]?.kind, 'Namespace', 'the namespace first');
  t.equal(docs.at(-1)?.kind, 'DaemonSet', 'the agents last, once what they use is there');
  for (const doc of docs) {
    t.doesNotThrow(() => validate(doc), key(doc));
    t.equal(
      doc.metadata.labels['app.kubernetes.io/part-of'],
      'podflame',
      `${key(doc)} carries the label uninstall selects`,
    );
  }
});

t.test('--image, --capture-image and --namespace land where kustomize would put them', async (t) => {
  const docs = await bundledInstall({
    image: 'registry.example:5000/team/podflame-agent:1.2.3',
    captureImage: 'registry.example:5000/team/podflame-perf@sha256:' + 'a'.repeat(64),
    namespace: 'profiling',
  });
  const ds = docs.find((d) => d.kind === 'DaemonSet') as Doc;
  const container = ds.spec.template.spec.containers[0];
  t.equal(container.image, 'registry.example:5000/team/podflame-agent:1.2.3');
  t.equal(
    container.env.find((e: Doc) => e.name === 'PODFLAME_CAPTURE_IMAGE').value,
    'registry.example:5000/team/podflame-perf@sha256:' + 'a'.repeat(64),
  );
  t.equal(docs.find((d) => d.kind === 'Namespace')?.metadata.name, 'profiling');
  for (const doc of docs) {
    if (['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(doc.kind))
      t.equal(doc.metadata.namespace, undefined);
    else t.equal(doc.metadata.namespace, 'profiling', key(doc));
  }
  const binding = docs.find((d) => d.kind === 'ClusterRoleBinding');
  t.same(binding?.subjects, [{ kind: 'ServiceAccount', name: 'podflame-agent', namespace: 'profiling' }]);
  // Unlike kustomize: cluster-scoped objects are named after the namespace, so two installs never share them.
  t.equal(binding?.metadata.name, 'podflame-agent-profiling');
  t.equal(binding?.roleRef.name, 'podflame-agent-profiling');
  t.equal(docs.find((d) => d.kind === 'ClusterRole')?.metadata.name, 'podflame-agent-profiling');
  for (const doc of docs) t.doesNotThrow(() => validate(doc), key(doc));
});

t.test('rewriteImage follows kustomize: name, tag, digest, registry ports', async (t) => {
  const images = [
    { name: 'podflame-agent', newTag: '2' },
    { name: 'reg:5000/x', newName: 'other/x' },
    { name: 'd', digest: 'sha256:' + 'b'.repeat(64) },
  ];
  t.equal(rewriteImage('podflame-agent', images), 'podflame-agent:2');
  t.equal(rewriteImage('podflame-agent:1', images), 'podflame-agent:2');
  t.equal(rewriteImage('reg:5000/x:7', images), 'other/x:7', 'the registry port is no tag');
  t.equal(rewriteImage('reg:5000/x', images), 'other/x');
  t.equal(rewriteImage('d:1', images), `d@sha256:${'b'.repeat(64)}`);
  t.equal(rewriteImage('podflame-agentx:1', images), 'podflame-agentx:1', 'only the exact name');
  t.equal(rewriteImage('hello', images), 'hello');
});
