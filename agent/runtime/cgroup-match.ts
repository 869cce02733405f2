/**
 * Which container a process belongs to, read from the text of `/proc/<pid>/cgroup` alone (pure: no process access).
 * Container runtimes name the container's cgroup after its full 64-hex-digit ID, in one of a few shapes depending
 * on the runtime, the cgroup driver (cgroupfs or systemd) and the cgroup version; see test/fixtures/cgroup/ for real
 * samples of each. Only whole path segments naming a whole ID count, so a prefix of a longer ID never matches.
 */

/** A container a process is in, as its cgroup path names it, with the pod kubelet put it in. */
export interface ContainerLink {
  /** Full container ID (64 hex digits). */
  id: string;
  /** Kubernetes pod UID, dashed, when kubelet's segments above the container's name one. */
  podUid?: string;
}

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

/** The container ID a single path segment names (one of SEGMENT_ID's shapes), or undefined. */
function segmentContainerId(segment: string): string | undefined {
  for (const shape of SEGMENT_ID) {
    const m = shape.exec(segment);
    if (m) return m[1] as string;
  }
  return undefined;
}

// kubelet's pod cgroup (`pod<uid>`, `kubepods-burstable-pod<uid>.slice`, or the systemd v1 form that also holds the
// container, `kubepods-…-pod<uid>.slice:cri-containerd:<id>`) and the root of kubelet's tree (`kubepods`,
// `kubepods.slice`, `kubelet.slice`, kind's `kubelet-kubepods.slice`).
const POD_SEGMENT =
  /(?:^|-)pod(?:[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32})(?:\.slice|$|\.slice:)/;
const KUBELET_ROOT = /^(?:kubepods|kubelet)(?:\.slice)?$/;

/**
 * Container IDs of one cgroup path that the container runtimes made, outermost first. A container owns the subtree
 * under its own cgroup, and one that can write its cgroupfs can create any name there, e.g. a child named after
 * another container's ID. So, below the first container segment, a deeper ID counts only where a nested kubelet put
 * it (a kind or minikube node container: `<node id>/kubepods…/…pod<uid>…/<id>`): its segment sits directly under a
 * pod segment, and the segment right after the enclosing container's is kubelet's root. Any other ID-shaped name
 * below a container (`/docker/<A>/<B>`) is only a sub-cgroup of that container, and the process stays in it.
 * What a path alone cannot tell (a container that fakes a whole kubelet tree under itself) the scan settles:
 * see containerOfChains.
 */
export function containerChainOfPath(path: string): ContainerLink[] {
  const segments = path.split('/');
  const chain: ContainerLink[] = [];
  let enclosing = -1; // index of the innermost accepted container segment
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string;
    const id = segmentContainerId(segment);
    if (id === undefined || chain.some((c) => c.id === id)) continue;
    // The systemd v1 form names the pod and the container in one segment.
    const podParent = POD_SEGMENT.test(segments[i - 1] ?? '') || POD_SEGMENT.test(segment);
    const nestedKubelet = KUBELET_ROOT.test(segments[enclosing + 1] ?? '');
    if (enclosing >= 0 && !(podParent && nestedKubelet)) continue;
    const link: ContainerLink = { id };
    const podUid = podUidOfSegments(segments.slice(enclosing + 1, i + 1));
    if (podUid !== undefined) link.podUid = podUid;
    chain.push(link);
    enclosing = i;
  }
  return chain;
}

/** The pod UID named by kubelet's segments between a container and the one enclosing it, dashed. */
function podUidOfSegments(segments: readonly string[]): string | undefined {
  const m = POD_UID.exec(segments.join('/'));
  return m ? (m[1] as string).replace(/_/g, '-') : undefined;
}

/** Container IDs of one cgroup path that the container runtimes made, outermost first (see containerChainOfPath). */
export function containerIdsInPath(path: string): string[] {
  return containerChainOfPath(path).map((c) => c.id);
}

/**
 * The containers a process is in, outermost first: the longest chain among its cgroup paths (for a process of a pod
 * inside a kind node container, the node's, then the pod's). Empty for processes outside containers.
 */
export function containerChainOfCgroup(text: string): ContainerLink[] {
  let best: ContainerLink[] = [];
  for (const line of parseProcCgroup(text)) {
    const chain = containerChainOfPath(line.path);
    if (chain.length > best.length) best = chain;
  }
  return best;
}

/**
 * The container a process runs in: the innermost of its chain (for a process of a pod inside a kind node container,
 * the pod's container, not the node's). Undefined for processes outside containers.
 */
export function containerIdOfCgroup(text: string): string | undefined {
  return containerChainOfCgroup(text).at(-1)?.id;
}

/**
 * Settles, over every process of a scan, which container each is in (index for index; undefined outside
 * containers). A container's own cgroup is the one its runtime made, and that is the shallowest place its ID appears
 * on the node: an ID that some process shows nested deeper, inside another container's subtree, is a name that
 * container gave a sub-cgroup of its own (a fake kubelet tree under itself), so that process stays in the enclosing
 * container. Real nested containers (kind) appear only nested, since nothing outside their node names them.
 */
export function containerOfChains(chains: readonly (readonly ContainerLink[])[]): (ContainerLink | undefined)[] {
  const shallowest = new Map<string, number>();
  for (const chain of chains) {
    chain.forEach((link, depth) => {
      const seen = shallowest.get(link.id);
      if (seen === undefined || depth < seen) shallowest.set(link.id, depth);
    });
  }
  return chains.map((chain) => {
    for (let depth = chain.length - 1; depth >= 0; depth--) {
      const link = chain[depth] as ContainerLink;
      if (shallowest.get(link.id) === depth) return link;
    }
    return undefined;
  });
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
