/**
 * What `podflame install` and `podflame uninstall` share: the cluster flags (--context, --kubeconfig; no
 * --agent-namespace: --namespace names the install's own), --timeout, the connection they become, and the progress
 * line on stderr (rewritten in place on a terminal, one line per change otherwise).
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliIO } from '../io.js';
import { parseDurationSeconds } from '../../../shared/duration.js';
import { PodflameError } from '../../../shared/errors.js';
import type { ApiCredentials } from '../../kube/api-credentials.js';

export interface InstallConnectionFlags {
  context?: string;
  kubeconfig?: string;
  timeout: string;
}

export const DEFAULT_INSTALL_TIMEOUT = '5m';

export function addInstallConnectionOptions(cmd: Command): Command {
  return cmd
    .option('--context <name>', 'kubeconfig context to use (default: the current context)')
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else in-cluster)')
    .option('--timeout <duration>', 'how long to wait for the result (30s, 5m, ...)', DEFAULT_INSTALL_TIMEOUT);
}

/** `--timeout` in ms; USAGE when it is no duration, or zero (which could never be met). */
export function timeoutMs(flags: InstallConnectionFlags): number {
  const ms = parseDurationSeconds(flags.timeout, '--timeout') * 1000;
  if (ms <= 0) throw new PodflameError('USAGE', `--timeout must be longer than 0, got '${flags.timeout}'`);
  return ms;
}

/** The API server and the caller's credentials from the kubeconfig the flags name. */
export async function apiCredentials(flags: InstallConnectionFlags, io: CliIO): Promise<ApiCredentials> {
  // Loaded on use: @kubernetes/client-node is slow to import (see profile-kube.ts), and --dry-run needs none of it.
  const { loadKubeConfig } = await import('../../kube/kubeconfig.js');
  const { resolveApiCredentials } = await import('../../kube/api-credentials.js');
  const { kubeConfig } = loadKubeConfig({
    env: io.env,
    ...(flags.kubeconfig !== undefined ? { kubeconfig: resolve(io.cwd, flags.kubeconfig) } : {}),
    ...(flags.context !== undefined ? { context: flags.context } : {}),
  });
  return resolveApiCredentials(kubeConfig);
}

/** The progress line: `podflame: 1/2 agents ready`, rewritten in place on a terminal. `done()` ends it. */
export function progressLine(io: CliIO): { show: (line: string) => void; done: () => void } {
  let shown = false;
  return {
    show: (line) => {
      io.stderr.write(io.interactive ? `\r\x1b[Kpodflame: ${line}` : `podflame: ${line}\n`);
      shown = true;
    },
    done: () => {
      if (io.interactive && shown) io.stderr.write('\n');
      shown = false;
    },
  };
}

/**
 * Runs `work` (an install's or uninstall's API calls); once `signal` is aborted (Ctrl-C), whatever it throws becomes
 * CAPTURE_ABORTED, the code profile's cancellation has, saying what was left: `left` (e.g. what stays applied).
 */
export async function cancellable<T>(
  signal: AbortSignal,
  command: string,
  left: string,
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (!signal.aborted) throw err;
    const reason = signal.reason instanceof Error ? signal.reason.message : 'cancelled';
    throw new PodflameError('CAPTURE_ABORTED', `podflame ${command} was cancelled (${reason}); ${left}`, {
      cause: err,
    });
  }
}
