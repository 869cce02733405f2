/**
 * Crash-safe file writes: a file appears under its final name complete or not at all. The bytes go to a temporary
 * name in the same directory, are flushed to disk, and only then renamed into place (rename is atomic within one
 * file system); the directory is flushed too, so that the rename itself survives a power cut, not only a kill -9.
 */
import { open, rename, unlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

/** Temporary files start with this; anything so named at start-up is a leftover of an interrupted write. */
export const TEMP_PREFIX = '.tmp-';

export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes `data` to `dir/name` atomically and durably; returns the number of bytes written. */
export async function writeFileDurable(dir: string, name: string, data: Uint8Array | string): Promise<number> {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return writeFileDurableFrom(dir, name, [bytes]);
}

/** Removes a file, ignoring one that is already gone. */
export async function removeIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * Replaces `dir/name` atomically but without fsync: for derived files (rollups) that carry their own check and are
 * rebuilt when found damaged, so that a power cut may cost a rebuild but never a wrong answer.
 */
export async function writeFileReplacing(dir: string, name: string, data: Uint8Array): Promise<void> {
  const temp = join(dir, `${TEMP_PREFIX}${name}-${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(temp, data, { mode: 0o640, flag: 'wx' });
    await rename(temp, join(dir, name));
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}

/** As writeFileDurable, from chunks written as they come, so that the whole file is never held in memory. */
export async function writeFileDurableFrom(
  dir: string,
  name: string,
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): Promise<number> {
  const temp = join(dir, `${TEMP_PREFIX}${name}-${randomBytes(4).toString('hex')}`);
  const handle = await open(temp, 'wx', 0o640);
  let written = 0;
  try {
    for await (const chunk of chunks) {
      // A write may take fewer bytes than asked (as writeFile loops, so does this).
      for (let done = 0; done < chunk.byteLength;) {
        const { bytesWritten } = await handle.write(chunk, done, chunk.byteLength - done, written);
        done += bytesWritten;
        written += bytesWritten;
      }
    }
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  try {
    await rename(temp, join(dir, name));
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await fsyncDirectory(dir);
  return written;
}
