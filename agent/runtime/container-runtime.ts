/**
 * What the agent needs from a container engine, declared narrowly so the HTTP layer never sees dockerode and a
 * second implementation (host mode, for containerd/CRI-O nodes) can sit behind the same interface.
 */
import type { Readable } from 'node:stream';
import type { CaptureWarning } from '../../shared/api.js';
import type { PodflameError } from '../../shared/errors.js';
import { DEFAULT_PROFILE_EVENT, type ProfileEvent } from '../../shared/profile-events.js';

/** kubelet's labels on Docker containers (dockershim / cri-dockerd). */
export const KUBE_LABELS = {
  podUid: 'io.kubernetes.pod.uid',
  podName: 'io.kubernetes.pod.name',
  namespace: 'io.kubernetes.pod.namespace',
  containerName: 'io.kubernetes.container.name',
  dockerType: 'io.kubernetes.docker.type',
} as const;

/** Labels on podflame's own capture containers, so leftovers can be found and removed. */
export const CAPTURE_LABELS = {
  owner: 'io.podflame.capture',
  target: 'io.podflame.target',
  agentInstance: 'io.podflame.agent-instance',
} as const;

/** The pod a container belongs to, in the runtime's own terms turned into Kubernetes ones. */
export interface ContainerPod {
  uid: string;
  /** Absent when the runtime knows only the pod's UID (host mode without the Kubernetes API). */
  name?: string;
  namespace?: string;
  /** The container's name in the pod's spec. */
  container?: string;
  /** The pod's sandbox (pause) container, which runs no workload: never a target. */
  sandbox: boolean;
}

export interface ContainerInfo {
  id: string;
  /** The runtime's name for it (Docker's without the leading slash; host mode: the ID's first 12 digits). */
  name: string;
  image: string;
  /** running, exited, created, paused, ... (host mode finds running containers only) */
  state: string;
  /** Absent for a container that is not a pod's (a plain `docker run`, or a pod host mode cannot place). */
  pod?: ContainerPod;
  /** One of podflame's own capture containers: never a target. */
  capture: boolean;
  /** The engine's own labels (Docker's; none in host mode). Pod facts are read from `pod`, not from these. */
  labels: Record<string, string>;
}

/** Which containers `listContainers` returns; every field given must hold. */
export interface ContainerFilter {
  /** Stopped containers too. Default false. */
  all?: boolean;
  podUid?: string;
  namespace?: string;
}

