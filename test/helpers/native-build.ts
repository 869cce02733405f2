/**
 * podflame's native capture parts (libpodflame-perfmap.so, podflame-target-fs and libpodflame-perfmap-guard.so,
 * agent/capture/build-native.sh) built on this machine for the host-mode tests, which run the capture script outside
 * any image: once per content of their sources, into /tmp/podflame-native-<hash>, shared by parallel test files through a lock directory.
 * The images build their own copies (Dockerfile.perf, Dockerfile.agent). Not a test file.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from './docker-env.js';

const SOURCES = [
  'agent/capture/build-native.sh',
  'agent/capture/perfmap-agent.c',
  'agent/capture/target-fs.c',
  'agent/capture/perfmap-guard.c',
];
const OUTPUTS = ['libpodflame-perfmap.so', 'podflame-target-fs', 'libpodflame-perfmap-guard.so'];

/** The folder holding both built files (for HostRuntime's nativeDir or the agent's --native-dir). */
export async function nativeDir(): Promise<string> {
  const hash = createHash('sha256');
  for (const f of SOURCES) hash.update(await readFile(join(REPO_ROOT, f)));
  const dir = `/tmp/podflame-native-${hash.digest('hex').slice(0, 12)}`;
  const ready = (): boolean => OUTPUTS.every((f) => existsSync(join(dir, f)));
  if (ready()) return dir;
  const lock = `${dir}.lock`;
  for (let waited = 0; ; waited += 200) {
    try {
      await mkdir(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (ready()) return dir;
      if (waited > 120_000) await rm(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    if (ready()) return dir;
    // Built beside and renamed into place: a reader never sees half a folder.
    const tmp = `${dir}.tmp-${process.pid}`;
    await new Promise<void>((resolve, reject) =>
      execFile('bash', [join(REPO_ROOT, 'agent/capture/build-native.sh'), tmp], (err, _out, stderr) =>
        err ? reject(new Error(`build-native.sh failed: ${stderr || err.message}`, { cause: err })) : resolve(),
      ),
    );
    await rename(tmp, dir);
    return dir;
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}
