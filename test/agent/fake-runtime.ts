/**
 * An in-memory ContainerRuntime for the agent's unit tests of logic that needs no engine: target resolution rules,
 * admission limits, request handling before a capture starts. Its captures produce no output: they run until
 * aborted (or until `finish` is called), so tests can hold them open. Everything about real captures is tested
 * against the Docker engine in the e2e files.
 */
import { PassThrough } from 'node:stream';
import {
  CAPTURE_LABELS,
  matchesPodFilter,
  podFromKubeletLabels,
  type CaptureExit,
  type CaptureSpec,
  type ContainerFilter,
  type ContainerInfo,
  type ContainerRuntime,
  type RunningCapture,
  type RuntimeReadiness,
} from '../../agent/runtime/container-runtime.js';
import { engineLostCapture, engineReadiness } from '../../agent/runtime/docker-runtime.js';
import { PodflameError } from '../../shared/errors.js';

export interface FakeCapture {
  spec: CaptureSpec;
  signal: AbortSignal;
  stdout: PassThrough;
  /** Ends the capture with this exit code (after writing `output` to stdout: perf script, or a JFR recording). */
  finish(exit: Partial<CaptureExit> & { output?: string | Buffer }): void;
}

/** A container as the Docker engine lists it: its pod and whether it is a capture are read from its labels. */
export type LabelledContainer = Omit<ContainerInfo, 'pod' | 'capture'>;

/** What the Docker runtime makes of a labelled container (kubelet's labels, podflame's capture label). */
export function fromLabels(c: LabelledContainer): ContainerInfo {
  const pod = podFromKubeletLabels(c.labels);
  return { ...c, ...(pod ? { pod } : {}), capture: c.labels[CAPTURE_LABELS.owner] !== undefined };
}

export class FakeRuntime implements ContainerRuntime {
  containers: LabelledContainer[] = [];
  processes = new Map<string, string[]>();
  captures: FakeCapture[] = [];
  /** Every runCapture call, including refused ones. */
  runCaptureCalls = 0;
  pingError: Error | undefined;
  images = new Set<string>();
  leftovers = 0;
  removeLeftoverCalls: string[] = [];
  /** Every container whose processes were listed, in call order. */
  listProcessesCalls: string[] = [];
  /** Concurrency seen by listProcesses (max at once). */
  listProcessesMaxConcurrent = 0;
  #listProcessesNow = 0;
  closed = false;

  async ping(): Promise<void> {
    if (this.pingError) throw new PodflameError('DOCKER_UNAVAILABLE', this.pingError.message);
  }

  /** The capture image these tests configure (testConfig's default). */
  captureImage = 'podflame-perf:latest';

  async toolsPresent(): Promise<boolean> {
    return this.images.has(this.captureImage);
  }

  // As the Docker engine answers them: the fake stands in for it.
  readiness(signal: AbortSignal): Promise<RuntimeReadiness> {
    return engineReadiness(this, this.captureImage, signal);
  }

  notFoundHint(): string {
    return '';
  }

  lostTarget(exit: CaptureExit, title: string): Promise<PodflameError | undefined> {
    return engineLostCapture(this, exit, title);
  }

  async listContainers(filter: ContainerFilter & { labels?: Record<string, string> } = {}): Promise<ContainerInfo[]> {
    return this.containers
      .map(fromLabels)
      .filter(
        (c) =>
          (filter.all === true || c.state === 'running') &&
          matchesPodFilter(c, filter) &&
          Object.entries(filter.labels ?? {}).every(([k, v]) => c.labels[k] === v),
      );
  }

  async inspectContainer(id: string): Promise<ContainerInfo & { pid: number; running: boolean }> {
    const c = this.containers.find((x) => x.id === id);
    if (!c) throw new PodflameError('TARGET_NOT_FOUND', `no container ${id}`);
    return { ...fromLabels(c), pid: 1000, running: c.state === 'running' };
  }

  async listProcesses(id: string): Promise<string[]> {
    this.listProcessesCalls.push(id);
    this.#listProcessesNow++;
    this.listProcessesMaxConcurrent = Math.max(this.listProcessesMaxConcurrent, this.#listProcessesNow);
    await new Promise((r) => setTimeout(r, 5));
    this.#listProcessesNow--;
    const p = this.processes.get(id);
    if (!p) throw new PodflameError('TARGET_NOT_RUNNING', `container ${id} is gone`);
    return p;
  }

  async runCapture(spec: CaptureSpec, signal: AbortSignal): Promise<RunningCapture> {
    this.runCaptureCalls++;
    const stdout = new PassThrough();
    let settle!: (exit: CaptureExit) => void;
    let fail!: (err: unknown) => void;
    const done = new Promise<CaptureExit>((resolve, reject) => {
      settle = resolve;
      fail = reject;
    });
    const capture: FakeCapture = {
      spec,
      signal,
      stdout,
      finish: ({ output, exitCode, stderrTail, timings }) => {
        if (output !== undefined) stdout.write(output);
        stdout.end();
        settle({ exitCode: exitCode ?? 0, stderrTail: stderrTail ?? '', ...(timings ? { timings } : {}) });
      },
    };
    signal.addEventListener(
      'abort',
      () => {
        stdout.destroy();
        fail(new PodflameError('CAPTURE_ABORTED', 'capture aborted'));
      },
      { once: true },
    );
    this.captures.push(capture);
    return { stdout, warnings: [], done };
  }

  async removeLeftoverCaptures(currentInstance: string): Promise<number> {
    this.removeLeftoverCalls.push(currentInstance);
    return this.leftovers;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** A container as kubelet would label it. */
export function podContainer(
  id: string,
  pod: { uid: string; name: string; namespace: string },
  containerName: string,
  state = 'running',
): LabelledContainer {
  return {
    id,
    name: `k8s_${containerName}_${pod.name}_${pod.namespace}_${pod.uid}_0`,
    image: 'app:1',
    state,
    labels: {
      'io.kubernetes.pod.uid': pod.uid,
      'io.kubernetes.pod.name': pod.name,
      'io.kubernetes.pod.namespace': pod.namespace,
      'io.kubernetes.container.name': containerName,
      'io.kubernetes.docker.type': 'container',
    },
  };
}

export function sandboxContainer(id: string, pod: { uid: string; name: string; namespace: string }): LabelledContainer {
  return {
    id,
    name: `k8s_POD_${pod.name}_${pod.namespace}_${pod.uid}_0`,
    image: 'pause:3.9',
    state: 'running',
    labels: {
      'io.kubernetes.pod.uid': pod.uid,
      'io.kubernetes.pod.name': pod.name,
      'io.kubernetes.pod.namespace': pod.namespace,
      'io.kubernetes.container.name': 'POD',
      'io.kubernetes.docker.type': 'podsandbox',
    },
  };
}

/** A 64-hex-digit container ID from a short seed (repeated), e.g. hexId('ab') → 'abab…'. */
export function hexId(seed: string): string {
  return seed.repeat(Math.ceil(64 / seed.length)).slice(0, 64);
}
