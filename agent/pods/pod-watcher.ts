/**
 * The pods of this node, kept current by watching the Kubernetes API (`GET /api/v1/pods?fieldSelector=spec.nodeName=NODE`,
 * list then watch, as an informer does) into a PodIndex. Schedules match `labelSelector` against the pods' labels; a
 * pod the watch does not know is not on this node, so it is never profiled. Host mode names the containers it finds
 * in cgroups by the container IDs in the pods' status. A watch the API server ends is opened again from the last
 * resourceVersion seen; one it no longer has (410 Gone) is replaced by a new list (after the retry delay when the watch
 * began at the list just made, or a server that cannot watch from its own lists is asked in a loop); a failed list or
 * watch is retried after a delay, from a new list. Until the first list has arrived, `ready()` is false.
 */
import { PodflameError } from '../../shared/errors.js';
import { KubeApiError, kubeApiStatus, type KubeApiClient, type WatchEvent } from '../kube/kube-api-client.js';
import { PodIndex, type IndexedPod, type PodContainer, type PodDirectory, type PodObject } from './pod-index.js';

export interface PodWatcherOptions {
  /** The agent's access to the API server (its `--kubeconfig`, or in-cluster). Required; its owner closes it. */
  api: KubeApiClient;
  /** This node's name, as in the pods' `spec.nodeName`. Required. */
  nodeName: string;
  /** Wait before listing again after an error. Default 5 000 ms. */
  retryDelayMs?: number;
  /** pino-compatible; default silent. */
  logger?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export const DEFAULT_POD_WATCHER_OPTIONS = Object.freeze({ retryDelayMs: 5_000 });

// How long the API server keeps one watch open (client-go picks 5 to 10 minutes, so that agents do not all come
// back at once); the watch is taken for dead if it has sent nothing a minute past that.
const WATCH_SECONDS_MIN = 300;
const WATCH_SECONDS_SPREAD = 300;
const WATCH_IDLE_GRACE_MS = 60_000;
// A watch that ends within this long of its start is opened again only after the same wait: a server that closes
// every watch at once must not be asked in a loop.
const SHORT_WATCH_MS = 1_000;

/** A watch whose resourceVersion the API server no longer has: list again. */
class ResourceVersionExpired extends Error {
  constructor(resourceVersion: string) {
    super(`the Kubernetes API server no longer has the pods' resourceVersion ${resourceVersion} (410 Gone)`);
  }
}

// Also what schedules/targets.ts asks for pod labels (PodLabelSource), by shape: schedules sit above pods/.
export class PodWatcher implements PodDirectory {
  private readonly api: KubeApiClient;
  private readonly index = new PodIndex();
  private readonly retryDelayMs: number;
  private readonly logger: NonNullable<PodWatcherOptions['logger']>;
  private readonly nodeName: string;
  private readonly fieldSelector: string;
  private readonly stop = new AbortController();
  private running: Promise<void> | undefined;
  private synced = false;
  private closed = false;
  private lastError: string | undefined;

  constructor(options: PodWatcherOptions) {
    this.api = options.api;
    this.nodeName = options.nodeName;
    this.fieldSelector = `spec.nodeName=${options.nodeName}`;
    this.retryDelayMs = options.retryDelayMs ?? DEFAULT_POD_WATCHER_OPTIONS.retryDelayMs;
    this.logger = options.logger ?? { info: () => undefined, warn: () => undefined };
  }

  /**
   * Starts listing and watching; does not wait for the API server (an unreachable one is retried). Idempotent: host
   * mode and the schedules share one watcher.
   */
  start(): void {
    if (this.closed) throw new PodflameError('INTERNAL', 'the pod watcher is closed');
    this.running ??= this.run();
  }

  private async run(): Promise<void> {
    let resourceVersion = '';
    while (!this.closed) {
      let fromList = false;
      try {
        if (resourceVersion === '') {
          resourceVersion = await this.list();
          fromList = true;
        }
        const started = Date.now();
        resourceVersion = await this.watch(resourceVersion);
        if (Date.now() - started < SHORT_WATCH_MS) await this.pause(this.retryDelayMs);
      } catch (err) {
        resourceVersion = '';
        if (this.closed) return;
        // A watch from the last event's resourceVersion that is gone: list again at once. One from the list just made
        // that is gone too: the API server cannot watch from its own lists, and listing again at once would list and
        // watch in a loop as fast as it answers (the agent's CPU and the API server's), so after the wait.
        if (err instanceof ResourceVersionExpired && !fromList) continue;
        this.failed(err);
        await this.pause(this.retryDelayMs);
      }
    }
  }

