/**
 * `podflame agents`: one row per node with its podflame agent pod, whether that pod is ready, and the agent's
 * version. Nodes without an agent are listed too when the caller may list nodes.
 *
 *   NODE    AGENT POD               READY  VERSION  IP
 *   node-a  podflame-agent-7xk2p    yes    0.1.0    10.244.1.7
 *   node-b  -                       -      -        -          (no agent: check the DaemonSet's tolerations)
 */
import type { Command } from 'commander';
import type { CliIO } from '../io.js';
import type { AgentPod } from '../../kube/agent-discovery.js';
import { addKubeConnectionOptions, connectionOptions, type KubeConnectionFlags } from './kube-options.js';

/** Table rows, one per node, sorted by node; a node with several agent pods (a rolling update) gets one row each. */
export function agentRows(agents: readonly AgentPod[], nodes: readonly string[] | undefined): string[][] {
  const byNode = new Map<string, AgentPod[]>();
  for (const n of nodes ?? []) byNode.set(n, []);
  for (const a of agents) byNode.set(a.nodeName, [...(byNode.get(a.nodeName) ?? []), a]);
  const rows: string[][] = [];
  for (const node of [...byNode.keys()].sort()) {
    const onNode = byNode.get(node) ?? [];
    if (onNode.length === 0) rows.push([node, '-', 'no agent', '-', '-']);
    for (const a of onNode) {
      rows.push([node || '(unscheduled)', a.name, a.ready ? 'yes' : 'no', a.version ?? '-', a.podIP ?? '-']);
    }
  }
  return rows;
}

export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export async function runAgents(flags: KubeConnectionFlags, io: CliIO): Promise<void> {
  // Loaded on use: @kubernetes/client-node is slow to import (see profile-kube.ts).
  const { PodflameClient } = await import('../../profile-pod.js');
  const client = new PodflameClient(connectionOptions(flags, io));
  try {
    const [agents, nodes] = await Promise.all([client.listAgents(), client.listNodes()]);
    const rows = agentRows(agents, nodes);
    io.stdout.write(formatTable(['NODE', 'AGENT POD', 'READY', 'VERSION', 'IP'], rows));
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
