/**
 * The agent assembled, in one place: every part built from the configuration and put in one ordered list (parts.ts),
 * started in that order and closed in reverse — the pods of this node (when the agent has Kubernetes access), the
 * container runtime (its start removes an earlier agent's leftover captures), continuous profiling (store,
 * schedules, export; before listening, so a bad schedules file stops the start and the store is open before the
 * first query), the HTTP listener, and the captures (closed first: running captures are stopped and their callers
 * answered, then the answers go out). No `process` here: main.ts owns signals, the deadline and exit codes.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ContainerRuntime } from './runtime/container-runtime.js';
import type { AgentConfig } from './config.js';
import { instrumentRuntime } from './instrumented-runtime.js';
import { AgentMetrics } from './metrics.js';
import { CaptureService } from './profiles/capture-service.js';
import { ProfileRegistry } from './profiles/profile-registry.js';
import { createAgentApp, type AgentAppOptions } from './server/app.js';
import { AgentHttpServer, type AgentHttpServerOptions, type BoundAddress } from './server/http-server.js';
import { refusalLog } from './server/connection-limits.js';
import { createAccessControl, createLocalAccessControl } from './access/access-control.js';
import type { AccessControl, AccessControlOptions } from './access/access-options.js';
import { withAccessControl } from './server/access-wiring.js';
import { CallerRateLimiter } from './server/middleware/rate-limit.js';
import { requireCaller } from './server/middleware/authenticate.js';
import { loadTlsMaterial } from './server/tls.js';
import { historyRouter } from './server/routes/history.js';
import { defaultMergeLimits } from './store/merge-budget.js';
import { ContinuousProfiling } from './schedules/continuous-profiling.js';
import { captureThrough, type CaptureStarter } from './schedules/capture-adapter.js';
import type { ContainerLister, PodLabelSource } from './schedules/targets.js';
import type { SchedulerLogger } from './schedules/scheduler.js';
import type { Authorizer } from './authz/authorizer.js';
import { PodWatcher, type PodWatcherOptions } from './pods/pod-watcher.js';
import { connectKubeApi } from './kube/connect.js';
import type { KubeApiClient } from './kube/kube-api-client.js';
import { selectRuntime } from './runtime/runtime-selection.js';
import type { HostRuntimeDeps } from './runtime/host-runtime.js';
import { Parts, part } from './parts.js';
import { ProfileWorker } from './profiles/profile-worker.js';
import { ProfileRenderer } from './profiles/render-profile.js';
import { PodflameError } from '../shared/errors.js';

/** How long the start-up readiness check may wait for the engine (as a /readyz probe does). */
const START_READINESS_TIMEOUT_MS = 3_000;

export interface AgentDeps {
  config: AgentConfig;
  /** The engine; the agent closes it on close(). */
  runtime: ContainerRuntime;
  /** Why this runtime (selectRuntime's reason, e.g. `auto: the Docker engine answers`), reported by /readyz. */
  runtimeReason?: string;
  logger: Logger;
  /** Extension points for authentication, schedules, stores (see AgentAppOptions). */
  app?: AgentAppOptions;
  /**
   * Authentication and authorization, from createAccessControl (required with --auth kubernetes, whose Kubernetes
   * client loads asynchronously). Default: built from the config's --auth options (none or token).
   */
  access?: AccessControl;
  /** This process's id on its capture containers. Default: `NODE.UUID` (see agentInstanceId). */
  instanceId?: string;
  /** Where captures are collapsed and answers rendered; the giver closes it. Default: a ProfileWorker of the agent's own. */
  worker?: ProfileWorker;
  /** The pods of this node (host mode's names, schedules' labels); the agent starts it first and closes it last. */
  pods?: PodWatcher;
  /** The agent's access to the API server (the pod watcher's and `--auth kubernetes`'), closed after both. */
  kubeApi?: KubeApiClient;
}

/**
 * `NODE.UUID`: unique per process, and scoped by node name — at start-up an agent removes the leftover captures of
 * earlier agents of its own node name only (the runtime reads the part before the last dot as the scope).
 */
export function agentInstanceId(nodeName: string): string {
  const scope =
    nodeName
      .replace(/[^A-Za-z0-9_.-]/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '')
      .slice(0, 90) || 'node';
  return `${scope}.${randomUUID()}`;
}

/** The access-control part of the agent's configuration. */
export function accessControlOptions(config: AgentConfig): AccessControlOptions {
  return {
    auth: config.auth,
    tokenFile: config.tokenFile,
    authzResource: config.authzResource,
    ...(config.tokenAudiences ? { tokenAudiences: config.tokenAudiences } : {}),
    nodeName: config.nodeName,
    listen: config.listen,
  };
}

