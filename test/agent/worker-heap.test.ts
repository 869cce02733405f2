// One profile must not exhaust the shared profile worker (issue #13, N1), against a real ProfileWorker thread with its
// real heap cap (smaller than the agent's 192 MiB, so that the inputs stay small): a profile whose stack strings
// alone would not fit that heap is cut to its limits without them; a collapse that outgrows the worker's collapse
// budget fails alone with PROFILE_TOO_LARGE while a normal one beside it finishes, and its capture is stopped at
// once; what the worker keeps is what limitStacks keeps of the full Map; a graph that would not fit is refused alone;
// a Flight Recorder chunk too large to read is refused as its header arrives; the widest graph draws a bounded
// number of frames (N4); and if the heap runs out all the same, the sessions of the dead thread fail with
// PROFILE_TOO_LARGE, not with "no collapse session".
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Agent } from '../../agent/agent.js';
import { ProfileWorker } from '../../agent/profiles/profile-worker.js';
import { MAX_DRAWN_FRAMES } from '../../agent/profiles/render-profile.js';
import type { ProfileMetadata } from '../../shared/api.js';
import { foldedBuffer, toFoldedBytes } from '../../agent/profiles/folded-bytes.js';
import { DROPPED_FRAME, limitStacks, type StackLimits } from '../../agent/profiles/stack-limits.js';
import { PerfCollapser } from '../../shared/collapse/perf-collapser.js';
import { parseFolded, serializeFolded, totalSamples } from '../../shared/folded.js';
import { craftedJfr } from '../helpers/crafted-jfr.js';
import { deepStacks, distinctFrames, randomPerfScript } from '../helpers/perf-scripts.js';
import { FakeRuntime, hexId, podContainer } from './fake-runtime.js';
import { call, memoryLogger, testConfig } from './http.js';

/**
 * The thread's heap in these tests. Under tap's TypeScript loader the thread holds its compiler too, so this leaves
 * some 60 MiB for jobs.
 */
const HEAP_MB = 96;
/** 8,000 stacks of 40 frames of 200-byte names: 64 MB of stack strings, 8,040 distinct frames. */
const DEEP = { stacks: 8_000, depth: 40, nameBytes: 200 };
const LIMITS: StackLimits = { maxStacks: 100_000, maxBytes: 4 * 1024 * 1024 };

async function* pieces(chunks: Iterable<Buffer>): AsyncGenerator<Buffer> {
  for (const chunk of chunks) yield chunk;
}

/** The full Map of names and limitStacks on it, in this (large) heap: what the worker must give. */
function expectedText(chunks: Iterable<Buffer>, limits: StackLimits): string {
  const collapser = new PerfCollapser({ java: true });
  for (const chunk of chunks) collapser.push(chunk);
  return serializeFolded(limitStacks(collapser.finish().stacks, limits).stacks);
}

t.test(
  'beyond --max-profile-bytes, a profile whose stack strings would not fit the heap keeps its largest',
  async (t) => {
    const worker = new ProfileWorker({ maxHeapMb: HEAP_MB });
    t.teardown(() => worker.close());
    const { stacks, depth, nameBytes } = DEEP;
    const result = await worker.collapse(pieces(deepStacks(stacks, depth, nameBytes)), LIMITS);
    t.ok(result.droppedStacks > 0, `${result.droppedStacks} stacks dropped`);
    t.ok(result.folded.byteLength <= LIMITS.maxBytes, `${result.folded.byteLength} bytes kept, within the limit`);
    const kept = parseFolded(foldedBuffer(result.folded).toString('utf8')).stacks;
    t.equal(kept.get(DROPPED_FRAME), result.droppedSamples, 'the rest under [dropped stacks]');
    t.equal(totalSamples(kept), stacks, 'no sample lost');
    t.equal(kept.size + result.droppedStacks - 1, stacks);
    t.equal(
      foldedBuffer(result.folded).toString('utf8'),
      expectedText(deepStacks(stacks, depth, nameBytes), LIMITS),
      'exactly what limitStacks keeps of the full Map',
    );
  },
);

