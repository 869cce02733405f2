/**
 * Which container a process belongs to, read from the text of `/proc/<pid>/cgroup` alone (pure: no process access).
 * Container runtimes name the container's cgroup after its full 64-hex-digit ID, in one of a few shapes depending
 * on the runtime, the cgroup driver (cgroupfs or systemd) and the cgroup version; see test/fixtures/cgroup/ for real
 * samples of each. Only whole path segments naming a whole ID count, so a prefix of a longer ID never matches.
 *
 * Paths are read below the node's own root cgroup (NodeCgroupRoot: where the node's init runs), so that a node that
 * is itself a container sharing its host's cgroup tree (kind, minikube: `/docker/<node>/kubepods/…/<id>`) finds its
 * pods' containers rather than itself.
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

/**
 * The node's own root cgroup, per hierarchy ID: the cgroup of the node's init (PID 1 of the agent's PID namespace,
 * which is the node's under `hostPID`), less systemd's `init.scope`, where systemd moves itself below its root. On a
 * plain node every entry is `/`; in a kind or minikube node without a cgroup namespace it is `/docker/<node>` (the
 * node container's cgroup). Only the node's root user can move its init, and no container can name it (a container
 * has its own PID namespace), so a container cannot choose this root.
 */
export type NodeCgroupRoot = ReadonlyMap<number, string>;

/** No root below `/`: every path is read whole (a plain node, or PID 1's cgroup unknown). */
export const WHOLE_TREE: NodeCgroupRoot = new Map();

const SYSTEMD_INIT_SCOPE = '/init.scope';

/**
 * The node's root cgroup from the /proc/1/cgroup text of its init, e.g. `9:name=systemd:/docker/<node>/init.scope`
 * and `4:memory:/docker/<node>` (kind on cgroup v1), `0::/init.scope` (a plain systemd node on v2).
 */
export function nodeCgroupRoot(initCgroupText: string): NodeCgroupRoot {
  const roots = new Map<number, string>();
  for (const line of parseProcCgroup(initCgroupText)) {
    const path = line.path.endsWith(SYSTEMD_INIT_SCOPE)
      ? line.path.slice(0, -SYSTEMD_INIT_SCOPE.length)
      : line.path.replace(/\/+$/, '');
    roots.set(line.hierarchy, path === '' ? '/' : path);
  }
  return roots;
}

/**
 * The part of a process's path below the node's root in the same hierarchy (`/docker/<node>/kubepods/…` → `/kubepods/…`
 * in a kind node), so the outermost container named is one the node's own runtime made. A path not below the root
 * is kept whole, as without a root.
 */
function pathBelowNodeRoot(line: CgroupLine, root: NodeCgroupRoot): string {
  const base = root.get(line.hierarchy);
  if (base === undefined || base === '/') return line.path;
  if (line.path === base) return '/';
  return line.path.startsWith(`${base}/`) ? line.path.slice(base.length) : line.path;
}

/**
 * Container runtimes' own systemd services, below which a runtime (not a user) puts containers: with the systemd
 * driver on cgroup v1, the hierarchies systemd does not manage keep containerd's cgroupsPath literally below the
 * runtime's own cgroup (`/system.slice/containerd.service/kubepods-…slice:cri-containerd:<id>`, see
 * containerd-systemd-v1.txt). Only the node's root user runs these services or moves processes into them.
 */
const RUNTIME_SERVICES: ReadonlySet<string> = new Set(['containerd.service', 'docker.service', 'crio.service']);

// systemd's tree of a user's login sessions and their user manager: `user.slice`, `user-1000.slice`.
const USER_SLICE = /^user(?:-\d+)?\.slice$/;

