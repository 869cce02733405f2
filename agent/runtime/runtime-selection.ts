/**
 * `--runtime docker|host|auto`: which capture path the agent uses. `auto` asks the Docker engine once at start-up:
 * Docker when its socket answers a ping, else host mode (containerd and CRI-O nodes have no docker.sock).
 */
import type { ContainerRuntime, RuntimeKind } from './container-runtime.js';
import { DockerRuntime, type DockerRuntimeOptions } from './docker-runtime.js';
import { HostRuntime, type HostRuntimeDeps, type HostRuntimeOptions } from './host-runtime.js';

export const RUNTIME_CHOICES = ['docker', 'host', 'auto'] as const;
export type RuntimeChoice = (typeof RUNTIME_CHOICES)[number];

export interface RuntimeSelectionOptions {
  choice: RuntimeChoice;
  docker: DockerRuntimeOptions;
  host: HostRuntimeOptions;
  /** What host mode is given: a `kill` (main.ts passes process.kill) and, with Kubernetes access, the node's pods. */
  hostDeps: HostRuntimeDeps;
  /** How long `auto` waits for the Docker engine's ping, in ms. Default 3000. */
  pingTimeoutMs?: number;
}

export interface SelectedRuntime {
  runtime: ContainerRuntime;
  kind: RuntimeKind;
  /** Why this one, for the start-up log line, e.g. `--runtime host` or `auto: no Docker engine at … (…)`. */
  reason: string;
}

export interface RuntimeFactories {
  docker: (options: DockerRuntimeOptions) => ContainerRuntime;
  host: (options: HostRuntimeOptions, deps: HostRuntimeDeps) => ContainerRuntime;
}

const DEFAULT_FACTORIES: RuntimeFactories = {
  docker: (o) => new DockerRuntime(o),
  host: (o, deps) => new HostRuntime(o, deps),
};

export async function selectRuntime(
  options: RuntimeSelectionOptions,
  factories: RuntimeFactories = DEFAULT_FACTORIES,
): Promise<SelectedRuntime> {
  if (options.choice === 'docker') {
    return { runtime: factories.docker(options.docker), kind: 'docker', reason: '--runtime docker' };
  }
  if (options.choice === 'host') {
    return { runtime: factories.host(options.host, options.hostDeps), kind: 'host', reason: '--runtime host' };
  }
  const docker = factories.docker(options.docker);
  try {
    await docker.ping(AbortSignal.timeout(options.pingTimeoutMs ?? 3000));
    return { runtime: docker, kind: 'docker', reason: 'auto: the Docker engine answers' };
  } catch (err) {
    await docker.close().catch(() => undefined);
    const why = err instanceof Error ? err.message : String(err);
    return {
      runtime: factories.host(options.host, options.hostDeps),
      kind: 'host',
      reason: `auto: no Docker engine (${why})`,
    };
  }
}
