/**
 * The reference merge: stored profiles read one by one and their folded stacks added up, as every query did before
 * rollups (format 1). Counts add up: the merged total is the sum of the merged profiles' samples, and event counts
 * (lock contentions) add up as well when every merged profile has them (else the merge has none). A profile that
 * retention removes while the merge runs is left out (and not counted). Queries use ProfileStore.merge (rollups);
 * the tests hold its answers to this one's, byte for byte.
 */
import { mergeFolded, type EventCounts, type FoldedStacks } from '../../shared/folded.js';
import { PodflameError } from '../../shared/errors.js';
import type { StoredProfile } from '../../shared/history.js';
import type { MergedProfiles } from './block-merge.js';

export interface StackReader {
  readStacks(id: string): Promise<FoldedStacks>;
  /** The profile's event counts (lock contentions), undefined when it has none. Default: none kept. */
  readEventCounts?(id: string): Promise<EventCounts | undefined>;
}

export async function mergeStoredProfiles(
  store: StackReader,
  items: readonly StoredProfile[],
): Promise<MergedProfiles> {
  const stacks: FoldedStacks = new Map();
  const eventCounts: EventCounts = new Map();
  let allCounted = true;
  const merged: StoredProfile[] = [];
  for (const item of items) {
    let one: FoldedStacks;
    let counts: EventCounts | undefined;
    try {
      one = await store.readStacks(item.id);
      counts = await store.readEventCounts?.(item.id);
    } catch (err) {
      if (err instanceof PodflameError && err.code === 'PROFILE_NOT_FOUND') continue;
      throw err;
    }
    mergeFolded(stacks, one);
    if (counts === undefined) allCounted = false;
    else mergeFolded(eventCounts, counts);
    merged.push(item);
  }
  return { stacks, ...(allCounted && merged.length > 0 ? { eventCounts } : {}), items: merged };
}
