// What one request can make the agent hold and spend (issue #13, finding 3): rendering runs in the profile worker's
// thread, so probes answer while a large graph is drawn; a profile keeps at most --max-stacks stacks and
// --max-profile-bytes of them (its largest, the rest counted as one, said in a PROFILE_TOO_LARGE warning); the
// profiles kept in memory hold at most --profiles-max-bytes; a render may not ask for frames below the minwidth floor;
// and a job that outgrows the worker's heap fails with PROFILE_TOO_LARGE (test/agent/worker-heap.test.ts: alone).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { Agent } from '../../agent/agent.js';
import type { ProfileMetadata } from '../../shared/api.js';
import type { AgentConfig } from '../../agent/config.js';
import { foldedBuffer, toFoldedBytes } from '../../agent/profiles/folded-bytes.js';
import { ProfileWorker } from '../../agent/profiles/profile-worker.js';
import { ProfileRegistry, type ProfileRecord } from '../../agent/profiles/profile-registry.js';
import { DROPPED_FRAME, limitStacks, STACK_OVERHEAD_BYTES, stacksBytes } from '../../agent/profiles/stack-limits.js';
import { collapseStream } from '../../shared/collapse/collapse-stream.js';
import { parseFolded, serializeFolded, totalSamples } from '../../shared/folded.js';
import { call, memoryLogger, testConfig } from './http.js';
import { FakeRuntime, hexId, podContainer } from './fake-runtime.js';
import { nextRenderStart, testProfileWorker } from '../helpers/profile-worker.js';

