/**
 * A second Docker engine that only the fault tests use, so they can stop and restart it without disturbing the
 * machine's main dockerd, on which every other test file runs in parallel. It has its own socket, data root (kept
 * under /var/tmp between runs, so images are loaded once), exec root and containerd, and no bridge network, like
 * the main one (scripts/provision.sh). Images are copied in from the main engine with `docker save | docker load`
 * whenever their IDs differ. Not a test file.
 */
import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, closeSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface PrivateDockerdOptions {
  /** Kept between runs for the image cache. Default /var/tmp/podflame-fault-dockerd. */
  dataRoot?: string;
  /** Short (unix socket paths are limited to 108 bytes). Default /tmp/pf-fault-exec. */
  execRoot?: string;
  /** Default /tmp/pf-fault-dockerd.sock. */
  socket?: string;
  /** Default /tmp/pf-fault-dockerd.pid. */
  pidFile?: string;
  /** Default /tmp/pf-fault-dockerd.log. */
  logFile?: string;
}

export class PrivateDockerd {
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly socket: string;
  readonly pidFile: string;
  readonly logFile: string;
  #pid: number | undefined;

  constructor(options: PrivateDockerdOptions = {}) {
    this.dataRoot = options.dataRoot ?? '/var/tmp/podflame-fault-dockerd';
    this.execRoot = options.execRoot ?? '/tmp/pf-fault-exec';
    this.socket = options.socket ?? '/tmp/pf-fault-dockerd.sock';
    this.pidFile = options.pidFile ?? '/tmp/pf-fault-dockerd.pid';
    this.logFile = options.logFile ?? '/tmp/pf-fault-dockerd.log';
  }

  get host(): string {
    return `unix://${this.socket}`;
  }

  get pid(): number | undefined {
    return this.#pid;
  }

  /** `docker -H <this engine> ARGS`, stdout. */
  async docker(args: readonly string[]): Promise<string> {
    const { stdout } = await run('docker', ['-H', this.host, ...args], { maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  }

  async answers(): Promise<boolean> {
    try {
      await run('docker', ['-H', this.host, 'version', '--format', '{{.Server.APIVersion}}'], { timeout: 5_000 });
      return true;
    } catch {
      return false;
    }
  }

  /** Starts the engine (stopping one an earlier, crashed run of this test left behind, by its pid file). */
  async start(): Promise<void> {
    await this.#stopStale();
    mkdirSync(this.dataRoot, { recursive: true });
    mkdirSync(this.execRoot, { recursive: true });
    const log = openSync(this.logFile, 'a');
    const child = spawn(
      'dockerd',
      [
        '--host',
        this.host,
        '--data-root',
        this.dataRoot,
        '--exec-root',
        this.execRoot,
        '--pidfile',
        this.pidFile,
        '--bridge=none',
        '--iptables=false',
        '--ip-masq=false',
        // An orderly stop gives containers this long before killing them (the default is 15 s).
        '--shutdown-timeout=2',
      ],
      { detached: true, stdio: ['ignore', log, log] },
    );
    closeSync(log);
    child.unref();
    this.#pid = child.pid;
    for (let i = 0; i < 120; i++) {
      if (await this.answers()) return;
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`the private dockerd did not answer within 30 s; see ${this.logFile}`);
  }

  /** Stops the engine by its pid (SIGTERM: an orderly stop, as `systemctl stop docker` does) and waits for it. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const pid = this.#pid;
    if (pid === undefined) return;
    this.#pid = undefined;
    await killAndWait(pid, signal);
  }

  async #stopStale(): Promise<void> {
    if (!existsSync(this.pidFile)) return;
    const pid = Number(readFileSync(this.pidFile, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 1) return;
    // Only if that pid is still a dockerd serving this socket: the pid may have been reused since.
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return;
    }
    if (cmdline.includes('dockerd') && cmdline.includes(this.socket)) await killAndWait(pid, 'SIGTERM');
  }

  /** Copies images from the main engine unless this one already has them with the same ID. */
  async loadImages(images: readonly string[]): Promise<string[]> {
    const missing: string[] = [];
    for (const image of images) {
      const { stdout: want } = await run('docker', ['image', 'inspect', '--format', '{{.Id}}', image]);
      let have = '';
      try {
        have = await this.docker(['image', 'inspect', '--format', '{{.Id}}', image]);
      } catch {
        // not there
      }
      if (have.trim() !== want.trim()) missing.push(image);
    }
    if (missing.length === 0) return [];
    await new Promise<void>((resolve, reject) => {
      const save = spawn('docker', ['save', ...missing], { stdio: ['ignore', 'pipe', 'inherit'] });
      const load = spawn('docker', ['-H', this.host, 'load', '--quiet'], { stdio: ['pipe', 'ignore', 'inherit'] });
      save.stdout.pipe(load.stdin);
      save.on('error', reject);
      load.on('error', reject);
      load.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`docker load exited with ${code}`))));
    });
    return missing;
  }
}

async function killAndWait(pid: number, signal: NodeJS.Signals): Promise<void> {
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}