export interface ContinuousProfilingDeps {
  captures: CaptureStarter;
  containers: ContainerLister;
  registry: Registry;
  logger: SchedulerLogger & { error(obj: object, msg: string): void };
  /** The agent's authorizer: history and schedules are per namespace (may the caller profile its pods?). */
  authorizer?: Pick<Authorizer, 'authorizeNamespace'>;
  /** The pods of this node, when the agent watches them (its own part: started and closed by the agent). */
  pods?: PodLabelSource;
}

/**
 * Continuous profiling from the agent's configuration: nothing without `--data-dir`; pod labels from the agent's pod
 * watcher when it has Kubernetes access, else local mode (Docker labels).
 */
export async function continuousProfilingFromConfig(
  config: AgentConfig,
  deps: ContinuousProfilingDeps,
): Promise<ContinuousProfiling | undefined> {
  return buildContinuousProfiling(config, deps);
}

function buildContinuousProfiling(config: AgentConfig, deps: ContinuousProfilingDeps): ContinuousProfiling | undefined {
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
  const authorizer = deps.authorizer;
  return new ContinuousProfiling({
    dataDir: config.dataDir,
    nodeName: config.nodeName,
    capture: captureThrough(deps.captures),
    containers: deps.containers,
    registry: deps.registry,
    logger: deps.logger,
    maxAgeSeconds: config.storeMaxAgeSeconds,
    maxTotalBytes: config.storeMaxBytes,
    maxNamespaceBytes: config.namespaceMaxStoreBytes ?? Math.floor(config.storeMaxBytes / 4),
    maxDictionaryBytes: config.storeMaxDictionaryBytes,
    maxRetentionSeconds: config.scheduleMaxRetentionSeconds,
    maxSchedulesPerNamespace: config.namespaceMaxSchedules,
    metricsScheduleNames: config.metricsScheduleNames,
    maxJitterMs: config.scheduleJitterSeconds * 1000,
    ...(config.schedulesFile !== undefined ? { schedulesFile: config.schedulesFile } : {}),
    ...(config.pyroscopeUrl !== undefined ? { pyroscopeUrl: config.pyroscopeUrl } : {}),
    ...(deps.pods ? { pods: deps.pods } : {}),
    ...(authorizer
      ? {
          authorizeNamespace: async (req, namespace) => {
            if (!req.res) throw new PodflameError('INTERNAL', 'a request without its response reached authorization');
            await authorizer.authorizeNamespace(requireCaller(req.res), namespace);
          },
        }
      : {}),
  });
}

export interface PodWatcherDeps {
  logger?: PodWatcherOptions['logger'];
}

/**
 * A PodWatcher (not started) of this node's pods, through the agent's own access to the API server. Loaded with the
 * agent: what made it costly to load, @kubernetes/client-node, is no longer behind it.
 */
export function podWatcherOf(
  api: KubeApiClient,
  config: Pick<AgentConfig, 'nodeName'>,
  deps: PodWatcherDeps = {},
): PodWatcher {
  return new PodWatcher({ api, nodeName: config.nodeName, ...(deps.logger ? { logger: deps.logger } : {}) });
}

export interface CreateAgentDeps {
  logger: Logger;
  /** Host mode's way to signal its capture processes (main.ts passes process.kill). */
  kill: HostRuntimeDeps['kill'];
}

/**
 * Everything the configuration asks for, built but not started: the pod watcher, the runtime `--runtime` chooses,
 * access control (checked before listening: the token file, the agent's kubeconfig), then the Agent. On failure
 * what was built is closed again.
 */
