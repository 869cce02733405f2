/**
 * Issue #13, A3: the cap on a merged or differential graph's distinct stacks. A query whose stored profiles add up to
 * more than the cap is refused with PROFILE_TOO_LARGE through the HTTP route, the merge stopped at the cap (what it
 * read counted) and nothing handed to the renderer; a diff counts both sides together; a merge under the cap answers
 * exactly as the merge without one. Profiles are the real Shop captures, each pod's under its pod name as root frame
 * (as `--per-pod` draws them), so that every pod adds stacks of its own.
 */
import t from 'tap';
import { call } from '../agent/http.js';
import { serializeFolded, type FoldedStacks } from '../../shared/folded.js';
import type { NewProfile } from '../../agent/store/profile-store.js';
import type { StoredProfile } from '../../shared/history.js';
import { IN_PROCESS_GRAPHS, type GraphRenderer } from '../../agent/server/routes/history.js';
import { mergeProfiles, type BlockFiles } from '../../agent/store/block-merge.js';
import { mergeStoredProfiles } from '../../agent/store/merge.js';
import { mergeStackBytes, MergeBudget } from '../../agent/store/merge-budget.js';
import { fixtureStacks, isoTime, SHOP_T0, shopProfile } from './fixtures.js';
import { startHistoryAgent } from './agent-harness.js';

const PODS = 10;
// Within the store's default retention, and all in one UTC day (one block) for the read counts below.
const T0 = SHOP_T0;
const iso = isoTime;

/** A real capture's stacks under the pod's name as their root frame. */
function podStacks(pod: string): FoldedStacks {
  return new Map([...fixtureStacks('after')].map(([stack, count]) => [`${pod};${stack}`, count]));
}

function profile(i: number): NewProfile {
  return shopProfile(i, podStacks(`shop-${i}`));
}

/** Counts the renders asked of it; draws in process. */
function countingGraphs(): GraphRenderer & { renders: number } {
  const graphs = {
    renders: 0,
    renderMergedGraph: (...args: Parameters<GraphRenderer['renderMergedGraph']>) => {
      graphs.renders++;
      return IN_PROCESS_GRAPHS.renderMergedGraph(...args);
    },
    renderDiffGraph: (...args: Parameters<GraphRenderer['renderDiffGraph']>) => {
      graphs.renders++;
      return IN_PROCESS_GRAPHS.renderDiffGraph(...args);
    },
  };
  return graphs;
}

const PER_POD = fixtureStacks('after').size;
const podBytes = (pod: string) => [...podStacks(pod).keys()].reduce((sum, s) => sum + mergeStackBytes(s), 0);

t.test('a merge beyond the cap is refused through the route, stopped at the cap, nothing drawn', async (t) => {
  const maxStacks = 2 * PER_POD + 5; // two pods fit, the third does not
  const graphs = countingGraphs();
  const { url, history } = await startHistoryAgent(t, { mergeLimits: { maxStacks, maxBytes: 2 ** 30 }, graphs });
  for (let i = 0; i < PODS; i++) await history.store.put(profile(i));

  const all = await call(url, 'GET', `/v1/flamegraph?namespace=shop&from=${iso(T0)}&to=now&format=folded`);
  t.equal(all.status, 507, all.text.slice(0, 300));
  t.equal(all.json.error.code, 'PROFILE_TOO_LARGE');
  t.match(all.json.error.message, /narrow the time range or filter/);
  t.match(all.json.error.message, new RegExp(`more than ${maxStacks} distinct stacks`), 'says what the cap is');
  t.same(all.json.error.details, {
    maxMergeStacks: maxStacks,
    maxMergeBytes: 2 ** 30,
    countedStacks: maxStacks + 1, // stopped at the first stack past the cap, of 380
    countedBytes: all.json.error.details.countedBytes,
  });
  t.equal(graphs.renders, 0, 'nothing went to the renderer (the profile worker)');

  const one = await call(url, 'GET', `/v1/flamegraph?namespace=shop&pod=shop-3&from=${iso(T0)}&to=now&format=folded`);
  t.equal(one.status, 200, 'a narrower query fits');
  t.equal(one.text, serializeFolded(podStacks('shop-3')));
  t.equal(graphs.renders, 1);
});

t.test('the cap counts bytes of distinct stacks too', async (t) => {
  const maxBytes = podBytes('shop-0') + podBytes('shop-1') + 100; // two pods' stacks fit, not three
  const { url, history } = await startHistoryAgent(t, { mergeLimits: { maxStacks: 1_000_000, maxBytes } });
  for (let i = 0; i < PODS; i++) await history.store.put(profile(i));
  const all = await call(url, 'GET', `/v1/flamegraph?from=${iso(T0)}&to=now`);
  t.equal(all.status, 507, all.text.slice(0, 300));
  t.equal(all.json.error.code, 'PROFILE_TOO_LARGE');
  t.match(all.json.error.message, /distinct stacks.*narrow the time range or filter/);
  const { countedBytes, countedStacks } = all.json.error.details;
  t.ok(countedBytes > maxBytes, 'past the cap');
  t.ok(countedStacks <= 2 * PER_POD + PER_POD, `stopped within the third pod's stacks (${countedStacks})`);
});

