/**
 * The pods of this node, kept current by watching the Kubernetes API (`GET /api/v1/pods?fieldSelector=spec.nodeName=NODE`,
 * list then watch, as an informer does) into a PodIndex. Schedules match `labelSelector` against the pods' labels; a
 * pod the watch does not know is not on this node, so it is never profiled. Host mode names the containers it finds
 * in cgroups by the container IDs in the pods' status. A failed watch is retried after a delay; until the first list
 * has arrived, `ready()` is false.
 */
import { CoreV1Api, ListWatch, Watch, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { PodflameError } from '../../shared/errors.js';
import { PodIndex, type IndexedPod, type PodContainer, type PodDirectory } from './pod-index.js';

export interface PodWatcherOptions {
  /** How to reach the API server (the agent's `--kubeconfig`, or in-cluster). Required. */
  kubeConfig: KubeConfig;
  /** This node's name, as in the pods' `spec.nodeName`. Required. */
  nodeName: string;
  /** Wait before watching again after an error. Default 5 000 ms. */
  retryDelayMs?: number;
  /** pino-compatible; default silent. */
  logger?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export const DEFAULT_POD_WATCHER_OPTIONS = Object.freeze({ retryDelayMs: 5_000 });

// Also what schedules/targets.ts asks for pod labels (PodLabelSource), by shape: schedules sit above pods/.
export class PodWatcher implements PodDirectory {
  private readonly informer: ListWatch<V1Pod>;
  private readonly index = new PodIndex();
  private readonly retryDelayMs: number;
  private readonly logger: NonNullable<PodWatcherOptions['logger']>;
  private readonly nodeName: string;
  private retryTimer: NodeJS.Timeout | undefined;
  private synced = false;
  private started = false;
  private closed = false;
  private lastError: string | undefined;

  constructor(options: PodWatcherOptions) {
    this.nodeName = options.nodeName;
    this.retryDelayMs = options.retryDelayMs ?? DEFAULT_POD_WATCHER_OPTIONS.retryDelayMs;
    this.logger = options.logger ?? { info: () => undefined, warn: () => undefined };
    const fieldSelector = `spec.nodeName=${options.nodeName}`;
    const core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.informer = new ListWatch<V1Pod>(
      '/api/v1/pods',
      new Watch(options.kubeConfig),
      async () => {
        const list = await core.listPodForAllNamespaces({ fieldSelector });
        // The list has arrived; the informer adds its items as soon as this returns, before any I/O callback runs.
        setImmediate(() => {
          if (!this.synced)
            this.logger.info({ node: this.nodeName, pods: list.items.length }, 'watching the pods of this node');
          this.synced = true;
          this.lastError = undefined;
        });
        return list;
      },
      false,
      undefined,
      fieldSelector,
    );
    const remember = (pod: V1Pod) => this.index.put(pod);
    this.informer.on('add', remember);
    this.informer.on('update', remember);
    this.informer.on('delete', (pod) => this.index.remove(pod));
    this.informer.on('error', (err: unknown) => this.retry(err));
  }

  private retry(err: unknown): void {
    if (this.closed) return;
    const message = err instanceof Error ? err.message : String((err as { message?: string })?.message ?? err);
    this.lastError = message;
    this.logger.warn({ node: this.nodeName, err: message, retryInMs: this.retryDelayMs }, 'pod watch failed');
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (!this.closed) this.informer.start().catch((e: unknown) => this.retry(e));
    }, this.retryDelayMs);
    this.retryTimer.unref();
  }

  /**
   * Starts listing and watching; does not wait for the API server (an unreachable one is retried). Idempotent: host
   * mode and the schedules share one watcher.
   */
  start(): void {
    if (this.closed) throw new PodflameError('INTERNAL', 'the pod watcher is closed');
    if (this.started) return;
    this.started = true;
    this.informer.start().catch((err: unknown) => this.retry(err));
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
    clearTimeout(this.retryTimer);
    await this.informer.stop();
  }
}
