/** Every file under a store directory, as sorted paths relative to it (the layout the tests check). */
import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';

export async function storeFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      if (entry.isDirectory()) await walk(join(d, entry.name));
      else out.push(relative(dir, join(d, entry.name)));
    }
  };
  await walk(dir);
  return out.sort();
}

/** Bytes of the files under a store directory, the FORMAT file aside (what the store's limits hold). */
export async function diskUse(dir: string): Promise<number> {
  let bytes = 0;
  for (const file of await storeFiles(dir)) if (file !== 'FORMAT') bytes += (await stat(join(dir, file))).size;
  return bytes;
}
