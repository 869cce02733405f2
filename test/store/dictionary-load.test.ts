// A day's stack dictionary is loaded a slice of whole lines at a time (issue #13, A3: other requests get turns in
// between): a file of several slices, with a line longer than a slice and names of several UTF-8 bytes across the
// slices' edges, loads exactly as the whole text split into lines.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { StackDictionary } from '../../agent/store/stack-dictionary.js';
import { TextPool } from '../../agent/store/text-pool.js';

/** The file's stacks read the simple way: the whole text split into lines. */
function expectedTexts(text: string): string[] {
  const frames: string[] = [];
  const stacks: string[] = [];
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('f ')) frames.push(line.slice(2));
    else
      stacks.push(
        line
          .slice(2)
          .split(',')
          .map((id) => frames[parseInt(id, 36)])
          .join(';'),
      );
  }
  return stacks;
}

t.test('a dictionary of several slices loads as the whole text', async (t) => {
  const dir = t.testdir();
  const lines: string[] = ['f java', `f ${'com.example.Generated'.repeat(80_000)}`]; // 1.6 MiB: beyond a slice
  for (let i = 0; i < 60_000; i++) {
    lines.push(`f com.shop.Ünïcødé${i}.price_[j]`);
    lines.push(`s 0,${(i + 2).toString(36)}`);
    if (i % 7 === 0) lines.push(`s 0,${(i + 2).toString(36)},${(i + 1).toString(36)}`);
    if (i === 30_000) lines.push('s 0,1'); // the long frame in one stack, in the middle of the file
  }
  const text = `${lines.join('\n')}\n`;
  t.ok(Buffer.byteLength(text) > 3 * 1024 * 1024, 'several slices');
  const path = join(dir, 'stacks.dict');
  await writeFile(path, text);
  const expected = expectedTexts(text);
  for (const pool of [undefined, new TextPool()]) {
    const dictionary = await StackDictionary.load(path, pool ? { pool } : {});
    t.equal(dictionary.size, expected.length);
    t.equal(dictionary.bytes, Buffer.byteLength(text));
    let same = 0;
    for (let id = 0; id < expected.length; id++) if (dictionary.text(id) === expected[id]) same++;
    t.equal(same, expected.length, `every stack as the whole text says${pool ? ' (pooled)' : ''}`);
  }
  // A partial last line (a kill during an append) is left out, as before.
  await writeFile(path, `${text}s 0,1,`);
  t.equal((await StackDictionary.load(path)).size, expected.length);
});
