/**
 * The flags that connect to a cluster (--context, --kubeconfig, --agent-namespace), shared by `profile`, `agents` and
 * the history commands, and the client options they become.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliIO } from '../io.js';
import { DEFAULT_AGENT_NAMESPACE } from '../../kube/agent-discovery.js';
import type { PodflameClientOptions } from '../../profile-pod.js';

/** The flags that connect to a cluster, shared by `profile`, `agents` and the history commands. */
export interface KubeConnectionFlags {
  context?: string;
  kubeconfig?: string;
  agentNamespace: string;
}

/** Connection flags → the client's options (paths resolved against the working directory, env from the CLI). */
export function connectionOptions(flags: KubeConnectionFlags, io: CliIO): PodflameClientOptions {
  return {
    env: io.env,
    agentNamespace: flags.agentNamespace,
    ...(flags.kubeconfig !== undefined ? { kubeconfig: resolve(io.cwd, flags.kubeconfig) } : {}),
    ...(flags.context !== undefined ? { context: flags.context } : {}),
  };
}

/** Help of `--token-audience`: a token for the agents only, and who can have one. */
export const TOKEN_AUDIENCE_HELP =
  "send the agents a token minted for this audience (their --token-audience) with the TokenRequest API instead of your kubeconfig's; needs a service account";

/** The options that connect to a cluster, shared by `profile`, `agents` and the history commands. */
export function addKubeConnectionOptions(cmd: Command): Command {
  return cmd
    .option('--context <name>', 'kubeconfig context to use (default: the current context)')
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else in-cluster)')
    .option('--agent-namespace <ns>', 'namespace of the podflame agent pods', DEFAULT_AGENT_NAMESPACE);
}
