/**
 * Real captures for the history tests: two perf recordings of test/fixtures/history/Shop.java (releases "before"
 * and "after"), collapsed to folded stacks by the agent's collapser (fixtures.test.ts keeps the goldens honest).
 * `record.sh` next to them says how they were made.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseFolded, type FoldedStacks } from '../../shared/folded.js';
import type { NewProfile } from '../../agent/store/profile-store.js';

export const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/history/', import.meta.url));

export type Release = 'before' | 'after';

export function fixtureStacks(release: Release): FoldedStacks {
  const { stacks, invalidLines } = parseFolded(readFileSync(`${FIXTURE_DIR}${release}.folded`, 'utf8'));
  if (invalidLines > 0 || stacks.size === 0) throw new Error(`fixture ${release}.folded is damaged`);
  return stacks;
}

const HOUR_MS = 3600_000;
/** Three hours ago, or the start of today's UTC day if later: within default retention, all in one day's block. */
export const SHOP_T0 = Math.max(Date.now() - 3 * HOUR_MS, Math.floor(Date.now() / (24 * HOUR_MS)) * 24 * HOUR_MS);
export const isoTime = (ms: number): string => new Date(ms).toISOString();

/** Pod `shop-i` of namespace shop on node-a, stored under schedule shop i seconds after SHOP_T0. */
export function shopProfile(i: number, stacks: FoldedStacks = fixtureStacks('after')): NewProfile {
  return {
    namespace: 'shop',
    pod: `shop-${i}`,
    container: 'app',
    node: 'node-a',
    startMs: SHOP_T0 + i * 1000,
    durationSeconds: 1,
    frequencyHz: 99,
    warnings: [],
    schedule: 'shop',
    podUid: `uid-${i}`,
    containerId: String(i).repeat(64).slice(0, 64),
    labels: { app: 'shop' },
    stacks,
  };
}
