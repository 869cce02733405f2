/**
 * Rollups: the sum of one series' profiles over an hour or a day (UTC), kept in the profiles' block and maintained as
 * profiles arrive and leave, so that a query over a week adds a few day rollups and reads single profiles only at
 * the range's edges.
 *
 * A series is everything a query can filter on except time: event, namespace, pod, container, schedule and labels
 * (and so, for authorization, the namespace). A filter therefore takes a series' profiles of an hour all or none,
 * and a rollup answers for exactly the profiles it names. Every rollup names its members (profile IDs); it is used
 * only when they are exactly the profiles the query selected in its bucket, so a rollup left stale by a crash or a
 * concurrent write is never wrong, only unused (and rebuilt at the next start).
 *
 * File: magic `PFR2`, varint length of a JSON header ({series, level, bucketMs, members}), the header, the pairs, and
 * for a lock series whose members all have event counts, their summed counts (pairs-codec.ts): a rollup written
 * before counts were kept ends after the pairs, and so does one with a member that has none.
 */
import { createHash } from 'node:crypto';
import type { StoredProfile } from '../../shared/history.js';
import {
  ByteReader,
  addEventCounts,
  addPairs,
  damaged,
  encodeCountedPairs,
  skipPairs,
  type PairCounts,
} from './pairs-codec.js';

export type RollupLevel = 'hour' | 'day';
export const LEVEL_MS: Readonly<Record<RollupLevel, number>> = { hour: 3600_000, day: 86400_000 };
export const ROLLUP_SUFFIX = '.rollup';
const MAGIC = Buffer.from('PFR2');

/**
 * What identifies a series: canonical JSON of its fields, labels sorted, so equal series give equal keys. The event
 * comes first and has always been there (as `cpu` before other events existed), so the rollups of stores written
 * then keep their keys and file names: a profile read without an event is cpu, and so is its series.
 */
export function seriesKey(p: StoredProfile): string {
  const labels = Object.keys(p.labels)
    .sort()
    .map((k) => [k, p.labels[k]]);
  return JSON.stringify([p.event, p.namespace, p.schedule, p.pod, p.container, labels]);
}

/** Short stable name of a series, for file names. */
export function seriesHash(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

export function bucketStart(startMs: number, level: RollupLevel): number {
  return Math.floor(startMs / LEVEL_MS[level]) * LEVEL_MS[level];
}

/** e.g. `hour-20251127T09-3fa1c2d4e5f60718.rollup`, `day-20251127-3fa1c2d4e5f60718.rollup` */
export function rollupFileName(level: RollupLevel, bucketMs: number, key: string): string {
  const iso = new Date(bucketMs).toISOString();
  const when = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${level === 'hour' ? `T${iso.slice(11, 13)}` : ''}`;
  return `${level}-${when}-${seriesHash(key)}${ROLLUP_SUFFIX}`;
}

export interface RollupHeader {
  series: string;
  level: RollupLevel;
  bucketMs: number;
  /** Profile IDs summed, sorted. */
  members: string[];
}

/** `eventCounts`: the members' summed event counts, when every member has them. */
export function encodeRollup(header: RollupHeader, pairs: PairCounts, eventCounts?: PairCounts): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(5);
  let n = 0;
  for (let v = json.length; ; v = Math.floor(v / 0x80)) {
    length[n++] = v >= 0x80 ? (v % 0x80) | 0x80 : v;
    if (v < 0x80) break;
  }
  return Buffer.concat([MAGIC, length.subarray(0, n), json, encodeCountedPairs(pairs, eventCounts)]);
}

/** The header alone (start-up reads every rollup's members). */
export function decodeRollupHeader(buf: Buffer): { header: RollupHeader; reader: ByteReader } {
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) throw damaged('not a rollup');
  const reader = new ByteReader(buf, MAGIC.length);
  const json = reader.bytes(reader.varint()).toString('utf8');
  let header: RollupHeader;
  try {
    header = JSON.parse(json) as RollupHeader;
  } catch {
    throw damaged('rollup header');
  }
  if (typeof header.series !== 'string' || !Array.isArray(header.members) || typeof header.bucketMs !== 'number') {
    throw damaged('rollup header');
  }
  return { header, reader };
}

/** A rollup's header, pairs and event counts (undefined: none); INTERNAL (damaged) when the file is not whole. */
export function decodeRollup(buf: Buffer): {
  header: RollupHeader;
  pairs: PairCounts;
  eventCounts: PairCounts | undefined;
} {
  const { header, pairs } = openRollup(buf);
  const decoded = new Map<number, number>();
  addPairs(pairs, decoded);
  const eventCounts = new Map<number, number>();
  return { header, pairs: decoded, eventCounts: addEventCounts(pairs, eventCounts) ? eventCounts : undefined };
}

/**
 * A rollup's header, and a reader at its pairs (then its event counts, if any), checked whole first (INTERNAL, damaged, when the file is not): a
 * merge adds them straight into its sums, with no Map of their own, and cannot have added half of them.
 */
export function openRollup(buf: Buffer): { header: RollupHeader; pairs: ByteReader } {
  const { header, reader } = decodeRollupHeader(buf);
  const start = reader.offset;
  skipPairs(reader);
  if (reader.offset < buf.length) skipPairs(reader); // the event counts
  if (reader.offset !== buf.length) throw damaged('bytes after the rollup');
  return { header, pairs: new ByteReader(buf, start) };
}

/** Same members, in the same (sorted) order. */
export function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