export async function createAgent(config: AgentConfig, deps: CreateAgentDeps): Promise<Agent> {
  const { logger } = deps;
  // The agent's own access to the API server (`--kubeconfig`, else in-cluster), when something here uses it: the pod
  // watcher (host mode's container names, schedules' labels; one watcher for both) and `--auth kubernetes`.
  const wantsPods = config.runtime !== 'docker' || config.dataDir !== undefined;
  const kubeApi = wantsPods || config.auth === 'kubernetes' ? await connectKubeApi(config) : undefined;
  let pods = wantsPods && kubeApi ? podWatcherOf(kubeApi, config, { logger }) : undefined;
  let runtime: ContainerRuntime | undefined;
  let runtimeReason: string | undefined;
  try {
    const selected = await selectRuntime({
      choice: config.runtime,
      docker: { socketPath: config.dockerSocket, captureImage: config.captureImage, captureGroup: config.captureGroup },
      // The capture script inherits the agent's PATH (perf, jattach) and nothing else of its environment.
      host: {
        captureScript: config.captureScript,
        nativeDir: config.nativeDir,
        procRoot: config.procRoot,
        captureGroup: config.captureGroup,
        ...(config.capturePath !== undefined ? { env: { PATH: config.capturePath } } : {}),
      },
      hostDeps: { kill: deps.kill, ...(pods ? { pods } : {}) },
    });
    runtime = selected.runtime;
    runtimeReason = selected.reason;
    if (pods && selected.kind !== 'host' && config.dataDir === undefined) {
      await pods.close();
      pods = undefined;
    }
    // Where container names come from: Docker's kubelet labels, the Kubernetes API's pods (host mode), or nowhere.
    const podNames = selected.kind === 'docker' ? 'labels' : pods ? 'kubernetes-api' : 'none';
    logger.info({ runtime: selected.kind, reason: selected.reason, podNames }, 'capture path chosen');
    if (podNames === 'none' && config.schedulesFile !== undefined) {
      logger.warn(
        { schedules: config.schedulesFile },
        'host mode without Kubernetes API access (in-cluster or --kubeconfig) knows containers by ID only: ' +
          'schedules, which select pods by namespace and labels, will find no targets',
      );
    }
  } catch (err) {
    await pods?.close().catch(() => undefined);
    kubeApi?.close();
    throw new AgentBuildError('runtime', err);
  }
  try {
    const access = await createAccessControl(accessControlOptions(config), { kubeApi });
    return new Agent({
      config,
      runtime,
      runtimeReason,
      logger,
      access,
      ...(pods ? { pods } : {}),
      ...(kubeApi ? { kubeApi } : {}),
    });
  } catch (err) {
    await runtime.close().catch(() => undefined);
    await pods?.close().catch(() => undefined);
    kubeApi?.close();
    throw new AgentBuildError('access', err);
  }
}

