/**
 * Starts JVM containers labelled as kubelet labels them (dockershim / cri-dockerd), so tests stand in for
 * Kubernetes on a plain Docker engine: a pause ("podsandbox") container per pod plus app containers, each with
 * `io.kubernetes.pod.uid`, `.pod.name`, `.pod.namespace`, `.container.name` and `io.kubernetes.docker.type`, and
 * kubelet's container names (`k8s_<container>_<pod>_<namespace>_<uid>_0`). Every container has network mode none,
 * a unique name, the TEST_LABEL, and is removed by `cleanup()`. Not a test file.
 *
 *   const jvms = new JvmContainers(env);
 *   t.teardown(() => jvms.cleanup());
 *   const pod = newPod('hot');
 *   const app = await jvms.startJvm({ pod, containerName: 'app' });   // JVM as PID 1, -XX:+PreserveFramePointer
 *   await jvms.waitForWarmup(app);                                     // "Hot: started" + JIT warm-up
 *
 * With an env prepared with `jdks: true`, `jdk: 8` (or 11, 17, 21, 25) runs a class of test/workloads/jdks/ (e.g.
 * `mainClass: 'Shop8'`) on that JDK of the multi-JDK image.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type Docker from 'dockerode';
import { TEST_LABEL, javaBinaryFor, type DockerEnv, type JdkMajor } from './docker-env.js';
import { CAPTURE_LABELS } from '../../agent/runtime/container-runtime.js';
import { waitFor } from './wait-for.js';

/** kubelet's label keys (the same as agent/runtime/container-runtime.ts KUBE_LABELS, spelled out on purpose). */
export const KUBELET_LABELS = {
  podUid: 'io.kubernetes.pod.uid',
  podName: 'io.kubernetes.pod.name',
  namespace: 'io.kubernetes.pod.namespace',
  containerName: 'io.kubernetes.container.name',
  dockerType: 'io.kubernetes.docker.type',
} as const;

export interface PodIdentity {
  uid: string;
  name: string;
  namespace: string;
}

/** A fresh pod identity: random UID, name `<prefix>-<random>`, namespace `podflame-test` unless given. */
export function newPod(prefix: string, namespace = 'podflame-test'): PodIdentity {
  return { uid: randomUUID(), name: `${prefix}-${randomBytes(3).toString('hex')}`, namespace };
}

export interface StartedContainer {
  /** Full container ID. */
  id: string;
  /** Docker name, without the slash. */
  name: string;
  pod: PodIdentity | undefined;
  /** The Kubernetes container name (label), when in a pod. */
  containerName: string | undefined;
  /** The text the workload prints once it runs (waitForOutput looks for it). */
  readyText: string;
}

export interface JvmOptions {
  /** Pod to put the container in (labels as kubelet's); without it, a plain unlabelled container. */
  pod?: PodIdentity;
  /** Kubernetes container name. Default `app`. */
  containerName?: string;
  /**
   * How Java is started: `pid1`, the container's command is java itself; `shell`, `sh -c 'java ...; sleep'` so Java
   * is a child of a shell (not PID 1) and the container outlives it. Default `pid1`.
   */
  launch?: 'pid1' | 'shell';
  /** Docker `User`, e.g. `1000:1000` for a non-root JVM. Default root. */
  user?: string;
  /** Pass -XX:+PreserveFramePointer. Default true. */
  preserveFramePointer?: boolean;
  /** Workload class in test/workloads (test/workloads/jdks with `jdk`). Default `Hot`. */
  mainClass?: string;
  /** Arguments of the workload, e.g. `['4']` for Hot to exit after 4 s. Default none. */
  args?: string[];
  /** Extra JVM flags. Default none. */
  jvmFlags?: string[];
  /** The java binary. Default `java` (the image's JDK 17 on PATH), or javaBinaryFor(jdk) with `jdk`. */
  javaBinary?: string;
  /**
   * Run on this JDK of the multi-JDK image (env prepared with `jdks: true`): the image defaults to it and the java
   * binary to javaBinaryFor(jdk). Its /app holds test/workloads/jdks/ (Shop8), not Hot.
   */
  jdk?: JdkMajor;
  /**
   * Shell commands run before Java (only with `launch: 'shell'`), e.g. to lay out another JDK home. Test code only:
   * it reaches `sh -c` as written.
   */
  shellPrefix?: string;
  /** Image; default the JDK test image of the env (the multi-JDK one with `jdk`). */
  image?: string;
  /** A read-only root filesystem (Docker's --read-only, Kubernetes' readOnlyRootFilesystem). Default false. */
  readonlyRootfs?: boolean;
  /** tmpfs mounts, path to mount options (Docker's --tmpfs), e.g. `{ '/tmp': 'rw,noexec' }`. Default none. */
  tmpfs?: Record<string, string>;
}

