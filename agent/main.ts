#!/usr/bin/env node
// Entry point of `podflame-agent`: the only agent module that touches `process` (argv, env, signals, exit codes).
import { hostname } from 'node:os';
import { destination } from 'pino';
import { parseAgentConfig } from './config.js';
import { createLogger } from './logging.js';
import { Agent } from './agent.js';
import { DockerRuntime } from './runtime/docker-runtime.js';
import { PodflameError } from '../shared/errors.js';

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

let runtime: DockerRuntime;
try {
  runtime = new DockerRuntime({ socketPath: config.dockerSocket, captureImage: config.captureImage });
} catch (err) {
  logger.fatal({ err: err instanceof Error ? err.message : String(err) }, 'invalid configuration');
  process.exit(err instanceof PodflameError ? err.exitCode : 2);
}
let agent: Agent;
try {
  // Checks what can be checked before listening: the token file, the agent's kubeconfig, the TLS certificate.
  agent = new Agent({ config, runtime, logger });
} catch (err) {
  process.stderr.write(`podflame-agent: ${err instanceof Error ? err.message : String(err)}\n`);
  await runtime.close().catch(() => undefined);
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
  agent.close().then(
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
  await agent.start();
} catch (err) {
  logger.fatal({ err: err instanceof Error ? err.message : String(err) }, 'could not start');
  await runtime.close().catch(() => undefined);
  process.exit(err instanceof PodflameError ? err.exitCode : 1);
}
