/**
 * A lock profile's event counts (contentions per stack, beside its nanoseconds blocked) in the store: kept with the
 * profile, summed by merges as the weights are (through rollups and profile by profile alike), kept across a restart,
 * and left out of a merge that takes in a profile stored without them (before they were kept), whose pprof then has
 * its delay alone. Other events' files are as before, byte for byte.
 */
import t from 'tap';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import { ProfileStore, type NewProfile } from '../../agent/store/profile-store.js';
import { mergeStoredProfiles } from '../../agent/store/merge.js';
import { ByteReader, addPairs, encodePairs } from '../../agent/store/pairs-codec.js';
import { decodeRollup } from '../../agent/store/rollup-file.js';
import { parseFolded, serializeFolded, type EventCounts, type FoldedStacks } from '../../shared/folded.js';
import { renderMergedGraph } from '../../shared/history-graphs.js';
import { startHistoryAgent } from '../history/agent-harness.js';

const T0 = Date.parse('2025-11-27T09:00:00Z');

// The lock graph of a real recording (JfrMix on JDK 21: test/fixtures/jfr/record.sh), nanoseconds blocked per stack.
const LOCK: FoldedStacks = parseFolded(
  await readFile(new URL('../fixtures/jfr/mix-jdk21.lock.folded', import.meta.url), 'utf8'),
).stacks;
const [HOLD, PARK] = [...LOCK.keys()] as [string, string];

function lockProfile(startMs: number, stacks: FoldedStacks, eventCounts?: EventCounts): NewProfile {
  return {
    namespace: 'shop',
    pod: 'shop-1',
    container: 'app',
    node: 'node-a',
    startMs,
    durationSeconds: 30,
    frequencyHz: 99,
    event: 'lock',
    warnings: [],
    schedule: 'locks',
    podUid: null,
    containerId: null,
    labels: {},
    stacks,
    ...(eventCounts !== undefined ? { eventCounts } : {}),
  };
}

/** pprof's sample types (`type/unit`) and, per stack (root first), its values. */
function decodePprof(body: string | Buffer): { types: string[]; values: Map<string, number[]> } {
  const profile = Profile.decode(gunzipSync(body as Buffer));
  const str = (i: number | bigint) => profile.stringTable.strings[Number(i)] as string;
  const names = new Map(profile.function.map((f) => [Number(f.id), str(f.name)]));
  const values = new Map<string, number[]>();
  for (const s of profile.sample) {
    const stack = s.locationId.map((id) => names.get(Number(id)) as string).reverse();
    values.set(stack.join(';'), s.value.map(Number));
  }
  return { types: profile.sampleType.map((v) => `${str(v.type)}/${str(v.unit)}`), values };
}

const pprofOf = (stacks: FoldedStacks, eventCounts?: EventCounts) =>
  decodePprof(
    renderMergedGraph('pprof', stacks, {
      event: 'lock',
      title: 't',
      subtitle: 's',
      frequencyHz: 99,
      durationSeconds: 60,
      startTimeMs: T0,
      ...(eventCounts !== undefined ? { eventCounts } : {}),
    }).body,
  );

t.test('two lock profiles merged: their contentions summed per stack, as their nanoseconds are', async (t) => {
  const dir = t.testdir();
  const store = new ProfileStore({ dir, now: () => T0 + 3600_000 });
  await store.start();
  t.teardown(() => store.close());
  // Same hour: the second write grows the hour and day rollups by it (pairs and counts).
  const a = await store.put(
    lockProfile(
      T0,
      LOCK,
      new Map([
        [HOLD, 57],
        [PARK, 1203],
      ]),
    ),
  );
  const b = await store.put(lockProfile(T0 + 600_000, new Map([[HOLD, 1_000_000]]), new Map([[HOLD, 3]])));
  t.same(
    await store.readEventCounts(a.id),
    new Map([
      [HOLD, 57],
      [PARK, 1203],
    ]),
    'kept with the profile',
  );
  t.same(await store.readEventCounts(b.id), new Map([[HOLD, 3]]));

  const items = store.list({ event: 'lock' });
  t.equal(items.length, 2);
  const merged = await store.merge(items);
  t.same(
    merged.eventCounts,
    new Map([
      [HOLD, 60],
      [PARK, 1203],
    ]),
    'summed per stack',
  );
  t.equal(merged.stacks.get(HOLD), (LOCK.get(HOLD) as number) + 1_000_000, 'the weights summed as before');
  const reference = await mergeStoredProfiles(store, items);
  t.same(reference.eventCounts, merged.eventCounts, 'profile by profile: the same counts');
  t.equal(serializeFolded(reference.stacks), serializeFolded(merged.stacks));

  const block = join(dir, 'blocks', '20251127');
  const rollups = (await readdir(block)).filter((n) => n.endsWith('.rollup'));
  t.equal(rollups.length, 2, 'an hour and a day rollup');
  for (const name of rollups) {
    const { eventCounts } = decodeRollup(await readFile(join(block, name)));
    t.equal(eventCounts?.size, 2, `${name} keeps the counts of both stacks`);
    t.equal(
      [...(eventCounts ?? [])].reduce((sum, [, n]) => sum + n, 0),
      1263,
      `${name}: their sum`,
    );
  }

  const { types, values } = pprofOf(merged.stacks, merged.eventCounts);
  t.same(types, ['contentions/count', 'delay/nanoseconds'], 'pprof: both sample types');
  t.same(values.get(HOLD), [60, (LOCK.get(HOLD) as number) + 1_000_000]);
  t.same(values.get(PARK), [1203, LOCK.get(PARK)]);

  // A restart reads them back: the merge then comes from the rollups written before.
  await store.close();
  const reopened = new ProfileStore({ dir, now: () => T0 + 3600_000 });
  const report = await reopened.start();
  t.teardown(() => reopened.close());
  t.equal(report.rollupsRebuilt, 0, 'the rollups with counts read as whole');
  t.same((await reopened.merge(reopened.list({ event: 'lock' }))).eventCounts, merged.eventCounts, 'after a restart');
});