/** What a command run in a container gave. */
export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

// Only these characters reach the `sh -c` line; the values come from test code, but keep the rule explicit.
const SAFE_TOKEN = /^[A-Za-z0-9_.:+=/,-]+$/;

export class JvmContainers {
  readonly #docker: Docker;
  readonly #jdkImage: string | undefined;
  readonly #jdksImage: string | undefined;
  readonly #run = randomBytes(4).toString('hex');
  readonly #started: string[] = [];

  constructor(env: Pick<DockerEnv, 'docker' | 'jdkImage'> & Partial<Pick<DockerEnv, 'jdksImage'>>) {
    this.#docker = env.docker;
    this.#jdkImage = env.jdkImage;
    this.#jdksImage = env.jdksImage;
  }

  /** Labels of a test container, plus kubelet's when in a pod. */
  labels(pod: PodIdentity | undefined, containerName: string, dockerType: 'container' | 'podsandbox') {
    const labels: Record<string, string> = { [TEST_LABEL]: this.#run };
    if (pod) {
      labels[KUBELET_LABELS.podUid] = pod.uid;
      labels[KUBELET_LABELS.podName] = pod.name;
      labels[KUBELET_LABELS.namespace] = pod.namespace;
      labels[KUBELET_LABELS.containerName] = containerName;
      labels[KUBELET_LABELS.dockerType] = dockerType;
    }
    return labels;
  }

  /** The pod's pause container, as kubelet starts first (type podsandbox, container name POD). */
  async startSandbox(pod: PodIdentity): Promise<StartedContainer> {
    const name = `k8s_POD_${pod.name}_${pod.namespace}_${pod.uid}_0`;
    return this.#start({
      name,
      Image: this.#shellImage(),
      Cmd: ['sleep', 'infinity'],
      Labels: this.labels(pod, 'POD', 'podsandbox'),
      readyText: '',
      pod,
      containerName: 'POD',
    });
  }

  /** A JVM running a workload from test/workloads; see JvmOptions for the variants. */
  async startJvm(options: JvmOptions = {}): Promise<StartedContainer> {
    const containerName = options.containerName ?? 'app';
    const mainClass = options.mainClass ?? 'Hot';
    const java = [
      options.javaBinary ?? (options.jdk !== undefined ? javaBinaryFor(options.jdk) : 'java'),
      '-Xmx128m',
      ...(options.preserveFramePointer === false ? [] : ['-XX:+PreserveFramePointer']),
      ...(options.jvmFlags ?? []),
      '-cp',
      '/app',
      mainClass,
      ...(options.args ?? []),
    ];
    if (options.shellPrefix !== undefined && options.launch !== 'shell') {
      throw new Error("shellPrefix needs launch: 'shell'");
    }
    for (const token of java) {
      if (!SAFE_TOKEN.test(token)) throw new Error(`unsafe token for a test command line: ${JSON.stringify(token)}`);
    }
    const cmd =
      options.launch === 'shell'
        ? [
            'sh',
            '-c',
            `${options.shellPrefix ?? ':'}; ${java.join(' ')}; echo "java exited with status $?"; exec sleep infinity`,
          ]
        : java;
    const pod = options.pod;
    const name = pod
      ? `k8s_${containerName}_${pod.name}_${pod.namespace}_${pod.uid}_0`
      : `podflame-test-${mainClass.toLowerCase()}-${randomBytes(4).toString('hex')}`;
    return this.#start({
      name,
      Image: options.image ?? (options.jdk !== undefined ? this.#jdksImageOrThrow() : this.#image()),
      Cmd: cmd,
      User: options.user,
      ReadonlyRootfs: options.readonlyRootfs,
      Tmpfs: options.tmpfs,
      Labels: this.labels(pod, containerName, 'container'),
      readyText: `${mainClass}: started`,
      pod,
      containerName: pod ? containerName : undefined,
    });
  }

  /** A container that runs no JVM: a shell burning CPU (for the NO_JVM warning). */
  async startBusyShell(pod?: PodIdentity, containerName = 'shell'): Promise<StartedContainer> {
    const name = pod
      ? `k8s_${containerName}_${pod.name}_${pod.namespace}_${pod.uid}_0`
      : `podflame-test-shell-${randomBytes(4).toString('hex')}`;
    return this.#start({
      name,
      Image: this.#shellImage(),
      Cmd: ['sh', '-c', 'echo "shell: started"; while :; do :; done'],
      Labels: this.labels(pod, containerName, 'container'),
      readyText: 'shell: started',
      pod,
      containerName: pod ? containerName : undefined,
    });
  }

  /** Waits until the container printed its ready text (or `text`, a string or a pattern), failing early if it exits. */
  async waitForOutput(c: StartedContainer, text: string | RegExp = c.readyText, timeoutMs = 60_000): Promise<void> {
    const container = this.#docker.getContainer(c.id);
    await waitFor(
      async () => {
        const logs = await this.logs(c);
        if (typeof text === 'string' ? logs.includes(text) : text.test(logs)) return true;
        const info = await container.inspect();
        if (!info.State.Running) {
          throw new Error(`container ${c.name} exited (${info.State.ExitCode}) before printing "${text}": ${logs}`);
        }
        return false;
      },
      timeoutMs,
      `container ${c.name} to print "${text}"`,
      200,
    );
  }

  /** Ready text, then `warmupMs` more so the hot methods are JIT-compiled before a capture. */
  async waitForWarmup(c: StartedContainer, warmupMs = 2000): Promise<void> {
    await this.waitForOutput(c);
    await new Promise((r) => setTimeout(r, warmupMs));
  }

  /** What the container printed so far, stdout and stderr interleaved as written (demultiplexed). */
  async logs(c: StartedContainer): Promise<string> {
    const raw = (await this.#docker
      .getContainer(c.id)
      .logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    return demultiplexedText(raw);
  }

  /**
   * `docker exec` through the engine API: runs `cmd` in the container (as the container's user unless `user` is
   * given) and waits for it. Never rejects on the command's exit status; see exec for that.
   */
  async execResult(c: StartedContainer, cmd: string[], user?: string): Promise<ExecResult> {
    const exec = await this.#docker.getContainer(c.id).exec({
      Cmd: cmd,
      ...(user !== undefined ? { User: user } : {}),
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = await exec.start({ hijack: true, stdin: false });
    const chunks: Buffer[] = [];
    stream.on('data', (d: Buffer) => chunks.push(d));
    await new Promise<void>((resolve, reject) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', reject);
    });
    const raw = Buffer.concat(chunks);
    // The output can end a moment before the engine records the exit status.
    let info = await exec.inspect();
    for (let i = 0; info.Running && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 20));
      info = await exec.inspect();
    }
    return {
      exitCode: info.ExitCode ?? -1,
      stdout: demultiplexedText(raw, 1),
      stderr: demultiplexedText(raw, 2),
    };
  }

  /** Like execResult, resolving with stdout; rejects (with stderr) when the command exits non-zero. */
  async exec(c: StartedContainer, cmd: string[], user?: string): Promise<string> {
    const r = await this.execResult(c, cmd, user);
    if (r.exitCode !== 0) {
      throw new Error(`${JSON.stringify(cmd)} in ${c.name} exited ${r.exitCode}: ${r.stderr.trim()}`);
    }
    return r.stdout;
  }

  /**
   * Waits until a capture of `target` records it, by events rather than time: the capture container (labelled with
   * its target) exists, its perf has enabled its events (perf starts with them disabled and says "Events enabled" in
   * its log, /tmp/perf-0.log in the capture container, once the capture script's `enable` reached it), and from
   * then on the target's JVMs have spent `cpuMs` (default 100) more CPU time, so perf has sampled them: at 99 Hz
   * some 10 samples, however busy the machine is. Returns the capture container's ID.
   */
  async waitForRecording(
    target: StartedContainer,
    options: { cpuMs?: number; timeoutMs?: number } = {},
  ): Promise<string> {
    // The capture's checks before perf starts (jcmd, jattach) take over a minute on a machine loaded 30 times over.
    const timeoutMs = options.timeoutMs ?? 240_000;
    const captureId = await waitFor(
      async () => {
        const list = await this.#docker.listContainers({
          filters: { label: [`${CAPTURE_LABELS.target}=${target.id}`], status: ['running'] },
        });
        return list[0]?.Id;
      },
      timeoutMs,
      `a running capture container of ${target.name}`,
      100,
    );
    const capture: StartedContainer = {
      id: captureId,
      name: `capture ${captureId.slice(0, 12)}`,
      pod: undefined,
      containerName: undefined,
      readyText: '',
    };
    await waitFor(
      async () => (await this.execResult(capture, ['cat', '/tmp/perf-0.log'])).stdout.includes('Events enabled'),
      timeoutMs,
      `perf to enable its events in ${capture.name} (of ${target.name})`,
      250,
    );
    const enabledAt = await this.jvmCpuTicks(target);
    const ticks = Math.ceil((options.cpuMs ?? 100) / 10);
    await waitFor(
      async () => (await this.jvmCpuTicks(target)) - enabledAt >= ticks,
      timeoutMs,
      `the JVMs of ${target.name} to spend ${ticks * 10} ms of CPU while perf records`,
      250,
    );
    return captureId;
  }

  /**
   * CPU time (user + system, in clock ticks of 10 ms) the container's `java` processes have used so far, from
   * /proc/PID/stat in the container, e.g. `57 (java) S 1 57 ... 1234 56 ...` (fields 14 and 15).
   */
  async jvmCpuTicks(c: StartedContainer): Promise<number> {
    const stat = await this.exec(c, ['sh', '-c', 'cat /proc/[0-9]*/stat 2>/dev/null; true']);
    let ticks = 0;
    for (const line of stat.split('\n')) {
      const m = /^\d+ \((.*)\) (.*)$/.exec(line);
      if (!m || m[1] !== 'java') continue;
      const fields = (m[2] as string).split(' ');
      // After "pid (comm)", field 3 (state) is fields[0]: utime (14) and stime (15) are fields[11] and fields[12].
      ticks += Number(fields[11]) + Number(fields[12]);
    }
    return ticks;
  }

  /** Waits for the container to stop (e.g. a JVM that exits by itself); returns its exit code. */
  async waitForExit(c: StartedContainer): Promise<number> {
    const r = (await this.#docker.getContainer(c.id).wait()) as { StatusCode: number };
    return r.StatusCode;
  }

  /** Removes every container this instance started (force). Idempotent. */
  async cleanup(): Promise<void> {
    const ids = this.#started.splice(0);
    await Promise.all(
      ids.map((id) =>
        this.#docker
          .getContainer(id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
    );
  }

  #image(): string {
    if (this.#jdkImage === undefined) throw new Error('JvmContainers needs an env prepared with { jdk: true }');
    return this.#jdkImage;
  }

  // Sandboxes and busy shells need only sh and sleep: either JDK image does.
  #shellImage(): string {
    const image = this.#jdkImage ?? this.#jdksImage;
    if (image === undefined)
      throw new Error('JvmContainers needs an env prepared with { jdk: true } or { jdks: true }');
    return image;
  }

  #jdksImageOrThrow(): string {
    if (this.#jdksImage === undefined)
      throw new Error('JvmContainers needs an env prepared with { jdks: true } for `jdk`');
    return this.#jdksImage;
  }

  async #start(spec: {
    name: string;
    Image: string;
    Cmd: string[];
    User?: string | undefined;
    ReadonlyRootfs?: boolean | undefined;
    Tmpfs?: Record<string, string> | undefined;
    Labels: Record<string, string>;
    readyText: string;
    pod: PodIdentity | undefined;
    containerName: string | undefined;
  }): Promise<StartedContainer> {
    const container = await this.#docker.createContainer({
      name: spec.name,
      Image: spec.Image,
      Cmd: spec.Cmd,
      ...(spec.User !== undefined ? { User: spec.User } : {}),
      Labels: spec.Labels,
      HostConfig: {
        NetworkMode: 'none',
        Memory: 512 * 1024 * 1024,
        AutoRemove: false,
        ...(spec.ReadonlyRootfs === true ? { ReadonlyRootfs: true } : {}),
        ...(spec.Tmpfs !== undefined ? { Tmpfs: spec.Tmpfs } : {}),
      },
    });
    this.#started.push(container.id);
    await container.start();
    return {
      id: container.id,
      name: spec.name,
      pod: spec.pod,
      containerName: spec.containerName,
      readyText: spec.readyText,
    };
  }
}

/**
 * Docker's multiplexed stream of a container without a TTY (logs, exec): frames of an 8-byte header (byte 0: 1 =
 * stdout, 2 = stderr; bytes 4-7: payload size, big-endian) and the payload. The text of one stream, or of both in
 * order, decoded after joining its frames, so a line or a UTF-8 character split across frames reads whole.
 */
function demultiplexedText(raw: Buffer, stream?: 1 | 2): string {
  const payloads: Buffer[] = [];
  for (let at = 0; at + 8 <= raw.length;) {
    const size = raw.readUInt32BE(at + 4);
    if (stream === undefined || raw[at] === stream) payloads.push(raw.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return Buffer.concat(payloads).toString('utf8');
}
