/**
 * Which stored profiles to remove, decided from metadata alone: a pure function, so the policy is tested without
 * files or clocks. Age is measured from a profile's start; the byte budget removes the oldest first.
 */

export interface RetentionPolicy {
  /** Profiles older than this are removed. */
  maxAgeSeconds: number;
  /** Total bytes of profile data kept; beyond it the oldest profiles go. */
  maxTotalBytes: number;
  /** A schedule's own, shorter or longer, age limit (its `retention`), by schedule name. */
  scheduleMaxAgeSeconds: ReadonlyMap<string, number>;
}

export interface RetentionItem {
  id: string;
  startMs: number;
  bytes: number;
  schedule: string | null;
}

export type EvictionReason = 'age' | 'schedule_age' | 'bytes';

export interface Eviction {
  id: string;
  reason: EvictionReason;
}

/** `items` in any order; returns the evictions, oldest first. */
export function selectEvictions(items: readonly RetentionItem[], policy: RetentionPolicy, nowMs: number): Eviction[] {
  const sorted = [...items].sort((a, b) => a.startMs - b.startMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const evictions: Eviction[] = [];
  const kept: RetentionItem[] = [];
  for (const item of sorted) {
    const ageSeconds = (nowMs - item.startMs) / 1000;
    const scheduleLimit = item.schedule === null ? undefined : policy.scheduleMaxAgeSeconds.get(item.schedule);
    // A schedule's retention replaces the global age limit for its profiles; the byte budget still applies.
    if (scheduleLimit !== undefined) {
      if (ageSeconds > scheduleLimit) {
        evictions.push({ id: item.id, reason: 'schedule_age' });
        continue;
      }
    } else if (ageSeconds > policy.maxAgeSeconds) {
      evictions.push({ id: item.id, reason: 'age' });
      continue;
    }
    kept.push(item);
  }
  let total = kept.reduce((sum, item) => sum + item.bytes, 0);
  for (const item of kept) {
    if (total <= policy.maxTotalBytes) break;
    evictions.push({ id: item.id, reason: 'bytes' });
    total -= item.bytes;
  }
  return evictions;
}
