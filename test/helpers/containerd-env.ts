/**
 * Containers started directly by containerd with `ctr` — the Docker engine does not know them — for the host-mode
 * tests. Not a test file.
 *
 * Which containerd: Docker's own (`/run/docker/containerd/containerd.sock`, started by dockerd, which
 * scripts/provision.sh starts), in a namespace of its own (`podflame-test`). Docker only looks at its `moby`
 * namespace, so these containers are invisible to it (`docker inspect` fails for them), exactly as on a node where
 * kubelet drives containerd; and no second daemon has to be provisioned, kept running and cleaned up. The JDK test
 * image (test/helpers/docker-env.ts builds it) is imported with `docker save | ctr images import` once per content
 * hash. Container IDs are 64 hex digits, as kubelet's are; the cgroup is ctr's default `/<namespace>/<id>`.
 *
 *   const ctr = await requireContainerdEnv(t, env);          // env from requireDockerEnv(t, { jdk: true })
 *   t.teardown(() => ctr.cleanup());
 *   const app = await ctr.startJvm({ launch: 'shell', uid: 1000 });
 *   await ctr.waitForWarmup(app);
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inCI, type DockerEnv } from './docker-env.js';
import { waitFor } from './wait-for.js';

export const CONTAINERD_ADDRESS = process.env.PODFLAME_TEST_CONTAINERD ?? '/run/docker/containerd/containerd.sock';
export const CTR_NAMESPACE = 'podflame-test';

export interface CtrContainer {
  /** 64 hex digits, as kubelet's container IDs. */
  id: string;
  /** Host PID of its init process. */
  pid: number;
  /** File the container's stdout and stderr go to. */
  logFile: string;
  readyText: string;
}

export interface CtrJvmOptions {
  /** `pid1`: java is the container's process; `shell`: `sh -c 'java …; sleep'`. Default `pid1`. */
  launch?: 'pid1' | 'shell';
  /** Run java as this uid/gid (through setpriv under a shell). Default root. */
  uid?: number;
  /** -XX:+PreserveFramePointer. Default true. */
  preserveFramePointer?: boolean;
  /** Workload class in test/workloads. Default `Hot`. */
  mainClass?: string;
}

interface TapLike {
  plan(n: number, comment?: string): void;
}

