/**
 * `podflame install` and `podflame uninstall` as library calls. Install: every object of the bundled install applied
 * with server-side apply (PATCH, `application/apply-patch+yaml`, field manager `podflame`, `force=true`: podflame
 * owns these objects, so a field another manager (kubectl apply, an earlier install) set is taken over rather than
 * reported as a conflict), then the agent DaemonSet waited for until every scheduled agent is ready. Uninstall: every
 * object labelled `app.kubernetes.io/part-of=podflame` of the kinds an install holds, deleted, then waited for until
 * none is left.
 */
import { PodflameError } from '../../shared/errors.js';
import { apiRequest } from '../kube/api-request.js';
import type { ApiCredentials } from '../kube/api-credentials.js';
import { PART_OF_LABEL, PART_OF_VALUE, isNamespaced, type KubeObject } from './bundled-manifests.js';
import { collectionPath, objectPath } from './resource-paths.js';

/** The field manager of podflame's applies (`kubectl get ... --show-managed-fields` names it). */
export const FIELD_MANAGER = 'podflame';
export const APPLY_PATCH_CONTENT_TYPE = 'application/apply-patch+yaml';

export interface WaitOptions {
  /** How long to wait, in ms. Default 300000 (5 minutes). */
  timeoutMs?: number;
  /** How often to ask the API server, in ms. Default 2000. */
  pollMs?: number;
  /** Called with each new state, e.g. `2/3 agents ready`. */
  onProgress?: (line: string) => void;
  signal?: AbortSignal;
}

export const DEFAULT_WAIT_OPTIONS = Object.freeze({ timeoutMs: 300_000, pollMs: 2000 });

/** `podflame/podflame-agent`-style name of an object, for messages. */
export function describeObject(obj: KubeObject): string {
  const ns = isNamespaced(obj) ? `${String(obj.metadata.namespace)}/` : '';
  return `${String(obj.kind)} ${ns}${String(obj.metadata.name)}`;
}

/** Applies each object in order; `onApplied` hears of each (e.g. `DaemonSet podflame/podflame-agent applied`). */
export async function applyObjects(
  credentials: ApiCredentials,
  objects: readonly KubeObject[],
  onApplied: (obj: KubeObject) => void = () => undefined,
  signal?: AbortSignal,
): Promise<void> {
  for (const obj of objects) {
    await apiRequest(credentials, {
      method: 'PATCH',
      path: `${objectPath(obj)}?fieldManager=${FIELD_MANAGER}&force=true`,
      // JSON is YAML, and the API server reads the apply body as YAML.
      body: obj,
      contentType: APPLY_PATCH_CONTENT_TYPE,
      ...(signal ? { signal } : {}),
    });
    onApplied(obj);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** What a DaemonSet's status says of its rollout: ready when every scheduled pod is ready and up to date. */
export function daemonSetProgress(ds: KubeObject): { ready: boolean; line: string } {
  const status = (ds.status ?? {}) as Record<string, number | undefined>;
  const generation = ds.metadata?.generation as number | undefined;
  const observed = status.observedGeneration;
  const desired = status.desiredNumberScheduled ?? 0;
  const ready = status.numberReady ?? 0;
  const updated = status.updatedNumberScheduled ?? 0;
  if (generation !== undefined && (observed === undefined || observed < generation)) {
    return { ready: false, line: 'waiting for the DaemonSet controller' };
  }
  const line = `${ready}/${desired} agents ready` + (updated < desired ? `, ${updated}/${desired} updated` : '');
  return { ready: ready === desired && updated >= desired, line };
}

/** Waits until the DaemonSet's agents are ready (daemonSetProgress), or throws AGENT_NOT_READY at the timeout. */
export async function waitForDaemonSet(
  credentials: ApiCredentials,
  daemonSet: KubeObject,
  options: WaitOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_OPTIONS.timeoutMs;
  const pollMs = options.pollMs ?? DEFAULT_WAIT_OPTIONS.pollMs;
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const { body } = await apiRequest(credentials, {
      method: 'GET',
      path: objectPath(daemonSet),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const progress = daemonSetProgress(body ?? {});
    if (progress.line !== last) options.onProgress?.(progress.line);
    last = progress.line;
    if (progress.ready) return;
    if (Date.now() >= deadline) {
      const ns = String(daemonSet.metadata.namespace);
      throw new PodflameError(
        'AGENT_NOT_READY',
        `The podflame agents are not ready after ${Math.round(timeoutMs / 1000)}s (${last}): see ` +
          `kubectl -n ${ns} get pods -l ${Object.entries(daemonSet.spec.selector.matchLabels as Record<string, string>)
            .map(([k, v]) => `${k}=${v}`)
            .join(',')} and kubectl -n ${ns} describe daemonset ${String(daemonSet.metadata.name)}; ` +
          'the install itself is applied (podflame install again, or with a longer --timeout, waits again)',
        { details: { daemonSet: describeObject(daemonSet), progress: last } },
      );
    }
    await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())), options.signal);
  }
}

