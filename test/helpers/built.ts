/**
 * The built entry points (`npm run build` → dist/) that end-to-end tests spawn exactly as a user runs them, and the
 * check that they exist (npm test builds before running tap; a lone `npx tap FILE` may not have).
 */
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
