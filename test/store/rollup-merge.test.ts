/**
 * Merges through rollups against the profile-by-profile merge (agent/store/merge.ts, the path every query took
 * before rollups), byte for byte on folded text: the query plan on its own, a store of three days of real captures
 * under many filters and ranges (in process and through the HTTP API of a real agent app), rollups answering whole
 * days without their profiles' data, and retention removing profiles from rollups and dropping empty blocks.
 */
import t, { type Test } from 'tap';
import { readFile, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { ProfileStore, type NewProfile } from '../../agent/store/profile-store.js';
import { mergeStoredProfiles } from '../../agent/store/merge.js';
import { planMerge } from '../../agent/store/query-plan.js';
import { decodeRollupHeader, rollupFileName, seriesKey } from '../../agent/store/rollup-file.js';
import { serializeFolded, type FoldedStacks } from '../../shared/folded.js';
import { renderDiffGraph } from '../../shared/history-graphs.js';
import type { HistoryFilter, StoredProfile } from '../../shared/history.js';
import { fixtureStacks } from '../history/fixtures.js';
import { startHistoryAgent } from '../history/agent-harness.js';
import { call } from '../agent/http.js';
import { mulberry32 } from './random.js';

const T0 = Date.parse('2025-11-27T00:00:00Z');
const DAY = 86400_000;

function meta(id: string, start: string, over: Partial<StoredProfile> = {}): StoredProfile {
  return {
    id,
    namespace: 'shop',
    pod: 'a',
    container: 'app',
    node: 'n',
    start,
    durationSeconds: 30,
    frequencyHz: 99,
    java: { inlined: false },
    event: 'cpu',
    samples: 1,
    warnings: [],
    schedule: 's',
    podUid: null,
    containerId: null,
    labels: {},
    bytes: 1,
    ...over,
  };
}

t.test('the plan: a day rollup for a whole day, hour rollups for whole hours, profiles at the edges', (t) => {
  const p1 = meta('20251127T090500Z-00000001', '2025-11-27T09:05:00.000Z');
  const p2 = meta('20251127T091500Z-00000002', '2025-11-27T09:15:00.000Z');
  const p3 = meta('20251127T100500Z-00000003', '2025-11-27T10:05:00.000Z');
  const q1 = meta('20251127T100500Z-00000004', '2025-11-27T10:05:00.000Z', { pod: 'b' });
  const r1 = meta('20251128T000500Z-00000005', '2025-11-28T00:05:00.000Z');
  const key = seriesKey(p1);
  const day27 = rollupFileName('day', Date.parse('2025-11-27T00:00:00Z'), key);
  const hour09 = rollupFileName('hour', Date.parse('2025-11-27T09:00:00Z'), key);
  const hour10 = rollupFileName('hour', Date.parse('2025-11-27T10:00:00Z'), key);
  const known = new Map<string, string[]>([
    [day27, [p1.id, p2.id, p3.id]],
    [hour09, [p1.id, p2.id]],
    [hour10, [p3.id]],
  ]);
  const lookup = (block: string, file: string) => (block === '20251127' ? known.get(file) : undefined);
  const shape = (items: StoredProfile[]) =>
    planMerge(items, lookup).map((b) => ({
      block: b.block,
      reads: b.reads.map((r) => (r.kind === 'profile' ? r.item.id : `${r.file}:${r.items.length}`)),
    }));
  t.same(shape([p1, p2, p3, q1, r1]), [
    { block: '20251127', reads: [`${day27}:3`, q1.id] },
    { block: '20251128', reads: [r1.id] },
  ]);
  t.same(shape([p2, p3]), [{ block: '20251127', reads: [p2.id, `${hour10}:1`] }], 'a cut hour reads its profiles');
  t.same(shape([p1, p2]), [{ block: '20251127', reads: [`${hour09}:2`] }]);
  t.same(shape([]), []);
  t.end();
});

/** Three days of real captures: three series, a profile every 25 to 45 minutes, overlapping stacks. */
function seedProfiles(): NewProfile[] {
  const random = mulberry32(7);
  const sources = [fixtureStacks('before'), fixtureStacks('after')];
  const series: Omit<
    NewProfile,
    'node' | 'startMs' | 'durationSeconds' | 'frequencyHz' | 'warnings' | 'podUid' | 'containerId' | 'stacks'
  >[] = [
    { namespace: 'shop', pod: 'shop-1', container: 'app', schedule: 'often', labels: { app: 'shop', tier: 'web' } },
    { namespace: 'shop', pod: 'shop-2', container: 'app', schedule: 'often', labels: { app: 'shop', tier: 'api' } },
    { namespace: 'billing', pod: 'bill', container: 'main', schedule: null, labels: {} },
  ];
  const out: NewProfile[] = [];
  series.forEach((s, n) => {
    for (let at = T0 + n * 600_000; at < T0 + 3 * DAY; at += (25 + Math.floor(random() * 20)) * 60_000) {
      const stacks: FoldedStacks = new Map();
      for (const [stack, count] of sources[(n + out.length) % 2] as FoldedStacks) {
        if (random() < 0.7) stacks.set(stack, 1 + Math.floor(random() * count));
      }
      stacks.set(`java;start_thread;Shop.lambda$${Math.floor((at - T0) / 7200_000)}_[j]`, 1);
      out.push({
        ...s,
        node: 'node-a',
        startMs: at,
        durationSeconds: 30,
        frequencyHz: 99,
        warnings: [],
        podUid: null,
        containerId: null,
        stacks,
      });
    }
  });
  return out.sort((a, b) => a.startMs - b.startMs);
}

function filters(): HistoryFilter[] {
  const random = mulberry32(11);
  const out: HistoryFilter[] = [
    {},
    { namespace: 'shop' },
    { labelSelector: 'tier=api' },
    { schedule: 'often', from: T0 + DAY, to: T0 + 2 * DAY },
    { from: T0 + 5 * 3600_000, to: T0 + 2 * DAY + 7 * 3600_000 },
  ];
  for (let i = 0; i < 25; i++) {
    const a = T0 + Math.floor(random() * 3 * DAY);
    const b = T0 + Math.floor(random() * 3 * DAY);
    out.push({ from: Math.min(a, b), to: Math.max(a, b) + 1, ...(i % 4 === 0 ? { pod: 'shop-2' } : {}) });
  }
  return out;
}

async function sameAsReference(t: Test, store: ProfileStore, label: string): Promise<void> {
  for (const f of filters()) {
    const items = store.list(f);
    const fast = await store.merge(items);
    const reference = await mergeStoredProfiles(store, items);
    t.same(
      fast.items.map((i) => i.id),
      reference.items.map((i) => i.id),
    );
    if (serializeFolded(fast.stacks) !== serializeFolded(reference.stacks)) {
      t.fail(`${label}: ${JSON.stringify(f)} merges to other stacks than profile by profile`);
    }
  }
  t.pass(`${label}: ${filters().length} merges byte for byte as profile by profile`);
}

/** Every rollup file's members are exactly its bucket's profiles in the store. */
async function rollupsMatch(t: Test, dir: string, store: ProfileStore): Promise<number> {
  let checked = 0;
  for (const block of await readdir(join(dir, 'blocks'))) {
    for (const name of (await readdir(join(dir, 'blocks', block))).filter((n) => n.endsWith('.rollup'))) {
      const { header } = decodeRollupHeader(await readFile(join(dir, 'blocks', block, name)));
      const span = header.level === 'day' ? DAY : 3600_000;
      const expected = store
        .list({ from: header.bucketMs, to: header.bucketMs + span })
        .filter((p) => seriesKey(p) === header.series)
        .map((p) => p.id)
        .sort();
      if (JSON.stringify(header.members) !== JSON.stringify(expected)) {
        t.fail(`${block}/${name}: members are not the bucket's profiles`, { found: header.members, expected });
      }
      checked++;
    }
  }
  t.pass(`${checked} rollups, each with exactly its bucket's profiles`);
  return checked;
}

t.test('three days of profiles: rollups answer as the profiles do, and retention keeps them so', async (t) => {
  const dir = t.testdir();
  let now = T0 + 3 * DAY;
  const store = new ProfileStore({ dir, now: () => now, maxAgeSeconds: 5 * 86400 });
  await store.start();
  t.teardown(() => store.close());
  for (const p of seedProfiles()) await store.put(p);
  t.ok(store.list().length > 250, `${store.list().length} profiles`);
  await sameAsReference(t, store, 'after the writes');
  t.ok((await rollupsMatch(t, dir, store)) > 200, 'hour and day rollups of every series');

  // Whole days come from their day rollups: with the profiles' data of day 2 moved away, a merge of that day is
  // still complete and the same, which only the rollups can answer.
  const day2 = store.list({ from: T0 + DAY, to: T0 + 2 * DAY });
  const expected = serializeFolded((await mergeStoredProfiles(store, day2)).stacks);
  const block = join(dir, 'blocks', '20251128');
  const moved = (await readdir(block)).filter((n) => n.endsWith('.pairs'));
  for (const n of moved) await rename(join(block, n), join(dir, n));
  const fromRollups = await store.merge(day2);
  t.equal(fromRollups.items.length, day2.length, 'every profile of the day merged');
  t.equal(serializeFolded(fromRollups.stacks), expected, 'from the day rollups alone');
  const cut = await store.merge(store.list({ from: T0 + DAY + 1800_000, to: T0 + 2 * DAY }));
  t.ok(cut.items.length < day2.length - 1, 'a range that cuts an hour needs the profiles at its edge');
  for (const n of moved) await rename(join(dir, n), join(block, n));

  // Retention: day 1 and part of day 2 age out; the rollups lose exactly those profiles, day 1's block goes.
  now = T0 + 6 * DAY + 9 * 3600_000;
  await store.enforceRetention();
  t.notOk(
    store.list().some((p) => p.start < '2025-11-28T09:00:00Z'),
    'aged out',
  );
  t.same((await readdir(join(dir, 'blocks'))).sort(), ['20251128', '20251129'], "day 1's block is gone");
  await rollupsMatch(t, dir, store);
  await sameAsReference(t, store, 'after retention');
});

t.test('the HTTP API answers as the profile-by-profile merge, on a real agent app', async (t) => {
  const now = T0 + 3 * DAY;
  const agent = await startHistoryAgent(t, { now: () => now });
  const store = agent.history.store;
  for (const p of seedProfiles()) await store.put(p);
  const iso = (ms: number) => new Date(ms).toISOString();
  const cases = [
    ['', {}],
    [
      `&from=${iso(T0 + 3600_000)}&to=${iso(T0 + 2 * DAY + 1800_000)}`,
      { from: T0 + 3600_000, to: T0 + 2 * DAY + 1800_000 },
    ],
    ['&namespace=shop&from=now-1d', { namespace: 'shop', from: now - DAY }],
  ] as const;
  for (const [query, filter] of cases) {
    const answer = await call(agent.url, 'GET', `/v1/flamegraph?format=folded${query}`);
    t.equal(answer.status, 200);
    const items = store.list(filter);
    t.equal(answer.text, serializeFolded((await mergeStoredProfiles(store, items)).stacks), `flamegraph${query}`);
    t.equal(answer.headers['x-podflame-profiles'], String(items.length));
  }
  const diff = await call(
    agent.url,
    'GET',
    `/v1/diff?format=folded&baseFrom=${iso(T0)}&baseTo=${iso(T0 + 2 * DAY)}&targetFrom=${iso(T0 + 2 * DAY)}&targetTo=now`,
  );
  t.equal(diff.status, 200);
  const base = await mergeStoredProfiles(store, store.list({ from: T0, to: T0 + 2 * DAY }));
  const target = await mergeStoredProfiles(store, store.list({ from: T0 + 2 * DAY, to: now }));
  t.equal(
    diff.text,
    renderDiffGraph('folded', base.stacks, target.stacks, { title: '', subtitle: '', normalize: true }).body,
    'the diff of the profile-by-profile merges',
  );
});
