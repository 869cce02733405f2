/**
 * Dictionary lines stay charged while any stored profile uses them (issue #13, cold attacker's finding F2): a
 * namespace stored each new stack set twice, under a schedule of 1 s retention and under a long one; the lines were
 * charged to the short-lived copy only, so once it expired the long copy kept them alive uncharged, the namespace's
 * share never filled, and the day's whole dictionary did, refusing every other namespace's new stacks.
 */
import t, { type Test } from 'tap';
import { ProfileStore, type NewProfile, type ProfileStoreOptions } from '../../agent/store/profile-store.js';
import type { FoldedStacks } from '../../shared/folded.js';
import { diskUse } from './store-files.js';

const T0 = Date.parse('2026-12-04T10:00:00Z');
const SHARE = 40 * 1024;

/** `n` stacks no other profile has (200: about 16 kB of new dictionary lines). */
function allNew(tag: string, n = 200): FoldedStacks {
  const stacks: FoldedStacks = new Map();
  for (let s = 0; s < n; s++) {
    stacks.set(`java;start_thread;com/example/Gen${tag}_${s}$$Lambda$1.apply;com/example/Gen${tag}_${s}.run`, 1 + s);
  }
  return stacks;
}

interface Clocked {
  store: ProfileStore;
  clock: { ms: number };
}

/** A quarter of the store per namespace: a quarter of the day's 160 KiB dictionary each, SHARE. */
const QUARTERS = {
  maxDictionaryBytes: 4 * SHARE,
  maxTotalBytes: 64 * 1024 ** 2,
  maxNamespaceBytes: 16 * 1024 ** 2,
  minNamespaceDictionaryBytes: 0,
};

async function openStore(t: Test, dir: string, limits: Partial<ProfileStoreOptions> = QUARTERS): Promise<Clocked> {
  const clock = { ms: T0 };
  const store = new ProfileStore({ dir, now: () => clock.ms, ...limits });
  await store.start();
  t.teardown(() => store.close());
  return { store, clock };
}

function put(c: Clocked, namespace: string, schedule: string, stacks: FoldedStacks) {
  const profile: NewProfile = {
    namespace,
    pod: 'gen',
    container: 'app',
    node: 'vm',
    startMs: c.clock.ms,
    durationSeconds: 1,
    frequencyHz: 99,
    warnings: [],
    schedule,
    podUid: null,
    containerId: null,
    labels: {},
    stacks,
  };
  return c.store.put(profile);
}

function charged(store: ProfileStore, namespace: string): number {
  return store.list({ namespace }).reduce((sum, p) => sum + (p.dictionaryBytes ?? 0), 0);
}

t.test('a namespace storing each new stack set twice, one copy expiring, is still held to its share', async (t) => {
  const dir = t.testdir();
  const c = await openStore(t, dir);
  c.store.setScheduleRetention('attacker', 'short', 1);
  let refused: unknown;
  let rounds = 0;
  for (; rounds < 40 && refused === undefined; rounds++) {
    const stacks = allNew(`a${rounds}`);
    try {
      await put(c, 'attacker', 'short', stacks);
      await put(c, 'attacker', 'long', stacks);
    } catch (err) {
      refused = err;
      break;
    }
    c.clock.ms += 2000; // the `short` copy is now beyond its 1 s retention
    await c.store.enforceRetention();
  }
  t.match(
    refused,
    { code: 'STORE_DICTIONARY_FULL', details: { namespace: 'attacker', share: SHARE } },
    `the attacker is refused for its own share (after ${rounds} rounds), not the day's cap`,
  );
  t.notOk(
    c.store.list({ namespace: 'attacker' }).some((p) => p.schedule === 'short'),
    'the short-lived copies are gone',
  );
  const attacker = charged(c.store, 'attacker');
  t.ok(attacker > SHARE / 2, `the long copies carry the lines they keep alive: ${attacker} bytes charged`);
  t.ok(attacker <= SHARE, `within its share of ${SHARE}`);
  const victim = await put(c, 'victim', 'v', allNew('v'));
  t.ok(
    (victim.dictionaryBytes ?? 0) > 0,
    `another namespace still stores new stacks (${victim.dictionaryBytes} bytes)`,
  );
  t.equal(c.store.diskBytes(), await diskUse(dir), 'what the store counts is what is on disk');

  // The charges are the profiles' own (their metadata), not memory: a restart finds them.
  await c.store.close();
  const again = await openStore(t, dir);
  t.equal(charged(again.store, 'attacker'), attacker, 'after a restart the attacker is charged the same');
  again.clock.ms = c.clock.ms;
  await t.rejects(put(again, 'attacker', 'long', allNew('after-restart')), {
    code: 'STORE_DICTIONARY_FULL',
    details: { namespace: 'attacker' },
  });
});

t.test(
  'lines another namespace keeps using are charged to it once the namespace that added them is gone',
  async (t) => {
    const dir = t.testdir();
    // Default limits: a removal compacts the day's dictionary once 64 KiB of it are charged to no profile.
    const c = await openStore(t, dir, {});
    const stacks = allNew('shared', 1000);
    const first = await put(c, 'first', 's', stacks);
    const second = await put(c, 'second', 's', stacks);
    t.ok(first.dictionaryBytes! > 0, 'the first to store the stacks is charged for their lines');
    t.equal(second.dictionaryBytes, 0, 'the second is not');
    t.ok(first.dictionaryBytes! > 64 * 1024, 'enough for a compaction');
    await c.store.delete(first.id);
    t.equal(charged(c.store, 'second'), first.dictionaryBytes, 'the second now carries the lines it keeps alive');
    t.equal(c.store.get(second.id)!.bytes, second.bytes + first.dictionaryBytes!, 'and counts them in its bytes');
    t.equal(c.store.diskBytes(), await diskUse(dir), 'what the store counts is what is on disk');
    // Lines nobody uses any more are reclaimed, and charged to nobody.
    await c.store.delete(second.id);
    await put(c, 'third', 's', allNew('third'));
    t.equal(c.store.diskBytes(), await diskUse(dir));
  },
);
