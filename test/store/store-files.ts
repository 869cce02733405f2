/** Every file under a store directory, as sorted paths relative to it (the layout the tests check). */
import { readdir } from 'node:fs/promises';
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