t.test('a lock profile stored without counts: merges with it have none, and its pprof has delay alone', async (t) => {
  const dir = t.testdir();
  const store = new ProfileStore({ dir, now: () => T0 + 3600_000 });
  await store.start();
  t.teardown(() => store.close());
  // As a lock profile written before counts were kept: its data ends after the weights.
  const old = await store.put(lockProfile(T0, LOCK));
  t.equal(await store.readEventCounts(old.id), undefined, 'none');
  const alone = await store.merge([old]);
  t.equal(alone.eventCounts, undefined);
  t.same(pprofOf(alone.stacks, alone.eventCounts).types, ['delay/nanoseconds'], 'pprof: delay only');

  await store.put(
    lockProfile(
      T0 + 600_000,
      LOCK,
      new Map([
        [HOLD, 5],
        [PARK, 9],
      ]),
    ),
  );
  const items = store.list({ event: 'lock' });
  const merged = await store.merge(items);
  t.equal(merged.eventCounts, undefined, 'counts of only some profiles would understate: none');
  t.equal((await mergeStoredProfiles(store, items)).eventCounts, undefined, 'profile by profile too');
  t.equal(merged.stacks.get(HOLD), 2 * (LOCK.get(HOLD) as number), 'the weights summed all the same');
  const later = store.list({ event: 'lock', from: T0 + 1 });
  t.same(
    (await store.merge(later)).eventCounts,
    new Map([
      [HOLD, 5],
      [PARK, 9],
    ]),
    'the counted one alone has them',
  );
});

t.test("other events' data is as before: the pairs alone", async (t) => {
  const dir = t.testdir();
  const store = new ProfileStore({ dir, now: () => T0 + 3600_000 });
  await store.start();
  t.teardown(() => store.close());
  const cpu = await store.put({
    ...lockProfile(
      T0,
      new Map([
        ['a;b', 3],
        ['a;c', 4],
      ]),
    ),
    event: 'cpu',
  });
  const data = await readFile(join(dir, 'blocks', '20251127', `${cpu.id}.pairs`));
  const pairs = new Map<number, number>();
  const reader = new ByteReader(data);
  addPairs(reader, pairs);
  t.equal(reader.offset, data.length, 'nothing after the pairs');
  t.same(data, encodePairs(pairs), 'as encodePairs writes them');
  t.equal((await store.merge([cpu])).eventCounts, undefined, 'a cpu merge has no event counts');
});

t.test("the agent's merged lock graph as pprof: contentions and delay, through its profile worker", async (t) => {
  const agent = await startHistoryAgent(t, { now: () => T0 + 3600_000 });
  const store = agent.history.store;
  await store.put(
    lockProfile(
      T0,
      LOCK,
      new Map([
        [HOLD, 57],
        [PARK, 1203],
      ]),
    ),
  );
  await store.put(lockProfile(T0 + 600_000, LOCK, new Map([[HOLD, 3]])));
  const res = await fetch(`${agent.url}/v1/flamegraph?format=pprof&event=lock&from=${new Date(T0).toISOString()}`);
  t.equal(res.status, 200);
  const { types, values } = decodePprof(Buffer.from(await res.arrayBuffer()));
  t.same(types, ['contentions/count', 'delay/nanoseconds']);
  t.same(values.get(HOLD), [60, 2 * (LOCK.get(HOLD) as number)]);
  t.same(values.get(PARK), [1203, 2 * (LOCK.get(PARK) as number)]);
});
