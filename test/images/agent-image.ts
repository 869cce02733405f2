/**
 * Builds (once, then reuses) the agent image from Dockerfile.agent, tagged by a hash of its inputs like the harness's
 * images (test/helpers/docker-env.ts): `podflame-agent:test-<hash>`. Its base is `node:20-bookworm-slim` when that
 * image is present (a machine that reached a registry), else the local `podflame-node:20-bookworm-slim` made by
 * scripts/node-base-image.sh from debian:bookworm-slim and this host's Node 20. A lock directory in /tmp keeps
 * concurrent runs to one build. Not a test file.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { REPO_ROOT, imageExists } from '../helpers/docker-env.js';

export const UPSTREAM_NODE_IMAGE = 'node:20-bookworm-slim';
export const LOCAL_NODE_IMAGE = 'podflame-node:20-bookworm-slim';

/** Building the image runs `npm ci` twice and `tsc` on a loaded 2-core machine: minutes, not seconds. */
const BUILD_TIMEOUT_MS = 15 * 60_000;
const LOCK_STALE_MS = 20 * 60_000;

function run(cmd: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      [...args],
      {
        cwd: REPO_ROOT,
        timeout: timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, DOCKER_BUILDKIT: '0' },
      },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${(stderr || err.message).slice(-20_000)}`));
        else resolve(stdout);
      },
    );
  });
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(join(REPO_ROOT, dir), { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(REPO_ROOT.length).replace(/^\/+/, ''));
}

/** First 12 hex digits of a SHA-256 over the base image ID and the build inputs' paths and contents. */
async function inputHash(baseImageId: string): Promise<string> {
  const inputs = [
    'Dockerfile.agent',
    '.dockerignore',
    'package.json',
    'package-lock.json',
    'tsconfig.json',
    ...(await filesUnder('agent')),
    ...(await filesUnder('shared')),
  ].sort();
  const hash = createHash('sha256').update(`${baseImageId}\0`);
  for (const p of inputs) {
    hash.update(`${p}\0`);
    hash.update(await readFile(join(REPO_ROOT, p)));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 12);
}

async function withLock<T>(name: string, body: () => Promise<T>): Promise<T> {
  const lock = `/tmp/podflame-build-${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.lock`;
  const giveUpAt = Date.now() + BUILD_TIMEOUT_MS;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = Date.now() - (await stat(lock).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
      if (age > LOCK_STALE_MS) await rm(lock, { recursive: true, force: true });
      else if (Date.now() > giveUpAt) throw new Error(`gave up waiting for another build (lock ${lock})`);
      else await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await body();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/** The Node 20 base image to build on: the upstream one if present, else the local one (made when missing). */
export async function ensureNodeBaseImage(docker: Docker): Promise<string> {
  if (await imageExists(docker, UPSTREAM_NODE_IMAGE)) return UPSTREAM_NODE_IMAGE;
  return withLock(LOCAL_NODE_IMAGE, async () => {
    if (!(await imageExists(docker, LOCAL_NODE_IMAGE))) {
      process.stderr.write(`podflame tests: making ${LOCAL_NODE_IMAGE} (bash scripts/node-base-image.sh)\n`);
      await run('bash', ['scripts/node-base-image.sh', LOCAL_NODE_IMAGE], BUILD_TIMEOUT_MS);
    }
    return LOCAL_NODE_IMAGE;
  });
}

/** Builds (or reuses) the agent image for the current sources; returns its tag. */
export async function ensureAgentImage(docker: Docker): Promise<string> {
  const base = await ensureNodeBaseImage(docker);
  const baseId = ((await docker.getImage(base).inspect()) as { Id: string }).Id;
  const tag = `podflame-agent:test-${await inputHash(baseId)}`;
  if (await imageExists(docker, tag)) return tag;
  return withLock(tag, async () => {
    if (await imageExists(docker, tag)) return tag;
    process.stderr.write(`podflame tests: building ${tag} from Dockerfile.agent on ${base} (a few minutes)\n`);
    await run(
      'docker',
      [
        'build',
        '--network',
        'host',
        '--force-rm',
        '--build-arg',
        `BASE_IMAGE=${base}`,
        '-f',
        'Dockerfile.agent',
        '-t',
        tag,
        '.',
      ],
      BUILD_TIMEOUT_MS,
    );
    return tag;
  });
}
