/**
 * Issue #13, cold attack 17 F5: a running merge whose caller went away kept the merge gate's turn until its graph was
 * drawn for nobody (a small merge took 3.8 s instead of 0.9 s after an abandoned 7-day SVG merge). The caller's going
 * away now aborts the merge, its packing and its drawing, which hand the turn on at once. Checked by the gate's state
 * and the order of events, never by time: the route with a renderer that draws only when released, the store's merge
 * and a real profile worker's render.
 */
import t from 'tap';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { call } from '../agent/http.js';
import { PodflameError } from '../../shared/errors.js';
import type { NewProfile } from '../../agent/store/profile-store.js';
import { IN_PROCESS_GRAPHS, type GraphRenderer } from '../../agent/server/routes/history.js';
import { MergeGate } from '../../agent/server/merge-gate.js';
import { ProfileWorker } from '../../agent/profiles/profile-worker.js';
import { mergeProfiles, type BlockFiles } from '../../agent/store/block-merge.js';
import type { FoldedStacks } from '../../shared/folded.js';
import { isoTime, SHOP_T0, shopProfile } from './fixtures.js';
import { startHistoryAgent } from './agent-harness.js';
import { holdsWithin } from '../helpers/wait-for.js';

const T0 = SHOP_T0;
const iso = isoTime;
/** How long a check waits for what should happen at once before it says it did not (a bound, not a measurement). */
const GIVE_UP_MS = 10_000;

const profile = (i: number): NewProfile => shopProfile(i);

/**
 * Draws in process once `release()` is called, and gives up when the signal it is handed is aborted (as the profile
 * worker does); records what happened, in order.
 */
function heldGraphs(events: string[]): GraphRenderer & { asked: number; release: () => void } {
  let open!: () => void;
  const released = new Promise<void>((resolve) => (open = resolve));
  const graphs = {
    asked: 0,
    release: () => open(),
    renderMergedGraph: async (...args: Parameters<GraphRenderer['renderMergedGraph']>) => {
      const n = ++graphs.asked;
      const signal = args[3];
      events.push(`draw ${n} started`);
      const aborted = new Promise<void>((_, reject) =>
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true }),
      );
      try {
        await Promise.race([released, aborted]);
      } catch (err) {
        events.push(`draw ${n} aborted`);
        throw err;
      }
      events.push(`draw ${n} finished`);
      return IN_PROCESS_GRAPHS.renderMergedGraph(...args);
    },
    renderDiffGraph: IN_PROCESS_GRAPHS.renderDiffGraph,
  };
  return graphs;
}

/** True once `condition` holds; false if it still does not after GIVE_UP_MS. */
const eventually = (condition: () => boolean): Promise<boolean> => holdsWithin(condition, GIVE_UP_MS, 5);

const query = `/v1/flamegraph?namespace=shop&from=${iso(T0)}&to=now&format=folded`;

t.test('a running merge whose caller leaves hands its turn to the next waiter at once', async (t) => {
  const events: string[] = [];
  const graphs = heldGraphs(events);
  const mergeGate = new MergeGate();
  const { url, history, logLines } = await startHistoryAgent(t, { graphs, mergeGate });
  for (let i = 0; i < 3; i++) await history.store.put(profile(i));

  const leaving = new AbortController();
  const first = call(url, 'GET', query, undefined, { signal: leaving.signal }).catch((err: unknown) => err);
  await eventually(() => graphs.asked === 1);
  const second = call(url, 'GET', query);
  t.ok(await eventually(() => mergeGate.waiting === 1), 'the second merge waits for its turn');

  leaving.abort();
  t.ok(await eventually(() => graphs.asked === 2), 'the waiting merge gets its turn once the first caller left');
  t.same(events, ['draw 1 started', 'draw 1 aborted', 'draw 2 started'], 'before the first graph was ever drawn');
  t.equal(mergeGate.running, 1, 'one merge runs: the second');
  t.equal(mergeGate.waiting, 0);
  graphs.release();
  const answer = await second;
  t.equal(answer.status, 200, answer.text.slice(0, 300));
  t.match(await first, { name: 'AbortError' }, 'the first caller saw its own abort');
  t.equal(mergeGate.running, 0, 'the turn is handed back');
  const gone = logLines().filter((l) => l.msg === 'request' && l.outcome === 'client_gone');
  t.equal(gone.length, 1, 'the abandoned merge is logged as a caller gone, as a waiter that left is');
});