t.test('a diff counts both sides in one cap', async (t) => {
  const maxStacks = PER_POD + 10; // each side alone fits, both together do not
  const graphs = countingGraphs();
  const { url, history } = await startHistoryAgent(t, { mergeLimits: { maxStacks, maxBytes: 2 ** 30 }, graphs });
  for (let i = 0; i < 2; i++) await history.store.put(profile(i));
  // shop-0 starts at T0, shop-1 a second later: one each side.
  const base = `baseFrom=${iso(T0)}&baseTo=${iso(T0 + 1000)}`;
  const target = `targetFrom=${iso(T0 + 1000)}&targetTo=${iso(T0 + 2000)}`;
  for (const [from, to] of [
    [T0, T0 + 1000],
    [T0 + 1000, T0 + 2000],
  ] as const) {
    const side = await call(url, 'GET', `/v1/flamegraph?from=${iso(from)}&to=${iso(to)}&format=folded`);
    t.equal(side.status, 200, 'one side alone fits');
  }
  const rendersBefore = graphs.renders;
  const diff = await call(url, 'GET', `/v1/diff?${base}&${target}&format=folded`);
  t.equal(diff.status, 507, diff.text.slice(0, 300));
  t.equal(diff.json.error.code, 'PROFILE_TOO_LARGE');
  t.match(diff.json.error.message, /both sides of a diff together.*narrow the time range or filter/);
  t.equal(diff.json.error.details.countedStacks, maxStacks + 1);
  t.equal(graphs.renders, rendersBefore, 'nothing went to the renderer');
});

t.test('the merge stops reading at the cap', async (t) => {
  const { history } = await startHistoryAgent(t);
  for (let i = 0; i < PODS; i++) await history.store.put(profile(i));
  // The store's own files, each read counted (its `files` is private to the store: reached here on purpose).
  const files = (history.store as unknown as { files: BlockFiles }).files;
  const reads: string[] = [];
  const counting: BlockFiles = {
    ...files,
    read: (block, name) => {
      reads.push(name);
      return files.read(block, name);
    },
  };
  const items = history.store.list({ namespace: 'shop' });
  t.equal(items.length, PODS);
  const budget = new MergeBudget({ maxStacks: 2 * PER_POD + 5, maxBytes: 2 ** 30 });
  await t.rejects(mergeProfiles(counting, items, budget), { code: 'PROFILE_TOO_LARGE' });
  // One read per pod (its series' day rollup): the third pod's stacks go past the cap, the other seven are unread.
  t.equal(reads.length, 3, `read ${reads.join(', ')}`);
  t.equal(budget.stacks, 2 * PER_POD + 6);

  reads.length = 0;
  await mergeProfiles(counting, items);
  t.equal(reads.length, PODS, 'without a cap, every pod is read');
});

t.test('a merge under the cap answers exactly as the merge without one', async (t) => {
  const { url, history } = await startHistoryAgent(t);
  const stored: StoredProfile[] = [];
  for (let i = 0; i < 4; i++) stored.push(await history.store.put(profile(i)));
  // A pod captured twice, and one of another release: stacks and counts shared across profiles add up.
  stored.push(await history.store.put({ ...profile(1), startMs: T0 + 10_000 }));
  stored.push(await history.store.put({ ...profile(2), startMs: T0 + 11_000, stacks: fixtureStacks('before') }));
  const items = history.store.list({});
  const files = (history.store as unknown as { files: BlockFiles }).files;
  const unbounded = await mergeProfiles(files, items);
  const budget = new MergeBudget({ maxStacks: 1_000_000, maxBytes: 2 ** 30 });
  const capped = await mergeProfiles(files, items, budget);
  t.same([...capped.stacks], [...unbounded.stacks], 'the same stacks, counts and order');
  t.same(capped.items, unbounded.items);
  t.equal(budget.stacks, unbounded.stacks.size, 'each distinct stack counted once');
  const reference = await mergeStoredProfiles(history.store, stored);
  t.equal(serializeFolded(capped.stacks), serializeFolded(reference.stacks), 'as the profile-by-profile merge');
  const answer = await call(url, 'GET', `/v1/flamegraph?from=${iso(T0)}&to=now&format=folded`);
  t.equal(answer.status, 200);
  t.equal(answer.text, serializeFolded(reference.stacks));
});