function run(cmd: string, args: readonly string[], timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, [...args], { maxBuffer: 16 * 1024 * 1024, timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr || err.message}`, { cause: err }));
      else resolve(stdout);
    });
  });
}

/** `ctr -a ADDRESS -n podflame-test ARGS`; resolves with stdout. */
export function ctr(args: readonly string[], timeoutMs?: number): Promise<string> {
  return run('ctr', ['-a', CONTAINERD_ADDRESS, '-n', CTR_NAMESPACE, ...args], timeoutMs);
}

/** The JDK image's name once imported into containerd (`docker save` names it under docker.io/library/). */
function importedName(dockerTag: string): string {
  return dockerTag.includes('/') ? `docker.io/${dockerTag}` : `docker.io/library/${dockerTag}`;
}

/** `docker save TAG | ctr images import -` unless the image is there; one importer at a time across test files. */
async function ensureImported(dockerTag: string): Promise<string> {
  const name = importedName(dockerTag);
  const has = async (): Promise<boolean> => (await ctr(['images', 'ls', '-q'])).split('\n').includes(name);
  if (await has()) return name;
  const lock = `/tmp/podflame-ctr-import-${dockerTag.replace(/[^A-Za-z0-9_.-]/g, '_')}.lock`;
  const deadline = Date.now() + 8 * 60_000;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch {
      const age = Date.now() - (await stat(lock).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
      if (age > 10 * 60_000) await rm(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`gave up waiting for another import of ${dockerTag} (${lock})`);
      await new Promise((r) => setTimeout(r, 1000));
      if (await has()) return name;
    }
  }
  try {
    if (await has()) return name;
    process.stderr.write(`podflame tests: importing ${dockerTag} into containerd (${CTR_NAMESPACE})\n`);
    await new Promise<void>((resolve, reject) => {
      const save = spawn('docker', ['save', dockerTag], { stdio: ['ignore', 'pipe', 'inherit'] });
      const load = spawn('ctr', ['-a', CONTAINERD_ADDRESS, '-n', CTR_NAMESPACE, 'images', 'import', '-'], {
        stdio: ['pipe', 'ignore', 'pipe'],
      });
      let err = '';
      load.stderr.on('data', (d: Buffer) => (err += d.toString()));
      save.stdout.pipe(load.stdin);
      load.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`ctr images import: ${code} ${err}`))));
      save.once('error', reject);
      load.once('error', reject);
    });
    if (!(await has())) throw new Error(`${name} is not in containerd after the import`);
    return name;
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/** ctr, containerd and the imported image, or a skip (outside CI) / failure (CI) naming what is missing. */
export async function requireContainerdEnv(t: TapLike, env: DockerEnv): Promise<ContainerdEnv | undefined> {
  try {
    await stat(CONTAINERD_ADDRESS);
    await ctr(['version']);
    if (env.jdkImage === undefined) throw new Error('the JDK test image was not prepared');
    const image = await ensureImported(env.jdkImage);
    return new ContainerdEnv(image, await mkdtemp(join(tmpdir(), 'podflame-ctr-')));
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    if (inCI()) throw new Error(`CI=true and containerd/ctr is not usable: ${reason}`, { cause: err });
    process.stderr.write(`\n*** SKIPPING ${process.argv[1] ?? 'a ctr test'}: ${reason}\n\n`);
    t.plan(0, `skipped: ${reason}`);
    return undefined;
  }
}

export class ContainerdEnv {
  readonly image: string;
  readonly #logDir: string;
  readonly #started: string[] = [];

  constructor(image: string, logDir: string) {
    this.image = image;
    this.#logDir = logDir;
  }

  /** A JVM running a test workload, started by containerd alone. */
  async startJvm(options: CtrJvmOptions = {}): Promise<CtrContainer> {
    const mainClass = options.mainClass ?? 'Hot';
    const java = [
      'java',
      '-Xmx128m',
      ...(options.preserveFramePointer === false ? [] : ['-XX:+PreserveFramePointer']),
      '-cp',
      '/app',
      mainClass,
    ].join(' ');
    const asUser =
      options.uid !== undefined ? `setpriv --reuid=${options.uid} --regid=${options.uid} --clear-groups ` : '';
    const launch = options.uid !== undefined ? 'shell' : (options.launch ?? 'pid1');
    const cmd =
      launch === 'shell'
        ? ['sh', '-c', `cd /tmp; ${asUser}${java}; echo "java exited with status $?"; exec sleep infinity`]
        : java.split(' ');
    return this.#start(cmd, `${mainClass}: started`);
  }

  async #start(cmd: string[], readyText: string): Promise<CtrContainer> {
    const id = randomBytes(32).toString('hex');
    const logFile = join(this.#logDir, `${id.slice(0, 12)}.log`);
    this.#started.push(id);
    await ctr([
      'run',
      '-d',
      '--log-uri',
      `file://${logFile}`,
      '--label',
      'io.podflame.test=host',
      this.image,
      id,
      ...cmd,
    ]);
    const tasks = await ctr(['task', 'ls']);
    // e.g. "0c1d…e9    5957    RUNNING"
    const line = tasks.split('\n').find((l) => l.startsWith(`${id} `));
    const pid = Number(line?.trim().split(/\s+/)[1]);
    if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no task for ctr container ${id}: ${tasks}`);
    return { id, pid, logFile, readyText };
  }

  async waitForOutput(c: CtrContainer, text = c.readyText, timeoutMs = 60_000): Promise<void> {
    await waitFor(
      async () => (await readFile(c.logFile, 'utf8').catch(() => '')).includes(text),
      timeoutMs,
      `ctr container ${c.id.slice(0, 12)} to print "${text}" (its log: ${c.logFile})`,
      200,
    );
  }

  async waitForWarmup(c: CtrContainer, warmupMs = 2000): Promise<void> {
    await this.waitForOutput(c);
    await new Promise((r) => setTimeout(r, warmupMs));
  }

  /** Kills and deletes every container this instance started (task, container, snapshot). Idempotent. */
  async cleanup(): Promise<void> {
    for (const id of this.#started.splice(0)) {
      await ctr(['task', 'kill', '-s', 'SIGKILL', id]).catch(() => undefined);
      for (let i = 0; i < 50; i++) {
        const ok = await ctr(['task', 'delete', id]).then(
          () => true,
          (err: Error) => /not found/i.test(err.message),
        );
        if (ok) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      await ctr(['container', 'delete', id]).catch(() => undefined);
    }
    await rm(this.#logDir, { recursive: true, force: true });
  }
}
