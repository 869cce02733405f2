#!/usr/bin/env node
// Entry point of `podflame-agent`: the only agent module that touches `process` (argv, env, signals, exit codes).
import { hostname } from 'node:os';
import { destination } from 'pino';
import { parseAgentConfig } from './config.js';
import { createLogger } from './logging.js';
import { Agent } from './agent.js';
import { accessControlOptions, createAccessControl, type AccessControl } from './auth/access-control.js';
import type { ContainerRuntime } from './runtime/container-runtime.js';
import { selectRuntime } from './runtime/runtime-selection.js';
import { PodflameError } from '../shared/errors.js';
import { Router } from 'express';
import { continuousProfilingFromConfig } from './schedules/from-config.js';
import { historyRouter } from './server/routes/history.js';
import type { ContinuousProfiling } from './schedules/continuous-profiling.js';
import type { PodWatcher } from './schedules/pod-watcher.js';
import { podWatcherFromConfig } from './pods/pod-watcher-from-config.js';

/** After SIGTERM, everything must be closed by then (kubelet's grace period is 30 s by default). */
const SHUTDOWN_DEADLINE_MS = 10_000;

let parsed;
try {
  parsed = parseAgentConfig({ argv: process.argv.slice(2), env: process.env, hostname: hostname() });
} catch (err) {
  const code = err instanceof PodflameError ? err.exitCode : 1;
  process.stderr.write(`podflame-agent: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(code);
}
if (parsed.kind === 'help') {
  process.stdout.write(parsed.text);
  process.exit(0);
}
const config = parsed.config;
// Synchronous writes: the start-up line (with the bound port) must be out before anyone waits for it, and the last
// lines before an exit must not be lost.
const logger = createLogger(config.logLevel, destination({ dest: 1, sync: true }));

const inCluster = process.env.KUBERNETES_SERVICE_HOST !== undefined;
// The pods of this node from the Kubernetes API (when the agent has access): host mode names the containers it finds
// in cgroups with them, schedules match label selectors against them. One watcher for both; started below.
let pods: PodWatcher | undefined;
try {
  if (config.runtime !== 'docker' || config.dataDir !== undefined) {
    pods = await podWatcherFromConfig(config, { inCluster, logger });
  }
} catch (err) {
  process.stderr.write(`podflame-agent: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof PodflameError ? err.exitCode : 2);
}
let runtime: ContainerRuntime;
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
      ...(process.env.PATH !== undefined ? { env: { PATH: process.env.PATH } } : {}),
    },
    hostDeps: { kill: (pid, signal) => process.kill(pid, signal), ...(pods ? { pods } : {}) },
  });
  runtime = selected.runtime;
  if (pods && selected.kind !== 'host' && config.dataDir === undefined) {
    await pods.close();
    pods = undefined;
  }
  pods?.start();
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
  logger.fatal({ err: err instanceof Error ? err.message : String(err) }, 'invalid configuration');
  process.exit(err instanceof PodflameError ? err.exitCode : 2);
}
let agent: Agent;
// Continuous profiling (schedules, store, history queries) is mounted here once built: it needs the agent's
// capture service and metrics registry, which exist only with the agent.
const historyRoutes = Router();
let history: ContinuousProfiling | undefined;
let access: AccessControl;
try {
  // Checks what can be checked before listening: the token file, the agent's kubeconfig, the TLS certificate.
  access = await createAccessControl(accessControlOptions(config));
  agent = new Agent({ config, runtime, logger, access, app: { routers: [historyRoutes] } });
} catch (err) {
  process.stderr.write(`podflame-agent: ${err instanceof Error ? err.message : String(err)}\n`);
  await runtime.close().catch(() => undefined);
  await pods?.close().catch(() => undefined);
  process.exit(err instanceof PodflameError ? err.exitCode : 2);
}

let stopping = false;
function shutdown(signal: string): void {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping: captures in flight are stopped and their containers removed');
  const deadline = setTimeout(() => {
    logger.error({ deadlineMs: SHUTDOWN_DEADLINE_MS }, 'could not stop in time; exiting anyway');
    process.exit(1);
  }, SHUTDOWN_DEADLINE_MS);
  deadline.unref();
  (history?.close() ?? Promise.resolve())
    .then(() => agent.close())
    .then(() => pods?.close())
    .then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
}
process.once('SIGTERM', () => shutdown('SIGTERM'));
process.once('SIGINT', () => shutdown('SIGINT'));

try {
  history = await continuousProfilingFromConfig(config, {
    captures: agent.captures,
    containers: agent.runtime,
    registry: agent.metrics.registry,
    logger,
    inCluster,
    authorizer: access.authorizer,
    ...(pods ? { pods } : {}),
  });
  historyRoutes.use(history?.router ?? historyRouter({ nodeName: config.nodeName }));
  // Before listening: a bad schedules file stops the start, and the store is open before the first query.
  await history?.start();
  await agent.start();
} catch (err) {
  await history?.close().catch(() => undefined);
  logger.fatal({ err: err instanceof Error ? err.message : String(err) }, 'could not start');
  await runtime.close().catch(() => undefined);
  await pods?.close().catch(() => undefined);
  process.exit(err instanceof PodflameError ? err.exitCode : 1);
}