t.test("the store's merge stops at its next read once its signal is aborted", async (t) => {
  const { history } = await startHistoryAgent(t);
  for (let i = 0; i < 4; i++) await history.store.put(profile(i));
  const items = history.store.list({ namespace: 'shop' });
  t.equal(items.length, 4);

  const whole = await history.store.merge(items);
  t.equal(whole.items.length, 4, 'without a signal, every profile is merged');
  const gone = new AbortController();
  const merging = history.store.merge(items, undefined, gone.signal);
  gone.abort(new PodflameError('MERGE_ABORTED', 'caller left'));
  await t.rejects(merging, { code: 'MERGE_ABORTED' }, 'the merge fails with the reason, not with stacks');
});

t.test("the store's merge stops waiting for a day's dictionary once its signal is aborted", async (t) => {
  const { history } = await startHistoryAgent(t);
  for (let i = 0; i < 2; i++) await history.store.put(profile(i));
  const items = history.store.list({ namespace: 'shop' });
  // The store's own files, with every dictionary held back until the test lets it go (a day's takes seconds).
  const files = (history.store as unknown as { files: BlockFiles }).files;
  let letGo!: () => void;
  const held = new Promise<void>((resolve) => (letGo = resolve));
  let asked = 0;
  const slowFiles: BlockFiles = {
    read: (block, name) => files.read(block, name),
    dictionary: async (block) => {
      asked++;
      await held;
      return files.dictionary(block);
    },
    rollups: files.rollups,
  };
  const order: string[] = [];
  const gone = new AbortController();
  const merging = mergeProfiles(slowFiles, items, undefined, gone.signal).then(
    () => void order.push('merged'),
    (err: unknown) => {
      order.push('failed');
      return err;
    },
  );
  t.ok(await eventually(() => asked > 0), "the merge waits for the block's dictionary");
  gone.abort(new PodflameError('MERGE_ABORTED', 'caller left'));
  const stopped = await eventually(() => order.length > 0);
  order.push('dictionary loaded');
  letGo();
  t.match(await merging, { code: 'MERGE_ABORTED' });
  t.ok(stopped, 'the merge stopped while the dictionary was still loading');
  t.same(order, ['failed', 'dictionary loaded']);
});

/** Enough stacks that the worker is still drawing their SVG when the abort arrives. */
function bigStacks(n: number): FoldedStacks {
  const stacks: FoldedStacks = new Map();
  for (let i = 0; i < n; i++) {
    stacks.set(`java;com.shop.Server.handle;com.shop.Mid${i % 211}.m;com.shop.Leaf${i % 97}.m${i};s${i}`, 1 + (i % 5));
  }
  return stacks;
}

t.test("a worker's render whose caller left fails at once and the thread is let go", async (t) => {
  let started!: () => void;
  const renderStarted = new Promise<void>((resolve) => (started = resolve));
  const worker = new ProfileWorker({ onRenderStarted: () => started() });
  t.teardown(() => worker.close());
  await worker.start();
  const options = { title: 't', subtitle: 's', frequencyHz: 99, durationSeconds: 1, startTimeMs: 0 };

  const gone = new AbortController();
  const order: string[] = [];
  const rendering = worker.renderMergedGraph('svg', bigStacks(60_000), options, gone.signal).then(
    () => void order.push('answered'),
    (err: unknown) => {
      order.push('failed');
      return err;
    },
  );
  await renderStarted;
  gone.abort(new PodflameError('MERGE_ABORTED', 'caller left'));
  order.push('aborted');
  await nextTurn();
  t.match(await rendering, { code: 'MERGE_ABORTED' });
  t.same(order, ['aborted', 'failed'], 'failed as the caller left, not answered');
  t.equal(worker.jobsInFlight, 0, 'no job left in flight for the graph nobody reads');

  const small = await worker.renderMergedGraph('folded', new Map([['a;b', 3]]), options);
  t.equal(String(small.body), 'a;b 3\n', 'the next render is answered (by a new thread)');
});