/** The kinds of an install and where their collections are, for uninstall's label selection. */
function collections(objects: readonly KubeObject[]): { kind: string; path: string }[] {
  const seen = new Map<string, { kind: string; path: string }>();
  for (const obj of objects) {
    const ns = isNamespaced(obj) ? String(obj.metadata.namespace) : undefined;
    const path = collectionPath(String(obj.apiVersion), String(obj.kind), ns);
    seen.set(path, { kind: String(obj.kind), path });
  }
  return [...seen.values()];
}

const SELECTOR = `labelSelector=${encodeURIComponent(`${PART_OF_LABEL}=${PART_OF_VALUE}`)}`;

async function listLabelled(
  credentials: ApiCredentials,
  where: readonly { kind: string; path: string }[],
  signal: AbortSignal | undefined,
): Promise<{ path: string; name: string; kind: string }[]> {
  const found: { path: string; name: string; kind: string }[] = [];
  for (const { kind, path } of where) {
    const { status, body } = await apiRequest(credentials, {
      method: 'GET',
      path: `${path}?${SELECTOR}`,
      allowNotFound: true,
      ...(signal ? { signal } : {}),
    });
    if (status === 404) continue;
    for (const item of (body?.items ?? []) as KubeObject[]) {
      const name = String(item.metadata?.name);
      found.push({ kind, name, path: `${path}/${encodeURIComponent(name)}` });
    }
  }
  return found;
}

/**
 * Deletes what `objects` (the install) would have created: every object labelled part-of=podflame of its kinds, in
 * its namespace and cluster-wide, in reverse apply order; then waits until none is left. Returns what was deleted.
 */
export async function deleteInstall(
  credentials: ApiCredentials,
  objects: readonly KubeObject[],
  options: WaitOptions & { onDeleted?: (what: string) => void } = {},
): Promise<string[]> {
  const where = collections(objects).reverse();
  const signal = options.signal;
  const found = await listLabelled(credentials, where, signal);
  for (const item of found) {
    await apiRequest(credentials, {
      method: 'DELETE',
      path: item.path,
      body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' },
      allowNotFound: true,
      ...(signal ? { signal } : {}),
    });
    options.onDeleted?.(`${item.kind} ${item.name}`);
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_OPTIONS.timeoutMs;
  const pollMs = options.pollMs ?? DEFAULT_WAIT_OPTIONS.pollMs;
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const left = await listLabelled(credentials, where, signal);
    if (left.length === 0) return found.map((f) => `${f.kind} ${f.name}`);
    const line = `${left.length} object${left.length === 1 ? '' : 's'} still being deleted (${left
      .map((l) => `${l.kind} ${l.name}`)
      .join(', ')})`;
    if (line !== last) options.onProgress?.(line);
    last = line;
    if (Date.now() >= deadline) {
      throw new PodflameError(
        'KUBERNETES_API_ERROR',
        `podflame is not gone after ${Math.round(timeoutMs / 1000)}s: ${line}; a namespace waits for its pods and ` +
          'finalizers (kubectl get namespace NAME -o yaml shows what holds it)',
        { details: { left: left.map((l) => `${l.kind} ${l.name}`) } },
      );
    }
    await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())), signal);
  }
}