t.test('a collapse beyond the budget fails alone; a normal capture collapsed beside it finishes', async (t) => {
  const worker = new ProfileWorker({ maxHeapMb: HEAP_MB });
  t.teardown(() => worker.close());
  // A normal capture, half of it in before the large one starts and the rest after that one ended.
  const normal = [...deepStacks(500, 20, 40)];
  let bigEnded!: () => void;
  const bigDone = new Promise<void>((resolve) => (bigEnded = resolve));
  const half = Math.ceil(normal.length / 2);
  const normalInput = (async function* () {
    for (const chunk of normal.slice(0, half)) yield chunk;
    await bigDone;
    for (const chunk of normal.slice(half)) yield chunk;
  })();
  const normalResult = worker.collapse(normalInput, LIMITS);
  // gen-big.mjs's shape: every frame name distinct, so the collapser's own tables grow with the input.
  const big = worker.collapse(pieces(distinctFrames(60_000, 110)), LIMITS).finally(bigEnded);
  await t.rejects(big, {
    code: 'PROFILE_TOO_LARGE',
    message: /the captures being collapsed may hold \d+ MiB of its 96 MiB heap together.*--worker-heap/,
  });
  const ok = await normalResult;
  t.equal(
    foldedBuffer(ok.folded).toString('utf8'),
    expectedText(normal, LIMITS),
    'the normal capture is whole, as if alone',
  );
  // The thread is the same one, still working.
  const again = await worker.collapse(pieces(normal), LIMITS);
  t.equal(again.folded.byteLength, ok.folded.byteLength);
});

