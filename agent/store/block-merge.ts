/**
 * Merges stored profiles the fast way: query-plan.ts says which rollups and profiles to read, each block's pairs are
 * summed by stack ID, and only then turned into stacks through the block's dictionary. Memory is the distinct stacks
 * of one block's answer plus those of the whole answer, whatever the number of profiles.
 *
 * A rollup that is gone or whose members changed since the plan (a write or retention ran meanwhile) is replaced by
 * the reads one level finer; a profile that retention removed meanwhile is left out, and not counted as merged.
 */
import type { EventCounts, FoldedStacks } from '../../shared/folded.js';
import type { StoredProfile } from '../../shared/history.js';
import { PAIRS_SUFFIX } from './block-layout.js';
import { ByteReader, DenseCounts, EventCountSums, addPairs, type PairCounts } from './pairs-codec.js';
import { planMerge, planSeries, type PlannedRead, type RollupLookup } from './query-plan.js';
import { openRollup, sameMembers, seriesKey } from './rollup-file.js';
import type { StackDictionary } from './stack-dictionary.js';

/** What the merge reads of a store. */
export interface BlockFiles {
  /** A file of a block; undefined when it does not exist. */
  read(block: string, name: string): Promise<Buffer | undefined>;
  dictionary(block: string): Promise<StackDictionary>;
  rollups: RollupLookup;
}

export interface MergedProfiles {
  stacks: FoldedStacks;
  /**
   * The stacks' summed event counts (a lock profile's contentions), when every profile merged has them; undefined
   * for other events, and for lock profiles of which one was stored before counts were kept.
   */
  eventCounts?: EventCounts;
  /** The profiles actually merged, in the order given. */
  items: StoredProfile[];
}

/** Adds one profile's pairs into `into`, and its event counts into `eventCounts`; false when the profile is gone. */
export async function addProfile(
  files: BlockFiles,
  block: string,
  id: string,
  into: PairCounts,
  eventCounts?: EventCountSums,
): Promise<boolean> {
  const data = await files.read(block, `${id}${PAIRS_SUFFIX}`);
  if (!data) return false;
  const reader = new ByteReader(data);
  addPairs(reader, into);
  eventCounts?.addFrom(reader);
  return true;
}

/** Executes reads of one block into `into` (event counts into `eventCounts`); returns the IDs of the profiles merged. */
export async function sumBlock(
  files: BlockFiles,
  block: string,
  reads: readonly PlannedRead[],
  into: PairCounts,
  merged: Set<string> = new Set(),
  eventCounts?: EventCountSums,
): Promise<Set<string>> {
  for (const read of reads) {
    if (read.kind === 'profile') {
      if (await addProfile(files, block, read.item.id, into, eventCounts)) merged.add(read.item.id);
      continue;
    }
    const expected = read.items.map((i) => i.id).sort();
    const data = await files.read(block, read.file);
    let rollup: ReturnType<typeof openRollup> | undefined;
    try {
      rollup = data && openRollup(data);
    } catch {
      rollup = undefined; // damaged: the finer reads answer instead
    }
    const series = seriesKey(read.items[0] as StoredProfile);
    if (rollup && rollup.header.series === series && sameMembers(rollup.header.members, expected)) {
      addPairs(rollup.pairs, into);
      eventCounts?.addFrom(rollup.pairs);
      for (const id of expected) merged.add(id);
    } else {
      const finer = planSeries(block, series, read.items, read.level === 'day' ? 'hour' : 'profile', files.rollups);
      await sumBlock(files, block, finer, into, merged, eventCounts);
    }
  }
  return merged;
}

/** The merged stacks of `items` and the profiles actually merged. */
export async function mergeProfiles(files: BlockFiles, items: readonly StoredProfile[]): Promise<MergedProfiles> {
  const stacks: FoldedStacks = new Map();
  const merged = new Set<string>();
  // One set of sums, emptied per block: the blocks' IDs are each their own.
  const pairs = new DenseCounts();
  // The counts of every block, so that one block's profile without counts leaves them out of the whole answer.
  const blockCounts = new DenseCounts();
  const counted = new EventCountSums(blockCounts);
  const eventCounts: EventCounts = new Map();
  for (const { block, reads } of planMerge(items, files.rollups)) {
    pairs.clear();
    blockCounts.clear();
    await sumBlock(files, block, reads, pairs, merged, counted);
    if (pairs.size === 0) continue;
    // After the data: the dictionary then holds every ID the data refers to.
    const dictionary = await files.dictionary(block);
    pairs.forEach((count, id) => {
      const stack = dictionary.text(id);
      stacks.set(stack, (stacks.get(stack) ?? 0) + count);
    });
    blockCounts.forEach((count, id) => {
      const stack = dictionary.text(id);
      eventCounts.set(stack, (eventCounts.get(stack) ?? 0) + count);
    });
  }
  return {
    stacks,
    ...(counted.complete() ? { eventCounts } : {}),
    items: items.filter((i) => merged.has(i.id)),
  };
}
