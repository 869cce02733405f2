/**
 * The built entry points (`npm run build` → dist/) that end-to-end tests spawn exactly as a user runs them, and the
 * check that they exist (npm test builds before running tap; a lone `npx tap FILE` may not have).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `podflame-agent`: dist/agent/main.js. */
export const DIST_AGENT = join(REPO_ROOT, 'dist/agent/main.js');
/** `podflame` and `kubectl-podflame`: dist/client/cli/main.js. */
export const DIST_CLI = join(REPO_ROOT, 'dist/client/cli/main.js');

/** Throws, saying how to build them, unless both entry points are built. */
export function requireBuild(): void {
  for (const f of [DIST_AGENT, DIST_CLI]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run npm run build first (npm test does)`);
  }
}

/** What a run of the built CLI gave: its exit code, stdout as bytes, stderr as text. */
export interface CliRun {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs the built `podflame` with `args` in `cwd`, `stdin` (empty by default) as its input. */
export function runBuiltCli(args: string[], cwd: string, stdin?: Buffer): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DIST_CLI, ...args], { cwd });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => (err += b.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
    child.stdin.end(stdin ?? Buffer.alloc(0));
  });
}