/**
 * True for a segment whose subtree a container runtime did not make and an unprivileged owner may write: a user's
 * slice, or a systemd unit (`*.service`, `*.scope`) other than the runtimes' own services. systemd hands a unit's
 * subtree to its owner with `Delegate=yes` (`user@1000.service` always: the user creates any cgroup below it and
 * moves their own processes there, e.g. `…/user@1000.service/kubepods/burstable/pod<uid>/<id>`), and only units
 * can be delegated. Every layout the runtimes make reaches a container's segment through slices and plain
 * directories only (`kubepods.slice/…`, `kubepods/…`, `docker/`, `system.slice/`, ctr's `<namespace>/`) or through
 * RUNTIME_SERVICES; the container's own scope (`docker-<id>.scope`) names it and is read before this.
 */
function isDelegationBoundary(segment: string): boolean {
  if (USER_SLICE.test(segment)) return true;
  if (segment.endsWith('.service')) return !RUNTIME_SERVICES.has(segment);
  return segment.endsWith('.scope');
}

/** The part of a path above its first delegation boundary (isDelegationBoundary): what root made. */
function pathAboveDelegation(path: string): string {
  const segments = path.split('/');
  const boundary = segments.findIndex(isDelegationBoundary);
  return boundary < 0 ? path : segments.slice(0, boundary).join('/');
}

/** The container ID a single path segment names (one of SEGMENT_ID's shapes), or undefined. */
function segmentContainerId(segment: string): string | undefined {
  for (const shape of SEGMENT_ID) {
    const m = shape.exec(segment);
    if (m) return m[1] as string;
  }
  return undefined;
}

/** Where in a cgroup path its outermost container's segment is: the container, and that segment's index. */
interface ContainerSegment {
  link: ContainerLink;
  /** Index of the container's segment in the path's `/`-separated segments. */
  index: number;
  /** How many segments the path has: `index + 1` when the process is in the container's own cgroup. */
  length: number;
}

/**
 * The outermost container one cgroup path names, with the pod UID kubelet's segments above it name; undefined when
 * none. Outermost, because a container owns the subtree under its own cgroup, and one that can write its cgroupfs
 * can create any name there: a child named after another container's ID, even a whole fake kubelet tree
 * (`/docker/<A>/kubepods/pod<uid>/<B>`). Only the segments above a container's own were made by the runtime.
 * For the same reason nothing below a delegation boundary counts (isDelegationBoundary: a user's slice, a unit
 * other than a runtime's own service): there the unit's owner, not a runtime, chose the names, so a node user's
 * `…/user@1000.service/kubepods/burstable/pod<uid>/<id>` names no container.
 */
function outermostContainerSegment(path: string): ContainerSegment | undefined {
  const segments = path.split('/');
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string;
    const id = segmentContainerId(segment);
    if (id === undefined) {
      if (isDelegationBoundary(segment)) return undefined;
      continue;
    }
    const link: ContainerLink = { id };
    const podUid = podUidOfSegments(segments.slice(0, i + 1));
    if (podUid !== undefined) link.podUid = podUid;
    return { link, index: i, length: segments.length };
  }
  return undefined;
}

/** The outermost container one cgroup path names (outermostContainerSegment), with its pod; undefined when none. */
function outermostContainerOfPath(path: string): ContainerLink | undefined {
  return outermostContainerSegment(path)?.link;
}

/** The pod UID named by kubelet's segments above a container (and in its own, systemd v1), dashed. */
function podUidOfSegments(segments: readonly string[]): string | undefined {
  const m = POD_UID.exec(segments.join('/'));
  return m ? (m[1] as string).replace(/_/g, '-') : undefined;
}

