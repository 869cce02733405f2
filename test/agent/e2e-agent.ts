/**
 * What the agent's end-to-end files share: an in-process agent on the real Docker engine (DockerRuntime with the
 * harness's capture image), the capture containers of one agent (by its instance label), and spawning the built
 * entry points (`dist/`) exactly as a user runs them. Not a test file.
 */
import { spawn } from 'node:child_process';
import type { Test } from 'tap';
import { Agent } from '../../agent/agent.js';
import type { AgentConfig } from '../../agent/config.js';
import { CAPTURE_LABELS } from '../../agent/runtime/container-runtime.js';
import { DockerRuntime } from '../../agent/runtime/docker-runtime.js';
import { startAgentProcess, type AgentProcess } from '../helpers/agent-process.js';
import { DIST_CLI, requireBuild } from '../helpers/built.js';
import type { DockerEnv } from '../helpers/docker-env.js';
import { memoryLogger, testConfig } from './http.js';
import { testProfileWorker } from '../helpers/profile-worker.js';

export async function startRealAgent(t: Test, env: DockerEnv, overrides: Partial<AgentConfig> = {}) {
  const captureImage = overrides.captureImage ?? env.captureImage;
  const runtime = new DockerRuntime({ captureImage, socketPath: env.socketPath });
  const log = memoryLogger();
  const nodeName = overrides.nodeName ?? `e2e-${Math.random().toString(16).slice(2, 10)}`;
  const agent = new Agent({
    worker: testProfileWorker(),
    config: testConfig({ dockerSocket: env.socketPath, ...overrides, captureImage, nodeName }),
    runtime,
    logger: log.logger,
  });
  const { url } = await agent.start();
  t.teardown(() => agent.close());
  return { agent, url, log, nodeName };
}

/** IDs of the capture containers (running or not) with these labels. */
export async function captureContainers(env: DockerEnv, labels: Record<string, string>): Promise<string[]> {
  const label = [`${CAPTURE_LABELS.owner}=true`, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)];
  const list = await env.docker.listContainers({ all: true, filters: { label } });
  return list.map((c) => c.Id);
}

/** Sum of the counts of folded text. */
export function foldedTotal(folded: string): number {
  return folded
    .split('\n')
    .filter((l) => l !== '')
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

export type SpawnedAgent = AgentProcess;

/** `node dist/agent/main.js ARGS`, resolved once its start-up line names the bound URL. */
export async function spawnAgent(args: readonly string[], env: Record<string, string> = {}): Promise<SpawnedAgent> {
  requireBuild();
  return startAgentProcess(args, { env, timeoutMs: 120_000 });
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node dist/client/cli/main.js ARGS` to completion. */
export function runCli(args: readonly string[], cwd: string): Promise<CliRun> {
  requireBuild();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [DIST_CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
