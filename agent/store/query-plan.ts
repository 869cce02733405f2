/**
 * Which files a merge reads, decided from metadata and the rollups' member lists alone (a pure function, tested
 * without files). Per block (UTC day) and series: the day rollup when its members are exactly the series' selected
 * profiles of that day; else per hour the hour rollup when its members are exactly that hour's; else the profiles.
 * So a week merges about seven day rollups per series, plus hour rollups and single profiles at the range's edges.
 */
import type { StoredProfile } from '../../shared/history.js';
import { blockOf } from './block-layout.js';
import { bucketStart, rollupFileName, sameMembers, seriesKey, type RollupLevel } from './rollup-file.js';

export type PlannedRead =
  | { kind: 'rollup'; level: RollupLevel; file: string; items: StoredProfile[] }
  | { kind: 'profile'; item: StoredProfile };

export interface BlockPlan {
  block: string;
  reads: PlannedRead[];
}

/** The members of a rollup file of a block as the store knows them, or undefined when there is none. */
export type RollupLookup = (block: string, file: string) => readonly string[] | undefined;

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

const sortedIds = (items: readonly StoredProfile[]) => items.map((i) => i.id).sort();

/** Reads covering `items` (one block, one series) at `level` or finer. */
export function planSeries(
  block: string,
  key: string,
  items: readonly StoredProfile[],
  level: RollupLevel | 'profile',
  rollups: RollupLookup,
): PlannedRead[] {
  if (level === 'profile') return items.map((item) => ({ kind: 'profile', item }));
  const reads: PlannedRead[] = [];
  const byBucket = groupBy(items, (i) => String(bucketStart(Date.parse(i.start), level)));
  for (const [bucket, group] of byBucket) {
    const file = rollupFileName(level, Number(bucket), key);
    const members = rollups(block, file);
    if (members && sameMembers(members, sortedIds(group))) {
      reads.push({ kind: 'rollup', level, file, items: group });
    } else {
      reads.push(...planSeries(block, key, group, level === 'day' ? 'hour' : 'profile', rollups));
    }
  }
  return reads;
}

/** The reads of a merge of `items`, block by block in the order of the items' blocks. */
export function planMerge(items: readonly StoredProfile[], rollups: RollupLookup): BlockPlan[] {
  const plans: BlockPlan[] = [];
  for (const [block, inBlock] of groupBy(items, (i) => blockOf(i.id))) {
    const reads: PlannedRead[] = [];
    for (const [key, series] of groupBy(inBlock, seriesKey))
      reads.push(...planSeries(block, key, series, 'day', rollups));
    plans.push({ block, reads });
  }
  return plans;
}