/**
 * The container a process runs in, with its pod: the outermost container its cgroup paths name (see
 * outermostContainerOfPath). Lines that name no container (`0::/` beside v1 hierarchies) are skipped. When its
 * lines disagree on that container — each v1 hierarchy places a process on its own, and the runtime puts a
 * container's processes in the same container in all — the process counts for no container; likewise for the pod
 * UID, which then is left out. Undefined outside containers.
 *
 * Paths are read below the node's root (`root`, nodeCgroupRoot): inside a kind or minikube node without a cgroup
 * namespace (`/docker/<node>/kubepods/…/<id>`) the outermost container below the node's root is the pod's, while a
 * fake kubelet tree a container made under itself (`…/<A>/kubepods/pod<uid>/<B>`) still leaves its processes in A,
 * on a plain node and inside a kind node alike. Without a root (WHOLE_TREE), such a pod counts as the node container.
 */
export function containerOfCgroup(text: string, root: NodeCgroupRoot = WHOLE_TREE): ContainerLink | undefined {
  let found: ContainerLink | undefined;
  let podsDisagree = false;
  for (const line of parseProcCgroup(text)) {
    const link = outermostContainerOfPath(pathBelowNodeRoot(line, root));
    if (link === undefined) continue;
    if (found === undefined) {
      found = link;
      continue;
    }
    if (link.id !== found.id) return undefined;
    if (link.podUid !== undefined && found.podUid !== undefined && link.podUid !== found.podUid) podsDisagree = true;
    if (found.podUid === undefined && link.podUid !== undefined) found = link;
  }
  if (found === undefined || !podsDisagree) return found;
  return { id: found.id };
}

/** The container a process runs in (containerOfCgroup), by ID; undefined outside containers. */
export function containerIdOfCgroup(text: string, root: NodeCgroupRoot = WHOLE_TREE): string | undefined {
  return containerOfCgroup(text, root)?.id;
}

/** The outermost container ID of each of the process's cgroup paths, sorted (more than one: the lines disagree). */
export function containerIdsOfCgroup(text: string, root: NodeCgroupRoot = WHOLE_TREE): string[] {
  const ids = new Set<string>();
  for (const line of parseProcCgroup(text)) {
    const link = outermostContainerOfPath(pathBelowNodeRoot(line, root));
    if (link !== undefined) ids.add(link.id);
  }
  return [...ids].sort();
}

/**
 * True when the process whose /proc/<pid>/cgroup text this is runs in the container (given as the Kubernetes API
 * reports it, or bare): containerOfCgroup's. False for an ID that is not 64 hex digits: a prefix is resolved to a
 * whole ID first (by listing), never matched here.
 */
export function cgroupBelongsTo(text: string, containerId: string, root: NodeCgroupRoot = WHOLE_TREE): boolean {
  const id = normalizeContainerId(containerId);
  return id !== undefined && containerIdOfCgroup(text, root) === id;
}

/**
 * True when the process is in its container's own cgroup (containerOfCgroup's) in every hierarchy that names it,
 * not in a child cgroup below it: where the runtime started the container's init. A container's processes can move
 * themselves only further down, into cgroups they made below their container's own.
 */
export function inContainerOwnCgroup(text: string, root: NodeCgroupRoot = WHOLE_TREE): boolean {
  const owner = containerOfCgroup(text, root);
  if (owner === undefined) return false;
  for (const line of parseProcCgroup(text)) {
    const found = outermostContainerSegment(pathBelowNodeRoot(line, root));
    if (found !== undefined && found.length !== found.index + 1) return false;
  }
  return true;
}

/**
 * The Kubernetes pod UID of the process, dashed: its container's (containerOfCgroup); for a process in no container
 * at all (CRI-O's conmon in the pod's cgroup), the first `pod<uid>` its paths name above any delegation boundary.
 * Else undefined.
 */
export function podUidOfCgroup(text: string, root: NodeCgroupRoot = WHOLE_TREE): string | undefined {
  if (containerIdsOfCgroup(text, root).length > 0) return containerOfCgroup(text, root)?.podUid;
  for (const line of parseProcCgroup(text)) {
    const m = POD_UID.exec(pathAboveDelegation(pathBelowNodeRoot(line, root)));
    if (m) return (m[1] as string).replace(/_/g, '-');
  }
  return undefined;
}
