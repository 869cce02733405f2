// The collapser's stacks as interned ids (shared/collapse/interned-stacks.ts), against the plain way of doing the
// same with one string per stack: the sort by rank keys (ranks found without building `text;` strings) against a
// sort of the stack strings, a text split at `;` and decoded text by text against the whole stack decoded, on seeded
// random captures that hold inline chains, `;` in thread names and names cut inside a UTF-8 character.
import t from 'tap';
import { PerfCollapser } from '../../shared/collapse/perf-collapser.js';
import { sortStacks, splitStacks, stackLength, stackText } from '../../shared/collapse/interned-stacks.js';
import { randomPerfScript } from '../helpers/perf-scripts.js';

function collapse(seed: number) {
  const collapser = new PerfCollapser({ java: seed % 2 === 0 });
  collapser.push(randomPerfScript(seed, 800));
  return collapser.finish();
}

t.test('foldedChunks is the byte strings sorted by bytes, one line each', async (t) => {
  for (let seed = 1; seed <= 20; seed++) {
    const result = collapse(seed);
    const expected = [...result.byteStacks]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([stack, count]) => `${stack} ${count}\n`)
      .join('');
    const got = Buffer.concat([...result.foldedChunks(256)]).toString('latin1');
    if (got !== expected) return t.equal(got, expected, `seed ${seed}`);
  }
  t.pass('20 captures');
});

t.test('decodedStacks spells what `stacks` names, sorted as compareBytes sorts them', async (t) => {
  for (let seed = 1; seed <= 20; seed++) {
    const result = collapse(seed);
    const decoded = result.decodedStacks();
    const texts = decoded.texts;
    t.notOk(
      texts.some((text) => text.includes(';')),
      'no text holds ;',
    );
    t.equal(new Set(texts).size, texts.length, 'no text repeats');
    const sorted = sortStacks(decoded);
    const names = sorted.map((r) => stackText(texts, r));
    const asNames = new Map(sorted.map((r) => [Buffer.from(stackText(texts, r), 'latin1').toString('utf8'), r.count]));
    t.same(asNames, result.stacks, `seed ${seed}: the same names and counts`);
    t.same(
      names,
      [...names].sort((a, b) => Buffer.compare(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1'))),
      'in byte order',
    );
    t.ok(
      sorted.every((r) => stackLength(texts, r) === Buffer.byteLength(Buffer.from(stackText(texts, r), 'latin1'))),
      'lengths in bytes',
    );
  }
  const plain = { texts: ['a', 'b'], records: [{ tokens: Int32Array.of(0, 1), count: 1 }] };
  t.equal(splitStacks(plain), plain, 'nothing to split: the stacks as they are');
});
