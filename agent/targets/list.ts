/**
 * `GET /v1/targets`: the running containers on this node that a caller could profile (never pod sandboxes nor
 * podflame's own capture containers), with their pod coordinates and whether a JVM runs in them.
 */
import type { ContainerInfo, ContainerRuntime } from '../runtime/container-runtime.js';
import type { ResolvedTarget, TargetContainer } from '../../shared/api.js';
import { describeTarget, isSandbox } from './resolve.js';

export interface ListTargetsOptions {
  /** Containers whose process list is read at once (one `docker top` each). Default 4. */
  concurrency?: number;
  /**
   * Keeps the targets the caller may see (authorization), before anything is read inside them: the process lists
   * of containers the caller may not profile are never read. Default: all.
   */
  visible?: (targets: ResolvedTarget[]) => Promise<ResolvedTarget[]>;
}

export const DEFAULT_LIST_TARGETS_OPTIONS = Object.freeze({ concurrency: 4 });

/**
 * A process is a JVM when its executable is named `java`, as the capture script decides too, e.g.
 * `/usr/lib/jvm/java-17-openjdk-amd64/bin/java -XX:+PreserveFramePointer -cp /app Hot` or `java -jar app.jar`.
 */
export function looksLikeJvm(commandLine: string): boolean {
  const executable = commandLine.trim().split(/\s+/, 1)[0] ?? '';
  return executable.split('/').pop() === 'java';
}

/** Maps with at most `limit` calls pending at once, keeping the input order. */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  return results;
}

async function runsJvm(runtime: ContainerRuntime, c: ContainerInfo): Promise<boolean> {
  try {
    return (await runtime.listProcesses(c.id)).some(looksLikeJvm);
  } catch {
    // It stopped between the listing and `docker top`: it runs nothing, JVM or not.
    return false;
  }
}

function sortKey(t: TargetContainer): string {
  return `${t.namespace ?? '\uffff'}/${t.podName ?? ''}/${t.containerName ?? ''}/${t.name}/${t.containerId}`;
}

export async function listTargets(
  runtime: ContainerRuntime,
  options: ListTargetsOptions = {},
): Promise<TargetContainer[]> {
  const concurrency = options.concurrency ?? DEFAULT_LIST_TARGETS_OPTIONS.concurrency;
  const candidates = (await runtime.listContainers({ all: false })).filter(
    (c) => c.state === 'running' && !isSandbox(c) && !c.capture,
  );
  let running = candidates;
  if (options.visible) {
    const shown = new Set((await options.visible(candidates.map(describeTarget))).map((t) => t.containerId));
    running = candidates.filter((c) => shown.has(c.id));
  }
  const jvm = await mapWithConcurrency(running, concurrency, (c) => runsJvm(runtime, c));
  const items = running.map((c, i): TargetContainer => {
    const t = describeTarget(c);
    return {
      containerId: c.id,
      name: c.name,
      image: c.image,
      state: c.state,
      ...(t.podUid !== undefined ? { podUid: t.podUid } : {}),
      ...(t.podName !== undefined ? { podName: t.podName } : {}),
      ...(t.namespace !== undefined ? { namespace: t.namespace } : {}),
      ...(c.pod?.container !== undefined ? { containerName: t.containerName } : {}),
      jvm: jvm[i] as boolean,
    };
  });
  return items.sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0));
}
