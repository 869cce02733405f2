/**
 * The manifest and image tests' view of manifests/: schema validation of one document (kubernetes-models), and
 * renderings by `kubectl kustomize` (kustomize has no JavaScript implementation) of the Docker install, the host-mode
 * overlay, and the capabilities that overlay grants the agent. Not a test file.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { Namespace, ServiceAccount, ConfigMap } from 'kubernetes-models/v1';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { REPO_ROOT, inCI } from '../helpers/docker-env.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Doc = Record<string, any>;

/** The kind → kubernetes-models class that validates it. */
const MODELS: Record<string, new (doc: never) => { validate(): void }> = {
  Namespace,
  ServiceAccount,
  ConfigMap,
  DaemonSet,
  ClusterRole,
  ClusterRoleBinding,
  Role,
  RoleBinding,
  NetworkPolicy,
};

/** Throws when the document does not satisfy the Kubernetes schema of its kind (or its kind has none here). */
export function validate(doc: Doc): void {
  const Model = MODELS[doc.kind as string];
  if (!Model) throw new Error(`no schema for kind ${String(doc.kind)}`);
  new Model(doc as never).validate();
}

export const MANIFESTS = join(REPO_ROOT, 'manifests');
export const HOST_MODE_OVERLAY = join(MANIFESTS, 'overlays', 'host-mode');

/** Whether `kubectl` runs here; without it the rendering tests skip, except in CI, where they fail. */
export async function kubectlAvailable(): Promise<boolean> {
  return promisify(execFile)('kubectl', ['version', '--client'])
    .then(() => true)
    .catch(() => false);
}

/** `false` (run) when kubectl is present or in CI; else the reason to skip. */
export async function kubectlSkip(): Promise<false | string> {
  if (inCI() || (await kubectlAvailable())) return false;
  return 'kubectl is not installed (kustomize rendering)';
}

/** The documents `kubectl kustomize DIR` renders. */
export async function renderKustomization(dir: string): Promise<Doc[]> {
  const { stdout } = await promisify(execFile)('kubectl', ['kustomize', dir], { maxBuffer: 16 * 1024 * 1024 });
  return parseAllDocuments(stdout).map((d) => d.toJS() as Doc);
}

/** The agent container of the rendered DaemonSet. */
export function agentContainer(docs: readonly Doc[]): Doc {
  const ds = docs.find((d) => d.kind === 'DaemonSet');
  const container = (ds?.spec.template.spec.containers as Doc[] | undefined)?.find((c) => c.name === 'agent');
  if (!container) throw new Error('no DaemonSet with an agent container in the rendering');
  return container;
}

/** The capabilities the host-mode overlay adds to the agent (after dropping ALL), e.g. ['SYS_ADMIN', ...]. */
export async function hostModeCapabilities(): Promise<string[]> {
  const container = agentContainer(await renderKustomization(HOST_MODE_OVERLAY));
  return [...(container.securityContext.capabilities.add as string[])];
}
