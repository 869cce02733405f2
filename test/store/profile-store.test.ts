import t, { type Test } from 'tap';
import { writeFile, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Registry } from 'prom-client';
import { ProfileStore, type NewProfile } from '../../agent/store/profile-store.js';
import { mergeFolded, serializeFolded, totalSamples, type FoldedStacks } from '../../shared/folded.js';
import { fixtureStacks } from '../history/fixtures.js';
import { waitFor } from '../helpers/wait-for.js';
import { blockDir, blockOf } from '../../agent/store/block-layout.js';
import { decodeRollup, seriesHash, seriesKey } from '../../agent/store/rollup-file.js';
import { diskUse, storeFiles } from './store-files.js';

const T0 = Date.parse('2025-11-27T10:00:00Z');

function profile(over: Partial<NewProfile> = {}, stacks: FoldedStacks = fixtureStacks('before')): NewProfile {
  return {
    namespace: 'shop',
    pod: 'shop-7d9f',
    container: 'app',
    node: 'node-a',
    startMs: T0,
    durationSeconds: 4,
    frequencyHz: 99,
    warnings: [],
    schedule: 'every-minute',
    podUid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c',
    containerId: 'a'.repeat(64),
    labels: { app: 'shop', tier: 'web' },
    stacks,
    ...over,
  };
}

/** A small profile of its own stacks. */
const billing: FoldedStacks = new Map([['java;billing.Main.run', 7]]);

async function openStore(t: Test, dir: string, extra: Partial<ConstructorParameters<typeof ProfileStore>[0]> = {}) {
  const store = new ProfileStore({ dir, now: () => T0 + 3600_000, ...extra });
  await store.start();
  t.teardown(() => store.close());
  return store;
}

t.test('put, list and read back a real capture', async (t) => {
  const dir = t.testdir();
  const store = await openStore(t, dir);
  const before = fixtureStacks('before');
  const meta = await store.put(profile());
  t.match(meta.id, /^20251127T100000Z-[0-9a-f]{8}$/);
  t.equal(meta.samples, totalSamples(before), 'samples are the folded counts');
  t.equal(meta.start, '2025-11-27T10:00:00.000Z');
  t.same(store.list(), [meta]);
  t.equal(serializeFolded(await store.readStacks(meta.id)), serializeFolded(before));
  // Format 2: a block per day with the stack dictionary, the pairs, the marker, and the rollups of the series.
  t.same(await storeFiles(dir), [
    'FORMAT',
    `blocks/20251127/${meta.id}.json`,
    `blocks/20251127/${meta.id}.pairs`,
    `blocks/20251127/day-20251127-${seriesHash(seriesKey(meta))}.rollup`,
    `blocks/20251127/hour-20251127T10-${seriesHash(seriesKey(meta))}.rollup`,
    'blocks/20251127/stacks.dict',
  ]);
  // Frames once, then stacks as frame IDs: `f NAME` lines and `s ID,ID,…` lines (base 36).
  const lines = (await readFile(join(dir, 'blocks/20251127/stacks.dict'), 'utf8')).split('\n').slice(0, -1);
  const frames = lines.filter((l) => l.startsWith('f ')).map((l) => l.slice(2));
  const stacks = lines
    .filter((l) => l.startsWith('s '))
    .map((l) =>
      l
        .slice(2)
        .split(',')
        .map((id) => frames[parseInt(id, 36)])
        .join(';'),
    );
  t.same(frames.sort(), [...new Set([...before.keys()].flatMap((k) => k.split(';')))].sort(), 'each frame once');
  t.same(stacks.sort(), [...before.keys()].sort(), 'each stack once, as frame IDs');
  t.same(JSON.parse(await readFile(join(dir, `blocks/20251127/${meta.id}.json`), 'utf8')), meta);
  // The first profile of a day adds every line of its dictionary, and is counted for them with its pairs.
  const pairsBytes = (await readFile(join(dir, `blocks/20251127/${meta.id}.pairs`))).length;
  const dictionaryBytes = (await readFile(join(dir, 'blocks/20251127/stacks.dict'))).length;
  t.equal(meta.dictionaryBytes, dictionaryBytes);
  t.equal(meta.bytes, pairsBytes + dictionaryBytes);
  t.ok(pairsBytes < gzipSync(serializeFolded(before)).length, 'pairs are smaller than format 1 gzip folded text');
});

