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
  const golden = readGolden(t, goldenPath, Buffer.from(actual, encoding), message);
  if (golden === undefined) return;
  const expected = golden.toString(encoding);
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

/**
 * The golden rule, in one place: with `BLESS=1` writes `actual` as the golden (passing, to be reviewed) and returns
 * undefined; a missing golden fails and returns undefined; otherwise returns the golden's bytes for the caller to
 * compare.
 */
export function readGolden(t: Test, goldenPath: string, actual: Buffer, message: string): Buffer | undefined {
  if (process.env.BLESS === '1') {
    writeFileSync(goldenPath, actual);
    t.pass(`${message} (golden rewritten: ${goldenPath}; review the diff)`);
    return undefined;
  }
  if (!existsSync(goldenPath)) {
    t.fail(`${message}: golden ${goldenPath} is missing; run with BLESS=1 to write it, then review it`);
    return undefined;
  }
  return readFileSync(goldenPath);
}
