/**
 * Where the store keeps what (format 2), under the store directory (`--data-dir`/profiles):
 *
 *   FORMAT                         `2`: written once the store is of this format (after a migration, see migration.ts)
 *   blocks/YYYYMMDD/               one block per UTC day of the profiles' start
 *     stacks.dict                  the block's stack dictionary (stack-dictionary.ts)
 *     <id>.pairs                   a profile's samples as (stack ID, count) pairs (pairs-codec.ts)
 *     <id>.json                    its metadata: written last, the commit marker (a profile exists once it does)
 *     hour-…/day-….rollup          rollups of the block's series (rollup-file.ts)
 *
 * A day's block holds everything its profiles need, so that retention can drop old days whole, dictionary included.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

export const BLOCKS_DIR = 'blocks';
export const FORMAT_FILE = 'FORMAT';
export const STORE_FORMAT = 2;
export const META_SUFFIX = '.json';
export const PAIRS_SUFFIX = '.pairs';

const ID = /^\d{8}T\d{6}Z-[0-9a-f]{8}$/;
const BLOCK = /^\d{8}$/;

export function isProfileId(id: string): boolean {
  return ID.test(id);
}

export function isBlockName(name: string): boolean {
  return BLOCK.test(name);
}

/** `YYYYMMDDTHHMMSSZ-` + 8 hex digits: sorts by start time, safe as a file name. */
export function newProfileId(startMs: number): string {
  const iso = new Date(startMs).toISOString(); // 2025-11-27T04:00:00.000Z
  const compact = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return `${compact}-${randomBytes(4).toString('hex')}`;
}

/** A profile's block: the UTC day of its start, which its ID begins with. */
export function blockOf(id: string): string {
  return id.slice(0, 8);
}

export function blockDir(storeDir: string, block: string): string {
  return join(storeDir, BLOCKS_DIR, block);
}

/** Name of a file of ours in a block, by suffix: the ID, or undefined for anything else. */
export function idOfFile(name: string, suffix: string): string | undefined {
  if (!name.endsWith(suffix)) return undefined;
  const id = name.slice(0, -suffix.length);
  return ID.test(id) ? id : undefined;
}
