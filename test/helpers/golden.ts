import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Test } from 'tap';

/**
 * Compares `actual` with the golden file next to the inputs. `BLESS=1` rewrites it (review the diff before
 * committing); a missing golden fails, so a new case cannot pass by accident. `encoding` is how the text maps to the
 * file's bytes: latin1 for outputs that carry perf's bytes through unchanged (names need not be UTF-8).
 */
export function matchGolden(
  t: Test,
  goldenPath: string,
  actual: string,
  message: string,
  encoding: BufferEncoding = 'utf8',
): void {
  if (process.env.BLESS === '1') {
    writeFileSync(goldenPath, actual, encoding);
    t.pass(`${message} (golden rewritten: ${goldenPath})`);
    return;
  }
  if (!existsSync(goldenPath)) {
    t.fail(`${message}: golden ${goldenPath} is missing; run with BLESS=1 to write it, then review it`);
    return;
  }
  const expected = readFileSync(goldenPath, encoding);
  if (actual === expected) {
    t.pass(`${message} (same bytes as ${goldenPath})`);
    return;
  }
  // The first differing line says more than a diff of two 100 KB documents.
  const a = actual.split('\n');
  const e = expected.split('\n');
  let i = 0;
  while (i < a.length && i < e.length && a[i] === e[i]) i++;
  t.fail(`${message}: differs from ${goldenPath} at line ${i + 1}`, { found: a[i], wanted: e[i] });
}