  /** The pods of the node, replacing what the index held; the list's resourceVersion. */
  private async list(): Promise<string> {
    const query = new URLSearchParams({ fieldSelector: this.fieldSelector });
    // Ended by close(): a stuck API server must not hold the agent's shutdown for the client's 30 s.
    const list = (await this.api.json('GET', `/api/v1/pods?${query}`, undefined, { signal: this.stop.signal })) as {
      metadata?: { resourceVersion?: unknown };
      items?: unknown;
    } | null;
    const items = list?.items;
    if (!Array.isArray(items)) throw new KubeApiError('the Kubernetes API server answered a pod list without items');
    this.index.replace(items as PodObject[]);
    if (!this.synced) this.logger.info({ node: this.nodeName, pods: items.length }, 'watching the pods of this node');
    this.synced = true;
    this.lastError = undefined;
    const rv = list?.metadata?.resourceVersion;
    return typeof rv === 'string' ? rv : '';
  }

  /** Watches from `resourceVersion` until the API server ends the watch; the last resourceVersion seen. */
  private async watch(resourceVersion: string): Promise<string> {
    const timeoutSeconds = WATCH_SECONDS_MIN + Math.floor(Math.random() * WATCH_SECONDS_SPREAD);
    const query = new URLSearchParams({
      fieldSelector: this.fieldSelector,
      watch: 'true',
      resourceVersion,
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(timeoutSeconds),
    });
    let last = resourceVersion;
    let expired = false;
    const ended = new AbortController();
    const onEvent = (event: WatchEvent): void => {
      const object = event.object as PodObject & { metadata?: { resourceVersion?: unknown }; code?: unknown };
      switch (event.type) {
        case 'ADDED':
        case 'MODIFIED':
          this.index.put(object);
          break;
        case 'DELETED':
          this.index.remove(object);
          break;
        case 'BOOKMARK':
          break;
        case 'ERROR': {
          // A Status object: 410 Gone when the resourceVersion is too old to watch from.
          if (object?.code === 410) {
            expired = true;
            ended.abort();
            return;
          }
          const message = (object as { message?: unknown })?.message;
          throw new KubeApiError(
            `the pod watch ended with an error: ${(typeof message === 'string' ? message : JSON.stringify(object)).slice(0, 500)}`,
          );
        }
        default:
          return;
      }
      const rv = object?.metadata?.resourceVersion;
      if (typeof rv === 'string' && rv !== '') last = rv;
    };
    try {
      await this.api.watch(`/api/v1/pods?${query}`, onEvent, {
        signal: AbortSignal.any([this.stop.signal, ended.signal]),
        idleMs: timeoutSeconds * 1000 + WATCH_IDLE_GRACE_MS,
      });
    } catch (err) {
      if (kubeApiStatus(err) === 410) throw new ResourceVersionExpired(resourceVersion);
      throw err;
    }
    if (expired) throw new ResourceVersionExpired(resourceVersion);
    return last;
  }

  private failed(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.lastError = message;
    this.logger.warn({ node: this.nodeName, err: message, retryInMs: this.retryDelayMs }, 'pod watch failed');
  }

  /** Waits `ms`, or less when the watcher is closed. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.stop.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.stop.signal.addEventListener('abort', done);
    });
  }

  ready(): boolean {
    return this.synced;
  }

  /** Why the pods are not known yet, for error messages. */
  notReadyReason(): string {
    return this.lastError === undefined
      ? `the pods of node ${this.nodeName} have not been listed from the Kubernetes API yet`
      : `the pods of node ${this.nodeName} cannot be listed from the Kubernetes API: ${this.lastError}`;
  }

  labelsFor(podUid: string): Readonly<Record<string, string>> | undefined {
    return this.index.labelsFor(podUid);
  }

  podByUid(uid: string): IndexedPod | undefined {
    return this.index.podByUid(uid);
  }

  containerById(containerId: string): { pod: IndexedPod; container: PodContainer } | undefined {
    return this.index.containerById(containerId);
  }

  /** Pods known on this node (for tests and status). */
  get size(): number {
    return this.index.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stop.abort();
    await this.running;
  }
}
