// Issue #13, cold attacker F3: a merged or differential graph's stacks reach the profile worker as buffers handed over
// (transferred), packed in turns of the event loop, never as a Map that postMessage clones in one piece on the agent's
// main thread. Checked on a real ProfileWorker thread by what its postMessage is given (no timing), and the packing
// on its own: the same stacks in the same order after the round trip, names of any UTF-8, growth past its guess.
import t, { type Test } from 'tap';
import { Worker } from 'node:worker_threads';
import { ProfileWorker } from '../../agent/profiles/profile-worker.js';
import { packStacks, packedTextBytes, unpackStacks } from '../../agent/profiles/packed-stacks.js';
import { renderMergedGraph, renderDiffGraph } from '../../shared/history-graphs.js';
import type { FoldedStacks } from '../../shared/folded.js';

const OPTIONS = { title: 't', subtitle: 's', frequencyHz: 99, durationSeconds: 1, startTimeMs: 0 };

/** Every value reachable from `value` that is a Map (what a structured clone would copy entry by entry). */
function mapsIn(value: unknown, seen = new Set<unknown>()): number {
  if (value === null || typeof value !== 'object' || seen.has(value)) return 0;
  seen.add(value);
  if (value instanceof Map) return 1;
  if (ArrayBuffer.isView(value)) return 0;
  return Object.values(value as Record<string, unknown>).reduce<number>((n, v) => n + mapsIn(v, seen), 0);
}

interface Post {
  message: { kind?: string };
  /** The byte length of each ArrayBuffer in the transfer list, as posted. */
  handed: number[];
  transfer: readonly unknown[];
}

/** Records what each postMessage to a worker thread is given, for the test's duration. */
function recordPosts(t: Test): Post[] {
  const posts: Post[] = [];
  const original = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (this: Worker, message: unknown, transfer?: readonly unknown[]) {
    const list = transfer ?? [];
    const handed = list.filter((b): b is ArrayBuffer => b instanceof ArrayBuffer).map((b) => b.byteLength);
    posts.push({ message: message as { kind?: string }, handed, transfer: list });
    return original.call(this, message, transfer as never);
  };
  t.teardown(() => {
    Worker.prototype.postMessage = original;
  });
  return posts;
}

function stacksOf(n: number, prefix: string): FoldedStacks {
  const stacks: FoldedStacks = new Map();
  for (let i = 0; i < n; i++) stacks.set(`java;${prefix}.Server.handle;com.shop.Leaf.m${i % 97};s${i}`, 1 + (i % 5));
  return stacks;
}

t.test('merged and differential stacks go to the worker as transferred buffers, not a cloned Map', async (t) => {
  const worker = new ProfileWorker();
  t.teardown(() => worker.close());
  await worker.start();
  const posts = recordPosts(t);
  const stacks = stacksOf(5_000, 'com.shop');
  const eventCounts = new Map([...stacks.keys()].map((s, i) => [s, i + 1]));

  const merged = await worker.renderMergedGraph('pprof', stacks, { ...OPTIONS, event: 'lock', eventCounts });
  const want = renderMergedGraph('pprof', stacks, { ...OPTIONS, event: 'lock', eventCounts });
  t.ok(Buffer.from(merged.body).equals(Buffer.from(want.body)), 'the same pprof, event counts included');
  const folded = await worker.renderMergedGraph('folded', stacks, OPTIONS);
  t.equal(String(folded.body), String(renderMergedGraph('folded', stacks, OPTIONS).body), 'the same folded answer');
  const base = stacksOf(3_000, 'com.base');
  const diff = await worker.renderDiffGraph('folded', base, stacks, { ...OPTIONS, normalize: true });
  t.equal(
    String(diff.body),
    String(renderDiffGraph('folded', base, stacks, { ...OPTIONS, normalize: true }).body),
    'the same differential answer',
  );

  const jobs = posts.filter((p) => p.message.kind === 'render-merged' || p.message.kind === 'render-diff');
  t.equal(jobs.length, 3, 'three render jobs posted');
  for (const job of jobs) {
    t.equal(mapsIn(job.message), 0, `${job.message.kind}: no Map in the message`);
    const bytes = job.handed.reduce((n, b) => n + b, 0);
    t.ok(job.handed.length >= 3 && bytes >= 5_000 * 40, `${job.message.kind}: ${bytes} bytes handed over`);
    t.ok(
      job.transfer.every((b) => (b as ArrayBuffer).byteLength === 0),
      `${job.message.kind}: every buffer detached here: moved, not copied`,
    );
  }
});

t.test('packing keeps every stack, its count and its place, in any UTF-8', async (t) => {
  const stacks: FoldedStacks = new Map([
    ['a;b', 3],
    ['', 1],
    ['日本;語;😀 frame', 2 ** 53 + 2],
    ['x;y z', 0.5],
  ]);
  const packed = await packStacks(stacks);
  t.same([...unpackStacks(packed)], [...stacks]);
  t.equal(
    packedTextBytes(packed),
    [...stacks.keys()].reduce((n, s) => n + Buffer.byteLength(s), 0),
  );
  t.same([...unpackStacks(await packStacks(new Map()))], [], 'no stacks');

  // Past the guess of one byte a char plus its slack: four-byte characters, 300,000 of them.
  const wide: FoldedStacks = new Map();
  for (let i = 0; i < 300; i++) wide.set(`${'😀'.repeat(500)};${i}`, i);
  const grown = await packStacks(wide);
  t.ok(grown.text.byteLength > 300 * 1000, 'the buffer grew');
  t.same([...unpackStacks(grown)], [...wide]);
});

t.test('packing a large merge lets the event loop in', async (t) => {
  const big = stacksOf(200_000, `com.shop.${'deep;'.repeat(40)}`);
  let turns = 0;
  let done = false;
  const tick = (): void => {
    if (done) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  const packed = await packStacks(big);
  done = true;
  t.ok(turns > 0, `${turns} turns of the event loop while ${big.size} stacks were packed`);
  t.equal(packed.ends.length, big.size);
});
