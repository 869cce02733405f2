/**
 * Start-up migration of a format 1 store — flat in the store directory, per profile `<id>.json` (metadata, the
 * commit marker) and `<id>.folded.gz` (gzip folded text), as podflame wrote up to format 2 — into blocks.
 *
 * Each profile is committed in the new format first (data durable, then its marker), and only then are its old files
 * removed, marker first. A kill -9 at any point therefore loses nothing: on the next start a profile already
 * committed in a block has its old files removed, any other is migrated again. Leftovers of format 1's own
 * interrupted writes (temp files, data without metadata, damaged metadata) are removed as format 1's start did.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { parseFolded, type FoldedStacks } from '../../shared/folded.js';
import type { StoredProfile } from '../../shared/history.js';
import { TEMP_PREFIX, fsyncDirectory, removeIfPresent } from './durable-file.js';
import { META_SUFFIX, idOfFile } from './block-layout.js';
import { readMetadataFile } from './metadata-file.js';

const gunzipAsync = promisify(gunzip);

/** Format 1's data file suffix. */
export const FORMAT1_DATA_SUFFIX = '.folded.gz';

/** Where migrated profiles go: the store's commit and its index. */
export interface MigrationTarget {
  has(id: string): boolean;
  commit(id: string, fields: Omit<StoredProfile, 'id' | 'bytes'>, stacks: FoldedStacks): Promise<StoredProfile>;
}

export interface MigrationReport {
  migrated: number;
  tempFilesRemoved: number;
  orphanDataRemoved: number;
  /** Metadata unreadable or not matching its data file, or data that is not folded text: removed (as format 1 did). */
  invalidMetadataRemoved: number;
}

/** A format 1 profile's stacks; undefined when its data is not gzip folded text. */
export async function readFormat1Stacks(dir: string, id: string): Promise<FoldedStacks | undefined> {
  try {
    const { stacks, invalidLines } = parseFolded(
      (await gunzipAsync(await readFile(join(dir, `${id}${FORMAT1_DATA_SUFFIX}`)))).toString('utf8'),
    );
    return invalidLines > 0 ? undefined : stacks;
  } catch {
    return undefined;
  }
}

export async function migrateFormat1(dir: string, target: MigrationTarget): Promise<MigrationReport> {
  const report: MigrationReport = { migrated: 0, tempFilesRemoved: 0, orphanDataRemoved: 0, invalidMetadataRemoved: 0 };
  const names = await readdir(dir);
  const dataFiles = new Set(names.filter((n) => idOfFile(n, FORMAT1_DATA_SUFFIX) !== undefined));
  let changed = false;
  for (const name of names.filter((n) => n.startsWith(TEMP_PREFIX))) {
    await removeIfPresent(join(dir, name));
    report.tempFilesRemoved++;
    changed = true;
  }
  for (const name of names.sort()) {
    const id = idOfFile(name, META_SUFFIX);
    if (id === undefined) continue;
    const dataName = `${id}${FORMAT1_DATA_SUFFIX}`;
    dataFiles.delete(dataName);
    changed = true;
    if (!target.has(id)) {
      const meta = await readMetadataFile(join(dir, name), id);
      const dataSize = await stat(join(dir, dataName)).then(
        (s) => s.size,
        () => -1,
      );
      const stacks = meta && dataSize === meta.bytes ? await readFormat1Stacks(dir, id) : undefined;
      if (!meta || !stacks) {
        report.invalidMetadataRemoved++;
      } else {
        const { id: _id, bytes: _bytes, ...fields } = meta;
        await target.commit(id, fields, stacks);
        report.migrated++;
      }
    }
    // Committed in its block (now or by an earlier, interrupted start): the old files go, marker first.
    await removeIfPresent(join(dir, name));
    await removeIfPresent(join(dir, dataName));
  }
  for (const dataName of dataFiles) {
    await removeIfPresent(join(dir, dataName));
    report.orphanDataRemoved++;
    changed = true;
  }
  if (changed) await fsyncDirectory(dir);
  return report;
}
