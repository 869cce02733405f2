/**
 * The shared harness of every test that needs the real Docker engine: it checks that the engine answers and that
 * the local base image exists, and builds (once, then reuses) the capture image from Dockerfile.perf, a JDK 17
 * image with the test workloads (test/workloads/) and, when asked, the image of JDK 8, 11, 17, 21 and 25 with the
 * Java 8 test app (test/workloads/jdks/, FROM the local sid base SID_BASE_IMAGE). Images are tagged by a hash of their inputs, so a changed
 * capture script is always rebuilt and an unchanged one never is; parallel test files share one build through a
 * lock directory in /tmp. Not a test file.
 *
 * Missing prerequisites: with CI=true the test FAILS (CI must never pass by skipping); elsewhere the test file is
 * skipped with a loud reason on stderr. Provision a machine with `bash scripts/provision.sh` (as root).
 *
 * Usage, at the top of a test file, before any subtest:
 *
 *   const env = await requireDockerEnv(t, { jdk: true });
 *   if (env) { t.test(...); }
 */
import { createHash } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { mkdir, readFile, readdir, rm, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import Docker from 'dockerode';

/** The repository root (this file is test/helpers/docker-env.ts). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The base image every podflame image builds FROM; made locally by scripts/provision.sh (no registry here). */
export const BASE_IMAGE = 'debian:bookworm-slim';

/** The base of the multi-JDK image: a local debootstrap of Debian sid, made by scripts/provision.sh. */
export const SID_BASE_IMAGE = 'podflame-base:sid';

/** The JDKs of the multi-JDK image (test/workloads/jdks/), oldest first. */
export const JDK_MAJORS = [8, 11, 17, 21, 25] as const;
export type JdkMajor = (typeof JDK_MAJORS)[number];

/** Where Debian puts each JDK's `java` in the multi-JDK image. */
export function javaBinaryFor(major: JdkMajor): string {
  return `/usr/lib/jvm/java-${major}-openjdk-amd64/bin/java`;
}

/** Label on every container the test helpers start, so a crashed run's leftovers can be found. */
export const TEST_LABEL = 'io.podflame.test';

export interface DockerEnv {
  /** Unix socket of the engine (from DOCKER_HOST=unix://... or /var/run/docker.sock). */
  socketPath: string;
  /** A dockerode client for that socket. */
  docker: Docker;
  /** Capture image built from Dockerfile.perf and agent/capture/ at their current content, e.g. podflame-perf:test-1a2b3c4d5e6f. */
  captureImage: string;
  /** JDK 17 image with test/workloads/*.java compiled in /app (when asked for with `jdk: true`). */
  jdkImage: string | undefined;
  /**
   * Image with JDK 8, 11, 17, 21 and 25 (javaBinaryFor) and test/workloads/jdks/*.java compiled for Java 8 in /app
   * (when asked for with `jdks: true`).
   */
  jdksImage: string | undefined;
}

export interface DockerEnvOptions {
  /** Also build/reuse the JDK image with the test workloads. Default false. */
  jdk?: boolean;
  /** Also build/reuse the multi-JDK image (test/workloads/jdks/). Default false. */
  jdks?: boolean;
}

/** The subset of a tap Test the harness uses. */
interface TapLike {
  plan(n: number, comment?: string): void;
}

/** True when running in CI, where a missing prerequisite must fail rather than skip. */
export function inCI(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

export function dockerSocketPath(): string {
  const host = process.env.DOCKER_HOST;
  if (host?.startsWith('unix://')) return host.slice('unix://'.length);
  return '/var/run/docker.sock';
}

/**
 * Ensures the engine and images; returns undefined after marking the test skipped (outside CI) when something is
 * missing, and throws (failing the test) in CI.
 */
export async function requireDockerEnv(t: TapLike, options: DockerEnvOptions = {}): Promise<DockerEnv | undefined> {
  try {
    return await prepareDockerEnv(options);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    if (inCI()) throw new Error(`CI=true and a prerequisite of this test is missing: ${reason}`, { cause: err });
    process.stderr.write(
      `\n*** SKIPPING ${process.argv[1] ?? 'a Docker test'}: ${reason}\n` +
        `*** Provision this machine with \`bash scripts/provision.sh\` (as root), then run the test again.\n\n`,
    );
    t.plan(0, `skipped: ${reason}`);
    return undefined;
  }
}

/** Ensures the engine and images or throws with what is missing and how to fix it. */
export async function prepareDockerEnv(options: DockerEnvOptions = {}): Promise<DockerEnv> {
  const socketPath = dockerSocketPath();
  const docker = new Docker({ socketPath });
  try {
    await docker.ping();
  } catch (err) {
    throw new Error(`the Docker engine at ${socketPath} does not answer (${(err as Error).message})`, { cause: err });
  }
  if (!(await imageExists(docker, BASE_IMAGE))) {
    throw new Error(`the base image ${BASE_IMAGE} is missing (scripts/provision.sh imports one made with debootstrap)`);
  }
  const captureImage = await ensureCaptureImage(docker);
  const jdkImage = options.jdk === true ? await ensureJdkImage(docker) : undefined;
  let jdksImage: string | undefined;
  if (options.jdks === true) {
    if (!(await imageExists(docker, SID_BASE_IMAGE))) {
      throw new Error(
        `the base image ${SID_BASE_IMAGE} of the multi-JDK image is missing (scripts/provision.sh imports one made with debootstrap)`,
      );
    }
    jdksImage = await ensureJdksImage(docker);
  }
  return { socketPath, docker, captureImage, jdkImage, jdksImage };
}

/** Builds (or reuses) the capture image for the current Dockerfile.perf and agent/capture/; returns its tag. */
export async function ensureCaptureImage(docker: Docker): Promise<string> {
  const inputs = ['Dockerfile.perf', '.dockerignore', ...(await listFiles('agent/capture'))];
  const tag = `podflame-perf:test-${await hashFiles(inputs)}`;
  await buildOnce(docker, tag, ['-f', 'Dockerfile.perf', '.']);
  return tag;
}

/** Builds (or reuses) the JDK 17 image with test/workloads/ compiled in /app; returns its tag. */
export async function ensureJdkImage(docker: Docker): Promise<string> {
  // Its Dockerfile copies only the top folder's files: the multi-JDK image's folder must not change this tag.
  const inputs = (await listFiles('test/workloads')).filter((p) => !p.startsWith('test/workloads/jdks/'));
  const tag = `podflame-jdk:test-${await hashFiles(inputs)}`;
  await buildOnce(docker, tag, ['test/workloads']);
  return tag;
}

/** Builds (or reuses) the image of JDK 8, 11, 17, 21 and 25 with test/workloads/jdks/ compiled in /app; returns its tag. */
export async function ensureJdksImage(docker: Docker): Promise<string> {
  const tag = `podflame-jdks:test-${await hashFiles(await listFiles('test/workloads/jdks'))}`;
  await buildOnce(docker, tag, ['test/workloads/jdks']);
  return tag;
}

export async function imageExists(docker: Docker, image: string): Promise<boolean> {
  try {
    await docker.getImage(image).inspect();
    return true;
  } catch {
    return false;
  }
}

/** Repository-relative paths of the files under a folder (recursively), sorted. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(join(REPO_ROOT, dir), { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(REPO_ROOT.length).replace(/^\/+/, ''))
    .sort();
}

/** First 12 hex digits of a SHA-256 over the files' paths, modes and contents. */
async function hashFiles(paths: readonly string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const p of [...paths].sort()) {
    const full = join(REPO_ROOT, p);
    const info = await stat(full);
    hash.update(`${p}\0${info.mode & 0o111 ? 'x' : '-'}\0`);
    hash.update(await readFile(full));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 12);
}

const LOCK_STALE_MS = 10 * 60_000;
const BUILD_TIMEOUT_MS = 8 * 60_000;

/**
 * `docker build --network host -t TAG ARGS` unless TAG exists, with a lock directory (mkdir is atomic) so that test
 * files running in parallel build it once: the others wait, then find the image.
 */
async function buildOnce(docker: Docker, tag: string, args: readonly string[]): Promise<void> {
  if (await imageExists(docker, tag)) return;
  const lock = `/tmp/podflame-build-${tag.replace(/[^A-Za-z0-9_.-]/g, '_')}.lock`;
  const waitUntil = Date.now() + BUILD_TIMEOUT_MS;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = Date.now() - (await stat(lock).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
      if (age > LOCK_STALE_MS) {
        await rm(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > waitUntil) throw new Error(`gave up waiting for another build of ${tag} (lock ${lock})`);
      await new Promise((r) => setTimeout(r, 1000));
      if (await imageExists(docker, tag)) return;
    }
  }
  try {
    if (await imageExists(docker, tag)) return;
    process.stderr.write(`podflame tests: building ${tag} (docker build --network host ${args.join(' ')})\n`);
    await dockerBuild(tag, args);
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

function dockerBuild(tag: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', ['build', '--network', 'host', '--force-rm', '-t', tag, ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DOCKER_BUILDKIT: '0' },
    });
    let output = '';
    const keep = (d: Buffer): void => {
      output = (output + d.toString('utf8')).slice(-20_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), BUILD_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`could not run docker build for ${tag}: ${err.message}`, { cause: err }));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`docker build of ${tag} failed (exit ${code}):\n${output}`));
    });
  });
}

/** Runs the docker CLI (for the few things tests check from the outside); resolves with stdout. */
export function dockerCli(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('docker', [...args], { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`docker ${args.join(' ')} failed: ${stderr || err.message}`, { cause: err }));
      else resolve(stdout);
    });
  });
}