const pod = { uid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c', name: 'shop-1', namespace: 'prod' };
const APP = hexId('a1');
/** Real `perf script` output of a JVM (test/fixtures/history/record.sh). */
const PERF_SCRIPT = gunzipSync(
  readFileSync(join(import.meta.dirname, '../fixtures/history/after.perf.txt.gz')),
).toString('utf8');

async function startAgent(t: Test, overrides: Partial<AgentConfig> = {}) {
  const runtime = new FakeRuntime();
  runtime.containers = [podContainer(APP, pod, 'app')];
  runtime.images.add('podflame-perf:latest');
  const agent = new Agent({
    worker: testProfileWorker(),
    config: testConfig(overrides),
    runtime,
    logger: memoryLogger().logger,
  });
  const { url } = await agent.start();
  t.teardown(() => agent.close());
  return { agent, runtime, url };
}

/** Takes one profile whose capture writes `output`; resolves with its id once it has finished. */
async function capture(agent: Agent, runtime: FakeRuntime, url: string, output: string): Promise<string> {
  const asked = await call(url, 'POST', '/v1/profiles?async=1', { target: { containerId: APP }, durationSeconds: 1 });
  if (asked.status !== 202) throw new Error(`HTTP ${asked.status}: ${asked.text}`);
  const id = asked.json.id as string;
  runtime.captures.at(-1)!.finish({ exitCode: 0, output });
  await agent.registry.get(id)!.settled;
  return id;
}

/** The capture's stacks, all of them, as the agent's Java-aware collapser folds them. */
async function fullStacks(): Promise<Map<string, number>> {
  return (
    await collapseStream(
      (async function* () {
        yield Buffer.from(PERF_SCRIPT);
      })(),
      { java: true },
    )
  ).stacks;
}

/** perf script of `stacks` distinct Java stacks, `depth` frames each: a profile that takes the renderer seconds. */
function manyStacks(stacks: number, depth: number): string {
  const out: string[] = [];
  for (let i = 0; i < stacks; i++) {
    out.push(`java 1000  ${1000 + i}.000001:    1001001 cpu-clock:pppH: `);
    for (let d = depth - 1; d >= 0; d--) {
      const method = d === depth - 1 ? i : i % (d * 7 + 1);
      out.push(
        `\t    7fc868ec${d.toString(16).padStart(4, '0')} long app.Service${d}.m${method}(int)+0x10 (/tmp/perf-1.map)`,
      );
    }
    out.push('');
  }
  return out.join('\n') + '\n';
}

t.test('/healthz answers while the largest render runs in the profile worker', async (t) => {
  const { agent, runtime, url } = await startAgent(t);
  const id = await capture(agent, runtime, url, manyStacks(10_000, 20));
  t.equal(agent.registry.get(id)!.metadata.status, 'done');

  const started = nextRenderStart();
  const svg = call(url, 'GET', `/v1/profiles/${id}/flamegraph.svg`);
  await started;
  const health = await call(url, 'GET', '/healthz');
  t.equal(health.status, 200, 'the probe is answered');
  // The agent records the render time as soon as the render is done (render-profile.ts), before any later event.
  t.equal(agent.registry.get(id)!.metadata.timings!.render, undefined, '… while the graph is still being drawn');
  const answer = await svg;
  t.equal(answer.status, 200);
  t.type(agent.registry.get(id)!.metadata.timings!.render, 'number');
  t.match(answer.text, /^<\?xml/);
});

t.test('a profile beyond --max-stacks keeps its largest stacks and counts the rest as one', async (t) => {
  const { agent, runtime, url } = await startAgent(t, { maxStacks: 20 });
  const full = await fullStacks();
  t.ok(full.size > 20, `the capture has ${full.size} distinct stacks`);
  const id = await capture(agent, runtime, url, PERF_SCRIPT);

  const meta = (await call(url, 'GET', `/v1/profiles/${id}`)).json;
  t.equal(meta.status, 'done', 'a profile too large to keep whole is still a profile');
  const warning = meta.warnings.find((w: { code: string }) => w.code === 'PROFILE_TOO_LARGE');
  t.match(warning?.message, /more than the agent keeps \(20 distinct stacks, .*--max-stacks and --max-profile-bytes\)/);
  const folded = parseFolded((await call(url, 'GET', `/v1/profiles/${id}/folded`)).text).stacks;
  t.equal(folded.size, 20, '19 stacks and the remainder');
  t.equal(totalSamples(folded), totalSamples(full), 'no sample is lost');
  t.same(meta.dropped, { stacks: full.size - 19, samples: folded.get(DROPPED_FRAME) });
  t.equal(meta.samples, totalSamples(full));
  const smallestKept = Math.min(...[...folded].filter(([s]) => s !== DROPPED_FRAME).map(([, n]) => n));
  const largestDropped = Math.max(...[...full].filter(([s]) => !folded.has(s)).map(([, n]) => n));
  t.ok(smallestKept >= largestDropped, 'the kept stacks are the largest');
  t.match(
    (await call(url, 'GET', `/v1/profiles/${id}/flamegraph.svg`)).text,
    /\[dropped stacks\]/,
    'the graph shows the remainder',
  );
});

t.test('--max-profile-bytes bounds the bytes a profile keeps', async (t) => {
  const full = await fullStacks();
  const maxBytes = Math.floor(stacksBytes(full) / 4);
  const limited = limitStacks(full, { maxStacks: 1e6, maxBytes });
  t.ok(stacksBytes(limited.stacks) <= maxBytes, 'within the bound');
  t.ok(limited.droppedStacks > 0);
  t.equal(totalSamples(limited.stacks), totalSamples(full));
  t.same(limitStacks(full, { maxStacks: 1e6, maxBytes: 1e9 }).stacks, full, 'a profile within bounds is untouched');
});

t.test('the profiles kept in memory hold at most --profiles-max-bytes: the oldest go', async (t) => {
  const bytes = stacksBytes(await fullStacks());
  // Room for one profile of this capture, not two.
  const { agent, runtime, url } = await startAgent(t, { profilesMaxBytes: bytes + 1, maxProfileBytes: bytes + 1 });
  const first = await capture(agent, runtime, url, PERF_SCRIPT);
  const second = await capture(agent, runtime, url, PERF_SCRIPT);
  const gone = await call(url, 'GET', `/v1/profiles/${first}/folded`);
  t.equal(gone.status, 404);
  t.equal(gone.json.error.code, 'PROFILE_NOT_FOUND');
  t.match(gone.json.error.message, /--profiles-max-bytes/, 'the answer names the bound');
  t.equal((await call(url, 'GET', `/v1/profiles/${second}/folded`)).status, 200, 'the newest is kept');
  t.equal(agent.registry.bytes, agent.registry.get(second)!.folded!.byteLength, 'the bytes the newest holds');

  // The newest is kept even alone beyond the bound; running profiles are never evicted.
  const registry = new ProfileRegistry(10, 10);
  const record = (id: string, stacks?: Map<string, number>) =>
    ({ metadata: { id, status: 'running' }, folded: stacks && toFoldedBytes(stacks) }) as unknown as ProfileRecord;
  registry.add(record('running'));
  registry.add(record('a', new Map([['x;y', 1]])));
  registry.markFinished('a');
  registry.add(record('b', new Map([['x;y;z', 1]])));
  registry.markFinished('b');
  t.notOk(registry.get('a'), 'the older finished one went');
  t.ok(registry.get('b'), 'the newest stays, though alone beyond the bound');
  t.ok(registry.get('running'), 'a running one is never evicted');
  t.throws(() => new ProfileRegistry(1, 0), RangeError);
});

t.test('the registry keeps a finished profile as folded bytes in shared memory, counted as held', async (t) => {
  const { agent, runtime, url } = await startAgent(t);
  const id = await capture(agent, runtime, url, PERF_SCRIPT);
  const folded = agent.registry.get(id)!.folded;
  t.ok(folded instanceof Uint8Array, 'bytes, not a Map of strings on the JavaScript heap');
  t.ok(folded!.buffer instanceof SharedArrayBuffer, 'in shared memory: the profile worker reads them without a copy');
  t.equal(foldedBuffer(folded!).toString('utf8'), serializeFolded(await fullStacks()), 'the folded text, byte order');
  t.equal(agent.registry.bytes, folded!.byteLength, 'the registry counts the bytes it holds');
  const answer = await call(url, 'GET', `/v1/profiles/${id}/folded`);
  t.equal(answer.text, foldedBuffer(folded!).toString('utf8'), 'the folded answer is those bytes');
});

t.test('--max-profile-bytes counts stacks in UTF-8 bytes, as they are held', async (t) => {
  // Frames named in CJK: 3 bytes each in UTF-8, 1 UTF-16 unit in a JavaScript string.
  const stacks = new Map<string, number>();
  for (let i = 0; i < 10; i++) stacks.set(`java;${'処理'.repeat(50)}${i}`, 10 - i);
  const utf16 = [...stacks.keys()].reduce((sum, s) => sum + s.length + STACK_OVERHEAD_BYTES, 0);
  t.ok(stacksBytes(stacks) > utf16 * 2, `counted as ${stacksBytes(stacks)} bytes, not ${utf16} string units`);
  const limited = limitStacks(stacks, { maxStacks: 1000, maxBytes: utf16 });
  t.ok(limited.droppedStacks > 0, 'a bound of their string length does not hold them');
  t.ok(toFoldedBytes(limited.stacks).byteLength <= utf16, 'what is kept fits the bound in bytes');
  t.equal(totalSamples(limited.stacks), totalSamples(stacks));
});

t.test("the worker's answer comes back as bytes, the stacks go as shared bytes", async (t) => {
  const worker = testProfileWorker();
  const stacks = new Map([
    ['java;Main.main_[j];Shop.price_[j]', 3],
    ['java;Main.main_[j];Shop.søk_[j]', 2],
  ]);
  const meta: ProfileMetadata = {
    id: 'p1',
    status: 'done',
    node: 'n',
    target: { containerId: APP },
    startedAt: '2025-01-01T00:00:00.000Z',
    durationSeconds: 1,
    event: 'cpu',
    frequencyHz: 99,
    java: { inlined: false },
    samples: 5,
    jitResolved: 1,
    warnings: [],
  };
  const svg = await worker.renderProfile('svg', meta, toFoldedBytes(stacks), {});
  t.ok(Buffer.isBuffer(svg.body), 'a Buffer: nothing to encode on the agent thread');
  t.match(svg.body.toString('utf8'), /<title>Shop\.søk \(2 samples/, 'UTF-8');
  const json = await worker.renderProfile('json', meta, toFoldedBytes(stacks), {});
  t.same(JSON.parse(json.body.toString('utf8')).stacks, [
    { stack: 'java;Main.main_[j];Shop.price_[j]', count: 3 },
    { stack: 'java;Main.main_[j];Shop.søk_[j]', count: 2 },
  ]);
});

t.test('minwidth below the floor is refused before a capture: INVALID_REQUEST naming the floor', async (t) => {
  const { runtime, url } = await startAgent(t);
  for (const minwidth of [0, 0.05, '0%', '0.001%']) {
    const answer = await call(url, 'POST', '/v1/profiles', { target: { containerId: APP }, render: { minwidth } });
    t.equal(answer.status, 400, `minwidth ${JSON.stringify(minwidth)}`);
    t.equal(answer.json.error.code, 'INVALID_REQUEST');
    t.match(answer.json.error.message, /minwidth.*at least 0\.1 px or 0\.01%/);
  }
  t.equal(runtime.runCaptureCalls, 0, 'no capture ran');
  const ok = await call(url, 'POST', '/v1/profiles?async=1', {
    target: { containerId: APP },
    render: { minwidth: '0.01%' },
  });
  t.equal(ok.status, 202, 'the floor itself is allowed');
});

t.test('a job beyond the worker heap fails with PROFILE_TOO_LARGE; the next job gets a new thread', async (t) => {
  // Room for the thread's modules (under tap, the TypeScript compiler too) and small graphs, not for this one.
  const worker = new ProfileWorker({ maxHeapMb: 96 });
  t.teardown(() => worker.close());
  const options = { title: '', subtitle: '', frequencyHz: 99, durationSeconds: 1, startTimeMs: 0 };
  const small = new Map([['a;b', 2]]);
  t.equal(String((await worker.renderMergedGraph('folded', small, options)).body), 'a;b 2\n');
  // A job whose estimate falls short: 2,000,000 tiny stacks as JSON take an object each, far more than the 2 bytes
  // a folded byte the estimate counts (render-heap.ts), so the heap runs out all the same. (A merge too large for the
  // heap no longer does: its stacks arrive packed, outside the heap, and its estimate refuses it before unpacking.)
  const tiny = new Map<string, number>();
  for (let i = 0; i < 2_000_000; i++) tiny.set(`s${i}`, 1);
  const meta = { id: 'tiny', status: 'done', samples: tiny.size, warnings: [] } as unknown as ProfileMetadata;
  await t.rejects(worker.renderProfile('json', meta, toFoldedBytes(tiny), {}), {
    code: 'PROFILE_TOO_LARGE',
    message: /more than the 96 MiB the agent gives its profile worker/,
  });
  t.equal(String((await worker.renderMergedGraph('folded', small, options)).body), 'a;b 2\n', 'a new thread answers');
});
