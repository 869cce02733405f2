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
import type { MergeBudget } from './merge-budget.js';
import { Turns } from '../../shared/turns.js';

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

/**
 * Executes reads of one block into `into` (event counts into `eventCounts`); returns the IDs of the profiles merged.
 * `afterRead` runs after each.
 */
export async function sumBlock(
  files: BlockFiles,
  block: string,
  reads: readonly PlannedRead[],
  into: PairCounts,
  merged: Set<string> = new Set(),
  afterRead?: () => Promise<void>,
  eventCounts?: EventCountSums,
): Promise<Set<string>> {
  for (const read of reads) {
    if (read.kind === 'profile') {
      if (await addProfile(files, block, read.item.id, into, eventCounts)) merged.add(read.item.id);
      await afterRead?.();
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
      await afterRead?.();
    } else {
      const finer = planSeries(block, series, read.items, read.level === 'day' ? 'hour' : 'profile', files.rollups);
      await sumBlock(files, block, finer, into, merged, afterRead, eventCounts);
    }
  }
  return merged;
}

/**
 * `files` whose reads and dictionaries a merge stops waiting for once `signal` is aborted: a day's dictionary takes
 * a second or more to load, and the merge gate's next turn should not wait for it. The load itself goes on (it is
 * cached for the next query) and its result, or failure, is then nobody's.
 */
function abandonable(files: BlockFiles, signal: AbortSignal): BlockFiles {
  const untilAborted = <T>(work: Promise<T>): Promise<T> => {
    if (signal.aborted) return Promise.reject(signal.reason);
    let onAbort!: () => void;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    return Promise.race([work, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
  };
  return {
    read: (block, name) => untilAborted(files.read(block, name)),
    dictionary: (block) => untilAborted(files.dictionary(block)),
    rollups: files.rollups,
  };
}

/**
 * The merged stacks of `items` and the profiles actually merged. With a `budget`, the stacks each read adds to the
 * answer are counted as soon as it is read, so a merge beyond the cap stops there (PROFILE_TOO_LARGE) without
 * reading the rest; the answer is the same stacks in the same order as without one.
 */
export async function mergeProfiles(
  storeFiles: BlockFiles,
  items: readonly StoredProfile[],
  budget?: MergeBudget,
  signal?: AbortSignal,
): Promise<MergedProfiles> {
  const files = signal ? abandonable(storeFiles, signal) : storeFiles;
  const stacks: FoldedStacks = new Map();
  const merged = new Set<string>();
  // One set of sums, emptied per block: the blocks' IDs are each their own.
  const pairs = new DenseCounts();
  // Naming a block of 100,000 long stacks takes about a second: the event loop gets turns in between.
  // A merge whose caller went away stops at its next turn or read (its reason thrown), and its memory goes with it.
  const turns = new Turns(signal);
  // The counts of every block, so that one block's profile without counts leaves them out of the whole answer.
  const blockCounts = new DenseCounts();
  const counted = new EventCountSums(blockCounts);
  const eventCounts: EventCounts = new Map();
  for (const { block, reads } of planMerge(items, files.rollups)) {
    signal?.throwIfAborted();
    pairs.clear();
    blockCounts.clear();
    let budgeted = 0; // the block's IDs (in the order they came) whose stacks the budget has seen
    const countNew = async () => {
      signal?.throwIfAborted();
      if (!budget || budgeted === pairs.size) return;
      // Fetched again after each read: the dictionary in the cache then holds every ID that read refers to.
      const dictionary = await files.dictionary(block);
      for (; budgeted < pairs.size; budgeted++) {
        const stack = dictionary.text(pairs.idAt(budgeted));
        if (stacks.has(stack)) continue;
        // Placed now with no count: its place in the answer is the one the naming below would give it.
        stacks.set(stack, 0);
        budget.add(stack);
        if (turns.due()) await turns.yield();
      }
    };
    await sumBlock(files, block, reads, pairs, merged, countNew, counted);
    if (pairs.size === 0) continue;
    // After the data: the dictionary then holds every ID the data refers to.
    const dictionary = await files.dictionary(block);
    for (const id of pairs.keys()) {
      const stack = dictionary.text(id);
      stacks.set(stack, (stacks.get(stack) ?? 0) + (pairs.get(id) as number));
      if (turns.due()) await turns.yield();
    }
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
