/**
 * Which stored profiles to remove, decided from metadata alone: a pure function, so the policy is tested without
 * files or clocks. Age is measured from a profile's start. Byte budgets never make one namespace pay for another:
 * a namespace over its own share loses its own oldest profiles, and when the store as a whole is over its budget the
 * namespace holding the most bytes loses its oldest first.
 */

export interface RetentionPolicy {
  /** Profiles older than this are removed. */
  maxAgeSeconds: number;
  /** Total bytes of profile data kept; beyond it the largest namespace's oldest profiles go. */
  maxTotalBytes: number;
  /** Bytes of profile data one namespace keeps; beyond it that namespace's oldest profiles go. */
  maxNamespaceBytes: number;
  /**
   * A schedule's own, shorter or longer, age limit (its `retention`), by namespace, then schedule name. Schedule
   * names are the agent's, but a name can move between namespaces (deleted in one, created in another): keyed by
   * name alone, a schedule in namespace B would set the age of namespace A's profiles of the same name.
   */
  scheduleMaxAgeSeconds: ReadonlyMap<string, ReadonlyMap<string, number>>;
  /**
   * Bytes on disk no profile is counted for (rollups, metadata files, dictionary lines of removed profiles that
   * others still use), counted against `maxTotalBytes` with the profiles'. Default 0.
   */
  overheadBytes?: number;
}

export interface RetentionItem {
  id: string;
  namespace: string;
  startMs: number;
  bytes: number;
  schedule: string | null;
}

export type EvictionReason = 'age' | 'schedule_age' | 'namespace_bytes' | 'bytes';

export interface Eviction {
  id: string;
  reason: EvictionReason;
}

function byStart(a: RetentionItem, b: RetentionItem): number {
  return a.startMs - b.startMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** A namespace's kept profiles, oldest first, and how far its evictions have gone. */
interface NamespaceShare {
  namespace: string;
  items: RetentionItem[];
  next: number;
  bytes: number;
}

/** `items` in any order; returns the evictions, oldest first. */
export function selectEvictions(items: readonly RetentionItem[], policy: RetentionPolicy, nowMs: number): Eviction[] {
  const sorted = [...items].sort(byStart);
  const evicted: { item: RetentionItem; reason: EvictionReason }[] = [];
  const shares = new Map<string, NamespaceShare>();
  for (const item of sorted) {
    const ageSeconds = (nowMs - item.startMs) / 1000;
    const scheduleLimit =
      item.schedule === null ? undefined : policy.scheduleMaxAgeSeconds.get(item.namespace)?.get(item.schedule);
    // A schedule's retention replaces the global age limit for its profiles; the byte budgets still apply.
    if (scheduleLimit !== undefined) {
      if (ageSeconds > scheduleLimit) {
        evicted.push({ item, reason: 'schedule_age' });
        continue;
      }
    } else if (ageSeconds > policy.maxAgeSeconds) {
      evicted.push({ item, reason: 'age' });
      continue;
    }
    let share = shares.get(item.namespace);
    if (!share) shares.set(item.namespace, (share = { namespace: item.namespace, items: [], next: 0, bytes: 0 }));
    share.items.push(item);
    share.bytes += item.bytes;
  }
  const evictOldest = (share: NamespaceShare, reason: EvictionReason): number => {
    const item = share.items[share.next++] as RetentionItem;
    share.bytes -= item.bytes;
    evicted.push({ item, reason });
    return item.bytes;
  };
  let total = policy.overheadBytes ?? 0;
  for (const share of shares.values()) {
    while (share.bytes > policy.maxNamespaceBytes) evictOldest(share, 'namespace_bytes');
    total += share.bytes;
  }
  while (total > policy.maxTotalBytes) {
    let largest: NamespaceShare | undefined;
    for (const share of shares.values()) {
      if (share.next >= share.items.length) continue;
      if (
        !largest ||
        share.bytes > largest.bytes ||
        (share.bytes === largest.bytes && share.namespace < largest.namespace)
      ) {
        largest = share;
      }
    }
    if (!largest) break;
    total -= evictOldest(largest, 'bytes');
  }
  return evicted.sort((a, b) => byStart(a.item, b.item)).map(({ item, reason }) => ({ id: item.id, reason }));
}
