/**
 * ContainerRuntime on the Docker Engine API (dockerode). A capture is a short-lived container of the capture image
 * (from the agent's configuration, never from a request) that joins the target's PID namespace, with the least
 * privilege perf and jattach need (CAPTURE_CAPABILITIES, every other capability dropped), the engine's default
 * seccomp profile, no-new-privileges, a read-only
 * root with a size-limited tmpfs /tmp, never Privileged, no network, memory/CPU/PID limits, no log file, removed
 * when done. docs/security.md has the measured table of what breaks without each.
 */
import type Docker from 'dockerode';
import { PassThrough, type Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import {
  CAPTURE_LABELS,
  captureScriptEnv,
  KUBE_LABELS,
  podFromKubeletLabels,
  type CaptureExit,
  type CaptureSpec,
  type ContainerFilter,
  type ContainerInfo,
  type ContainerRuntime,
  type RunningCapture,
  type RuntimeReadiness,
} from './container-runtime.js';
import { CaptureStderr } from './capture-warnings.js';
import { demuxDockerStream } from './docker-stream.js';
import { loadDockerode } from './dockerode-loader.js';
import { dockerUnavailable, engineMessage, fromDockerError, httpStatusOf, isConnectionError } from './docker-errors.js';
import { PodflameError } from '../../shared/errors.js';
import { LIMITS } from '../../shared/api.js';

/** How long an aborted capture's script gets after SIGTERM to stop what it started in the target. */
const ABORT_GRACE_SECONDS = 3;

export interface DockerRuntimeOptions {
  /** The capture image (e.g. `podflame-perf:0.1.0`); required, from the agent's configuration only. */
  captureImage: string;
  /** Docker engine socket. Default `/var/run/docker.sock`. */
  socketPath?: string;
  /** Memory limit of a capture container in bytes (perf script on a long capture needs some). Default 512 MiB. */
  captureMemoryBytes?: number;
  /**
   * Size of the tmpfs at /tmp of a capture container, its only writable place (perf's recordings, the copied JIT
   * maps); it counts against captureMemoryBytes, so it must be smaller. Default 256 MiB.
   */
  captureTmpBytes?: number;
  /** CPU limit of a capture container, in CPUs. Default 1. */
  captureCpus?: number;
  /** Process limit of a capture container. Default 256. */
  capturePidsLimit?: number;
  /**
   * Add CAP_SYSLOG, without which the kernel hides its symbol addresses from the container (perf_event_paranoid
   * above 1) and every kernel frame shows as `[unknown]`. CAP_SYS_ADMIN, which perf needs anyway, is far broader.
   * Default true.
   */
  kernelSymbols?: boolean;
  /** How long `ping` waits for the engine, in ms. Default 3000. */
  pingTimeoutMs?: number;
  /** How long removing a capture container may take before giving up on it, in ms. Default 10000. */
  removeTimeoutMs?: number;
  /** Bytes of the capture's non-warning stderr kept for error reports. Default 8192. */
  stderrTailBytes?: number;
  /**
   * Value of the `io.podflame.capture` label on this runtime's capture containers; removeLeftoverCaptures only
   * removes containers with the same value. One agent per node needs no other than the default; tests that share
   * an engine give each runtime its own, so that one agent's start-up does not remove another's captures.
   * Default `true`.
   */
  captureGroup?: string;
  /** A ready dockerode client (tests); by default one is made for `socketPath`. */
  docker?: Docker;
}

/**
 * Capabilities of a capture container, every other one dropped; measured by scripts/measure-capture-privileges.sh
 * (the table in docs/security.md). SYS_ADMIN: perf_event_open on another user's process above
 * perf_event_paranoid 2, and, with SYS_CHROOT, perf script's setns into the target's mount namespace, where it reads
 * libjvm's and libc's symbols (CAP_PERFMON covers the first only: without SYS_ADMIN every native frame is
 * [unknown], so PERFMON does not replace it). SYS_PTRACE: perf -p, jattach and /proc/PID/root on other users'
 * processes. SETUID, SETGID: jattach takes the JVM's uid and gid. DAC_READ_SEARCH: a non-root JVM's
 * /proc/PID/environ (JAVA_TOOL_OPTIONS may disable the attach mechanism). SYSLOG is added with kernelSymbols.
 */
export const CAPTURE_CAPABILITIES: readonly string[] = [
  'SYS_ADMIN',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SETUID',
  'SETGID',
  'DAC_READ_SEARCH',
];

export const DEFAULT_DOCKER_RUNTIME_OPTIONS = Object.freeze({
  socketPath: '/var/run/docker.sock',
  captureMemoryBytes: 512 * 1024 * 1024,
  captureTmpBytes: 256 * 1024 * 1024,
  captureCpus: 1,
  capturePidsLimit: 256,
  kernelSymbols: true,
  pingTimeoutMs: 3000,
  removeTimeoutMs: 10_000,
  stderrTailBytes: 8192,
  captureGroup: 'true',
});

type ResolvedOptions = Required<Omit<DockerRuntimeOptions, 'docker'>>;

// Docker image references: [registry[:port]/]path[:tag][@digest]; nothing that could be read as a flag or a path.
const IMAGE_REF = /^[a-z0-9][a-z0-9._\-/:@]{0,254}$/i;
const CONTAINER_ID = /^[0-9a-f]{12,64}$/;
const AGENT_INSTANCE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

function resolveOptions(options: DockerRuntimeOptions): ResolvedOptions {
  const d = DEFAULT_DOCKER_RUNTIME_OPTIONS;
  const o: ResolvedOptions = {
    captureImage: options.captureImage,
    socketPath: options.socketPath ?? d.socketPath,
    captureMemoryBytes: options.captureMemoryBytes ?? d.captureMemoryBytes,
    captureTmpBytes: options.captureTmpBytes ?? d.captureTmpBytes,
    captureCpus: options.captureCpus ?? d.captureCpus,
    capturePidsLimit: options.capturePidsLimit ?? d.capturePidsLimit,
    kernelSymbols: options.kernelSymbols ?? d.kernelSymbols,
    pingTimeoutMs: options.pingTimeoutMs ?? d.pingTimeoutMs,
    removeTimeoutMs: options.removeTimeoutMs ?? d.removeTimeoutMs,
    stderrTailBytes: options.stderrTailBytes ?? d.stderrTailBytes,
    captureGroup: options.captureGroup ?? d.captureGroup,
  };
  const invalid = (what: string): never => {
    throw new PodflameError('CONFIG_INVALID', `DockerRuntime: ${what}`);
  };
  if (typeof o.captureImage !== 'string' || !IMAGE_REF.test(o.captureImage)) {
    invalid(
      `captureImage must be an image reference such as podflame-perf:0.1.0, got ${JSON.stringify(o.captureImage)}`,
    );
  }
  if (o.socketPath === '') invalid('socketPath must not be empty');
  if (!AGENT_INSTANCE.test(o.captureGroup)) invalid(`captureGroup must be letters, digits, _ . - (up to 128)`);
  if (!Number.isSafeInteger(o.captureMemoryBytes) || o.captureMemoryBytes < 64 * 1024 * 1024) {
    invalid(`captureMemoryBytes must be a whole number of bytes of at least 64 MiB, got ${o.captureMemoryBytes}`);
  }
  if (
    !Number.isSafeInteger(o.captureTmpBytes) ||
    o.captureTmpBytes < 16 * 1024 * 1024 ||
    o.captureTmpBytes >= o.captureMemoryBytes
  ) {
    invalid(
      `captureTmpBytes must be a whole number of bytes from 16 MiB to less than captureMemoryBytes ` +
        `(${o.captureMemoryBytes}), got ${o.captureTmpBytes}`,
    );
  }
  if (!(o.captureCpus > 0 && o.captureCpus <= 64)) invalid(`captureCpus must be in (0, 64], got ${o.captureCpus}`);
  if (!Number.isSafeInteger(o.capturePidsLimit) || o.capturePidsLimit < 16) {
    invalid(`capturePidsLimit must be a whole number of at least 16, got ${o.capturePidsLimit}`);
  }
  for (const key of ['pingTimeoutMs', 'removeTimeoutMs', 'stderrTailBytes'] as const) {
    if (!Number.isSafeInteger(o[key]) || o[key] <= 0) invalid(`${key} must be a positive whole number, got ${o[key]}`);
  }
  return o;
}

function validateSpec(spec: CaptureSpec): void {
  const bad = (what: string): never => {
    throw new PodflameError('INVALID_REQUEST', `capture request: ${what}`);
  };
  if (!CONTAINER_ID.test(spec.targetContainerId)) bad(`targetContainerId must be 12 to 64 hex digits`);
  const { durationSeconds: d, frequencyHz: f } = spec;
  if (!Number.isInteger(d) || d < LIMITS.durationSeconds.min || d > LIMITS.durationSeconds.max) {
    bad(`durationSeconds must be a whole number from ${LIMITS.durationSeconds.min} to ${LIMITS.durationSeconds.max}`);
  }
  if (!Number.isInteger(f) || f < LIMITS.frequencyHz.min || f > LIMITS.frequencyHz.max) {
    bad(`frequencyHz must be a whole number from ${LIMITS.frequencyHz.min} to ${LIMITS.frequencyHz.max}`);
  }
  if (spec.javaInlined !== undefined && typeof spec.javaInlined !== 'boolean') bad('javaInlined must be true or false');
  if (!AGENT_INSTANCE.test(spec.agentInstance)) bad('agentInstance must be letters, digits, _ . - (up to 128)');
}

/** Docker's account of a container in the runtime's terms: the pod from kubelet's labels, captures from ours. */
function describeContainer(c: Pick<ContainerInfo, 'id' | 'name' | 'image' | 'state' | 'labels'>): ContainerInfo {
  const pod = podFromKubeletLabels(c.labels);
  return { ...c, ...(pod ? { pod } : {}), capture: c.labels[CAPTURE_LABELS.owner] !== undefined };
}

function toContainerInfo(c: Docker.ContainerInfo): ContainerInfo {
  return describeContainer({
    id: c.Id,
    name: (c.Names[0] ?? '').replace(/^\//, ''),
    image: c.Image,
    state: c.State,
    labels: c.Labels ?? {},
  });
}

/** After a capture container is killed from outside, how long to watch for the engine going away (dockerd stopping). */
const ENGINE_GONE_WINDOW_MS = 3_000;

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The Docker path's readiness: the engine answers (ping) and the capture image is present (toolsPresent). */
export async function engineReadiness(
  engine: Pick<ContainerRuntime, 'ping' | 'toolsPresent'>,
  image: string,
  signal: AbortSignal,
): Promise<RuntimeReadiness> {
  const reasons: string[] = [];
  const failedOperations: string[] = [];
  let docker = 'ok';
  let captureImage = 'ok';
  try {
    await engine.ping(signal);
  } catch (err) {
    docker = errorText(err);
    failedOperations.push('ping');
    reasons.push(`the Docker engine does not answer: ${docker}`);
  }
  if (docker === 'ok') {
    try {
      if (!(await engine.toolsPresent())) {
        captureImage = 'missing';
        reasons.push(
          `the capture image ${image} is not present: build it with ` +
            `docker build --network host -f Dockerfile.perf -t ${image} .`,
        );
      }
    } catch (err) {
      captureImage = errorText(err);
      failedOperations.push('toolsPresent');
      reasons.push(`the capture image ${image} could not be checked: ${captureImage}`);
    }
  } else {
    captureImage = 'unknown';
  }
  return { runtime: 'docker', checks: { docker, captureImage }, reasons, failedOperations };
}

/**
 * Exit 128+N: something outside the agent signalled the capture container. When that was dockerd shutting down (it
 * stops every container, then its API goes away), the engine is what failed: DOCKER_UNAVAILABLE (503), once the
 * engine stops answering within ENGINE_GONE_WINDOW_MS.
 */
export async function engineLostCapture(
  engine: Pick<ContainerRuntime, 'ping'>,
  exit: CaptureExit,
  targetTitle: string,
): Promise<PodflameError | undefined> {
  if (exit.exitCode <= 128) return undefined;
  let engineError: string | undefined;
  const deadline = performance.now() + ENGINE_GONE_WINDOW_MS;
  for (;;) {
    try {
      await engine.ping(AbortSignal.timeout(1_000));
    } catch (err) {
      engineError = errorText(err);
      break;
    }
    if (performance.now() >= deadline) return undefined;
    await new Promise((r) => setTimeout(r, 250));
  }
  return new PodflameError(
    'DOCKER_UNAVAILABLE',
    `the Docker engine stopped during the capture of ${targetTitle}, and stopped the capture with it ` +
      `(exit code ${exit.exitCode}); retry once it is back (GET /readyz): ${engineError}`,
    { details: { exitCode: exit.exitCode, stderrTail: exit.stderrTail } },
  );
}

function labelFilters(labels: Record<string, string> | undefined): string[] {
  return Object.entries(labels ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`);
}

export class DockerRuntime implements ContainerRuntime {
  readonly kind = 'docker' as const;
  readonly options: Readonly<ResolvedOptions>;
  readonly #docker: Docker;
  readonly #captures = new Set<{ abort(): void; settled: Promise<unknown> }>();
  /** Capture containers whose removal failed (the engine went away): removed once it answers again. */
  readonly #unremoved = new Set<string>();
  #closed = false;

  constructor(options: DockerRuntimeOptions) {
    this.options = Object.freeze(resolveOptions(options));
    // Not Node's global agent, which keeps connections alive: through one left open, a stopping dockerd (whose socket
    // is already unlinked) still answers pings for seconds. A connection per call sees the engine go at once.
    this.#docker =
      options.docker ??
      new (loadDockerode())({
        socketPath: this.options.socketPath,
        agent: new HttpAgent({ keepAlive: false }),
      } as Docker.DockerOptions);
  }

  async ping(signal?: AbortSignal): Promise<void> {
    const timeout = AbortSignal.timeout(this.options.pingTimeoutMs);
    const abortSignal = signal ? AbortSignal.any([signal, timeout]) : timeout;
    try {
      // dockerode 5 takes an abortSignal on every call; @types/dockerode 4 does not declare it for ping.
      const ping = this.#docker.ping as unknown as (opts: { abortSignal: AbortSignal }) => Promise<unknown>;
      await ping.call(this.#docker, { abortSignal });
    } catch (err) {
      const why = timeout.aborted ? new Error(`no answer within ${this.options.pingTimeoutMs} ms`) : err;
      throw dockerUnavailable(this.options.socketPath, why);
    }
    // The engine is back (readiness probes ping it regularly): remove what could not be removed while it was away.
    if (this.#unremoved.size > 0) await this.#retryRemovals();
  }

  async #retryRemovals(): Promise<void> {
    for (const id of [...this.#unremoved]) {
      const error = await this.#removeCaptureContainer(this.#docker.getContainer(id));
      if (error === undefined) this.#unremoved.delete(id);
    }
  }

  /** The engine answers and the capture image is present. */
  readiness(signal: AbortSignal): Promise<RuntimeReadiness> {
    return engineReadiness(this, this.options.captureImage, signal);
  }

  /** kubelet's labels name every container the engine runs: nothing to add. */
  notFoundHint(_containerName: string): string {
    return '';
  }

  lostTarget(exit: CaptureExit, targetTitle: string): Promise<PodflameError | undefined> {
    return engineLostCapture(this, exit, targetTitle);
  }

  /** The capture image is present. */
  async toolsPresent(): Promise<boolean> {
    const image = this.options.captureImage;
    try {
      await this.#docker.getImage(image).inspect();
      return true;
    } catch (err) {
      if (httpStatusOf(err) === 404) return false;
      throw fromDockerError(err, this.options.socketPath, `could not look up image ${image}`, 'INTERNAL');
    }
  }

  /** `labels`: Docker's own label filter, for podflame's capture containers and tests; pods by `podUid`/`namespace`. */
  async listContainers(filter: ContainerFilter & { labels?: Record<string, string> } = {}): Promise<ContainerInfo[]> {
    const label = labelFilters({
      ...filter.labels,
      ...(filter.podUid !== undefined ? { [KUBE_LABELS.podUid]: filter.podUid } : {}),
      ...(filter.namespace !== undefined ? { [KUBE_LABELS.namespace]: filter.namespace } : {}),
    });
    try {
      const list = await this.#docker.listContainers({
        all: filter.all ?? false,
        ...(label.length > 0 ? { filters: { label } } : {}),
      });
      return list.map(toContainerInfo).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    } catch (err) {
      throw fromDockerError(err, this.options.socketPath, 'could not list containers', 'INTERNAL');
    }
  }

  async inspectContainer(id: string): Promise<ContainerInfo & { pid: number; running: boolean }> {
    try {
      const c = await this.#docker.getContainer(id).inspect();
      return {
        ...describeContainer({
          id: c.Id,
          name: c.Name.replace(/^\//, ''),
          image: c.Config.Image,
          state: c.State.Status,
          labels: c.Config.Labels ?? {},
        }),
        pid: c.State.Pid,
        running: c.State.Running,
      };
    } catch (err) {
      throw this.#targetError(err, id, 'could not inspect container');
    }
  }

  async listProcesses(id: string): Promise<string[]> {
    try {
      // `docker top` runs ps -ef on the host: Titles ["UID","PID","PPID","C","STIME","TTY","TIME","CMD"].
      const top = (await this.#docker.getContainer(id).top()) as { Titles?: string[]; Processes?: string[][] };
      const cmd = (top.Titles ?? []).indexOf('CMD');
      if (cmd === -1) return [];
      return (top.Processes ?? []).map((p) => p[cmd] ?? '').filter((c) => c !== '');
    } catch (err) {
      throw this.#targetError(err, id, 'could not list the processes of container');
    }
  }

  async runCapture(spec: CaptureSpec, signal: AbortSignal): Promise<RunningCapture> {
    if (this.#closed) throw new PodflameError('AGENT_NOT_READY', 'the container runtime is closed');
    validateSpec(spec);
    const aborted = (): PodflameError =>
      new PodflameError('CAPTURE_ABORTED', 'the capture was stopped before it finished', { cause: signal.reason });
    if (signal.aborted) throw aborted();

    const container = await this.#createCaptureContainer(spec);
    const stderr = new CaptureStderr({ tailBytes: this.options.stderrTailBytes });
    const stdout = new PassThrough();
    let removal: Promise<string | undefined> | undefined;
    const remove = (): Promise<string | undefined> => (removal ??= this.#removeCaptureContainer(container));
    let abortedNow = false;
    // Destroyed on abort and failed starts: the engine never ends the attach of a container removed before it ran,
    // and that open socket would keep the agent's process (and a test's) alive.
    let attachStream: Readable | undefined;
    const onAbort = (): void => {
      abortedNow = true;
      // SIGTERM first, so the capture script stops what it started in the target (a Flight Recorder recording, perf)
      // before the engine kills it; the removal follows at once after that grace.
      void this.#stopGracefully(container)
        .then(remove)
        .then(() => attachStream?.destroy());
      // Without an error: an 'error' event nobody listens to would crash the agent; a reader sees a premature
      // close, and `done` says why.
      if (!stdout.destroyed) stdout.destroy();
    };
    signal.addEventListener('abort', onAbort, { once: true });

    let demuxed: Promise<void>;
    try {
      // Attach before start, or the first output (and a fast failure's message) would be lost.
      const stream = (await container.attach({ stream: true, stdout: true, stderr: true })) as unknown as Readable;
      attachStream = stream;
      demuxed = demuxDockerStream(stream, stdout, (chunk) => stderr.write(chunk)).finally(() => stderr.end());
      demuxed.catch(() => undefined);
      if (signal.aborted) throw aborted();
      await container.start();
      if (signal.aborted) throw aborted();
    } catch (err) {
      signal.removeEventListener('abort', onAbort);
      await remove();
      attachStream?.destroy();
      if (!stdout.destroyed) stdout.destroy();
      if (signal.aborted || abortedNow) throw aborted();
      throw this.#startError(err, spec);
    }

    const done = (async (): Promise<CaptureExit> => {
      try {
        const waited = (await container.wait()) as { StatusCode?: number };
        // The attach stream ends after the exit; all of stdout and stderr is in once it has.
        await demuxed.catch((err: unknown) => {
          if (!abortedNow) throw err;
        });
        if (abortedNow) throw aborted();
        const removeError = await remove();
        const exit: CaptureExit = { exitCode: waited.StatusCode ?? -1, stderrTail: stderr.tail() };
        if (stderr.timings) exit.timings = stderr.timings;
        if (removeError !== undefined) exit.removeError = removeError;
        return exit;
      } catch (err) {
        await remove();
        if (!stdout.destroyed) stdout.destroy();
        if (abortedNow || signal.aborted) throw aborted();
        throw fromDockerError(err, this.options.socketPath, `capture container ${container.id.slice(0, 12)} failed`);
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    })();
    const entry = { abort: onAbort, settled: done.catch(() => undefined) };
    this.#captures.add(entry);
    void entry.settled.then(() => this.#captures.delete(entry));
    return { stdout, warnings: stderr.warnings, done };
  }

  async removeLeftoverCaptures(currentInstance: string): Promise<number> {
    const all = await this.listContainers({
      labels: { [CAPTURE_LABELS.owner]: this.options.captureGroup },
      all: true,
    });
    // An instance `SCOPE.UNIQUE` (the agent uses its node name as SCOPE) clears only leftovers of its own scope, so
    // agents of different node names sharing one engine (tests run in parallel) never remove each other's captures.
    const dot = currentInstance.lastIndexOf('.');
    const scope = dot > 0 ? currentInstance.slice(0, dot + 1) : '';
    const leftovers = all.filter((c) => {
      const instance = c.labels[CAPTURE_LABELS.agentInstance] ?? '';
      return instance !== currentInstance && instance.startsWith(scope);
    });
    let removed = 0;
    for (const c of leftovers) {
      try {
        await this.#docker.getContainer(c.id).remove({ force: true });
        removed++;
      } catch (err) {
        if (httpStatusOf(err) === 404) continue; // gone meanwhile
        throw fromDockerError(err, this.options.socketPath, `could not remove leftover capture container ${c.name}`);
      }
    }
    return removed;
  }

  /** Stops every capture still running (removing its container) and refuses new ones. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const running = [...this.#captures];
    for (const c of running) c.abort();
    await Promise.all(running.map((c) => c.settled));
  }

  async #createCaptureContainer(spec: CaptureSpec): Promise<Docker.Container> {
    const o = this.options;
    const create = (): Promise<Docker.Container> =>
      this.#docker.createContainer({
        name: `podflame-capture-${spec.targetContainerId.slice(0, 12)}-${randomBytes(4).toString('hex')}`,
        Image: o.captureImage,
        // An argv array: nothing here is ever parsed by a shell.
        Cmd: [String(spec.durationSeconds), String(spec.frequencyHz)],
        // Added to the capture image's own Env (PATH etc.), which Docker keeps.
        Env: Object.entries(captureScriptEnv(spec)).map(([name, value]) => `${name}=${value}`),
        Labels: {
          [CAPTURE_LABELS.owner]: o.captureGroup,
          [CAPTURE_LABELS.target]: spec.targetContainerId,
          [CAPTURE_LABELS.agentInstance]: spec.agentInstance,
        },
        AttachStdin: false,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
        OpenStdin: false,
        HostConfig: {
          PidMode: `container:${spec.targetContainerId}`,
          NetworkMode: 'none',
          CapDrop: ['ALL'],
          CapAdd: [...CAPTURE_CAPABILITIES, ...(o.kernelSymbols ? ['SYSLOG'] : [])],
          // The engine's default seccomp profile: it allows perf_event_open and setns with SYS_ADMIN, and the
          // ptrace family with SYS_PTRACE.
          SecurityOpt: ['no-new-privileges'],
          Privileged: false,
          ReadonlyRootfs: true,
          Tmpfs: { '/tmp': `rw,nosuid,nodev,noexec,size=${o.captureTmpBytes}` },
          Memory: o.captureMemoryBytes,
          MemorySwap: o.captureMemoryBytes,
          NanoCpus: Math.round(o.captureCpus * 1e9),
          PidsLimit: o.capturePidsLimit,
          AutoRemove: false,
          // stdout is the profile, streamed through attach; a log file would keep a second copy on the node's disk.
          LogConfig: { Type: 'none', Config: {} },
        },
      });
    try {
      return await create();
    } catch (err) {
      throw this.#createError(err, spec);
    }
  }

  /** SIGTERM, then SIGKILL after ABORT_GRACE_SECONDS (Docker's stop); a container already gone is fine. */
  async #stopGracefully(container: Docker.Container): Promise<void> {
    try {
      await container.stop({
        t: ABORT_GRACE_SECONDS,
        abortSignal: AbortSignal.timeout(ABORT_GRACE_SECONDS * 1000 + this.options.removeTimeoutMs),
      });
    } catch {
      // Not running any more (304), gone (404), or the engine slow: the forced removal that follows settles it.
    }
  }

  /** Force-removes (SIGKILL, then delete) a capture container; resolves with a message if that failed. */
  async #removeCaptureContainer(container: Docker.Container): Promise<string | undefined> {
    try {
      await container.remove({ force: true, abortSignal: AbortSignal.timeout(this.options.removeTimeoutMs) });
      return undefined;
    } catch (err) {
      if (httpStatusOf(err) === 404) return undefined;
      // 409 "removal of container ... is already in progress": the engine is on it.
      if (httpStatusOf(err) === 409) return undefined;
      this.#unremoved.add(container.id);
      return `could not remove capture container ${container.id.slice(0, 12)}: ${engineMessage(err)}`;
    }
  }

  #createError(err: unknown, spec: CaptureSpec): PodflameError {
    if (isConnectionError(err)) return dockerUnavailable(this.options.socketPath, err);
    const message = engineMessage(err);
    const status = httpStatusOf(err);
    if (status === 404 && /no such image/i.test(message)) {
      const image = this.options.captureImage;
      return new PodflameError(
        'CAPTURE_IMAGE_MISSING',
        `the capture image ${image} is not on this node (${message}): build it with ` +
          `\`docker build --network host -f Dockerfile.perf -t ${image} .\` in podflame's repository, or load it ` +
          `with \`docker load\``,
        { cause: err, details: { image } },
      );
    }
    if ((status === 400 || status === 404) && /no such container/i.test(message)) {
      return new PodflameError(
        'TARGET_NOT_FOUND',
        `the target container ${spec.targetContainerId} is gone (${message})`,
        {
          cause: err,
          details: { containerId: spec.targetContainerId },
        },
      );
    }
    return fromDockerError(err, this.options.socketPath, 'could not create the capture container');
  }

  #startError(err: unknown, spec: CaptureSpec): PodflameError {
    if (err instanceof PodflameError) return err;
    if (isConnectionError(err)) return dockerUnavailable(this.options.socketPath, err);
    const message = engineMessage(err);
    // e.g. 500 "container 965a4b7e... is not running" when the target stopped between resolution and start.
    if (/is not running|non running/i.test(message) && message.includes(spec.targetContainerId.slice(0, 12))) {
      return new PodflameError(
        'TARGET_NOT_RUNNING',
        `the target container ${spec.targetContainerId.slice(0, 12)} is not running (${message})`,
        { cause: err, details: { containerId: spec.targetContainerId } },
      );
    }
    return fromDockerError(err, this.options.socketPath, 'could not start the capture container');
  }

  #targetError(err: unknown, id: string, what: string): PodflameError {
    const status = httpStatusOf(err);
    if (status === 404) {
      return new PodflameError('TARGET_NOT_FOUND', `no container ${id} (${engineMessage(err)})`, {
        cause: err,
        details: { containerId: id },
      });
    }
    if (status === 409) {
      return new PodflameError('TARGET_NOT_RUNNING', `container ${id} is not running (${engineMessage(err)})`, {
        cause: err,
        details: { containerId: id },
      });
    }
    return fromDockerError(err, this.options.socketPath, `${what} ${id}`, 'INTERNAL');
  }
}
