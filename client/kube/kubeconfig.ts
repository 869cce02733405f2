/**
 * Finds and loads the caller's Kubernetes configuration the way kubectl does: `--kubeconfig`, else every file in
 * KUBECONFIG (merged, the first file to name a thing wins), else ~/.kube/config, else the pod's service account
 * (in-cluster). The environment comes in as a value: library code never reads `process.env`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { PodflameError } from '../../shared/errors.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeConfigOptions {
  /** Path of a kubeconfig file; default: the files in env.KUBECONFIG, else ~/.kube/config, else in-cluster. */
  kubeconfig?: string;
  /** Context to use; default: the kubeconfig's current-context. */
  context?: string;
  /** Environment to read KUBECONFIG, HOME and KUBERNETES_SERVICE_HOST/PORT from; default: empty. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Where a pod's service account token, CA and namespace are mounted; default SERVICE_ACCOUNT_DIR. */
  serviceAccountDir?: string;
}

export interface LoadedKubeConfig {
  kubeConfig: KubeConfig;
  /** Namespace of the chosen context (or the service account's), `default` when none is set. */
  namespace: string;
  /** Where the configuration came from: file paths, or `in-cluster`. */
  source: string;
}

export function loadKubeConfig(options: KubeConfigOptions = {}): LoadedKubeConfig {
  const env = options.env ?? {};
  const files = configFiles(options.kubeconfig, env);
  if (files.length > 0) return fromFiles(files, options.context);
  if (env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT) {
    return inCluster(env.KUBERNETES_SERVICE_HOST, env.KUBERNETES_SERVICE_PORT, options);
  }
  throw new PodflameError(
    'CONFIG_INVALID',
    'No Kubernetes configuration found: pass --kubeconfig FILE, set KUBECONFIG, or create ~/.kube/config ' +
      '(inside a pod, the service account is used when KUBERNETES_SERVICE_HOST is set)',
  );
}

function configFiles(explicit: string | undefined, env: Readonly<Record<string, string | undefined>>): string[] {
  if (explicit !== undefined) {
    if (!existsSync(explicit)) {
      throw new PodflameError(
        'CONFIG_INVALID',
        `The kubeconfig file ${explicit} does not exist: check the --kubeconfig path`,
      );
    }
    return [explicit];
  }
  if (env.KUBECONFIG) {
    const listed = env.KUBECONFIG.split(delimiter).filter((f) => f !== '');
    // kubectl skips KUBECONFIG entries that do not exist, and fails only when none does.
    const present = listed.filter((f) => existsSync(f));
    if (present.length === 0) {
      throw new PodflameError('CONFIG_INVALID', `None of the files in KUBECONFIG exists: ${listed.join(delimiter)}`);
    }
    return present;
  }
  if (env.HOME) {
    const home = join(env.HOME, '.kube', 'config');
    if (existsSync(home)) return [home];
  }
  return [];
}

function fromFiles(files: string[], context: string | undefined): LoadedKubeConfig {
  const kubeConfig = new KubeConfig();
  for (const [i, file] of files.entries()) {
    const one = new KubeConfig();
    try {
      one.loadFromFile(file);
    } catch (err) {
      throw new PodflameError('CONFIG_INVALID', `Cannot read the kubeconfig file ${file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (i === 0) {
      kubeConfig.loadFromOptions({
        clusters: [...one.clusters],
        users: [...one.users],
        contexts: [...one.contexts],
        currentContext: one.currentContext,
      });
      continue;
    }
    // Merged as kubectl merges: the first file to define a name (or the current context) wins.
    if (!kubeConfig.currentContext) kubeConfig.currentContext = one.currentContext;
    for (const c of one.clusters) if (!kubeConfig.getCluster(c.name)) kubeConfig.clusters.push(c);
    for (const u of one.users) if (!kubeConfig.getUser(u.name)) kubeConfig.users.push(u);
    for (const c of one.contexts) if (!kubeConfig.getContextObject(c.name)) kubeConfig.contexts.push(c);
  }
  const source = files.join(delimiter);
  if (context !== undefined) {
    if (!kubeConfig.getContextObject(context)) {
      const known = kubeConfig.contexts.map((c) => c.name).join(', ') || 'none';
      throw new PodflameError(
        'CONFIG_INVALID',
        `Context "${context}" is not in ${source} (contexts there: ${known}); see kubectl config get-contexts`,
      );
    }
    kubeConfig.setCurrentContext(context);
  }
  const current = kubeConfig.getContextObject(kubeConfig.currentContext);
  if (!current) {
    throw new PodflameError(
      'CONFIG_INVALID',
      `${source} has no current context: pass --context NAME or run kubectl config use-context NAME`,
    );
  }
  if (!kubeConfig.getCurrentCluster()) {
    throw new PodflameError('CONFIG_INVALID', `Context "${current.name}" in ${source} names no known cluster`);
  }
  return { kubeConfig, namespace: current.namespace || 'default', source };
}

function inCluster(host: string, port: string, options: KubeConfigOptions): LoadedKubeConfig {
  if (options.context !== undefined) {
    throw new PodflameError('CONFIG_INVALID', `--context ${options.context} needs a kubeconfig, and none was found`);
  }
  const dir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  // Same shape as KubeConfig.loadFromCluster(), which reads process.env itself; the token file is re-read as it
  // rotates (client-node's tokenFile provider).
  const server = `${port === '80' || port === '8080' ? 'http' : 'https'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  let namespace = 'default';
  const nsFile = join(dir, 'namespace');
  if (existsSync(nsFile)) namespace = readFileSync(nsFile, 'utf8').trim() || 'default';
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'in-cluster', server, caFile: join(dir, 'ca.crt'), skipTLSVerify: false }],
    users: [{ name: 'in-cluster', authProvider: { name: 'tokenFile', config: { tokenFile: join(dir, 'token') } } }],
    contexts: [{ name: 'in-cluster', cluster: 'in-cluster', user: 'in-cluster', namespace }],
    currentContext: 'in-cluster',
  });
  return { kubeConfig, namespace, source: 'in-cluster' };
}
