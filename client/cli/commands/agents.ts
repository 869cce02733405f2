/**
 * `podflame agents`: one row per node with its podflame agent pod, whether that pod is ready, the agent's version,
 * and the capture path it took (RUNTIME: `docker` or `host`, from each ready agent's /readyz, as --runtime auto
 * decides per node; `?` when the agent could not be asked). Nodes without an agent are listed too when the caller
 * may list nodes.
 *
 *   NODE    AGENT POD               READY     VERSION  RUNTIME  IP
 *   node-a  podflame-agent-7xk2p    yes       0.1.0    host     10.244.1.7
 *   node-b  -                       no agent  -        -        -          (check the DaemonSet's tolerations)
 */
import type { Command } from 'commander';
import type { CliIO } from '../io.js';
import type { AgentPod } from '../../kube/agent-discovery.js';
import { addKubeConnectionOptions, connectionOptions, type KubeConnectionFlags } from './kube-options.js';
import { terminalSafe } from '../../../shared/terminal-safe.js';

/** How long `podflame agents` waits for an agent's /readyz. */
const READYZ_TIMEOUT_MS = 5000;

/**
 * Table rows, one per node, sorted by node; a node with several agent pods (a rolling update) gets one row each.
 * `runtimes`: the capture path of the ready agent on each node (absent: `-` for a pod not ready, `?` otherwise).
 */
export function agentRows(
  agents: readonly AgentPod[],
  nodes: readonly string[] | undefined,
  runtimes: ReadonlyMap<string, string> = new Map(),
): string[][] {
  const byNode = new Map<string, AgentPod[]>();
  for (const n of nodes ?? []) byNode.set(n, []);
  for (const a of agents) byNode.set(a.nodeName, [...(byNode.get(a.nodeName) ?? []), a]);
  const rows: string[][] = [];
  for (const node of [...byNode.keys()].sort()) {
    const onNode = byNode.get(node) ?? [];
    if (onNode.length === 0) rows.push([node, '-', 'no agent', '-', '-', '-']);
    for (const a of onNode) {
      const runtime = a.ready ? (runtimes.get(a.nodeName) ?? '?') : '-';
      rows.push([node || '(unscheduled)', a.name, a.ready ? 'yes' : 'no', a.version ?? '-', runtime, a.podIP ?? '-']);
    }
  }
  return rows;
}

/** A table of columns padded to their widths; every cell made terminal-safe, since agents wrote most of them. */
export function formatTable(header: string[], dirtyRows: string[][]): string {
  const rows = dirtyRows.map((r) => r.map((cell) => terminalSafe(cell, MAX_CELL_CHARS)));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** A table cell's most characters: a label set or a long pod name fits, an agent's flood of text does not. */
const MAX_CELL_CHARS = 500;

/** `docker` or `host` from a /readyz answer (200, or 503 AGENT_NOT_READY, whose details carry it too). */
function runtimeOf(json: unknown): string | undefined {
  const runtime = (json as { runtime?: unknown } | undefined)?.runtime;
  return typeof runtime === 'string' ? runtime : undefined;
}

/** Each ready agent's capture path, by node, asked of its /readyz as `podflame profile` reaches agents. */
async function runtimesByNode(flags: KubeConnectionFlags, io: CliIO): Promise<Map<string, string>> {
  const { clusterEndpoints } = await import('../../history/endpoints.js');
  const { PodflameError } = await import('../../../shared/errors.js');
  const options = connectionOptions(flags, io);
  const { endpoints, close } = await clusterEndpoints({
    env: io.env,
    agentNamespace: flags.agentNamespace,
    timeoutMs: READYZ_TIMEOUT_MS,
    ...(options.kubeconfig !== undefined ? { kubeconfig: options.kubeconfig } : {}),
    ...(options.context !== undefined ? { context: options.context } : {}),
  });
  const runtimes = new Map<string, string>();
  try {
    await Promise.all(
      endpoints.map(async (endpoint) => {
        if (endpoint.nodeName === undefined) return;
        const runtime = await endpoint.get('/readyz', io.signal, 'json').then(
          (answer) => runtimeOf(JSON.parse(answer.body.toString('utf8'))),
          (err: unknown) => (err instanceof PodflameError ? runtimeOf(err.details) : undefined),
        );
        if (runtime !== undefined) runtimes.set(endpoint.nodeName, runtime);
      }),
    );
  } finally {
    await close();
  }
  return runtimes;
}

export async function runAgents(flags: KubeConnectionFlags, io: CliIO): Promise<void> {
  // Loaded on use: @kubernetes/client-node is slow to import (see profile-kube.ts).
  const { PodflameClient } = await import('../../profile-pod.js');
  const client = new PodflameClient(connectionOptions(flags, io));
  try {
    const [agents, nodes] = await Promise.all([client.listAgents(), client.listNodes()]);
    // An agent that cannot be asked is a `?`, never a failure of the listing.
    const runtimes = agents.some((a) => a.ready)
      ? await runtimesByNode(flags, io).catch(() => new Map<string, string>())
      : new Map<string, string>();
    const rows = agentRows(agents, nodes, runtimes);
    io.stdout.write(formatTable(['NODE', 'AGENT POD', 'READY', 'VERSION', 'RUNTIME', 'IP'], rows));
    if (nodes === undefined) {
      io.stderr.write('podflame: you may not list nodes, so nodes without an agent are not shown\n');
    }
    if (agents.length === 0) {
      io.stderr.write(
        `podflame: no agent pods in namespace ${flags.agentNamespace}: is the agent DaemonSet installed? ` +
          `(kubectl -n ${flags.agentNamespace} get daemonsets)\n`,
      );
    }
  } finally {
    await client.close();
  }
}

export function registerAgents(program: Command, io: CliIO): void {
  const cmd = program.command('agents').description('list the podflame agent on each node: pod, ready, version');
  addKubeConnectionOptions(cmd);
  cmd.action(async (flags: KubeConnectionFlags) => {
    await runAgents(flags, io);
  });
}
