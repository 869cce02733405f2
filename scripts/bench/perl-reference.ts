import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Brendan Gregg's perl scripts, run from `../shared/bench/reference` beside the project so that the bench can time
 * them in the same run as podflame. They are never copied into the project: a user's clone has no `../shared`, and
 * then the bench prints podflame's own figures without ratios.
 */
export interface PerlReference {
  /** The perl interpreter's absolute path (`$^X`), so that GNU time and spawn run the one that was probed. */
  perl: string;
  /** e.g. `v5.36.0`. */
  version: string;
  stackcollapse: string;
  flamegraph: string;
}

export type PerlLookup = { found: PerlReference } | { missing: string };

/** `../shared/bench/reference` relative to the project root. */
export function perlReferenceDir(projectRoot: string): string {
  return join(projectRoot, '..', 'shared', 'bench', 'reference');
}

export function findPerlReference(projectRoot: string): PerlLookup {
  const dir = perlReferenceDir(projectRoot);
  const stackcollapse = join(dir, 'stackcollapse-perf.pl');
  const flamegraph = join(dir, 'flamegraph.pl');
  const absent = [stackcollapse, flamegraph].filter((f) => !existsSync(f));
  if (absent.length > 0) return { missing: `${absent.join(', ')} not found` };
  // One probe gives both the interpreter's path and its version; it fails with ENOENT when perl is not installed.
  const probe = spawnSync('perl', ['-e', 'print "$^X $^V"'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    return { missing: `perl is not installed (${probe.error?.message ?? `perl -e exited ${probe.status}`})` };
  }
  const [perl, version] = probe.stdout.trim().split(' ');
  if (!perl || !version) return { missing: `perl -e 'print "$^X $^V"' printed "${probe.stdout.trim()}"` };
  return { found: { perl, version, stackcollapse, flamegraph } };
}
