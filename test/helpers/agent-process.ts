/**
 * Runs the built `podflame-agent` entry point (dist/agent/main.js; `npm test` builds before running tap) as a child
 * process, as the end-to-end, security, fault, fuzz and cluster tests need: flags exactly as a user types them, its JSON log lines
 * collected, and SIGKILL available. Not a test file (no .test.ts): imported by them.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { DIST_AGENT } from './built.js';

export interface AgentProcess {
  child: ChildProcessWithoutNullStreams;
  /** `http://127.0.0.1:PORT` (or https) once listening. */
  url: string;
  /** Every JSON log line so far. */
  logs: Record<string, unknown>[];
  /** stderr text so far. */
  stderr(): string;
  /** Resolves with the exit code or signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (or the given signal) and wait for the exit. Idempotent. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface AgentRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function spawnMain(
  args: readonly string[],
  env: Record<string, string>,
  nodeArgs: readonly string[] = [],
): ChildProcessWithoutNullStreams {
  if (!existsSync(DIST_AGENT)) throw new Error(`${DIST_AGENT} is missing: run npm run build first (npm test does)`);
  return spawn(process.execPath, [...nodeArgs, DIST_AGENT, ...args], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Runs the agent until it exits by itself (for flags that must make it refuse to start). */
export async function runAgentToExit(
  args: readonly string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<AgentRun> {
  const child = spawnMain(args, options.env ?? {});
  const timeoutMs = options.timeoutMs ?? 60_000;
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Starts the agent and waits for its "listening" log line. */
export async function startAgentProcess(
  args: readonly string[],
  /** `nodeArgs`: node's own options, before the entry point (e.g. `--import HOOK`). */
  options: { env?: Record<string, string>; timeoutMs?: number; nodeArgs?: readonly string[] } = {},
): Promise<AgentProcess> {
  const child = spawnMain(args, options.env ?? {}, options.nodeArgs);
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let buffered = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the agent did not start within ${options.timeoutMs ?? 60_000} ms: ${stderr}`)),
      options.timeoutMs ?? 60_000,
    );
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          logs.push(parsed);
          if (parsed.msg === 'podflame-agent listening' && typeof parsed.url === 'string') {
            clearTimeout(timer);
            resolve(parsed.url);
          }
        } catch {
          logs.push({ unparsed: line });
        }
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`the agent exited at start (code ${code}, signal ${signal}): ${stderr}`));
    });
  });
  let stopping: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
  return {
    child,
    url,
    logs,
    stderr: () => stderr,
    exited,
    stop(signal: NodeJS.Signals = 'SIGTERM') {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
        return exited;
      })();
      return stopping;
    },
  };
}

/** The request log lines (msg "request") the agent wrote so far. */
export function requestLines(agent: AgentProcess): Record<string, unknown>[] {
  return agent.logs.filter((l) => l.msg === 'request');
}
