/**
 * Counts failed runtime calls in `podflame_runtime_errors_total{runtime}` without the runtime knowing about metrics: a thin
 * wrapper over any ContainerRuntime. Answers that are about the request, not the engine (no such container, a
 * capture stopped on purpose), are not engine errors and are not counted.
 */
import type { ContainerRuntime } from './runtime/container-runtime.js';
import { PodflameError, type ErrorCode } from '../shared/errors.js';
import type { AgentMetrics } from './metrics.js';

const NOT_ENGINE_ERRORS: ReadonlySet<ErrorCode> = new Set([
  'TARGET_NOT_FOUND',
  'TARGET_NOT_RUNNING',
  'TARGET_AMBIGUOUS',
  'CAPTURE_ABORTED',
  'CAPTURE_TIMEOUT',
  'OUTPUT_TOO_LARGE',
  // Host mode's pod list not there yet: the Kubernetes API's doing, not the engine's.
  'KUBERNETES_API_ERROR',
]);

export function instrumentRuntime(runtime: ContainerRuntime, metrics: AgentMetrics): ContainerRuntime {
  const kind = runtime.kind ?? 'docker';
  const counted = async <T>(operation: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof PodflameError && NOT_ENGINE_ERRORS.has(err.code))) {
        metrics.runtimeErrorsTotal.inc({ runtime: kind, operation });
      }
      throw err;
    }
  };
  return {
    ...(runtime.kind !== undefined ? { kind: runtime.kind } : {}),
    readiness: async (signal) => {
      const readiness = await counted('readiness', () => runtime.readiness(signal));
      for (const operation of readiness.failedOperations) metrics.runtimeErrorsTotal.inc({ runtime: kind, operation });
      return readiness;
    },
    notFoundHint: (name) => runtime.notFoundHint(name),
    lostTarget: (exit, title) => runtime.lostTarget(exit, title),
    ping: (signal) => counted('ping', () => runtime.ping(signal)),
    toolsPresent: () => counted('toolsPresent', () => runtime.toolsPresent()),
    listContainers: (filter) => counted('listContainers', () => runtime.listContainers(filter)),
    inspectContainer: (id) => counted('inspectContainer', () => runtime.inspectContainer(id)),
    listProcesses: (id) => counted('listProcesses', () => runtime.listProcesses(id)),
    runCapture: (spec, signal) =>
      counted('runCapture', async () => {
        const running = await runtime.runCapture(spec, signal);
        // Same object (the runtime keeps filling in its warnings), with the wait for the exit counted too.
        const done = running.done;
        running.done = counted('captureWait', () => done);
        return running;
      }),
    removeLeftoverCaptures: (instance) =>
      counted('removeLeftoverCaptures', () => runtime.removeLeftoverCaptures(instance)),
    close: () => runtime.close(),
  };
}
