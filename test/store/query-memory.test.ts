// What a history query leaves on the agent's main thread (issue #18, RSS during the queries): the merge sums a
// block's pairs by stack ID in arrays, not in a Map per rollup; the blocks in memory share one copy of each stack's
// text; and merged and differential answers come from the profile worker as bytes handed over, the very bytes the
// in-process path answers, never a string copied onto the main thread's heap.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { DenseCounts } from '../../agent/store/pairs-codec.js';
import { DictionaryCache } from '../../agent/store/dictionary-cache.js';
import { ProfileWorker } from '../../agent/profiles/profile-worker.js';
import { renderDiffGraph, renderMergedGraph } from '../../shared/history-graphs.js';

t.test('DenseCounts answers as a Map: insertion order, zero counts, IDs beyond its arrays', (t) => {
  const dense = new DenseCounts();
  const map = new Map<number, number>();
  const ids = [5, 9, 1, 5, 0, 70_000, 2 ** 23, 9, 3];
  ids.forEach((id, i) => {
    for (const into of [dense, map]) into.set(id, (into.get(id) ?? 0) + (i % 3 === 0 ? 0 : i));
  });
  t.same([...dense], [...map]);
  t.same([...dense.keys()], [...map.keys()]);
  t.equal(dense.size, map.size);
  t.equal(dense.get(2), undefined, 'absent is undefined, not 0');
  t.equal(dense.get(5), 0 + 0, 'a zero count is kept');
  dense.clear();
  t.equal(dense.size, 0);
  t.equal(dense.get(9), undefined, 'cleared');
  dense.set(9, 4);
  t.same([...dense], [[9, 4]]);
  t.end();
});

t.test('the blocks in memory hold one copy of each stack text, and let it go with the last block', async (t) => {
  const dir = t.testdir();
  const blocks: Record<string, string> = {
    '20261201': 'f java\nf a\nf b\ns 0,1\ns 0,2\n', // java;a java;b
    '20261202': 'f java\nf b\nf c\ns 0,1\ns 0,2\n', // java;b java;c
  };
  for (const [block, dict] of Object.entries(blocks)) {
    await mkdir(join(dir, block));
    await writeFile(join(dir, block, 'stacks.dict'), dict);
  }
  const cache = new DictionaryCache((block) => join(dir, block), 10);
  const first = await cache.get('20261201');
  const second = await cache.get('20261202');
  t.same([first.text(0), first.text(1), second.text(0), second.text(1)], ['java;a', 'java;b', 'java;b', 'java;c']);
  t.equal(cache.texts, 3, 'java;b held once for both blocks');
  cache.drop('20261201');
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(cache.texts, 2, 'java;a went with its block; java;b stays for the other');
  t.equal(first.text(0), 'java;a', 'a dictionary still in use answers all the same');
  cache.drop('20261202');
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(cache.texts, 0);
});

t.test('merged and differential answers come from the worker as bytes, the same as in process', async (t) => {
  const worker = new ProfileWorker({ maxHeapMb: 96 });
  t.teardown(() => worker.close());
  const merged = { title: 't', subtitle: 's', frequencyHz: 99, durationSeconds: 60, startTimeMs: 0 };
  const diff = { title: 't', subtitle: 's', normalize: true };
  const base = new Map([
    ['java;a;b', 3],
    ['java;a;ü', 1],
    ['java;c', 0],
  ]);
  const target = new Map([
    ['java;a;b', 5],
    ['java;d', 2],
  ]);
  for (const format of ['folded', 'svg', 'pprof'] as const) {
    const answer = await worker.renderMergedGraph(format, base, merged);
    const expected = renderMergedGraph(format, base, merged);
    t.ok(Buffer.isBuffer(answer.body), `merged ${format}: bytes`);
    t.same(Buffer.from(answer.body), Buffer.from(expected.body), `merged ${format}: the in-process bytes`);
    t.equal(answer.contentType, expected.contentType);
  }
  for (const format of ['folded', 'svg'] as const) {
    const answer = await worker.renderDiffGraph(format, base, target, diff);
    const expected = renderDiffGraph(format, base, target, diff);
    t.ok(Buffer.isBuffer(answer.body), `diff ${format}: bytes`);
    t.same(Buffer.from(answer.body), Buffer.from(expected.body), `diff ${format}: the in-process bytes`);
  }
});
