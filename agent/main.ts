#!/usr/bin/env -S node --max-semi-space-size=2
// Entry point of `podflame-agent`: the only agent module that touches `process` (argv, env, signals, exit codes).
// Everything else is built and run by agent.ts.
import { hostname } from 'node:os';
import { destination } from 'pino';
import { parseAgentConfig } from './config.js';
import { createLogger } from './logging.js';
import { AgentBuildError, createAgent, type Agent } from './agent.js';
import { PodflameError } from '../shared/errors.js';
import { packageVersion } from '../shared/package-version.js';

/** After SIGTERM, everything must be closed by then (kubelet's grace period is 30 s by default). */
const SHUTDOWN_DEADLINE_MS = 10_000;

function exitCodeOf(err: unknown, otherwise: number): number {
  return err instanceof PodflameError ? err.exitCode : otherwise;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

let parsed;
try {
  parsed = parseAgentConfig({ argv: process.argv.slice(2), env: process.env, hostname: hostname() });
} catch (err) {
  process.stderr.write(`podflame-agent: ${messageOf(err)}\n`);
  process.exit(exitCodeOf(err, 1));
}
if (parsed.kind === 'help') {
  process.stdout.write(parsed.text);
  process.exit(0);
}
if (parsed.kind === 'version') {
  process.stdout.write(`${packageVersion()}\n`);
  process.exit(0);
}
const config = parsed.config;
// Synchronous writes: the start-up line (with the bound port) must be out before anyone waits for it, and the last
// lines before an exit must not be lost.
const logger = createLogger(config.logLevel, destination({ dest: 1, sync: true }));

let agent: Agent;
try {
  agent = await createAgent(config, { logger, kill: (pid, signal) => process.kill(pid, signal) });
} catch (err) {
  const cause = err instanceof AgentBuildError ? err.cause : err;
  if (err instanceof AgentBuildError && err.step === 'runtime') {
    logger.fatal({ err: messageOf(cause) }, 'invalid configuration');
  } else {
    process.stderr.write(`podflame-agent: ${messageOf(cause)}\n`);
  }
  process.exit(exitCodeOf(cause, 2));
}

let stopping = false;
function shutdown(signal: string): void {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping: captures in flight are stopped and their containers removed');
  agent.closeWithin(SHUTDOWN_DEADLINE_MS).then(
    (outcome) => {
      if (outcome === 'deadline')
        logger.error({ deadlineMs: SHUTDOWN_DEADLINE_MS }, 'could not stop in time; exiting anyway');
      process.exit(outcome === 'closed' ? 0 : 1);
    },
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
  // The parts already started were closed again, in reverse, by the failed start.
  logger.fatal({ err: messageOf(err) }, 'could not start');
  process.exit(exitCodeOf(err, 1));
}
