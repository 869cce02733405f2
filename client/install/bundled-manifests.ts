/**
 * The install `podflame install` applies: manifests/base/ rendered as `kubectl kustomize manifests/` renders it (test/
 * manifests/install-manifests.test.ts compares the two), then set to the images and namespace asked for. The YAML
 * files ship in the package: `npm run build` copies manifests/ to dist/manifests/ (scripts/copy-manifests.js), the
 * same place relative to this module in a checkout (client/install/ → manifests/) and in dist/ (dist/client/install/
 * → dist/manifests/).
 *
 * Only what base/kustomization.yaml uses is implemented: `resources` (files), `namespace`, `labels` (metadata only,
 * as `includeSelectors: false` without `includeTemplates`), and `images` (container images, and the DaemonSet's
 * environment values that name an image, as base/kustomizeconfig.yaml tells kustomize). Anything else in the file is
 * refused, so a kustomization that grows a feature fails here, in a test, rather than installing something else.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { PodflameError } from '../../shared/errors.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type KubeObject = Record<string, any>;

/** manifests/base/ next to this module: the checkout's, or the copy in dist/. */
export const BUNDLED_BASE_DIR = fileURLToPath(new URL('../../manifests/base/', import.meta.url));

export interface ImageOverride {
  /** The image name in the manifests, e.g. `podflame-agent`. */
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
}

interface BaseKustomization {
  namespace?: string;
  resources: string[];
  labels: { pairs: Record<string, string> }[];
  images: ImageOverride[];
}

const KNOWN_KEYS = new Set(['apiVersion', 'kind', 'namespace', 'labels', 'resources', 'configurations', 'images']);

/** Kinds that live in no namespace (of those an install holds). */
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);

export function isNamespaced(obj: KubeObject): boolean {
  return !CLUSTER_SCOPED.has(String(obj.kind));
}

async function readYamlDocs(file: string): Promise<KubeObject[]> {
  // YAML 1.1, as kubectl reads it: `defaultMode: 0400` is octal there (256), decimal 400 in YAML 1.2.
  // Loaded here, not with the module: every command's start-up loads this module (for `isNamespaced`), and yaml is
  // the largest part of it; only install and uninstall read manifests.
  const { parseAllDocuments } = await import('yaml');
  const docs = parseAllDocuments(await readFile(file, 'utf8'), { version: '1.1' });
  return docs.map((d) => d.toJS() as KubeObject | null).filter((d): d is KubeObject => d !== null);
}

async function readKustomization(dir: string): Promise<BaseKustomization> {
  const file = join(dir, 'kustomization.yaml');
  let doc: KubeObject | undefined;
  try {
    [doc] = await readYamlDocs(file);
  } catch (err) {
    throw new PodflameError(
      'FILE_UNREADABLE',
      `Cannot read the bundled manifests (${file}): reinstall podflame, or run npm run build in a checkout`,
      { cause: err },
    );
  }
  const unknown = Object.keys(doc ?? {}).filter((k) => !KNOWN_KEYS.has(k));
  if (!doc || unknown.length > 0) {
    throw new PodflameError(
      'INTERNAL',
      `${file} uses kustomize features podflame install does not render (${unknown.join(', ') || 'empty file'}): ` +
        'render it with kubectl kustomize and apply that instead',
    );
  }
  return {
    ...(typeof doc.namespace === 'string' ? { namespace: doc.namespace } : {}),
    resources: (doc.resources ?? []) as string[],
    labels: (doc.labels ?? []) as { pairs: Record<string, string> }[],
    images: (doc.images ?? []) as ImageOverride[],
  };
}

/** `registry:5000/podflame-agent:0.1.0` → its name `registry:5000/podflame-agent` (no tag, no digest). */
function imageName(ref: string): string {
  const at = ref.indexOf('@');
  const noDigest = at >= 0 ? ref.slice(0, at) : ref;
  const colon = noDigest.lastIndexOf(':');
  return colon > noDigest.lastIndexOf('/') ? noDigest.slice(0, colon) : noDigest;
}

function imageTag(ref: string): string {
  const noDigest = ref.split('@')[0] as string;
  const colon = noDigest.lastIndexOf(':');
  return colon > noDigest.lastIndexOf('/') ? noDigest.slice(colon) : '';
}

/** kustomize's image rewrite: the name kept unless newName, the tag replaced by newTag, or a digest instead. */
export function rewriteImage(ref: string, images: readonly ImageOverride[]): string {
  const name = imageName(ref);
  const override = images.find((i) => i.name === name);
  if (!override) return ref;
  const newName = override.newName ?? name;
  if (override.digest) return `${newName}@${override.digest}`;
  if (override.newTag !== undefined) return `${newName}:${override.newTag}`;
  const digest = ref.includes('@') ? `@${ref.split('@')[1]}` : '';
  return `${newName}${imageTag(ref)}${digest}`;
}

function rewriteImages(obj: KubeObject, images: readonly ImageOverride[]): void {
  const spec = obj.spec?.template?.spec as KubeObject | undefined;
  if (!spec) return;
  for (const c of [...((spec.initContainers ?? []) as KubeObject[]), ...((spec.containers ?? []) as KubeObject[])]) {
    if (typeof c.image === 'string') c.image = rewriteImage(c.image, images);
    if (obj.kind !== 'DaemonSet') continue;
    // base/kustomizeconfig.yaml: environment values of the DaemonSet's containers are images too (the capture one).
    for (const e of (c.env ?? []) as KubeObject[]) {
      if (typeof e.value === 'string') e.value = rewriteImage(e.value, images);
    }
  }
}