t.test('whether inlined frames were asked for is stored, and older metadata reads as not', async (t) => {
  const dir = t.testdir();
  const store = await openStore(t, dir);
  const plain = await store.put(profile());
  const inlined = await store.put(profile({ javaInlined: true, startMs: T0 + 1000 }));
  t.same(plain.java, { inlined: false });
  t.same(inlined.java, { inlined: true });
  const metaFile = (id: string): string => join(blockDir(dir, blockOf(id)), `${id}.json`);
  t.same(JSON.parse(await readFile(metaFile(inlined.id), 'utf8')).java, { inlined: true }, 'on disk');
  // Metadata written before the option existed: no `java` at all.
  const old = JSON.parse(await readFile(metaFile(plain.id), 'utf8')) as Record<string, unknown>;
  delete old.java;
  await writeFile(metaFile(plain.id), `${JSON.stringify(old)}\n`);
  await store.close();
  const reopened = await openStore(t, dir);
  t.same(
    reopened.list().map((p) => [p.id, p.java.inlined]),
    [
      [plain.id, false],
      [inlined.id, true],
    ],
  );
});

t.test(
  'each profile keeps its event; metadata written before events reads as cpu, its rollups unchanged',
  async (t) => {
    const dir = t.testdir();
    const store = await openStore(t, dir);
    const cpu = await store.put(profile());
    const alloc = await store.put(profile({ event: 'alloc', startMs: T0 + 1000 }, fixtureStacks('after')));
    t.equal(cpu.event, 'cpu', 'no event given: cpu');
    t.equal(alloc.event, 'alloc');
    t.equal(
      alloc.samples,
      totalSamples(fixtureStacks('after')),
      "samples: the sum of the weights, in the event's unit",
    );
    const metaFile = (id: string): string => join(blockDir(dir, blockOf(id)), `${id}.json`);
    t.equal(JSON.parse(await readFile(metaFile(alloc.id), 'utf8')).event, 'alloc', 'on disk');
    t.same(
      store.list({ event: 'alloc' }).map((p) => p.id),
      [alloc.id],
    );
    t.same(
      store.list({ event: 'cpu' }).map((p) => p.id),
      [cpu.id],
    );
    t.same(
      store.list({ event: 'lock' }).map((p) => p.id),
      [],
    );
    t.same(store.list().length, 2, 'no event in the filter: every event');
    await t.rejects(store.merge(store.list()), { code: 'EVENT_MISMATCH' }, 'a merge never mixes events');
    // Metadata written before events existed: no `event` at all.
    const old = JSON.parse(await readFile(metaFile(cpu.id), 'utf8')) as Record<string, unknown>;
    delete old.event;
    await writeFile(metaFile(cpu.id), `${JSON.stringify(old)}\n`);
    await store.close();
    const reopened = new ProfileStore({ dir, now: () => T0 + 3600_000 });
    const report = await reopened.start();
    t.teardown(() => reopened.close());
    t.same(
      reopened.list().map((p) => [p.id, p.event]),
      [
        [cpu.id, 'cpu'],
        [alloc.id, 'alloc'],
      ],
    );
    t.equal(report.rollupsRebuilt, 0, 'a cpu profile without event is in the same series as before: its rollups stand');
    t.equal(
      serializeFolded((await reopened.merge(reopened.list({ event: 'cpu' }))).stacks),
      serializeFolded(fixtureStacks('before')),
    );
  },
);

t.test('rollups are per event: profiles of one pod and hour but different events never share one', async (t) => {
  const dir = t.testdir();
  const store = await openStore(t, dir);
  const cpu = await store.put(profile());
  const alloc = await store.put(profile({ event: 'alloc', startMs: T0 + 1000 }, fixtureStacks('after')));
  const cpu2 = await store.put(profile({ startMs: T0 + 2000 }, fixtureStacks('after')));
  t.not(seriesKey(cpu), seriesKey(alloc), 'the event is part of the series');
  t.equal(seriesKey(cpu), seriesKey(cpu2));
  const rollups = (await storeFiles(dir)).filter((f) => f.endsWith('.rollup'));
  t.equal(rollups.length, 4, 'an hour and a day rollup per event');
  const membersOf = async (file: string) => decodeRollup(await readFile(join(dir, file))).header.members;
  for (const [p, members] of [
    [cpu, [cpu.id, cpu2.id].sort()],
    [alloc, [alloc.id]],
  ] as const) {
    for (const level of ['hour-20251127T10', 'day-20251127']) {
      const file = `blocks/20251127/${level}-${seriesHash(seriesKey(p))}.rollup`;
      t.same(await membersOf(file), members, `${file} (${p.event}) names only its event's profiles`);
    }
  }
  t.equal(
    serializeFolded((await store.merge(store.list({ event: 'alloc' }))).stacks),
    serializeFolded(fixtureStacks('after')),
    'the alloc merge is the alloc profile',
  );
  t.equal(
    serializeFolded((await store.merge(store.list({ event: 'cpu' }))).stacks),
    serializeFolded(mergeFolded(fixtureStacks('before'), fixtureStacks('after'))),
    'the cpu merge is the cpu profiles',
  );
});