/** Which step of createAgent failed (main.ts reports the two differently), with the step's own error as `cause`. */
export class AgentBuildError extends Error {
  constructor(
    readonly step: 'runtime' | 'access',
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

export class Agent {
  readonly instanceId: string;
  readonly metrics = new AgentMetrics();
  readonly runtime: ContainerRuntime;
  readonly registry: ProfileRegistry;
  readonly captures: CaptureService;
  /** Collapses captures and renders answers and graphs in its own thread. */
  readonly worker: ProfileWorker;
  /** Store, schedules and export, when the config has `--data-dir`. */
  readonly history: ContinuousProfiling | undefined;
  readonly #deps: AgentDeps;
  readonly #http: AgentHttpServer;
  readonly #parts: Parts;
  #address: BoundAddress | undefined;

  constructor(deps: AgentDeps) {
    const { config, logger } = deps;
    this.#deps = deps;
    this.instanceId = deps.instanceId ?? agentInstanceId(config.nodeName);
    this.runtime = instrumentRuntime(deps.runtime, this.metrics);
    this.registry = new ProfileRegistry(config.profileRetention, config.profilesMaxBytes);
    this.worker = deps.worker ?? new ProfileWorker({ maxHeapMb: config.workerHeapBytes / 1024 ** 2 });
    const worker = this.worker;
    this.captures = new CaptureService(
      { runtime: this.runtime, registry: this.registry, metrics: this.metrics, logger, collapser: worker },
      {
        nodeName: config.nodeName,
        agentInstance: this.instanceId,
        maxConcurrent: config.maxConcurrent,
        maxConcurrentPerNamespace: config.namespaceMaxConcurrent,
        maxOutputBytes: config.maxOutputBytes,
        timeoutMarginSeconds: config.requestTimeoutSeconds,
        limits: { maxStacks: config.maxStacks, maxBytes: config.maxProfileBytes },
      },
    );
    const access = deps.access ?? createLocalAccessControl(accessControlOptions(config));
    this.history = buildContinuousProfiling(config, {
      captures: this.captures,
      containers: this.runtime,
      registry: this.metrics.registry,
      logger,
      authorizer: access.authorizer,
      ...(deps.pods ? { pods: deps.pods } : {}),
    });
    // After any routers given: without --data-dir the history routes still answer, saying how to turn history on.
    const routers = [
      ...(deps.app?.routers ?? []),
      historyRouter({
        ...(this.history?.routes ?? { nodeName: config.nodeName }),
        graphs: worker,
        mergeLimits: defaultMergeLimits(config.workerHeapBytes, config.maxStacks),
      }),
    ];
    const app = createAgentApp(
      {
        runtime: this.runtime,
        captures: this.captures,
        registry: this.registry,
        metrics: this.metrics,
        logger,
        nodeName: config.nodeName,
        captureImage: config.captureImage,
        ...(deps.runtimeReason !== undefined ? { runtimeReason: deps.runtimeReason } : {}),
        renderer: new ProfileRenderer({ backend: worker }),
      },
      withAccessControl(
        access,
        {
          callers: new CallerRateLimiter({ perMinute: config.rateLimitPerMinute }),
          failedAuthentications: new CallerRateLimiter({ perMinute: config.authFailureLimitPerMinute }),
        },
        { ...deps.app, routers },
      ),
    );
    this.#http = new AgentHttpServer(app, config.listen, {
      tls: loadTlsMaterial({ certFile: config.tlsCert, keyFile: config.tlsKey }),
      readTimeoutMs: config.readTimeoutSeconds * 1000,
      connections: this.#connectionLimits(),
    });
    const pods = deps.pods;
    const history = this.history;
    const kubeApi = deps.kubeApi;
    this.#parts = new Parts(
      [
        ...(kubeApi
          ? [
              part(
                'kube-api',
                () => undefined,
                async () => kubeApi.close(),
              ),
            ]
          : []),
        ...(pods
          ? [
              part(
                'pods',
                () => pods.start(),
                () => pods.close(),
              ),
            ]
          : []),
        part(
          'runtime',
          () => this.#removeLeftovers(),
          () => deps.runtime.close(),
        ),
        // Closed once the captures and answers that use it are done; one given in `deps` is its giver's to close.
        part(
          'worker',
          () => worker.start(),
          async () => {
            if (deps.worker === undefined) await worker.close();
          },
        ),
        ...(history
          ? [
              part(
                'history',
                () => history.start(),
                () => history.close(),
              ),
            ]
          : []),
        part(
          'http',
          async () => {
            this.#address = await this.#http.start();
            this.#logListening(this.#address);
            await this.#warnIfNotReady();
          },
          // Waits for the answers in flight (connections closed as they go idle), cut after a deadline.
          () => this.#http.close(),
        ),
        // Last to start, first to close: new connections go to the next agent, running captures are stopped and
        // their callers answered; then the http part waits for those answers to go out.
        part(
          'captures',
          () => undefined,
          async () => {
            // Not awaited: it settles only once every connection is gone, which the http part sees to.
            void this.#http.stopAccepting();
            await this.captures.close();
          },
        ),
      ],
      logger,
    );
  }

  /** Where the API listens (after start). */
  get address(): BoundAddress {
    if (!this.#address) throw new Error('the agent has not started');
    return this.#address;
  }

  /** The parts in start order (close runs them in reverse). */
  get partNames(): string[] {
    return this.#parts.names;
  }

  async start(): Promise<BoundAddress> {
    await this.#parts.start();
    return this.address;
  }

  /** Idempotent. */
  async close(): Promise<void> {
    await this.#parts.close();
    this.#deps.logger.info('podflame-agent stopped');
  }

  /** close(), bounded by `ms`: `deadline` when the parts had not all closed by then. */
  async closeWithin(ms: number): Promise<'closed' | 'deadline'> {
    const outcome = await this.#parts.closeWithin(ms);
    if (outcome === 'closed') this.#deps.logger.info('podflame-agent stopped');
    return outcome;
  }

  /** The caps on open connections, their refusals counted (metric) and told (a log line a minute at most). */
  #connectionLimits(): AgentHttpServerOptions['connections'] {
    const { config, logger } = this.#deps;
    const limits = { maxConnections: config.maxConnections, maxPerAddress: config.maxConnectionsPerAddress };
    const log = refusalLog(logger, limits);
    return {
      ...limits,
      onRefused: (reason, address) => {
        this.metrics.connectionsRefusedTotal.inc({ reason });
        log(reason, address);
      },
      onOpen: (open) => this.metrics.connectionsOpen.set(open),
    };
  }

  async #removeLeftovers(): Promise<void> {
    const { logger } = this.#deps;
    // An earlier agent process killed mid-capture leaves its capture containers behind: they still run perf
    // inside someone's pod. An engine that is down now is not fatal: /readyz says so until it is back.
    try {
      const removed = await this.runtime.removeLeftoverCaptures(this.instanceId);
      if (removed > 0) logger.info({ removed }, 'removed capture containers left by an earlier agent');
    } catch (err) {
      logger.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'could not look for leftover capture containers',
      );
    }
  }

  /**
   * An agent that cannot capture yet (no capture image, no engine, host mode's tools missing) still starts, as its
   * /readyz says why; but whoever reads the start-up log should not have to ask /readyz to learn it.
   */
  async #warnIfNotReady(): Promise<void> {
    const { logger } = this.#deps;
    try {
      const { checks, reasons } = await this.runtime.readiness(AbortSignal.timeout(START_READINESS_TIMEOUT_MS));
      if (reasons.length > 0) logger.warn({ checks, reasons }, `not ready for captures: ${reasons.join('; ')}`);
    } catch (err) {
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not check readiness');
    }
  }

  #logListening(address: BoundAddress): void {
    const { config, logger } = this.#deps;
    logger.info(
      {
        address: address.host,
        port: address.port,
        url: address.url,
        node: config.nodeName,
        captureImage: config.captureImage,
        runtime: this.runtime.kind ?? 'docker',
        instanceId: this.instanceId,
      },
      'podflame-agent listening',
    );
  }
}
