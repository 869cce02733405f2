/**
 * The stack dictionary is bounded (issue #13, finding A1): a workload whose stacks are all new at every run grew a
 * day's `stacks.dict` without any limit counting it. Now a profile is counted for the lines it adds, the store's
 * disk use stays within its limit, a namespace's share counts them, a day's dictionary has a cap, lines no stored
 * profile uses are reclaimed, and the dictionaries in memory are bounded in bytes.
 */
import t, { type Test } from 'tap';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ProfileStore, type NewProfile } from '../../agent/store/profile-store.js';
import { DictionaryCache } from '../../agent/store/dictionary-cache.js';
import { mergeStoredProfiles } from '../../agent/store/merge.js';
import { serializeFolded, type FoldedStacks } from '../../shared/folded.js';
import { diskUse } from './store-files.js';

const T0 = Date.parse('2026-12-04T10:00:00Z');

/** A profile whose 200 stacks no other profile has: each ends in frames named after the profile. */
function allNew(n: number): FoldedStacks {
  const stacks: FoldedStacks = new Map();
  for (let s = 0; s < 200; s++) {
    stacks.set(`java;start_thread;com/example/Gen${n}_${s}$$Lambda$1.apply;com/example/Gen${n}_${s}.run`, 1 + (s % 5));
  }
  return stacks;
}

function profile(n: number, over: Partial<NewProfile> = {}): NewProfile {
  return {
    namespace: 'gen',
    pod: 'gen-0',
    container: 'app',
    node: 'node-a',
    startMs: T0 + n * 1000,
    durationSeconds: 1,
    frequencyHz: 99,
    warnings: [],
    schedule: 'loop',
    podUid: null,
    containerId: null,
    labels: {},
    stacks: allNew(n),
    ...over,
  };
}

async function openStore(t: Test, dir: string, extra: Partial<ConstructorParameters<typeof ProfileStore>[0]> = {}) {
  const store = new ProfileStore({ dir, now: () => T0 + 3600_000, ...extra });
  await store.start();
  t.teardown(() => store.close());
  return store;
}

t.test('a store fed profiles of all-new stacks stays within its byte limit on disk', async (t) => {
  const dir = t.testdir();
  const limit = 256 * 1024;
  const store = await openStore(t, dir, { maxTotalBytes: limit });
  let peak = 0;
  const numberOf = new Map<string, number>();
  for (let n = 0; n < 60; n++) {
    const meta = await store.put(profile(n));
    numberOf.set(meta.id, n);
    t.ok(meta.dictionaryBytes! > 0, `profile ${n} is counted for the lines it added`);
    peak = Math.max(peak, await diskUse(dir));
  }
  t.ok(peak <= limit, `the store's files never exceed its limit: peak ${peak} bytes, limit ${limit}`);
  t.ok(store.list().length >= 5, 'it still keeps the newest profiles');
  t.ok(store.list().length < 60, 'and removed the oldest');
  t.equal(store.diskBytes(), await diskUse(dir), 'what it counts is what is on disk');
  const dictionary = await readFile(join(dir, 'blocks/20261204/stacks.dict'), 'utf8');
  t.match(dictionary, /^-s \d+$/m, 'the lines of removed profiles were reclaimed');
  for (const p of store.list()) {
    const stacks = serializeFolded(await store.readStacks(p.id));
    if (stacks !== serializeFolded(allNew(numberOf.get(p.id)!))) t.fail(`${p.id} reads back other stacks`);
  }
  // A restart finds the compacted dictionary, and the merge through the rollups is still the profile-by-profile one.
  await store.close();
  const again = await openStore(t, dir, { maxTotalBytes: limit });
  const listed = again.list();
  t.equal(
    serializeFolded((await again.merge(listed)).stacks),
    serializeFolded((await mergeStoredProfiles(again, listed)).stacks),
  );
  await again.put(profile(61));
  t.ok((await diskUse(dir)) <= limit, 'and goes on within the limit');
});

t.test('a namespace whose stacks are all new is held to its share by the lines it adds', async (t) => {
  const dir = t.testdir();
  const share = 64 * 1024;
  // A quarter of the store: the namespace may also add a quarter of a day's dictionary.
  const store = await openStore(t, dir, { maxNamespaceBytes: share, maxTotalBytes: 4 * share });
  const steady = await store.put(profile(0, { namespace: 'shop', stacks: new Map([['java;shop.Main.run', 9]]) }));
  for (let n = 1; n <= 40; n++) await store.put(profile(n));
  const gen = store.list({ namespace: 'gen' });
  const counted = gen.reduce((sum, p) => sum + p.bytes, 0);
  t.ok(counted <= share, `gen's profiles count ${counted} bytes, within its share of ${share}`);
  t.ok(gen.length < 40, `gen lost its own oldest profiles (${gen.length} kept)`);
  t.ok(store.get(steady.id), "shop's profile stays");
});