t.test('list filters by every field and by time range', async (t) => {
  const store = await openStore(t, t.testdir());
  const a = await store.put(profile());
  const b = await store.put(profile({ pod: 'shop-x1', startMs: T0 + 60_000, labels: { app: 'shop', tier: 'api' } }));
  const c = await store.put(
    profile({ namespace: 'billing', pod: 'bill-1', container: 'main', schedule: null, labels: {} }),
  );
  const ids = (q: Parameters<typeof store.list>[0]) => store.list(q).map((p) => p.id);
  t.same(ids({}), [a.id, c.id, b.id].sort());
  t.same(ids({ namespace: 'shop' }), [a.id, b.id]);
  t.same(ids({ namespace: 'shop', pod: 'shop-x1' }), [b.id]);
  t.same(ids({ container: 'main' }), [c.id]);
  t.same(ids({ schedule: 'every-minute' }), [a.id, b.id]);
  t.same(ids({ labelSelector: 'app=shop,tier!=api' }), [a.id]);
  t.same(ids({ labelSelector: 'tier in (web,api)' }), [a.id, b.id]);
  t.same(ids({ from: T0 + 1 }), [b.id]);
  t.same(ids({ to: T0 + 60_000 }), [a.id, c.id].sort(), 'to is exclusive');
  t.same(ids({ from: T0, to: T0 + 60_001 }).length, 3, 'from is inclusive');
});

t.test('reopening finds the same profiles and removes leftovers of interrupted writes', async (t) => {
  const dir = t.testdir();
  const block = join(dir, 'blocks/20251127');
  const first = new ProfileStore({ dir, now: () => T0 });
  await first.start();
  const kept = await first.put(profile());
  const lost = await first.put(profile({ pod: 'shop-gone', stacks: fixtureStacks('after') }));
  await first.close();
  // What a kill -9 can leave: a temp file, a data file whose marker never landed, a partial dictionary line, and
  // rollups that still count the profile whose marker is gone.
  await writeFile(join(block, `.tmp-${kept.id}.json-0a1b2c3d`), '{"partial');
  await unlink(join(block, `${lost.id}.json`));
  const dictionaryBefore = await readFile(join(block, 'stacks.dict'), 'utf8');
  await writeFile(join(block, 'stacks.dict'), `${dictionaryBefore}java;start_thread;Half`);
  // And a damaged marker (not from our writes, but a store must survive it).
  await writeFile(join(block, '20251127T090000Z-deadbeef.json'), '{"id": "20251127T090000Z-deadbeef"}');
  // A file the store did not write is not its to remove.
  await writeFile(join(block, 'foreign.json'), '{}');

  const registry = new Registry();
  const second = new ProfileStore({ dir, registry, now: () => T0 });
  const report = await second.start();
  t.teardown(() => second.close());
  t.same(report, {
    profiles: 1,
    tempFilesRemoved: 1,
    orphanDataRemoved: 1,
    invalidMetadataRemoved: 1,
    migrated: 0,
    rollupsRebuilt: 0,
  });
  t.same(
    second.list().map((p) => p.id),
    [kept.id],
  );
  const files = await storeFiles(dir);
  t.same(
    files.filter((f) => !f.endsWith('.rollup')),
    [
      'FORMAT',
      `blocks/20251127/${kept.id}.json`,
      `blocks/20251127/${kept.id}.pairs`,
      'blocks/20251127/foreign.json',
      'blocks/20251127/stacks.dict',
    ],
  );
  t.equal(await readFile(join(block, 'stacks.dict'), 'utf8'), dictionaryBefore, 'the partial line is cut off');
  t.equal(serializeFolded(await second.readStacks(kept.id)), serializeFolded(fixtureStacks('before')));
  // The lost profile's series has no profile left: its rollups went with it; the kept one's still sum it alone.
  t.equal(files.filter((f) => f.endsWith('.rollup')).length, 2);
  t.equal(serializeFolded((await second.merge(second.list())).stacks), serializeFolded(fixtureStacks('before')));
  const metrics = await registry.metrics();
  t.match(metrics, /podflame_store_recovered_total\{kind="temp_file"\} 1/);
  t.match(metrics, /podflame_store_recovered_total\{kind="orphan_data"\} 1/);
  t.match(metrics, /podflame_store_profiles 1/);
});

