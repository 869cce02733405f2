/**
 * Issue #13, F1: history merges take turns. Three one-day merges of a full store at once took the agent past 512 MiB
 * and a 512 MiB container down, so a second merge or diff waits for the first to be drawn (its merge not even
 * started), a caller who goes away while waiting leaves the queue, and beyond the queue the answer is 503
 * TOO_MANY_MERGES with Retry-After. Profiles are the real Shop captures.
 */
import t from 'tap';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { call } from '../agent/http.js';
import { serializeFolded } from '../../shared/folded.js';
import { PodflameError } from '../../shared/errors.js';
import type { NewProfile } from '../../agent/store/profile-store.js';
import { IN_PROCESS_GRAPHS, type GraphRenderer } from '../../agent/server/routes/history.js';
import { MergeGate } from '../../agent/server/merge-gate.js';
import { isoTime, SHOP_T0, shopProfile } from './fixtures.js';
import { startHistoryAgent } from './agent-harness.js';

const T0 = SHOP_T0;
const iso = isoTime;

const profile = (i: number): NewProfile => shopProfile(i);

/** Draws in process, but holds every merged graph until `release()`; counts the graphs asked of it. */
function heldGraphs(): GraphRenderer & { asked: number; release: () => void } {
  let open!: () => void;
  const released = new Promise<void>((resolve) => (open = resolve));
  const graphs = {
    asked: 0,
    release: () => open(),
    renderMergedGraph: async (...args: Parameters<GraphRenderer['renderMergedGraph']>) => {
      graphs.asked++;
      await released;
      return IN_PROCESS_GRAPHS.renderMergedGraph(...args);
    },
    renderDiffGraph: IN_PROCESS_GRAPHS.renderDiffGraph,
  };
  return graphs;
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await nextTurn();
}

const query = `/v1/flamegraph?namespace=shop&from=${iso(T0)}&to=now&format=folded`;

t.test('a second merge waits for the first to be drawn; both are answered', async (t) => {
  const graphs = heldGraphs();
  const mergeGate = new MergeGate();
  const { url, history } = await startHistoryAgent(t, { graphs, mergeGate });
  for (let i = 0; i < 3; i++) await history.store.put(profile(i));
  const merges: string[] = [];
  const merge = history.store.merge.bind(history.store);
  history.store.merge = (items, budget) => {
    merges.push(items.map((i) => i.pod).join(','));
    return merge(items, budget);
  };

  const first = call(url, 'GET', query);
  await until(() => graphs.asked === 1);
  const second = call(url, 'GET', query);
  await until(() => mergeGate.waiting === 1);
  t.equal(merges.length, 1, 'the second merge has not started while the first is being drawn');
  t.equal(mergeGate.running, 1);

  graphs.release();
  const [a, b] = await Promise.all([first, second]);
  t.equal(a.status, 200, a.text.slice(0, 300));
  t.equal(b.status, 200, b.text.slice(0, 300));
  t.equal(b.text, a.text);
  t.equal(merges.length, 2);
  t.equal(graphs.asked, 2);
  t.equal(mergeGate.running, 0, 'the turn is handed back');
});

t.test('beyond the queue, 503 TOO_MANY_MERGES with Retry-After, and the diff takes turns too', async (t) => {
  const graphs = heldGraphs();
  const mergeGate = new MergeGate({ running: 1, waiting: 0, retryAfterSeconds: 7 });
  const { url, history } = await startHistoryAgent(t, { graphs, mergeGate });
  for (let i = 0; i < 2; i++) await history.store.put(profile(i));

  const first = call(url, 'GET', query);
  await until(() => graphs.asked === 1);
  const busy = await call(url, 'GET', query);
  t.equal(busy.status, 503, busy.text.slice(0, 300));
  t.equal(busy.json.error.code, 'TOO_MANY_MERGES');
  t.equal(busy.headers['retry-after'], '7');
  t.match(busy.json.error.message, /retry in about 7 s/);
  const diff = await call(
    url,
    'GET',
    `/v1/diff?baseFrom=${iso(T0)}&baseTo=${iso(T0 + 1000)}&targetFrom=${iso(T0 + 1000)}&targetTo=now&format=folded`,
  );
  t.equal(diff.status, 503, 'a diff waits for the same turn');
  t.equal(diff.json.error.code, 'TOO_MANY_MERGES');
  const health = await call(url, 'GET', '/healthz');
  t.equal(health.status, 200, '/healthz is answered meanwhile');

  graphs.release();
  const done = await first;
  t.equal(done.status, 200);
  const again = await call(url, 'GET', query);
  t.equal(again.status, 200, 'once the turn is free, a merge runs');
  t.equal(again.text, done.text);
  t.ok(again.text.length > 0 && again.text === serializeFolded(parseBack(done.text)));
});

/** The folded text back into stacks (to check the answer is whole folded text). */
function parseBack(text: string): Map<string, number> {
  const stacks = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const at = line.lastIndexOf(' ');
    stacks.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return stacks;
}

t.test('a caller who goes away while waiting leaves the queue; the next waiter still runs', async (t) => {
  const gate = new MergeGate({ running: 1, waiting: 2 });
  let finishFirst!: () => void;
  const ran: string[] = [];
  const first = gate.run(async () => {
    ran.push('first');
    await new Promise<void>((resolve) => (finishFirst = resolve));
  });
  const leaving = new AbortController();
  const gone = gate.run(async () => void ran.push('gone'), leaving.signal);
  const third = gate.run(async () => void ran.push('third'));
  t.equal(gate.waiting, 2);
  leaving.abort(new PodflameError('MERGE_ABORTED', 'caller left'));
  await t.rejects(gone, { code: 'MERGE_ABORTED' });
  t.equal(gate.waiting, 1, 'the queue forgot the caller that left');
  finishFirst();
  await first;
  await third;
  t.same(ran, ['first', 'third'], 'the merge of the caller that left never ran');
  t.equal(gate.running, 0);
  t.equal(gate.waiting, 0);

  const failing = gate.run(async () => {
    throw new Error('merge failed');
  });
  await t.rejects(failing, /merge failed/);
  t.equal(gate.running, 0, 'a failed merge hands its turn back');
  t.throws(() => new MergeGate({ running: 0 }), { code: 'CONFIG_INVALID' });
});