/** The documents of a base kustomization directory, transformed as kustomize would. */
export async function renderBase(dir: string = BUNDLED_BASE_DIR): Promise<KubeObject[]> {
  const k = await readKustomization(dir);
  const docs = (await Promise.all(k.resources.map((r) => readYamlDocs(join(dir, r))))).flat();
  for (const doc of docs) {
    if (k.namespace !== undefined && isNamespaced(doc)) doc.metadata.namespace = k.namespace;
    for (const { pairs } of k.labels) doc.metadata.labels = { ...doc.metadata.labels, ...pairs };
    rewriteImages(doc, k.images);
  }
  return docs;
}

export interface InstallSettings {
  /** The agent image, e.g. `registry.example/podflame-agent:0.1.0`; default: the manifests' (podflame-agent:VERSION). */
  image?: string;
  /** The capture image (Docker nodes), e.g. `registry.example/podflame-perf:0.1.0`; default: the manifests'. */
  captureImage?: string;
  /** The namespace of the agents; default: the manifests' (`podflame`). */
  namespace?: string;
}

/** Images and env values named `podflame-agent…` / `podflame-perf…` in the rendered base, set to full references. */
function setImage(docs: KubeObject[], baseName: string, ref: string): void {
  rewriteAll(docs, (value) => (imageName(value) === baseName ? ref : value));
}

function rewriteAll(docs: KubeObject[], rewrite: (value: string) => string): void {
  for (const doc of docs) {
    const spec = doc.spec?.template?.spec as KubeObject | undefined;
    for (const c of (spec?.containers ?? []) as KubeObject[]) {
      if (typeof c.image === 'string') c.image = rewrite(c.image);
      for (const e of (c.env ?? []) as KubeObject[]) if (typeof e.value === 'string') e.value = rewrite(e.value);
    }
  }
}

/**
 * Moves every object into `namespace`: the Namespace itself, namespaced objects, and the service-account subjects
 * of the role bindings (what kustomize's namespace transformer does). Other references to the namespace (e.g. the
 * TLS server name podflame-agent.podflame.svc, which the CA ConfigMap you create names) are yours to follow.
 *
 * Unlike kustomize, the cluster-scoped objects (ClusterRole, ClusterRoleBinding) are renamed too, to
 * `NAME-NAMESPACE` (`podflame-agent-team-a`), and the binding's roleRef with them: they are shared by the whole
 * cluster, so an install in a second namespace would otherwise take over the first one's binding (force=true) and
 * its uninstall delete them. The default namespace keeps the manifests' names, as `kubectl apply -k` creates them.
 */
function setNamespace(docs: KubeObject[], from: string, namespace: string): void {
  if (namespace === from) return;
  const renamed = (name: string): string => `${name}-${namespace}`;
  const clusterRoles = new Set(docs.filter((d) => d.kind === 'ClusterRole').map((d) => String(d.metadata.name)));
  for (const doc of docs) {
    if (doc.kind === 'Namespace' && doc.metadata.name === from) doc.metadata.name = namespace;
    if (isNamespaced(doc)) doc.metadata.namespace = namespace;
    else if (doc.kind !== 'Namespace') doc.metadata.name = renamed(String(doc.metadata.name));
    const roleRef = doc.roleRef as KubeObject | undefined;
    if (roleRef?.kind === 'ClusterRole' && clusterRoles.has(String(roleRef.name))) {
      roleRef.name = renamed(String(roleRef.name));
    }
    for (const s of (doc.subjects ?? []) as KubeObject[]) {
      if (s.kind === 'ServiceAccount' && s.namespace === from) s.namespace = namespace;
    }
  }
}

/** The order objects are applied in: what others need first (kubectl's and kustomize's legacy order). */
const APPLY_ORDER = [
  'Namespace',
  'ServiceAccount',
  'Role',
  'ClusterRole',
  'RoleBinding',
  'ClusterRoleBinding',
  'ConfigMap',
  'NetworkPolicy',
  'DaemonSet',
];

function applyRank(obj: KubeObject): number {
  const i = APPLY_ORDER.indexOf(String(obj.kind));
  return i < 0 ? APPLY_ORDER.length : i;
}

/** The install's objects, in apply order, with the settings applied. */
export async function bundledInstall(settings: InstallSettings = {}, dir?: string): Promise<KubeObject[]> {
  const docs = await renderBase(dir);
  const ns = docs.find((d) => d.kind === 'Namespace')?.metadata.name as string | undefined;
  if (settings.image !== undefined) setImage(docs, 'podflame-agent', settings.image);
  if (settings.captureImage !== undefined) setImage(docs, 'podflame-perf', settings.captureImage);
  if (settings.namespace !== undefined && ns !== undefined) setNamespace(docs, ns, settings.namespace);
  return docs
    .map((d, i) => ({ d, i }))
    .sort((a, b) => applyRank(a.d) - applyRank(b.d) || a.i - b.i)
    .map(({ d }) => d);
}
