/**
 * Which container a process belongs to, read from the text of `/proc/<pid>/cgroup` alone (pure: no process access).
 * Container runtimes name the container's cgroup after its full 64-hex-digit ID, in one of a few shapes depending
 * on the runtime, the cgroup driver (cgroupfs or systemd) and the cgroup version; see test/fixtures/cgroup/ for real
 * samples of each. Only whole path segments naming a whole ID count, so a prefix of a longer ID never matches.
 */

/** One line of /proc/<pid>/cgroup, e.g. `4:memory:/docker/87cd…` (v1) or `0::/kubepods.slice/…` (v2). */
export interface CgroupLine {
  /** Hierarchy ID; 0 for the cgroup v2 unified hierarchy. */
  hierarchy: number;
  /** Controllers of a v1 hierarchy (`memory`, `cpu,cpuacct`, `name=systemd`); empty for v2. */
  controllers: string;
  /** The process's cgroup path within that hierarchy. */
  path: string;
}

// Container IDs as the Kubernetes API reports them (`containerd://…`, `cri-o://…`, `docker://…`) or bare.
const RUNTIME_SCHEME = /^(?:containerd|cri-o|docker):\/\//;
const FULL_ID = /^[0-9a-f]{64}$/;

/**
 * Segment shapes that name a container (ID = 64 hex digits):
 * - cgroupfs driver, Docker, ctr and kubelet: `/docker/<id>`, `/kubepods/burstable/pod<uid>/<id>`, `/<namespace>/<id>`
 * - systemd driver: `docker-<id>.scope`, `cri-containerd-<id>.scope`, `crio-<id>.scope` (CRI-O's infra container
 *   on cgroup v2: `crio-<id>` without `.scope`), podman's `libpod-<id>.scope`
 * - containerd with SystemdCgroup under cgroup v1, where the cgroupsPath stays literal in some hierarchies:
 *   `kubepods-besteffort-pod<uid>.slice:cri-containerd:<id>`
 * Never `crio-conmon-<id>.scope`: that is CRI-O's monitor process, outside the container.
 */
const SEGMENT_ID = [
  /^([0-9a-f]{64})$/,
  /^(?:docker|cri-containerd|crio|libpod|containerd)-([0-9a-f]{64})(?:\.scope)?$/,
  /^[^:]*\.slice:(?:cri-containerd|crio|docker|containerd):([0-9a-f]{64})$/,
];

// Pod UIDs in kubelet's cgroup names: `pod3f1c2a9e-5b7d-…` (cgroupfs) or `kubepods-burstable-pod3f1c2a9e_5b7d_….slice`
// (systemd, dashes escaped as underscores); static pods have a 32-hex-digit UID without dashes.
const POD_UID =
  /(?:^|[-/])pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32})(?=\.slice|\/|$)/;

/**
 * The 64-hex-digit container ID in a Kubernetes container ID (`containerd://<id>`, `cri-o://<id>`, `docker://<id>`)
 * or a bare one, lowercased; undefined when it is not a whole ID.
 */
export function normalizeContainerId(id: string): string | undefined {
  const bare = id.trim().toLowerCase().replace(RUNTIME_SCHEME, '');
  return FULL_ID.test(bare) ? bare : undefined;
}

// e.g. `9:name=systemd:/podflame-test/0c1d…` or `0::/kubepods.slice/kubepods-pod….slice/cri-containerd-….scope`
const CGROUP_LINE = /^(\d+):([^:]*):(.*)$/;

/** The lines of a /proc/<pid>/cgroup text; malformed lines are skipped. */
export function parseProcCgroup(text: string): CgroupLine[] {
  const lines: CgroupLine[] = [];
  for (const raw of text.split('\n')) {
    const m = CGROUP_LINE.exec(raw.trim());
    if (!m) continue;
    lines.push({ hierarchy: Number(m[1]), controllers: m[2] as string, path: m[3] as string });
  }
  return lines;
}

/** Container IDs named by the segments of one cgroup path, outermost first (a kind node's, then its pod's). */
export function containerIdsInPath(path: string): string[] {
  const ids: string[] = [];
  for (const segment of path.split('/')) {
    for (const shape of SEGMENT_ID) {
      const m = shape.exec(segment);
      if (m) {
        if (!ids.includes(m[1] as string)) ids.push(m[1] as string);
        break;
      }
    }
  }
  return ids;
}

/**
 * The container a process runs in: the innermost container ID named in its cgroup paths (for a process of a pod
 * inside a kind node container, the pod's container, not the node's). Undefined for processes outside containers.
 */
export function containerIdOfCgroup(text: string): string | undefined {
  let best: string | undefined;
  let bestDepth = -1;
  for (const line of parseProcCgroup(text)) {
    const ids = containerIdsInPath(line.path);
    if (ids.length > bestDepth && ids.length > 0) {
      best = ids[ids.length - 1];
      bestDepth = ids.length;
    }
  }
  return best;
}

/** Every container ID named in the process's cgroup paths (nested containers name more than one). */
export function containerIdsOfCgroup(text: string): string[] {
  const ids = new Set<string>();
  for (const line of parseProcCgroup(text)) for (const id of containerIdsInPath(line.path)) ids.add(id);
  return [...ids].sort();
}

/**
 * True when the process whose /proc/<pid>/cgroup text this is runs in the container (given as the Kubernetes API
 * reports it, or bare), or in a container nested inside it. False for an ID that is not 64 hex digits: a prefix is
 * resolved to a whole ID first (by listing), never matched here.
 */
export function cgroupBelongsTo(text: string, containerId: string): boolean {
  const id = normalizeContainerId(containerId);
  if (id === undefined) return false;
  return containerIdsOfCgroup(text).includes(id);
}

/** The Kubernetes pod UID in the process's cgroup paths (kubelet's `pod<uid>` names), dashed; else undefined. */
export function podUidOfCgroup(text: string): string | undefined {
  for (const line of parseProcCgroup(text)) {
    const m = POD_UID.exec(line.path);
    if (m) {
      const uid = (m[1] as string).replace(/_/g, '-');
      return uid;
    }
  }
  return undefined;
}