/** The pod kubelet's Docker labels (dockershim, cri-dockerd) describe, if they describe one. */
export function podFromKubeletLabels(labels: Readonly<Record<string, string>>): ContainerPod | undefined {
  const uid = labels[KUBE_LABELS.podUid];
  if (uid === undefined) return undefined;
  const name = labels[KUBE_LABELS.podName];
  const namespace = labels[KUBE_LABELS.namespace];
  const container = labels[KUBE_LABELS.containerName];
  return {
    uid,
    ...(name !== undefined ? { name } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
    ...(container !== undefined ? { container } : {}),
    sandbox: labels[KUBE_LABELS.dockerType] === 'podsandbox',
  };
}

/** Whether a container passes a filter's pod conditions (`all` is the runtime's to apply). */
export function matchesPodFilter(c: ContainerInfo, filter: ContainerFilter): boolean {
  if (filter.podUid !== undefined && c.pod?.uid !== filter.podUid) return false;
  if (filter.namespace !== undefined && c.pod?.namespace !== filter.namespace) return false;
  return true;
}

export interface CaptureSpec {
  /** Full ID of the running target container whose PID namespace the capture joins. */
  targetContainerId: string;
  durationSeconds: number;
  frequencyHz: number;
  /**
   * Load podflame's JVMTI agent into the target's JVMs so that their perf maps name inlined methods (`a->b->c`
   * chains, outermost first); the capture script reads it as `PODFLAME_JAVA_INLINED=1`. Absent: false (the
   * test doubles and captures written before it).
   */
  javaInlined?: boolean;
  /** What to record (`PODFLAME_EVENT`): perf's cpu samples, or a JVM Flight Recorder event. Absent: cpu. */
  event?: ProfileEvent;
  /** Set by the agent per process, to tell its own leftovers from another agent's. */
  agentInstance: string;
}

/** Environment variables of the capture script (agent/capture/podflame-capture.sh) that carry a CaptureSpec's options. */
export const CAPTURE_SCRIPT_ENV = {
  /** `1`: load the JVMTI agent and write inline chains into the perf maps; `0` or absent: off. */
  javaInlined: 'PODFLAME_JAVA_INLINED',
  /** `cpu` (perf), or `alloc`, `lock`, `wall` (Flight Recorder; stdout then carries the recordings). */
  event: 'PODFLAME_EVENT',
} as const;

/** The capture script's exit code when no JVM of the target can record the Flight Recorder event asked for. */
export const EVENT_UNSUPPORTED_EXIT = 6;

/**
 * The capture script's environment for one spec, the same on both paths (a capture container's Env, host mode's
 * child process). Every variable is set, off as `0`, so the script never falls back on a value from elsewhere.
 */
export function captureScriptEnv(spec: CaptureSpec): Record<string, string> {
  return {
    [CAPTURE_SCRIPT_ENV.javaInlined]: (spec.javaInlined ?? false) ? '1' : '0',
    [CAPTURE_SCRIPT_ENV.event]: spec.event ?? DEFAULT_PROFILE_EVENT,
  };
}

export interface RunningCapture {
  /** `perf script` text, streamed as the capture container writes it. */
  stdout: Readable;
  /** Warnings the capture script reported (JSON lines on its stderr), filled in as they arrive. */
  warnings: CaptureWarning[];
  /** Resolves when the capture container has exited and been removed. */
  done: Promise<CaptureExit>;
}

export interface CaptureExit {
  exitCode: number;
  /** The capture script's stderr lines that were not warnings (perf's own messages), for error reports. */
  stderrTail: string;
  /**
   * Where the time went inside the capture container, in ms, as the capture script measured it: `checks` (finding
   * processes, JVM checks), `perf-start`, `recording`, `perf-stop`, `maps` (jattach Compiler.perfmap), `script`
   * (perf script), and `segments` (a count: perf restarts after recorded threads exited). Absent if it failed early.
   */
  timings?: Record<string, number>;
  /** Set when the capture container could not be removed afterwards (the profile itself is complete). */
  removeError?: string;
}

/** Which capture path a runtime is: the Docker engine's capture containers, or host mode (/proc and cgroups). */
export type RuntimeKind = 'docker' | 'host';

/** What `/readyz` reports of a runtime, in its own terms. */
export interface RuntimeReadiness {
  runtime: RuntimeKind;
  /** Each check by name (`docker`, `captureImage`; `hostProc`, `captureTools`, `podNames`): `ok` or what is wrong. */
  checks: Record<string, string>;
  /** Why the agent is not ready, one sentence each; empty when it is. */
  reasons: string[];
  /** Runtime calls that failed while checking (for podflame_runtime_errors_total), e.g. `ping`. */
  failedOperations: string[];
}

export interface ContainerRuntime {
  /** Absent: `docker` (the first implementation, and the test doubles written for it). */
  readonly kind?: RuntimeKind;
  /** Whether captures can run: the engine answers and the capture image is there, /proc and the tools are, ... */
  readiness(signal: AbortSignal): Promise<RuntimeReadiness>;
  /**
   * Said after "pod X has no container 'NAME'" when this runtime may simply not know the container's pod (host mode
   * learns pods from the Kubernetes API); `''` when its answer is complete.
   */
  notFoundHint(containerName: string): string;
  /**
   * After a capture ended with a non-zero exit: the runtime's own failure that ended it, if that is what happened
   * (the Docker engine stopping with the capture container), else undefined: the capture's own failure.
   */
  lostTarget(exit: CaptureExit, targetTitle: string): Promise<PodflameError | undefined>;
  /** Throws DOCKER_UNAVAILABLE / HOST_PROC_UNAVAILABLE when the runtime cannot be used. */
  ping(signal?: AbortSignal): Promise<void>;
  /** The capture tools are there: the capture image (Docker), the capture script and native parts (host mode). */
  toolsPresent(): Promise<boolean>;
  listContainers(filter?: ContainerFilter): Promise<ContainerInfo[]>;
  inspectContainer(id: string): Promise<ContainerInfo & { pid: number; running: boolean }>;
  /** Process command lines inside a running container (for spotting JVMs). */
  listProcesses(id: string): Promise<string[]>;
  /**
   * Starts a capture container joined to the target's PID namespace. Aborting the signal stops and removes it
   * (within 2 s); `done` rejects with CAPTURE_ABORTED then.
   */
  runCapture(spec: CaptureSpec, signal: AbortSignal): Promise<RunningCapture>;
  /** Removes capture containers left by earlier agent processes; returns how many. */
  removeLeftoverCaptures(currentInstance: string): Promise<number>;
  close(): Promise<void>;
}