t.test('a rollup that no longer matches its profiles is rebuilt at start, and unused until then', async (t) => {
  const root = t.testdir();
  const dir = join(root, 'store');
  const first = new ProfileStore({ dir, now: () => T0 });
  await first.start();
  const a = await first.put(profile());
  await first.put(profile({ startMs: T0 + 60_000, stacks: fixtureStacks('after') }));
  await first.close();
  const block = join(dir, 'blocks/20251127');
  const hour = `hour-20251127T10-${seriesHash(seriesKey(a))}.rollup`;
  const day = `day-20251127-${seriesHash(seriesKey(a))}.rollup`;
  const expected = serializeFolded(mergeFolded(fixtureStacks('before'), fixtureStacks('after')));
  // As if b had been committed after the rollups were last written (a kill between the marker and the rollups):
  // put a's rollups back by writing a store with only a, in the same order, so that stack IDs agree.
  const solo = join(root, 'solo');
  const soloStore = new ProfileStore({ dir: solo, now: () => T0 });
  await soloStore.start();
  await soloStore.put(profile());
  await soloStore.close();
  const soloBlock = join(solo, 'blocks/20251127');
  const stale = await readFile(join(soloBlock, hour));
  await writeFile(join(block, hour), stale);
  await writeFile(join(block, day), Buffer.from('PFR2 not a rollup'));

  const second = new ProfileStore({ dir, now: () => T0 });
  const report = await second.start();
  t.teardown(() => second.close());
  t.equal(report.rollupsRebuilt, 2, 'the stale hour and the damaged day');
  t.equal(serializeFolded((await second.merge(second.list())).stacks), expected);
  t.not((await readFile(join(block, hour))).toString('latin1'), stale.toString('latin1'), 'the hour was rewritten');
});

t.test('retention by age runs on every write and on the timer', async (t) => {
  let now = T0;
  const registry = new Registry();
  const store = await openStore(t, t.testdir(), {
    now: () => now,
    maxAgeSeconds: 3600,
    sweepIntervalMs: 20,
    registry,
  });
  const old = await store.put(profile({ startMs: T0 - 3000_000 }));
  const fresh = await store.put(profile({ startMs: T0 }));
  t.equal(store.list().length, 2);
  now = T0 + 700_000; // old is now 3700 s old
  await store.put(profile({ startMs: now }));
  t.notOk(store.get(old.id), 'removed after the next write');
  now = T0 + 3601_000;
  // Only the timer can notice now: wait until it has.
  await waitFor(() => !store.get(fresh.id), 60_000, 'the retention timer to remove the profile', 10);
  await store.enforceRetention(); // queued after the timer's pass: its file removals and rollup updates are done
  t.equal(store.list().length, 1);
  t.match(await registry.metrics(), /podflame_store_evictions_total\{reason="age"\} 2/);
});

t.test('retention by total bytes keeps the newest', async (t) => {
  // (t.testdir() is one directory per test: the probe and the store each get their own under it.)
  const dir = join(t.testdir(), 'store');
  // The store's total counts everything on disk: two profiles as the store keeps them, rollups and metadata included.
  const probe = await openStore(t, join(t.testdir(), 'probe'));
  await probe.put(profile({ startMs: T0 + 1000 }));
  await probe.put(profile({ startMs: T0 + 2000 }));
  const size = probe.diskBytes();
  t.equal(size, await diskUse(probe.dir), 'what it counts is what is on disk');
  const store = await openStore(t, dir, { maxTotalBytes: size, now: () => T0 + 10_000 });
  const p1 = await store.put(profile({ startMs: T0 }));
  const p2 = await store.put(profile({ startMs: T0 + 1000 }));
  const p3 = await store.put(profile({ startMs: T0 + 2000 }));
  t.same(
    store.list().map((p) => p.id),
    [p2.id, p3.id],
  );
  t.notOk(store.get(p1.id));
  t.ok(store.diskBytes() <= size);
  t.ok((await diskUse(dir)) <= size, 'on disk too');
  t.same(
    (await storeFiles(dir)).filter((f) => /\.(json|pairs)$/.test(f)).map((f) => f.slice(16)),
    [`${p2.id}.json`, `${p2.id}.pairs`, `${p3.id}.json`, `${p3.id}.pairs`],
  );
  await t.rejects(store.readStacks(p1.id), { code: 'PROFILE_NOT_FOUND' });
});

