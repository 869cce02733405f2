/**
 * Issue #13, F1, scaled down: a day of many SHORT new stacks (`m;ns-0x<profile>_<stack>`, as the attacker's fill.mjs
 * stores them) costs a merge far more than their bytes. The merge cap prices each distinct stack as measured (its text
 * and 200 bytes), so such a day is refused with 507 PROFILE_TOO_LARGE where the old price (text + 48) let it
 * through; and the day's dictionary, larger than the cache's bound alone, is let go once the query is answered.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { call } from '../agent/http.js';
import type { FoldedStacks } from '../../shared/folded.js';
import { ProfileStore, type NewProfile } from '../../agent/store/profile-store.js';
import { defaultMergeLimits, mergeStackBytes } from '../../agent/store/merge-budget.js';
import { startHistoryAgent } from './agent-harness.js';

const HOUR = 3600_000;
const T0 = Math.max(Date.now() - 3 * HOUR, Math.floor(Date.now() / (24 * HOUR)) * 24 * HOUR);
const iso = (ms: number) => new Date(ms).toISOString();
const PROFILES = 4;
const PER_PROFILE = 5000;

/** fill.mjs's 'short' shape: every stack new, two frames, the leaf 10–13 chars. */
function shortStacks(n: number): FoldedStacks {
  const stacks: FoldedStacks = new Map();
  for (let s = 0; s < PER_PROFILE; s++) stacks.set(`m;ns-0x${n}_${s}`, 1 + (s % 7));
  return stacks;
}

function profile(n: number): NewProfile {
  return {
    namespace: 'ns-0',
    pod: 'gen',
    container: 'app',
    node: 'node-a',
    startMs: T0 + n * 1000,
    durationSeconds: 1,
    frequencyHz: 99,
    warnings: [],
    schedule: 'gen',
    podUid: null,
    containerId: null,
    labels: {},
    stacks: shortStacks(n),
  };
}

const allStacks = [...Array(PROFILES).keys()].flatMap((n) => [...shortStacks(n).keys()]);
const textBytes = allStacks.reduce((sum, s) => sum + Buffer.byteLength(s), 0);

t.test("a day of short stacks is refused by the merge cap's measured price", async (t) => {
  // A worker heap whose default cap held these stacks at the old price (text + 48) but not at the measured one.
  const workerHeap = 4 * 1024 * 1024;
  const limits = defaultMergeLimits(workerHeap, 100_000);
  const oldPrice = textBytes + 48 * allStacks.length;
  const price = allStacks.reduce((sum, s) => sum + mergeStackBytes(s), 0);
  t.ok(oldPrice < limits.maxBytes, `the old price (${oldPrice} B) fit within ${limits.maxBytes} B`);
  t.ok(price > limits.maxBytes, `the measured price (${price} B) does not`);
  t.ok(allStacks.length < limits.maxStacks, 'the number of stacks alone is within the cap');

  const { url, history } = await startHistoryAgent(t, { mergeLimits: limits });
  for (let n = 0; n < PROFILES; n++) await history.store.put(profile(n));
  const day = await call(url, 'GET', `/v1/flamegraph?from=${iso(T0)}&to=now&format=folded`);
  t.equal(day.status, 507, day.text.slice(0, 300));
  t.equal(day.json.error.code, 'PROFILE_TOO_LARGE');
  t.match(day.json.error.message, /MiB of distinct stacks/);
  const one = await call(url, 'GET', `/v1/flamegraph?from=${iso(T0)}&to=${iso(T0 + 1000)}&format=folded`);
  t.equal(one.status, 200, 'one profile of them fits');
});

t.test('a day dictionary larger than the cache bound is let go once the merge is done', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podflame-merge-memory-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = new ProfileStore({ dir, cachedDictionaryBytes: 64 * 1024 });
  await store.start();
  t.teardown(() => store.close());
  for (let n = 0; n < PROFILES; n++) await store.put(profile(n));
  const merged = await store.merge(store.list({}));
  t.equal(merged.stacks.size, allStacks.length, 'the merge read every stack');
  t.equal(store.dictionaryCacheBytes(), 0, 'the day, beyond the bound alone, is not held after the query');
  const again = await store.merge(store.list({}));
  t.same([...again.stacks], [...merged.stacks], 'the next query loads it again and answers the same');
  await store.put({ ...profile(0), startMs: T0 + 10_000 });
  t.equal(store.list({}).length, PROFILES + 1, 'a write after the trim still works');
});
