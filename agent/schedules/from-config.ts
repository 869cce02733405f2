/**
 * Builds continuous profiling from the agent's configuration, for main.ts: nothing without `--data-dir`; pod labels
 * from the Kubernetes API when the agent has one (`--kubeconfig`, or in-cluster), else local mode (Docker labels).
 * The Kubernetes client is loaded only when used: it is large, and local agents do not need it.
 */
import type { Registry } from 'prom-client';
import type { AgentConfig } from '../config.js';
import { PodflameError } from '../../shared/errors.js';
import { ContinuousProfiling } from './continuous-profiling.js';
import { captureThrough, type CaptureStarter } from './capture-adapter.js';
import type { ContainerLister, PodLabelSource } from './targets.js';
import type { SchedulerLogger } from './scheduler.js';
import type { Authorizer } from '../authz/authorizer.js';
import { requireCaller } from '../server/middleware/authenticate.js';

export interface ContinuousProfilingDeps {
  captures: CaptureStarter;
  containers: ContainerLister;
  registry: Registry;
  logger: SchedulerLogger & { error(obj: object, msg: string): void };
  /** True when the agent runs in a pod with a service account (main.ts reads KUBERNETES_SERVICE_HOST). */
  inCluster: boolean;
  /** The agent's authorizer: history and schedules are per namespace (may the caller profile its pods?). */
  authorizer?: Pick<Authorizer, 'authorizeNamespace'>;
  /** The pods of this node, when main.ts already watches them (host mode shares them); main starts and closes it. */
  pods?: PodLabelSource;
}

export async function continuousProfilingFromConfig(
  config: AgentConfig,
  deps: ContinuousProfilingDeps,
): Promise<ContinuousProfiling | undefined> {
  if (config.dataDir === undefined) {
    const needs = [config.schedulesFile && '--schedules', config.pyroscopeUrl && '--pyroscope-url'].filter(Boolean);
    if (needs.length > 0) {
      throw new PodflameError(
        'CONFIG_INVALID',
        `${needs.join(' and ')} need${needs.length === 1 ? 's' : ''} --data-dir DIR: scheduled profiles are stored on the node`,
      );
    }
    return undefined;
  }
  let pods: ConstructorParameters<typeof ContinuousProfiling>[0]['pods'];
  const shared = deps.pods;
  if (shared) {
    pods = {
      labelsFor: (uid) => shared.labelsFor(uid),
      ready: () => shared.ready(),
      notReadyReason: () => shared.notReadyReason(),
      start: () => undefined,
      close: async () => undefined,
    };
  } else if (config.kubeconfig !== undefined || deps.inCluster) {
    const { KubeConfig } = await import('@kubernetes/client-node');
    const { PodWatcher } = await import('./pod-watcher.js');
    const kubeConfig = new KubeConfig();
    try {
      if (config.kubeconfig !== undefined) kubeConfig.loadFromFile(config.kubeconfig);
      else kubeConfig.loadFromCluster();
    } catch (err) {
      throw new PodflameError(
        'CONFIG_INVALID',
        `cannot load the agent's Kubernetes configuration (${config.kubeconfig ?? 'in-cluster'}): ${(err as Error).message}`,
        { cause: err },
      );
    }
    pods = new PodWatcher({ kubeConfig, nodeName: config.nodeName, logger: deps.logger });
  }
  return new ContinuousProfiling({
    dataDir: config.dataDir,
    nodeName: config.nodeName,
    capture: captureThrough(deps.captures),
    containers: deps.containers,
    registry: deps.registry,
    logger: deps.logger,
    maxAgeSeconds: config.storeMaxAgeSeconds,
    maxTotalBytes: config.storeMaxBytes,
    maxJitterMs: config.scheduleJitterSeconds * 1000,
    ...(config.schedulesFile !== undefined ? { schedulesFile: config.schedulesFile } : {}),
    ...(config.pyroscopeUrl !== undefined ? { pyroscopeUrl: config.pyroscopeUrl } : {}),
    ...(pods ? { pods } : {}),
    ...(deps.authorizer
      ? {
          authorizeNamespace: async (req, namespace) => {
            if (!req.res) throw new PodflameError('INTERNAL', 'a request without its response reached authorization');
            await (deps.authorizer as Pick<Authorizer, 'authorizeNamespace'>).authorizeNamespace(
              requireCaller(req.res),
              namespace,
            );
          },
        }
      : {}),
  });
}