t.test('a schedule retention applies to that schedule only', async (t) => {
  let now = T0;
  const store = await openStore(t, t.testdir(), { now: () => now, maxAgeSeconds: 86400 });
  store.setScheduleRetention('shop', 'hourly', 600);
  const h = await store.put(profile({ schedule: 'hourly' }));
  const d = await store.put(profile({ schedule: 'daily' }));
  now = T0 + 601_000;
  await store.enforceRetention();
  t.notOk(store.get(h.id));
  t.ok(store.get(d.id));
  store.setScheduleRetention('shop', 'hourly', undefined);
  t.same(store.policy().scheduleMaxAgeSeconds.size, 0);
});

t.test('a namespace over its byte share loses its own oldest profiles, never another namespace’s', async (t) => {
  // A profile is counted for the dictionary lines it adds: shop's first is counted for the capture's lines and its
  // pairs, the next ones for their pairs alone; billing's one small stack is counted for its own few lines.
  const probe = await openStore(t, join(t.testdir(), 'probe'));
  const size = (await probe.put(profile())).bytes;
  const registry = new Registry();
  const store = await openStore(t, join(t.testdir(), 'store'), { maxNamespaceBytes: size + 1, registry });
  // The other namespace's profile is the oldest of the store: a store-wide "oldest first" would take it.
  const theirs = await store.put(profile({ namespace: 'billing', pod: 'bill-0', startMs: T0 - 60_000 }, billing));
  const p1 = await store.put(profile({ startMs: T0 }));
  const p2 = await store.put(profile({ startMs: T0 + 1000 }));
  const p3 = await store.put(profile({ startMs: T0 + 2000 }));
  t.same(
    store.list().map((p) => p.id),
    [theirs.id, p2.id, p3.id],
    "shop's oldest went; billing's older profile stayed",
  );
  t.notOk(store.get(p1.id));
  t.match(await registry.metrics(), /podflame_store_evictions_total\{reason="namespace_bytes"\} 1/);
  t.throws(() => new ProfileStore({ dir: t.testdir(), maxNamespaceBytes: 0 }), { code: 'CONFIG_INVALID' });
});

t.test('over the store’s total, the namespace holding the most bytes pays', async (t) => {
  // Three profiles as the store keeps them (one of billing, two of shop), rollups and metadata included.
  // billing's one small stack is counted for its own few dictionary lines, shop's first profile for the capture's.
  const probe = await openStore(t, join(t.testdir(), 'probe'));
  await probe.put(profile({ namespace: 'billing', pod: 'bill-0', startMs: T0 - 60_000 }, billing));
  await probe.put(profile({ startMs: T0 + 1000 }));
  await probe.put(profile({ startMs: T0 + 2000 }));
  const store = await openStore(t, join(t.testdir(), 'store'), { maxTotalBytes: probe.diskBytes() });
  const theirs = await store.put(profile({ namespace: 'billing', pod: 'bill-0', startMs: T0 - 60_000 }, billing));
  const p1 = await store.put(profile({ startMs: T0 }));
  const p2 = await store.put(profile({ startMs: T0 + 1000 }));
  const p3 = await store.put(profile({ startMs: T0 + 2000 }));
  t.same(
    store.list().map((p) => p.id),
    [theirs.id, p2.id, p3.id],
    'the largest namespace, shop, lost its oldest; the older billing profile stayed',
  );
  t.notOk(store.get(p1.id));
});

t.test('delete, errors and close', async (t) => {
  const store = new ProfileStore({ dir: t.testdir(), now: () => T0 });
  t.throws(() => store.put(profile()), { code: 'INTERNAL' }, 'not started');
  await store.start();
  const p = await store.put(profile());
  t.equal(await store.delete(p.id), true);
  t.equal(await store.delete(p.id), false);
  await t.rejects(store.readStacks('20250101T000000Z-00000000'), { code: 'PROFILE_NOT_FOUND' });
  await store.close();
  await store.close();
  t.throws(() => store.put(profile()), { code: 'INTERNAL' }, 'closed');
  t.throws(() => new ProfileStore({ dir: '' }), { code: 'CONFIG_INVALID' });
  t.throws(() => new ProfileStore({ dir: '/tmp/x', maxTotalBytes: 0 }), { code: 'CONFIG_INVALID' });
});

t.test('an unusable data directory is a configuration error', async (t) => {
  const dir = t.testdir({ file: 'not a directory' });
  const store = new ProfileStore({ dir: join(dir, 'file', 'sub') });
  await t.rejects(store.start(), { code: 'CONFIG_INVALID', message: /data directory/ });
});
