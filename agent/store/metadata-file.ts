/**
 * A profile's metadata file, `<id>.json`: the StoredProfile the list answers with, as JSON. Format 1 (flat files)
 * and format 2 (blocks) share it; `bytes` is the size of the one data file next to it in format 1, and in format 2
 * that plus `dictionaryBytes`, the dictionary lines the profile is charged for (rewritten when that changes,
 * profile-store.ts `compactBlock`).
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { StoredProfile } from '../../shared/history.js';
import { DEFAULT_PROFILE_EVENT, PROFILE_EVENTS } from '../../shared/profile-events.js';
import { isProfileId } from './block-layout.js';

const StoredProfileSchema = z.object({
  id: z.string().refine(isProfileId),
  namespace: z.string(),
  pod: z.string(),
  container: z.string(),
  node: z.string(),
  start: z.string().datetime(),
  durationSeconds: z.number().positive(),
  frequencyHz: z.number().positive(),
  // Metadata written before the option existed has none: those captures had no inlined frames.
  java: z.object({ inlined: z.boolean() }).default({ inlined: false }),
  // Metadata written before events existed (format 1, and format 2 until then) has none: perf's cpu samples.
  event: z.enum(PROFILE_EVENTS).default(DEFAULT_PROFILE_EVENT),
  samples: z.number().nonnegative(),
  warnings: z.array(z.object({ code: z.string(), message: z.string(), pid: z.number().optional() })),
  schedule: z.string().nullable(),
  podUid: z.string().nullable(),
  containerId: z.string().nullable(),
  labels: z.record(z.string()),
  bytes: z.number().int().nonnegative(),
  // Written before dictionary lines were counted: none counted.
  dictionaryBytes: z.number().int().nonnegative().optional(),
  // Written before the store order was kept: such profiles count as stored first.
  firstNewStackId: z.number().int().nonnegative().optional(),
});

export function serializeMetadata(meta: StoredProfile): string {
  return `${JSON.stringify(meta)}\n`;
}

/** The metadata of `id` from `path`; undefined when the file is missing, not JSON, or not of profile `id`. */
export async function readMetadataFile(path: string, id: string): Promise<StoredProfile | undefined> {
  try {
    const parsed = StoredProfileSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
    return parsed.success && parsed.data.id === id ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