t.test("a day's dictionary has a cap: beyond it a put fails with STORE_DICTIONARY_FULL", async (t) => {
  const dir = t.testdir();
  const store = await openStore(t, dir, { maxDictionaryBytes: 40 * 1024 });
  let n = 0;
  let refused: unknown;
  for (; n < 20 && refused === undefined; n++) {
    await store.put(profile(n)).catch((err: unknown) => (refused = err));
  }
  t.match(refused, {
    code: 'STORE_DICTIONARY_FULL',
    message: /stack dictionary of day 20261204.*--store-max-dictionary-bytes/,
    details: { block: '20261204', limit: 40 * 1024 },
  });
  const size = (await readFile(join(dir, 'blocks/20261204/stacks.dict'))).length;
  t.ok(size <= 40 * 1024, `the dictionary stays within its cap (${size} bytes)`);
  t.equal(store.list().length, n - 1, 'the refused profile is not stored');
  // Profiles whose stacks the day already has still go in.
  const known = store.list()[0]!;
  await store.put(profile(0, { stacks: await store.readStacks(known.id) }));
  // Removing profiles frees the cap: the lines only they used are reclaimed when the next put needs the room.
  for (const p of store.list()) await store.delete(p.id);
  await store.put(profile(100));
  t.ok((await readFile(join(dir, 'blocks/20261204/stacks.dict'))).length <= 40 * 1024);
});

t.test("a namespace whose stacks are all new fills its share of the day's dictionary, not the others'", async (t) => {
  const dir = t.testdir();
  // A quarter of the store per namespace: a quarter of the day's dictionary each.
  const store = await openStore(t, dir, {
    maxDictionaryBytes: 160 * 1024,
    maxTotalBytes: 64 * 1024 ** 2,
    maxNamespaceBytes: 16 * 1024 ** 2,
    minNamespaceDictionaryBytes: 0,
  });
  let refused: unknown;
  for (let n = 0; n < 40 && refused === undefined; n++) {
    await store.put(profile(n)).catch((err: unknown) => (refused = err));
  }
  t.match(refused, {
    code: 'STORE_DICTIONARY_FULL',
    message: /namespace gen has added \d+ bytes .* beyond its share of 40960/,
    details: { namespace: 'gen', share: 40 * 1024 },
  });
  const added = store.list({ namespace: 'gen' }).reduce((sum, p) => sum + (p.dictionaryBytes ?? 0), 0);
  t.ok(added <= 40 * 1024, `gen added ${added} bytes, within its share`);
  // Another namespace's new stacks still go in the same day.
  const victim = await store.put(profile(1000, { namespace: 'victim' }));
  t.ok((victim.dictionaryBytes ?? 0) > 0, `victim's new stacks are stored (${victim.dictionaryBytes} bytes)`);
});

t.test('the dictionaries in memory are bounded in bytes, not only in blocks', async (t) => {
  const dir = t.testdir();
  const blocks = ['20261201', '20261202', '20261203', '20261204'];
  for (const [i, block] of blocks.entries()) {
    await mkdir(join(dir, block));
    // Stack s is java;frame_<block>_<s>_xxx…: its frame (ID s + 1) is defined just before it.
    const lines: string[] = ['f java'];
    for (let s = 0; s < 2000; s++) lines.push(`f frame_${i}_${s}_${'x'.repeat(40)}`, `s 0,${(s + 1).toString(36)}`);
    await writeFile(join(dir, block, 'stacks.dict'), `${lines.join('\n')}\n`);
  }
  const one = new DictionaryCache((block) => join(dir, block), 10);
  const size = (await one.get(blocks[0]!)).memoryBytes;
  t.ok(size > 100_000, `a block of 2,000 stacks is estimated at ${size} bytes`);
  const bound = Math.floor(size * 2.5);
  const cache = new DictionaryCache((block) => join(dir, block), 10, bound);
  for (const block of blocks) {
    const dictionary = await cache.get(block);
    t.equal(dictionary.text(1999), `java;frame_${blocks.indexOf(block)}_1999_${'x'.repeat(40)}`, `${block} answers`);
    await new Promise((resolve) => setImmediate(resolve));
    t.ok(cache.memoryBytes <= bound, `after ${block}: ${cache.memoryBytes} bytes held, bound ${bound}`);
  }
  t.ok(cache.memoryBytes >= size, 'the block used last stays');
});

t.test('profiles stored before dictionary lines counted are counted for a share of them at start', async (t) => {
  const root = t.testdir();
  const dir = join(root, 'store');
  const first = await openStore(t, dir);
  for (let n = 0; n < 10; n++) await first.put(profile(n));
  await first.close();
  // As the previous version wrote them: `bytes` the pairs alone, no `dictionaryBytes`.
  const block = join(dir, 'blocks/20261204');
  for (const name of (await readdir(block)).filter((f) => f.endsWith('.json'))) {
    const meta = JSON.parse(await readFile(join(block, name), 'utf8')) as Record<string, number>;
    meta.bytes = meta.bytes! - meta.dictionaryBytes!;
    delete meta.dictionaryBytes;
    await writeFile(join(block, name), `${JSON.stringify(meta)}\n`);
  }
  const onDisk = await diskUse(dir);
  // A limit a little below the store's size: the oldest go, not every profile.
  const again = await openStore(t, dir, { maxTotalBytes: Math.floor(onDisk * 0.8) });
  const kept = again.list().length;
  t.ok(kept >= 6 && kept < 10, `the oldest went, the newest stayed (${kept} of 10 kept)`);
  t.ok((await diskUse(dir)) <= Math.floor(onDisk * 0.8), 'within the limit');
});