t.test('a capture whose collapse is stopped is itself stopped at once: 507 PROFILE_TOO_LARGE', async (t) => {
  const worker = new ProfileWorker({ maxHeapMb: HEAP_MB });
  t.teardown(() => worker.close());
  const runtime = new FakeRuntime();
  const app = hexId('a1');
  runtime.containers = [
    podContainer(app, { uid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c', name: 'shop-1', namespace: 'prod' }, 'app'),
  ];
  runtime.images.add('podflame-perf:latest');
  const agent = new Agent({ worker, config: testConfig(), runtime, logger: memoryLogger().logger });
  const { url } = await agent.start();
  t.teardown(() => agent.close());
  const asked = await call(url, 'POST', '/v1/profiles?async=1', { target: { containerId: app }, durationSeconds: 60 });
  t.equal(asked.status, 202);
  const capture = runtime.captures.at(-1)!;
  // The workload's perf script keeps coming, as long as the capture runs.
  const closed = new Promise((resolve) => capture.stdout.once('close', resolve));
  for (const chunk of distinctFrames(60_000, 110)) {
    if (capture.stdout.destroyed) break;
    if (!capture.stdout.write(chunk)) await Promise.race([once(capture.stdout, 'drain'), closed]);
  }
  await agent.registry.get(asked.json.id)!.settled;
  t.ok(capture.signal.aborted, 'the capture was stopped, not left to run its 60 s');
  const meta = (await call(url, 'GET', `/v1/profiles/${asked.json.id}`)).json;
  t.equal(meta.status, 'failed');
  t.equal(meta.error.code, 'PROFILE_TOO_LARGE');
  t.match(meta.error.message, /may hold \d+ MiB of its 96 MiB heap together.*--worker-heap/);
});

t.test('a Flight Recorder chunk too large to read beside the others is refused as its header arrives', async (t) => {
  const worker = new ProfileWorker({ maxHeapMb: HEAP_MB });
  t.teardown(() => worker.close());
  // A real recording's first chunk header, claiming 100 MiB: reading that chunk would decode its pools in the heap.
  const header = Buffer.from(readFileSync(join(import.meta.dirname, '../fixtures/jfr/mix-jdk21.jfr')).subarray(0, 68));
  header.writeBigInt64BE(100n * 1024n * 1024n, 8);
  let piecesTaken = 0;
  const input = (async function* () {
    yield header;
    for (let i = 0; i < 200; i++) {
      piecesTaken++;
      yield Buffer.alloc(65536);
    }
  })();
  await t.rejects(worker.collapse(input, LIMITS, 'alloc'), {
    code: 'PROFILE_TOO_LARGE',
    message: /may hold \d+ MiB of its 96 MiB heap together.*--worker-heap/,
  });
  t.ok(piecesTaken <= 1, `refused after ${piecesTaken} pieces of the chunk`);
  // The whole recording, as it is, is read.
  const whole = await worker.collapse(
    pieces([readFileSync(join(import.meta.dirname, '../fixtures/jfr/mix-jdk21.jfr'))]),
    LIMITS,
    'alloc',
  );
  t.ok(whole.foldedSamples > 0);
});

t.test('a crafted Flight Recorder file fails alone while its chunk decodes; captures beside it finish', async (t) => {
  const worker = new ProfileWorker({ maxHeapMb: HEAP_MB });
  t.teardown(() => worker.close());
  const normal = [...deepStacks(500, 20, 40)];
  let craftedEnded!: () => void;
  const craftedDone = new Promise<void>((resolve) => (craftedEnded = resolve));
  const half = Math.ceil(normal.length / 2);
  const normalInput = (async function* () {
    for (const chunk of normal.slice(0, half)) yield chunk;
    await craftedDone;
    for (const chunk of normal.slice(half)) yield chunk;
  })();
  const normalResult = worker.collapse(normalInput, LIMITS);
  const recording = readFileSync(join(import.meta.dirname, '../fixtures/jfr/mix-jdk21.jfr'));
  const jfrResult = worker.collapse(pieces([recording]), LIMITS, 'alloc');
  // 4 MB of file, one chunk: 4 million one-byte frames, gigabytes once decoded, all within one push.
  const bomb = craftedJfr({ stacks: 2_000, frames: 2_000, nameChars: 1 });
  const crafted = worker.collapse(pieces([bomb]), LIMITS, 'alloc').finally(craftedEnded);
  await t.rejects(crafted, {
    code: 'PROFILE_TOO_LARGE',
    message: /the captures being collapsed may hold \d+ MiB of its 96 MiB heap together/,
  });
  const ok = await normalResult;
  t.equal(foldedBuffer(ok.folded).toString('utf8'), expectedText(normal, LIMITS), 'the perf capture is whole');
  t.ok((await jfrResult).foldedSamples > 0, 'the real recording beside it is read');
  // The attack's own shape (one stack of a million frames) reads, cut as JFR cuts a stack.
  const deep = await worker.collapse(
    pieces([craftedJfr({ stacks: 1, frames: 1_000_000, nameChars: 1 })]),
    LIMITS,
    'alloc',
  );
  t.match(foldedBuffer(deep.folded).toString('utf8'), /^\[truncated\];a_\[j\]/);
});

t.test('through the worker, what is kept is what limitStacks keeps of the full Map', async (t) => {
  const worker = new ProfileWorker({ maxHeapMb: HEAP_MB });
  t.teardown(() => worker.close());
  const input = randomPerfScript(42, 5000);
  const full = (() => {
    const c = new PerfCollapser({ java: true });
    c.push(input);
    return c.finish().stacks;
  })();
  for (const limits of [
    { maxStacks: 100_000, maxBytes: 32 << 20 },
    { maxStacks: 50, maxBytes: 32 << 20 },
    { maxStacks: 100_000, maxBytes: 4000 },
  ]) {
    const got = await worker.collapse(pieces([input.subarray(0, 100_000), input.subarray(100_000)]), limits);
    const want = limitStacks(full, limits);
    t.ok(foldedBuffer(got.folded).equals(foldedBuffer(toFoldedBytes(want.stacks))), JSON.stringify(limits));
    t.same([got.droppedStacks, got.droppedSamples], [want.droppedStacks, want.droppedSamples]);
  }
});

t.test('a graph that would not fit the heap is refused alone; a capture collapsed meanwhile finishes', async (t) => {
  // Room for the thread, the merge as it arrives (40 MB) and small graphs; drawing the merge needs 64 MiB more.
  const worker = new ProfileWorker({ maxHeapMb: 128 });
  t.teardown(() => worker.close());
  const options = { title: '', subtitle: '', frequencyHz: 99, durationSeconds: 1, startTimeMs: 0 };
  const normal = [...deepStacks(500, 20, 40)];
  let drawn!: () => void;
  const renderDone = new Promise<void>((resolve) => (drawn = resolve));
  const normalInput = (async function* () {
    yield normal[0] as Buffer;
    await renderDone;
    for (const chunk of normal.slice(1)) yield chunk;
  })();
  const collapse = worker.collapse(normalInput, LIMITS);
  const huge = new Map<string, number>();
  for (let i = 0; i < 200_000; i++) huge.set(`frame;${'x'.repeat(200)};${i}`, 1);
  await t.rejects(worker.renderMergedGraph('svg', huge, options).finally(drawn), {
    code: 'PROFILE_TOO_LARGE',
    message: /drawing this answer would need about \d+ MiB of the agent's profile worker heap \(128 MiB/,
  });
  t.equal(foldedBuffer((await collapse).folded).toString('utf8'), expectedText(normal, LIMITS), 'the capture is whole');
  const small = new Map([['a;b', 2]]);
  t.equal(
    String((await worker.renderMergedGraph('folded', small, options)).body),
    'a;b 2\n',
    'the same thread answers',
  );
});

t.test('the widest graph the API allows draws at most MAX_DRAWN_FRAMES frames, and says so', async (t) => {
  // Issue #13's N4: 20,000 stacks of 10 distinct 100-byte frames at width 10000 drew 200,000 frames, 54.5 MB of SVG;
  // 12,000 of them would draw 120,000.
  const worker = new ProfileWorker({ maxHeapMb: 192 });
  t.teardown(() => worker.close());
  const stacks = new Map<string, number>();
  for (let i = 0; i < 12_000; i++) {
    const frames = ['java'];
    for (let f = 0; f < 10; f++) frames.push(`p.C${`s${i}f${f}_${'q'.repeat(100)}`.slice(0, 100)}.m_[j]`);
    stacks.set(frames.join(';'), 1);
  }
  const meta: ProfileMetadata = {
    id: 'p1',
    status: 'done',
    node: 'n',
    target: { containerId: 'a'.repeat(64) },
    startedAt: '2025-01-01T00:00:00.000Z',
    durationSeconds: 9,
    event: 'cpu',
    frequencyHz: 20,
    java: { inlined: false },
    samples: 12_000,
    jitResolved: 1,
    warnings: [],
  };
  const svg = (await worker.renderProfile('svg', meta, toFoldedBytes(stacks), { width: 10000, minwidth: 0.1 })).body;
  // Every frame is a rect, and so is the background.
  const frames = svg.toString('utf8').split('<rect x=').length - 2;
  t.ok(frames <= MAX_DRAWN_FRAMES, `${frames} frames drawn`);
  t.ok(frames > MAX_DRAWN_FRAMES / 2, 'the bound is used');
  t.ok(svg.length < 25e6, `${(svg.length / 1e6).toFixed(1)} MB of SVG`);
  t.match(svg.toString('utf8'), new RegExp(`only the ${frames} widest frames drawn`));
});

t.test("when the heap runs out all the same, the dead thread's collapses fail with PROFILE_TOO_LARGE", async (t) => {
  const worker = new ProfileWorker({ maxHeapMb: HEAP_MB });
  t.teardown(() => worker.close());
  let sent!: () => void;
  const firstSent = new Promise<void>((resolve) => (sent = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const input = (async function* () {
    yield randomPerfScript(3, 100);
    sent();
    await released;
    yield randomPerfScript(4, 100);
  })();
  const session = worker.collapse(input, LIMITS);
  await firstSent;
  // A job whose estimate falls short (2,000,000 tiny stacks as JSON: an object each, far beyond the 2 bytes a folded
  // byte counted in render-heap.ts): the heap runs out all the same.
  const tiny = new Map<string, number>();
  for (let i = 0; i < 2_000_000; i++) tiny.set(`s${i}`, 1);
  const meta = { id: 'tiny', status: 'done', samples: tiny.size, warnings: [] } as unknown as ProfileMetadata;
  await t.rejects(worker.renderProfile('json', meta, toFoldedBytes(tiny), {}), {
    code: 'PROFILE_TOO_LARGE',
    message: /more than the 96 MiB the agent gives its profile worker/,
  });
  release();
  await t.rejects(session, {
    code: 'PROFILE_TOO_LARGE',
    message: /more than the 96 MiB the agent gives its profile worker/,
  });
  const again = await worker.collapse(pieces([randomPerfScript(3, 100)]), LIMITS);
  t.ok(again.folded.byteLength > 0, 'a new thread collapses');
});
