/**
 * ContainerRuntime for nodes without Docker (containerd, CRI-O): the agent runs in the host PID namespace
 * (`hostPID: true`) and finds a container's processes by the container ID in /proc/<pid>/cgroup; a capture is the
 * capture script (the same one the Docker path runs in its capture container) spawned as the agent's own child
 * against those host PIDs, with perf and jattach from the agent's image. No engine API is ever called.
 *
 * What the Docker path gets from the engine, this does itself: a capture runs in its own process group, killed
 * (SIGTERM, then SIGKILL) on abort so no perf is left behind; every capture process carries its owner and agent
 * instance in its environment, so an agent restarted after a crash finds and kills an earlier instance's captures.
 *
 * Pod names: cgroups name a container's ID (and, under kubelet, its pod UID), never its pod's namespace, name or
 * container name. With a pod directory (the pods of this node from the Kubernetes API), a container whose ID a pod's
 * status reports is placed in that pod (`ContainerInfo.pod`), as the Docker path places containers by kubelet's
 * labels, so resolving a pod UID + container name, titles, listings, schedules and authorization work alike on both
 * paths.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { access, constants, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { PodflameError } from '../../shared/errors.js';
import { LIMITS } from '../../shared/api.js';
import { CaptureStderr } from './capture-warnings.js';
import {
  captureScriptEnv,
  matchesPodFilter,
  type CaptureExit,
  type CaptureSpec,
  type ContainerFilter,
  type ContainerInfo,
  type ContainerPod,
  type ContainerRuntime,
  type RunningCapture,
  type RuntimeReadiness,
} from './container-runtime.js';
import { normalizeContainerId } from './cgroup-match.js';
import {
  listPids,
  processesWithEnv,
  readComm,
  readCommandLine,
  scanContainers,
  type ContainerProcesses,
} from './proc-scan.js';

export interface HostRuntimeOptions {
  /** The capture script (agent/capture/podflame-capture.sh, installed in the agent image). Default `/usr/local/bin/podflame-capture`. */
  captureScript?: string;
  /**
   * podflame's native parts, given to the script as PODFLAME_NATIVE_DIR: libpodflame-perfmap.so (the JVMTI map agent)
   * and podflame-target-fs (every file it touches in a target). Default `/usr/local/lib/podflame` (Dockerfile.agent).
   */
  nativeDir?: string;
  /** The host's /proc (the agent runs with hostPID). Default `/proc`. */
  procRoot?: string;
  /** Where each capture gets its work directory (perf data, control FIFOs). Default `/tmp`. */
  workRoot?: string;
  /** Environment of the capture script (PATH must reach perf, jattach, timeout, nice). Default a standard PATH only. */
  env?: Readonly<Record<string, string>>;
  /** Niceness of the capture (perf record, jattach, perf script): below the workloads it measures. 0: none. Default 10. */
  niceness?: number;
  /**
   * Also copy each JVM's map into the agent's /tmp under the host PID, for a perf that does not look for it in the
   * target's mount namespace (perf 6.1 does). Default true.
   */
  copyJitMaps?: boolean;
  /** After SIGTERM on abort, how long before the capture's process group is killed. Default 1000 ms. */
  killGraceMs?: number;
  /** Bytes of the capture's non-warning stderr kept for error reports. Default 8192. */
  stderrTailBytes?: number;
  /**
   * Owner tag in every capture process's environment; removeLeftoverCaptures only touches captures of the same
   * owner (tests sharing a machine give each runtime its own). Default `true`.
   */
  captureGroup?: string;
  /**
   * How long one scan of /proc answers later questions, in ms. One capture request asks three times in a row
   * (resolve, its processes, the capture itself), and a scan reads every process's cgroup file: on a node with
   * thousands of processes that is a cost worth paying once. 0 rescans every time. Default 250.
   */
  scanReuseMs?: number;
}

/**
 * What host mode asks of the pods of its node, declared here (the consumer) so that runtime/ needs nothing of pods/:
 * pods/pod-watcher.ts answers it from its index.
 */
export interface PodDirectory {
  /** False until the pods of the node have been listed once. */
  ready(): boolean;
  /** Why the pods are not known yet, for error messages. */
  notReadyReason(): string;
  /** The pod and container a container ID (bare or `containerd://…`) belongs to, when kubelet has reported it. */
  containerById(
    containerId: string,
  ): { pod: { uid: string; namespace: string; name: string }; container: { name: string } } | undefined;
}

