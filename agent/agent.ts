/**
 * The agent assembled from its parts, in start order: container runtime (given), leftover cleanup, capture service,
 * HTTP server. `close()` undoes them in reverse: stop accepting, stop running captures (their callers get an
 * answer), let the answers go out, close the runtime. No `process` here: main.ts owns signals and exit codes.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { ContainerRuntime } from './runtime/container-runtime.js';
import type { AgentConfig } from './config.js';
import { instrumentRuntime } from './instrumented-runtime.js';
import { AgentMetrics } from './metrics.js';
import { CaptureService } from './profiles/capture-service.js';
import { ProfileRegistry } from './profiles/profile-registry.js';
import { createAgentApp, type AgentAppOptions } from './server/app.js';
import { AgentHttpServer, type BoundAddress } from './server/http-server.js';
import { accessControlOptions, createLocalAccessControl, type AccessControl } from './auth/access-control.js';
import { withAccessControl } from './server/access-wiring.js';
import { CallerRateLimiter } from './server/middleware/rate-limit.js';
import { loadTlsMaterial } from './server/tls.js';

export interface AgentDeps {
  config: AgentConfig;
  /** The engine; the agent closes it on close(). */
  runtime: ContainerRuntime;
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

export class Agent {
  readonly instanceId: string;
  readonly metrics = new AgentMetrics();
  readonly runtime: ContainerRuntime;
  readonly registry: ProfileRegistry;
  readonly captures: CaptureService;
  readonly #rawRuntime: ContainerRuntime;
  readonly #deps: AgentDeps;
  readonly #http: AgentHttpServer;
  #address: BoundAddress | undefined;
  #closing: Promise<void> | undefined;

  constructor(deps: AgentDeps) {
    const { config, logger } = deps;
    this.#deps = deps;
    this.instanceId = deps.instanceId ?? agentInstanceId(config.nodeName);
    this.#rawRuntime = deps.runtime;
    this.runtime = instrumentRuntime(deps.runtime, this.metrics);
    this.registry = new ProfileRegistry(config.profileRetention);
    this.captures = new CaptureService(
      { runtime: this.runtime, registry: this.registry, metrics: this.metrics, logger },
      {
        nodeName: config.nodeName,
        agentInstance: this.instanceId,
        maxConcurrent: config.maxConcurrent,
        maxOutputBytes: config.maxOutputBytes,
        timeoutMarginSeconds: config.requestTimeoutSeconds,
      },
    );
    const app = createAgentApp(
      {
        runtime: this.runtime,
        captures: this.captures,
        registry: this.registry,
        metrics: this.metrics,
        logger,
        nodeName: config.nodeName,
        captureImage: config.captureImage,
      },
      withAccessControl(
        deps.access ?? createLocalAccessControl(accessControlOptions(config)),
        new CallerRateLimiter({ perMinute: config.rateLimitPerMinute }),
        deps.app,
      ),
    );
    this.#http = new AgentHttpServer(app, config.listen, {
      tls: loadTlsMaterial({ certFile: config.tlsCert, keyFile: config.tlsKey }),
      readTimeoutMs: config.readTimeoutSeconds * 1000,
    });
  }

  /** Where the API listens (after start). */
  get address(): BoundAddress {
    if (!this.#address) throw new Error('the agent has not started');
    return this.#address;
  }

  async start(): Promise<BoundAddress> {
    const { logger, config } = this.#deps;
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
    this.#address = await this.#http.start();
    logger.info(
      {
        address: this.#address.host,
        port: this.#address.port,
        url: this.#address.url,
        node: config.nodeName,
        captureImage: config.captureImage,
        runtime: this.runtime.kind ?? 'docker',
        instanceId: this.instanceId,
      },
      'podflame-agent listening',
    );
    return this.#address;
  }

  /** Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const stopped = this.#http.stopAccepting();
      await this.captures.close();
      await this.#http.close();
      await stopped;
      await this.#rawRuntime.close();
      this.#deps.logger.info('podflame-agent stopped');
    })();
    return this.#closing;
  }
}
