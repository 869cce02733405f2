/**
 * What host mode reads from /proc (the host's, with `hostPID: true`): every process's cgroup (which container it is
 * in), command line, name and environment. Processes come and go while this reads: one that is gone is skipped,
 * never an error.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  WHOLE_TREE,
  containerOfCgroup,
  inContainerOwnCgroup,
  nodeCgroupRoot,
  type ContainerLink,
  type NodeCgroupRoot,
} from './cgroup-match.js';

export interface ContainerProcesses {
  /** Full container ID (64 hex digits). */
  id: string;
  /** Host PIDs of its processes, ascending. */
  pids: number[];
  /**
   * The container's init, as far as /proc tells: the lowest PID in the container's own cgroup (inContainerOwnCgroup),
   * else the lowest PID. The runtime starts the init in the container's own cgroup; a process in a child cgroup was
   * moved there from inside the container, which can take any PID order (a lower PID after a wrap, or `exec` into a
   * child cgroup), so the lowest PID alone could be such a process rather than the init.
   */
  initPid: number;
  /** Kubernetes pod UID, when kubelet's cgroup names it. */
  podUid?: string;
}

/** Reads files in /proc this many at a time (a node runs thousands of processes). */
const READ_CONCURRENCY = 32;

async function readText(path: string, maxBytes = 65536): Promise<string | undefined> {
  try {
    const data = await readFile(path);
    return data.subarray(0, maxBytes).toString('utf8');
  } catch {
    return undefined; // exited meanwhile, or not readable
  }
}

/** The numeric entries of /proc, ascending. */
export async function listPids(procRoot: string): Promise<number[]> {
  const names = await readdir(procRoot);
  return names
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
}

async function forEachLimited<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, items.length) }, worker));
}

/**
 * The node's root cgroup (nodeCgroupRoot) from /proc/1/cgroup: PID 1 of this PID namespace is the node's init under
 * `hostPID`. Unreadable (a /proc without PID 1): the whole tree, i.e. paths are read as they are.
 */
export async function readNodeCgroupRoot(procRoot: string): Promise<NodeCgroupRoot> {
  const text = await readText(join(procRoot, '1', 'cgroup'));
  return text === undefined ? WHOLE_TREE : nodeCgroupRoot(text);
}

/**
 * Every container that has a process on this host, by ID, from /proc/<pid>/cgroup: each process counts for the
 * outermost container its cgroup names below the node's root cgroup (containerOfCgroup), so a sub-cgroup a container
 * named after another container's ID (or a fake kubelet tree under itself) leaves its processes in that container,
 * and a pod's container inside a kind node is found as itself rather than as the node.
 */
export async function scanContainers(procRoot: string): Promise<Map<string, ContainerProcesses>> {
  const root = await readNodeCgroupRoot(procRoot);
  const found: { pid: number; owner: ContainerLink; inOwnCgroup: boolean }[] = [];
  await forEachLimited(await listPids(procRoot), async (pid) => {
    const text = await readText(join(procRoot, String(pid), 'cgroup'));
    if (text === undefined) return;
    const owner = containerOfCgroup(text, root);
    if (owner !== undefined) found.push({ pid, owner, inOwnCgroup: inContainerOwnCgroup(text, root) });
  });
  found.sort((a, b) => a.pid - b.pid);
  const containers = new Map<string, ContainerProcesses>();
  const initsInOwnCgroup = new Set<string>();
  for (const { pid, owner, inOwnCgroup } of found) {
    let c = containers.get(owner.id);
    if (!c) {
      c = { id: owner.id, pids: [], initPid: pid };
      if (owner.podUid !== undefined) c.podUid = owner.podUid;
      containers.set(owner.id, c);
    }
    c.pids.push(pid);
    // Ascending PIDs: the first in the container's own cgroup is the init, ahead of any lower PID in a child cgroup.
    if (inOwnCgroup && !initsInOwnCgroup.has(owner.id)) {
      initsInOwnCgroup.add(owner.id);
      c.initPid = pid;
    }
  }
  return containers;
}

/** The command line as `ps` shows it (arguments joined by spaces); empty for kernel threads or gone processes. */
export async function readCommandLine(procRoot: string, pid: number): Promise<string> {
  const raw = await readText(join(procRoot, String(pid), 'cmdline'), 8192);
  return (raw ?? '').replace(/\0+$/, '').split('\0').join(' ');
}

/** The process name (`comm`, at most 15 characters), e.g. `pause` or `java`; empty when gone. */
export async function readComm(procRoot: string, pid: number): Promise<string> {
  return ((await readText(join(procRoot, String(pid), 'comm'), 64)) ?? '').trim();
}

/** The process's environment as a map; empty when gone or not readable. */
export async function readEnviron(procRoot: string, pid: number): Promise<Map<string, string>> {
  const raw = await readText(join(procRoot, String(pid), 'environ'), 256 * 1024);
  const env = new Map<string, string>();
  for (const entry of (raw ?? '').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return env;
}

/** PIDs (ascending) of the processes whose environment has `name` set (to any value), with that environment. */
export async function processesWithEnv(
  procRoot: string,
  name: string,
): Promise<{ pid: number; env: Map<string, string> }[]> {
  const found: { pid: number; env: Map<string, string> }[] = [];
  await forEachLimited(await listPids(procRoot), async (pid) => {
    const env = await readEnviron(procRoot, pid);
    if (env.has(name)) found.push({ pid, env });
  });
  return found.sort((a, b) => a.pid - b.pid);
}