/** What HostRuntime is given rather than configured with. */
export interface HostRuntimeDeps {
  /** Sends a signal to a process, or to a process group when `pid` is negative (main.ts passes `process.kill`). */
  kill: (pid: number, signal: NodeJS.Signals) => void;
  /** The pods of this node from the Kubernetes API; without it containers are known by ID (and pod UID) only. */
  pods?: PodDirectory;
}

export const DEFAULT_HOST_RUNTIME_OPTIONS = Object.freeze({
  captureScript: '/usr/local/bin/podflame-capture',
  nativeDir: '/usr/local/lib/podflame',
  procRoot: '/proc',
  workRoot: '/tmp',
  env: Object.freeze({ PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' }),
  niceness: 10,
  copyJitMaps: true,
  killGraceMs: 1000,
  stderrTailBytes: 8192,
  captureGroup: 'true',
  scanReuseMs: 250,
});

type ResolvedOptions = Required<HostRuntimeOptions>;

/** Environment variables that tag a capture's processes (inherited by perf and jattach). */
export const CAPTURE_ENV = {
  owner: 'PODFLAME_CAPTURE_OWNER',
  instance: 'PODFLAME_CAPTURE_INSTANCE',
  workDir: 'PODFLAME_WORK_DIR',
  targetPids: 'PODFLAME_TARGET_PIDS',
  targetId: 'PODFLAME_TARGET_CONTAINER',
} as const;

/** podflame's native parts in nativeDir (agent/capture/build-native.sh builds them). */
export const NATIVE_FILES = { mapAgent: 'libpodflame-perfmap.so', targetFs: 'podflame-target-fs' } as const;

const WORK_PREFIX = 'podflame-capture-';
const OWNER_FILE = 'owner.json';
const COPIED_MAPS_FILE = 'copied-maps';
const TAG = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const ID_PREFIX = /^[0-9a-f]{12,64}$/;
/** kubelet's pause container: the pod sandbox, whose only process is `/pause`. */
const PAUSE_COMM = 'pause';

function resolveOptions(options: HostRuntimeOptions): ResolvedOptions {
  const d = DEFAULT_HOST_RUNTIME_OPTIONS;
  const o: ResolvedOptions = {
    captureScript: options.captureScript ?? d.captureScript,
    nativeDir: options.nativeDir ?? d.nativeDir,
    procRoot: options.procRoot ?? d.procRoot,
    workRoot: options.workRoot ?? d.workRoot,
    env: options.env ?? d.env,
    niceness: options.niceness ?? d.niceness,
    copyJitMaps: options.copyJitMaps ?? d.copyJitMaps,
    killGraceMs: options.killGraceMs ?? d.killGraceMs,
    stderrTailBytes: options.stderrTailBytes ?? d.stderrTailBytes,
    captureGroup: options.captureGroup ?? d.captureGroup,
    scanReuseMs: options.scanReuseMs ?? d.scanReuseMs,
  };
  const invalid = (what: string): never => {
    throw new PodflameError('CONFIG_INVALID', `HostRuntime: ${what}`);
  };
  for (const key of ['captureScript', 'nativeDir', 'procRoot', 'workRoot'] as const) {
    if (!o[key].startsWith('/')) invalid(`${key} must be an absolute path, got ${JSON.stringify(o[key])}`);
  }
  if (!Number.isInteger(o.niceness) || o.niceness < 0 || o.niceness > 19) {
    invalid(`niceness must be a whole number from 0 to 19, got ${o.niceness}`);
  }
  for (const key of ['killGraceMs', 'stderrTailBytes'] as const) {
    if (!Number.isSafeInteger(o[key]) || o[key] <= 0) invalid(`${key} must be a positive whole number, got ${o[key]}`);
  }
  if (!Number.isSafeInteger(o.scanReuseMs) || o.scanReuseMs < 0) {
    invalid(`scanReuseMs must be a whole number of ms, 0 or more, got ${o.scanReuseMs}`);
  }
  if (!TAG.test(o.captureGroup)) invalid('captureGroup must be letters, digits, _ . - (up to 128)');
  return o;
}

function validateSpec(spec: CaptureSpec): string {
  const bad = (what: string): never => {
    throw new PodflameError('INVALID_REQUEST', `capture request: ${what}`);
  };
  const id = normalizeContainerId(spec.targetContainerId);
  if (id === undefined) bad('targetContainerId must be a container ID of 64 hex digits');
  const { durationSeconds: d, frequencyHz: f } = spec;
  if (!Number.isInteger(d) || d < LIMITS.durationSeconds.min || d > LIMITS.durationSeconds.max) {
    bad(`durationSeconds must be a whole number from ${LIMITS.durationSeconds.min} to ${LIMITS.durationSeconds.max}`);
  }
  if (!Number.isInteger(f) || f < LIMITS.frequencyHz.min || f > LIMITS.frequencyHz.max) {
    bad(`frequencyHz must be a whole number from ${LIMITS.frequencyHz.min} to ${LIMITS.frequencyHz.max}`);
  }
  if (spec.javaInlined !== undefined && typeof spec.javaInlined !== 'boolean') bad('javaInlined must be true or false');
  if (!TAG.test(spec.agentInstance)) bad('agentInstance must be letters, digits, _ . - (up to 128)');
  return id as string;
}

/** Sends a signal to a whole process group; false when it is already gone. */
function signalGroup(kill: HostRuntimeDeps['kill'], pgid: number, signal: NodeJS.Signals): boolean {
  try {
    kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** The pod the pod directory places a container in; undefined when it does not know the ID. */
function knownPod(pods: PodDirectory | undefined, id: string): ContainerPod | undefined {
  const known = pods?.containerById(id);
  if (!known) return undefined;
  return {
    uid: known.pod.uid,
    name: known.pod.name,
    namespace: known.pod.namespace,
    container: known.container.name,
    sandbox: false,
  };
}

export class HostRuntime implements ContainerRuntime {
  readonly kind = 'host' as const;
  readonly options: Readonly<ResolvedOptions>;
  /** True with a pod directory: containers then carry their pod's namespace, name and container name. */
  readonly knowsPodNames: boolean;
  readonly #kill: HostRuntimeDeps['kill'];
  readonly #pods: PodDirectory | undefined;
  readonly #captures = new Set<{ abort(): void; settled: Promise<unknown> }>();
  #closed = false;
  /** The latest scan (in flight or done) and when it started; shared by callers within `scanReuseMs`. */
  #lastScan: { startedAt: number; result: Promise<Map<string, ContainerProcesses>> } | undefined;

  constructor(options: HostRuntimeOptions, deps: HostRuntimeDeps) {
    this.options = Object.freeze(resolveOptions(options));
    this.#kill = deps.kill;
    this.#pods = deps.pods;
    this.knowsPodNames = deps.pods !== undefined;
  }

  podNamesStatus(): string {
    if (!this.#pods) return 'none';
    return this.#pods.ready() ? 'ok' : this.#pods.notReadyReason();
  }

  /** Ready when the host's /proc can be read (cgroups of other processes included). */
  async ping(): Promise<void> {
    try {
      await listPids(this.options.procRoot);
      await readFile(join(this.options.procRoot, '1', 'cgroup'));
    } catch (err) {
      throw new PodflameError(
        'HOST_PROC_UNAVAILABLE',
        `cannot read the host's processes at ${this.options.procRoot} (${err instanceof Error ? err.message : String(err)}): ` +
          'host mode needs the agent to run as root in the host PID namespace (hostPID: true)',
        { cause: err, details: { procRoot: this.options.procRoot } },
      );
    }
  }

  /**
   * The host's processes can be read (hostPID) and the capture script (perf, jattach) is installed. Whether pod names
   * are known (`podNames`) is reported but never makes the agent unready: captures by container ID work.
   */
  async readiness(signal: AbortSignal): Promise<RuntimeReadiness> {
    const reasons: string[] = [];
    const failedOperations: string[] = [];
    let hostProc = 'ok';
    let captureTools = 'ok';
    const podNames = this.podNamesStatus();
    try {
      signal.throwIfAborted();
      await this.ping();
    } catch (err) {
      hostProc = err instanceof Error ? err.message : String(err);
      failedOperations.push('ping');
      reasons.push(hostProc);
    }
    if (!(await this.toolsPresent())) {
      captureTools = 'missing';
      reasons.push(
        'the capture script is not installed (see --capture-script): host mode runs perf from the agent image',
      );
    }
    return { runtime: 'host', checks: { hostProc, captureTools, podNames }, reasons, failedOperations };
  }

  /**
   * Host mode sees containers by the IDs in their cgroups. Without the Kubernetes API it has no names at all; with
   * it, it names a container once kubelet reports the container's ID in the pod's status.
   */
  notFoundHint(name: string): string {
    if (this.knowsPodNames) {
      return (
        ` (host mode finds a pod's containers by the container IDs in the pod's status from the Kubernetes API: ` +
        `the pod is not on this node in the API, or kubelet has not reported a container ID for '${name}' yet)`
      );
    }
    return (
      ` (host mode knows containers by ID only: the agent has no Kubernetes API access (in-cluster service account ` +
      `or --kubeconfig) to learn pod names from; give the container's ID from the pod's status, ` +
      `kubectl get pod -o jsonpath='{.status.containerStatuses[?(@.name=="${name}")].containerID}')`
    );
  }

  /** A host capture has no engine that could stop it: a non-zero exit is the capture's own failure. */
  async lostTarget(): Promise<undefined> {
    return undefined;
  }

  /** The capture tools are present: the capture script and podflame's native parts. */
  async toolsPresent(): Promise<boolean> {
    try {
      await access(this.options.captureScript, constants.X_OK);
      await access(join(this.options.nativeDir, NATIVE_FILES.targetFs), constants.X_OK);
      await access(join(this.options.nativeDir, NATIVE_FILES.mapAgent), constants.R_OK);
      return true;
    } catch {
      return false;
    }
  }

  async listContainers(filter: ContainerFilter = {}): Promise<ContainerInfo[]> {
    if ((filter.podUid !== undefined || filter.namespace !== undefined) && this.#pods && !this.#pods.ready()) {
      // Every container would look nameless: say why rather than answer "no such pod".
      throw new PodflameError('KUBERNETES_API_ERROR', this.#pods.notReadyReason());
    }
    const scanned = await this.#scan();
    const infos = await Promise.all([...scanned.values()].map((c) => this.#describe(c)));
    return infos.filter((c) => matchesPodFilter(c, filter)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async inspectContainer(id: string): Promise<ContainerInfo & { pid: number; running: boolean }> {
    const c = await this.#find(id);
    return { ...(await this.#describe(c)), pid: c.initPid, running: true };
  }

  async listProcesses(id: string): Promise<string[]> {
    const c = await this.#find(id);
    const lines = await Promise.all(c.pids.map((pid) => readCommandLine(this.options.procRoot, pid)));
    return lines.filter((l) => l !== '');
  }

  async runCapture(spec: CaptureSpec, signal: AbortSignal): Promise<RunningCapture> {
    if (this.#closed) throw new PodflameError('AGENT_NOT_READY', 'the container runtime is closed');
    const targetId = validateSpec(spec);
    const aborted = (): PodflameError =>
      new PodflameError('CAPTURE_ABORTED', 'the capture was stopped before it finished', { cause: signal.reason });
    if (signal.aborted) throw aborted();
    if (!(await this.toolsPresent())) throw this.#toolsMissing();
    const target = (await this.#scan()).get(targetId);
    if (!target) throw this.#notFound(targetId);
    if (signal.aborted) throw aborted();

    const o = this.options;
    await mkdir(o.workRoot, { recursive: true });
    const workDir = await mkdtemp(join(o.workRoot, `${WORK_PREFIX}${spec.agentInstance}-`));
    await writeFile(
      join(workDir, OWNER_FILE),
      JSON.stringify({ owner: o.captureGroup, instance: spec.agentInstance, target: targetId }),
    );
    const env: Record<string, string> = {
      ...o.env,
      [CAPTURE_ENV.owner]: o.captureGroup,
      [CAPTURE_ENV.instance]: spec.agentInstance,
      [CAPTURE_ENV.workDir]: workDir,
      [CAPTURE_ENV.targetPids]: target.pids.join(' '),
      [CAPTURE_ENV.targetId]: targetId,
      PODFLAME_COPY_MAPS: o.copyJitMaps ? '1' : '0',
      PODFLAME_NATIVE_DIR: o.nativeDir,
      ...captureScriptEnv(spec),
    };
    // An argv array: nothing here is parsed by a shell. `nice` execs the script, so the agent stays its parent.
    const args = [String(spec.durationSeconds), String(spec.frequencyHz)];
    const [command, argv] =
      o.niceness > 0 ? ['nice', ['-n', String(o.niceness), o.captureScript, ...args]] : [o.captureScript, args];
    let child: ChildProcess;
    try {
      child = spawn(command, argv, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env, cwd: workDir });
    } catch (err) {
      await this.#removeWorkDir(workDir);
      throw new PodflameError('CAPTURE_FAILED', `could not start the capture script: ${String(err)}`, { cause: err });
    }
    return this.#watch(child, workDir, signal, aborted);
  }

  #watch(child: ChildProcess, workDir: string, signal: AbortSignal, aborted: () => PodflameError): RunningCapture {
    const o = this.options;
    const stdout = new PassThrough();
    const stderr = new CaptureStderr({ tailBytes: o.stderrTailBytes });
    const source = child.stdout as NonNullable<ChildProcess['stdout']>;
    // Backpressure: the script (and perf script) wait while the agent's collapser is behind. A consumer that went
    // away gets nothing more, and the rest is read and dropped so the script never blocks on a full pipe.
    source.on('data', (chunk: Buffer) => {
      if (!stdout.destroyed && !stdout.write(chunk)) source.pause();
    });
    stdout.on('drain', () => source.resume());
    stdout.on('close', () => source.resume());
    source.on('end', () => {
      if (!stdout.destroyed) stdout.end();
    });
    (child.stderr as NonNullable<ChildProcess['stderr']>).on('data', (chunk: Buffer) => stderr.write(chunk));

    const pgid = child.pid;
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      if (pgid === undefined) return;
      signalGroup(this.#kill, pgid, 'SIGTERM');
      killTimer ??= setTimeout(() => signalGroup(this.#kill, pgid, 'SIGKILL'), o.killGraceMs);
    };
    signal.addEventListener('abort', onAbort, { once: true });

    const exited = new Promise<{ code: number | null; sig: NodeJS.Signals | null; error?: Error }>((resolve) => {
      child.once('error', (error) => resolve({ code: null, sig: null, error }));
      child.once('close', (code, sig) => resolve({ code, sig }));
    });
    const done = (async (): Promise<CaptureExit> => {
      const { code, sig, error } = await exited;
      signal.removeEventListener('abort', onAbort);
      clearTimeout(killTimer);
      // Whatever the script left running in its group (it waits for perf, but a SIGKILLed script cannot).
      if (pgid !== undefined) signalGroup(this.#kill, pgid, 'SIGKILL');
      stderr.end();
      await this.#removeWorkDir(workDir);
      if (!stdout.destroyed) stdout.end();
      if (signal.aborted) {
        stdout.destroy();
        throw aborted();
      }
      if (error) {
        throw new PodflameError(
          'CAPTURE_TOOLS_MISSING',
          `could not run the capture script ${o.captureScript}: ${error.message}`,
          { cause: error },
        );
      }
      const exitCode = code ?? 128 + signalNumber(sig);
      return { exitCode, stderrTail: stderr.tail(), ...(stderr.timings ? { timings: stderr.timings } : {}) };
    })();
    const entry = { abort: onAbort, settled: done.catch(() => undefined) };
    this.#captures.add(entry);
    void entry.settled.then(() => this.#captures.delete(entry));
    return { stdout, warnings: stderr.warnings, done };
  }

  /** Removes a capture's work directory and the JIT map copies it made in /tmp. */
  async #removeWorkDir(workDir: string): Promise<void> {
    const copies = await readFile(join(workDir, COPIED_MAPS_FILE), 'utf8').catch(() => '');
    for (const path of copies.split('\n')) {
      // Only what the script wrote there: /tmp/perf-<pid>.map.
      if (/^\/tmp\/perf-\d+\.map$/.test(path)) await rm(path, { force: true }).catch(() => undefined);
    }
    await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
  }

  /**
   * Kills the captures of earlier agent processes of this owner and node (their instance IDs share the part before
   * the last dot) and removes their work directories and map copies; returns how many captures there were.
   */
  async removeLeftoverCaptures(currentInstance: string): Promise<number> {
    const o = this.options;
    const scope = currentInstance.includes('.') ? currentInstance.slice(0, currentInstance.lastIndexOf('.') + 1) : '';
    const isLeftover = (owner: string | undefined, instance: string | undefined): boolean =>
      owner === o.captureGroup && instance !== undefined && instance !== currentInstance && instance.startsWith(scope);
    const captures = new Set<string>();
    for (const { pid, env } of await processesWithEnv(o.procRoot, CAPTURE_ENV.owner)) {
      if (!isLeftover(env.get(CAPTURE_ENV.owner), env.get(CAPTURE_ENV.instance))) continue;
      try {
        this.#kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
      captures.add(env.get(CAPTURE_ENV.workDir) ?? `pid ${pid}`);
    }
    let entries: string[] = [];
    try {
      entries = await readdir(o.workRoot);
    } catch {
      entries = [];
    }
    for (const name of entries.filter((n) => n.startsWith(WORK_PREFIX))) {
      const dir = join(o.workRoot, name);
      const owner = await readFile(join(dir, OWNER_FILE), 'utf8')
        .then((text) => JSON.parse(text) as { owner?: string; instance?: string })
        .catch(() => undefined);
      if (!owner || !isLeftover(owner.owner, owner.instance)) continue;
      captures.add(dir);
      await this.#removeWorkDir(dir);
    }
    return captures.size;
  }

  /** Stops every capture still running (killing its process group) and refuses new ones. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const running = [...this.#captures];
    for (const c of running) c.abort();
    await Promise.all(running.map((c) => c.settled));
  }

  #scan(): Promise<Map<string, ContainerProcesses>> {
    const now = Date.now();
    const last = this.#lastScan;
    if (last && now - last.startedAt < this.options.scanReuseMs) return last.result;
    const result = this.#scanNow();
    this.#lastScan = { startedAt: now, result };
    // A failed scan is not reused: the next caller tries again.
    result.catch(() => {
      if (this.#lastScan?.result === result) this.#lastScan = undefined;
    });
    return result;
  }

  async #scanNow(): Promise<Map<string, ContainerProcesses>> {
    try {
      return await scanContainers(this.options.procRoot);
    } catch (err) {
      throw new PodflameError(
        'HOST_PROC_UNAVAILABLE',
        `cannot read the host's processes at ${this.options.procRoot}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }

  /** The container with this ID (or unique prefix of 12+ hex digits, or Kubernetes form) that has processes. */
  async #find(id: string): Promise<ContainerProcesses> {
    const full = normalizeContainerId(id);
    const scanned = await this.#scan();
    if (full !== undefined) {
      const c = scanned.get(full);
      if (c) return c;
      throw this.#notFound(full);
    }
    const prefix = id.trim().toLowerCase();
    const matches = ID_PREFIX.test(prefix) ? [...scanned.values()].filter((c) => c.id.startsWith(prefix)) : [];
    if (matches.length === 1) return matches[0] as ContainerProcesses;
    if (matches.length > 1) {
      throw new PodflameError(
        'TARGET_AMBIGUOUS',
        `container ID prefix ${prefix} matches ${matches.length} containers`,
        {
          details: { containerId: prefix, containerIds: matches.map((c) => c.id).sort() },
        },
      );
    }
    throw this.#notFound(prefix);
  }

  async #describe(c: ContainerProcesses): Promise<ContainerInfo> {
    const info = { id: c.id, name: c.id.slice(0, 12), image: '', state: 'running', capture: false, labels: {} };
    const named = knownPod(this.#pods, c.id);
    if (named) return { ...info, pod: named };
    if (c.podUid === undefined) return info;
    // The pod's pause container runs nothing else; it is the sandbox, never a target.
    const comms = await Promise.all(c.pids.map((pid) => readComm(this.options.procRoot, pid)));
    return { ...info, pod: { uid: c.podUid, sandbox: comms.every((n) => n === PAUSE_COMM) } };
  }

  #notFound(id: string): PodflameError {
    return new PodflameError(
      'TARGET_NOT_FOUND',
      `no process on this node runs in container ${id} (none of /proc/*/cgroup names it): the container has exited, ` +
        'runs on another node, or the agent does not run in the host PID namespace (hostPID: true)',
      { details: { containerId: id } },
    );
  }

  #toolsMissing(): PodflameError {
    return new PodflameError(
      'CAPTURE_TOOLS_MISSING',
      `the capture script ${this.options.captureScript} or podflame's native parts in ${this.options.nativeDir} ` +
        `(${NATIVE_FILES.mapAgent}, ${NATIVE_FILES.targetFs}) are missing: host mode runs perf and jattach from the ` +
        "agent's own image (Dockerfile.agent installs them all); point --capture-script and --native-dir at them",
      { details: { captureScript: this.options.captureScript, nativeDir: this.options.nativeDir } },
    );
  }
}

function signalNumber(sig: NodeJS.Signals | null): number {
  return sig === null ? 0 : (osConstants.signals[sig] ?? 0);
}
