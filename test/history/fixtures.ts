/**
 * Real captures for the history tests: two perf recordings of test/fixtures/history/Shop.java (releases "before"
 * and "after"), collapsed to folded stacks by the agent's collapser (fixtures.test.ts keeps the goldens honest).
 * `record.sh` next to them says how they were made.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseFolded, type FoldedStacks } from '../../shared/folded.js';

export const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/history/', import.meta.url));

export type Release = 'before' | 'after';

export function fixtureStacks(release: Release): FoldedStacks {
  const { stacks, invalidLines } = parseFolded(readFileSync(`${FIXTURE_DIR}${release}.folded`, 'utf8'));
  if (invalidLines > 0 || stacks.size === 0) throw new Error(`fixture ${release}.folded is damaged`);
  return stacks;
}
