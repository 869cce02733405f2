/**
 * `podflame install` and `podflame uninstall` as library calls. Install: every object of the bundled install applied
 * with server-side apply (PATCH, `application/apply-patch+yaml`, field manager `podflame`, `force=true`: podflame
 * owns these objects, so a field another manager (kubectl apply, an earlier install) set is taken over rather than
 * reported as a conflict), then the agent DaemonSet waited for until every scheduled agent is ready. Uninstall: each
 * object of the install of that namespace deleted by name, then waited for until none is left.
 */
import { PodflameError } from '../../shared/errors.js';
import { DEFAULT_API_REQUEST_OPTIONS, apiRequest } from '../kube/api-request.js';
import type { ApiCredentials } from '../kube/api-credentials.js';
import { isNamespaced, type KubeObject } from './bundled-manifests.js';
import { objectPath } from './resource-paths.js';

/** The field manager of podflame's applies (`kubectl get ... --show-managed-fields` names it). */
export const FIELD_MANAGER = 'podflame';
export const APPLY_PATCH_CONTENT_TYPE = 'application/apply-patch+yaml';

export interface WaitOptions {
  /** How long to wait, in ms. Default 300000 (5 minutes). */
  timeoutMs?: number;
  /**
   * When the whole operation must be over (Date.now() ms), its requests included; default now + timeoutMs. Install
   * gives its applies and its wait one deadline, so that --timeout bounds both.
   */
  deadline?: number;
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

/**
 * Applies each object in order; `onApplied` hears of each (e.g. `DaemonSet podflame/podflame-agent applied`). With a
 * `deadline` (Date.now() ms) no apply outlasts it and none starts after it (KUBERNETES_API_ERROR).
 */
export async function applyObjects(
  credentials: ApiCredentials,
  objects: readonly KubeObject[],
  onApplied: (obj: KubeObject) => void = () => undefined,
  signal?: AbortSignal,
  deadline?: { at: number; timeoutMs: number },
): Promise<void> {
  for (const obj of objects) {
    const budget = deadline ? requestDeadline(deadline.at) : {};
    if (budget === undefined) throw outOfTime(`applying ${describeObject(obj)}`, deadline?.timeoutMs ?? 0);
    await apiRequest(credentials, {
      ...budget,
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

/** Time kept for a wait's last look, in ms, so that it starts before the deadline and can be answered within it. */
const LAST_LOOK_MS = 1000;

/**
 * When a wait looks again, `left` ms before its deadline: after `pollMs`, but no later than LAST_LOOK_MS before the
 * deadline; with less than that left, halfway to it, for the last look (no request starts after the deadline).
 */
function nextLookInMs(left: number, pollMs: number): number {
  return left > LAST_LOOK_MS ? Math.min(pollMs, left - LAST_LOOK_MS) : left / 2;
}

/**
 * A request's own deadline: its default (api-request.ts, 30 s) or what is left of the operation's (--timeout),
 * whichever is sooner; undefined once nothing is left, when no request may start.
 */
function requestDeadline(deadline: number): { timeoutMs: number } | undefined {
  const left = deadline - Date.now();
  return left > 0 ? { timeoutMs: Math.min(DEFAULT_API_REQUEST_OPTIONS.timeoutMs, left) } : undefined;
}

/** The operation's --timeout ran out before `what` could start. */
function outOfTime(what: string, timeoutMs: number): PodflameError {
  return new PodflameError(
    'KUBERNETES_API_ERROR',
    `--timeout (${Number((timeoutMs / 1000).toFixed(1))}s) ran out before ${what}: the API server answers too ` +
      'slowly (kubectl cluster-info); what was done stays, and the same command with a longer --timeout finishes it',
    { details: { timeoutMs } },
  );
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

/**
 * What a DaemonSet's status says of its rollout: ready when every scheduled pod is ready and up to date, and at
 * least one is scheduled (0 of 0 is no agent at all: every node tainted, or matching no node selector).
 */
export function daemonSetProgress(ds: KubeObject): { ready: boolean; line: string; noNode: boolean } {
  const status = (ds.status ?? {}) as Record<string, unknown>;
  // Numbers, whatever the API server sent: these go to the terminal.
  const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const generation = ds.metadata?.generation as unknown;
  const observed = status.observedGeneration;
  const desired = count(status.desiredNumberScheduled);
  const ready = count(status.numberReady);
  const updated = count(status.updatedNumberScheduled);
  if (typeof generation === 'number' && (typeof observed !== 'number' || observed < generation)) {
    return { ready: false, line: 'waiting for the DaemonSet controller', noNode: false };
  }
  if (desired === 0) return { ready: false, line: 'no node runs a podflame agent (0 scheduled)', noNode: true };
  const line = `${ready}/${desired} agents ready` + (updated < desired ? `, ${updated}/${desired} updated` : '');
  return { ready: ready === desired && updated >= desired, line, noNode: false };
}

/** Waits until the DaemonSet's agents are ready (daemonSetProgress), or throws AGENT_NOT_READY at the timeout. */
export async function waitForDaemonSet(
  credentials: ApiCredentials,
  daemonSet: KubeObject,
  options: WaitOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_OPTIONS.timeoutMs;
  const pollMs = options.pollMs ?? DEFAULT_WAIT_OPTIONS.pollMs;
  const deadline = options.deadline ?? Date.now() + timeoutMs;
  let last = '';
  let noNode = false;
  let finalLook = false;
  for (;;) {
    const budget = requestDeadline(deadline);
    if (budget !== undefined) {
      const { body } = await apiRequest(credentials, {
        method: 'GET',
        path: objectPath(daemonSet),
        ...budget,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      const progress = daemonSetProgress(body ?? {});
      noNode = progress.noNode;
      if (progress.line !== last) options.onProgress?.(progress.line);
      last = progress.line;
      if (progress.ready) return;
    }
    const left = deadline - Date.now();
    if (left <= 0 || finalLook) {
      const ns = String(daemonSet.metadata.namespace);
      const why = noNode
        ? "no node runs a podflame agent: check the nodes' taints against the DaemonSet's tolerations " +
          '(kubectl describe nodes | grep Taints; control-plane nodes need manifests/components/control-plane) and ' +
          "its nodeSelector against the nodes' labels; "
        : '';
      throw new PodflameError(
        'AGENT_NOT_READY',
        `The podflame agents are not ready after ${Math.round(timeoutMs / 1000)}s (${last}): ${why}see ` +
          `kubectl -n ${ns} get pods -l ${Object.entries(daemonSet.spec.selector.matchLabels as Record<string, string>)
            .map(([k, v]) => `${k}=${v}`)
            .join(',')} and kubectl -n ${ns} describe daemonset ${String(daemonSet.metadata.name)}; ` +
          'the install itself is applied (podflame install again, or with a longer --timeout, waits again)',
        { details: { daemonSet: describeObject(daemonSet), progress: last } },
      );
    }
    await sleep(nextLookInMs(left, pollMs), options.signal);
    finalLook = left <= LAST_LOOK_MS;
  }
}

/**
 * Deletes what `objects` (the install of one namespace, as bundledInstall renders it) created: each object by its
 * kind, namespace and name, in reverse apply order, a 404 meaning already gone; then waits until each is gone.
 * Nothing is listed: an object another install (another namespace) created, or anyone else labelled
 * part-of=podflame, is never found, so never deleted, and the DELETEs are as many as the install's objects.
 * Returns what was deleted.
 */
export async function deleteInstall(
  credentials: ApiCredentials,
  objects: readonly KubeObject[],
  options: WaitOptions & { onDeleted?: (what: string) => void } = {},
): Promise<string[]> {
  const signal = options.signal;
  const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_OPTIONS.timeoutMs;
  const pollMs = options.pollMs ?? DEFAULT_WAIT_OPTIONS.pollMs;
  const deadline = options.deadline ?? Date.now() + timeoutMs;
  const deleted: KubeObject[] = [];
  for (const obj of [...objects].reverse()) {
    const budget = requestDeadline(deadline);
    if (budget === undefined) throw outOfTime(`deleting ${describeObject(obj)}`, timeoutMs);
    const { status } = await apiRequest(credentials, {
      method: 'DELETE',
      path: objectPath(obj),
      body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' },
      allowNotFound: true,
      ...budget,
      ...(signal ? { signal } : {}),
    });
    if (status === 404) continue;
    deleted.push(obj);
    options.onDeleted?.(describeObject(obj));
  }
  let last = '';
  let finalLook = false;
  for (;;) {
    const left: KubeObject[] = [];
    for (const obj of deleted) {
      const budget = requestDeadline(deadline);
      if (budget === undefined) throw outOfTime(`looking whether ${describeObject(obj)} is gone`, timeoutMs);
      const { status } = await apiRequest(credentials, {
        method: 'GET',
        path: objectPath(obj),
        allowNotFound: true,
        ...budget,
        ...(signal ? { signal } : {}),
      });
      if (status !== 404) left.push(obj);
    }
    if (left.length === 0) return deleted.map(describeObject);
    const line = `${left.length} object${left.length === 1 ? '' : 's'} still being deleted (${left
      .map(describeObject)
      .join(', ')})`;
    if (line !== last) options.onProgress?.(line);
    last = line;
    const timeLeft = deadline - Date.now();
    if (timeLeft <= 0 || finalLook) {
      throw new PodflameError(
        'KUBERNETES_API_ERROR',
        `podflame is not gone after ${Math.round(timeoutMs / 1000)}s: ${line}; a namespace waits for its pods and ` +
          'finalizers (kubectl get namespace NAME -o yaml shows what holds it)',
        { details: { left: left.map(describeObject) } },
      );
    }
    await sleep(nextLookInMs(timeLeft, pollMs), signal);
    finalLook = timeLeft <= LAST_LOOK_MS;
  }
}
