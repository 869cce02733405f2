/**
 * The Pyroscope export against a stand-in that parses each request as Pyroscope's ingest handler does: what arrives
 * is the stored profile (same stacks, counts and labels, real sample rate, from and until), and failures are retried
 * with backoff, bounded, and counted.
 */
import t, { type Test } from 'tap';
import { Registry } from 'prom-client';
import { PyroscopeExporter, ingestUrl, type PyroscopeExporterOptions } from '../../agent/export/pyroscope.js';
import { serializeFolded, totalSamples, type FoldedStacks } from '../../shared/folded.js';
import type { StoredProfile } from '../../shared/history.js';
import { parseAtTime, parsePyroscopeName, startFakePyroscope, type FakePyroscope } from '../helpers/fake-pyroscope.js';
import { fixtureStacks } from './fixtures.js';
import { waitFor } from '../helpers/wait-for.js';

function stored(over: Partial<StoredProfile> = {}, stacks: FoldedStacks = fixtureStacks('after')): StoredProfile {
  return {
    id: '20251127T100000Z-0a1b2c3d',
    namespace: 'shop',
    pod: 'shop-7d9f-x2',
    container: 'app',
    node: 'node-a',
    start: '2025-11-27T10:00:00.000Z',
    durationSeconds: 30,
    frequencyHz: 99,
    java: { inlined: false },
    event: 'cpu',
    samples: totalSamples(stacks),
    warnings: [],
    schedule: 'every-10m',
    podUid: null,
    containerId: null,
    labels: {},
    bytes: 100,
    ...over,
  };
}

async function setup(t: Test, options: Partial<PyroscopeExporterOptions> = {}) {
  const server = await startFakePyroscope();
  const registry = new Registry();
  const backoffs: number[] = [];
  const exporter = new PyroscopeExporter({
    url: `${server.url}/`,
    registry,
    sleep: async (ms) => {
      backoffs.push(ms);
    },
    ...options,
  });
  exporter.start();
  t.teardown(async () => {
    await exporter.close();
    await server.close();
  });
  return { server, registry, exporter, backoffs };
}

t.test('a stored profile arrives as Pyroscope reads it', async (t) => {
  const { server, exporter, registry } = await setup(t);
  const stacks = fixtureStacks('after');
  exporter.enqueue(stored(), stacks);
  await waitFor(() => exporter.counts.ok === 1, 60_000, 'exporter.counts.ok === 1', 10);
  const got = server.ingested[0] as FakePyroscope['ingested'][number];
  t.match(got, {
    app: 'podflame',
    profileType: 'cpu',
    labels: { namespace: 'shop', pod: 'shop-7d9f-x2', container: 'app', node: 'node-a' },
    fromSeconds: Date.parse('2025-11-27T10:00:00Z') / 1000,
    untilSeconds: Date.parse('2025-11-27T10:00:30Z') / 1000,
    sampleRate: 99,
    spyName: 'podflame',
    format: 'folded',
    truncated: false,
  });
  t.same(Object.keys(got.labels).sort(), ['container', 'namespace', 'node', 'pod']);
  t.same([...got.stacks.entries()].sort(), [...stacks.entries()].sort(), 'every stack with its count');
  t.equal(got.rawBody.toString('utf8'), serializeFolded(stacks), 'the folded text, newlines intact');
  t.equal(
    [...got.cpuNanos.values()].reduce((a, b) => a + b, 0),
    totalSamples(stacks) * 10_101_010,
    'CPU time from the real 99 Hz',
  );
  t.same(exporter.counts, { ok: 1, failed: 0, dropped: 0, retries: 0 });
  t.match(await registry.metrics(), /podflame_pyroscope_pushes_total\{outcome="ok"\} 1/);
});

t.test('the URL', async (t) => {
  const url = new URL(ingestUrl('http://p:4040/base/', 'podflame', stored({ durationSeconds: 4.6, frequencyHz: 49 })));
  t.equal(url.pathname, '/base/ingest');
  t.same(Object.fromEntries(url.searchParams), {
    name: 'podflame.cpu{namespace=shop,pod=shop-7d9f-x2,container=app,node=node-a}',
    from: '1764237600',
    until: '1764237605',
    sampleRate: '49',
    spyName: 'podflame',
    format: 'folded',
    units: 'samples',
    aggregationType: 'sum',
  });
});

t.test('each event under its own Pyroscope profile type and units; cpu stays podflame.cpu', async (t) => {
  const { server, exporter } = await setup(t);
  const stacks = fixtureStacks('after');
  const events = { cpu: 'samples', alloc: 'bytes', lock: 'lock_nanoseconds', wall: 'samples' } as const;
  for (const [i, event] of (Object.keys(events) as (keyof typeof events)[]).entries()) {
    exporter.enqueue(stored({ event, id: `20251127T10000${i}Z-0a1b2c3d` }), stacks);
  }
  await waitFor(() => exporter.counts.ok === 4, 60_000, 'exporter.counts.ok === 4', 10);
  t.same(
    server.ingested.map((p) => [p.app, p.profileType, p.units, p.aggregationType]),
    [
      ['podflame', 'cpu', 'samples', 'sum'],
      ['podflame', 'alloc_in_new_tlab_bytes', 'bytes', 'sum'],
      ['podflame', 'lock_duration', 'lock_nanoseconds', 'sum'],
      ['podflame', 'wall', 'samples', 'sum'],
    ],
  );
  t.ok(
    server.ingested.every((p) => serializeFolded(p.stacks) === serializeFolded(stacks)),
    'every stack with its weight',
  );
  t.same(
    server.requests.map((r) => r.status),
    [200, 200, 200, 200],
  );
  const name = (event: keyof typeof events) =>
    new URL(ingestUrl('http://p', 'podflame', stored({ event }))).searchParams.get('name');
  t.equal(name('cpu'), 'podflame.cpu{namespace=shop,pod=shop-7d9f-x2,container=app,node=node-a}');
  t.equal(name('alloc'), 'podflame.alloc_in_new_tlab_bytes{namespace=shop,pod=shop-7d9f-x2,container=app,node=node-a}');
});

t.test('a lock profile with its event counts: lock_duration and lock_count, as Pyroscope takes them', async (t) => {
  const { server, exporter } = await setup(t);
  const stacks = fixtureStacks('after');
  const eventCounts = new Map([...stacks.keys()].map((stack, i) => [stack, i + 1]));
  exporter.enqueue(stored({ event: 'lock' }), stacks, eventCounts);
  await waitFor(() => exporter.counts.ok === 2, 60_000, 'exporter.counts.ok === 2', 10);
  t.same(
    server.ingested.map((p) => [p.profileType, p.units, p.aggregationType, p.seriesType]),
    [
      ['lock_duration', 'lock_nanoseconds', 'sum', 'block:delay:nanoseconds'],
      ['lock_count', 'lock_samples', 'sum', 'block:contentions:count'],
    ],
  );
  const [duration, count] = server.ingested as [FakePyroscope['ingested'][number], FakePyroscope['ingested'][number]];
  t.equal(serializeFolded(duration.stacks), serializeFolded(stacks), 'the nanoseconds per stack');
  t.equal(serializeFolded(count.stacks), serializeFolded(eventCounts), 'the contentions per stack');
  t.same(duration.labels, count.labels, 'one series of labels');

  // Without counts (another event, or a lock profile without them): the one push, as before.
  exporter.enqueue(stored({ event: 'lock', id: '20251127T100001Z-0a1b2c3d' }), stacks);
  exporter.enqueue(stored({ event: 'alloc', id: '20251127T100002Z-0a1b2c3d' }), stacks, eventCounts);
  await waitFor(() => exporter.counts.ok === 4, 60_000, 'exporter.counts.ok === 4', 10);
  t.same(
    server.ingested.slice(2).map((p) => p.profileType),
    ['lock_duration', 'alloc_in_new_tlab_bytes'],
  );
});

t.test('server errors and network errors are retried with exponential backoff', async (t) => {
  const { server, exporter, backoffs, registry } = await setup(t, { initialBackoffMs: 100, maxBackoffMs: 250 });
  server.failNext(3, 503);
  exporter.enqueue(stored(), fixtureStacks('before'));
  await waitFor(() => exporter.counts.ok === 1, 60_000, 'exporter.counts.ok === 1', 10);
  t.same(backoffs, [100, 200, 250]);
  t.same(
    server.requests.map((r) => r.status),
    [503, 503, 503, 200],
  );
  t.same(exporter.counts, { ok: 1, failed: 0, dropped: 0, retries: 3 });
  t.match(await registry.metrics(), /podflame_pyroscope_retries_total 3/);
});

t.test('a refused request is not retried; attempts are bounded', async (t) => {
  const { server, exporter, registry } = await setup(t, { maxAttempts: 3 });
  server.failNext(1, 400);
  exporter.enqueue(stored(), fixtureStacks('before'));
  await waitFor(() => exporter.counts.failed === 1, 60_000, 'exporter.counts.failed === 1', 10);
  t.equal(server.requests.length, 1, '400 is final');
  server.failNext(5, 500);
  exporter.enqueue(stored(), fixtureStacks('before'));
  await waitFor(() => exporter.counts.failed === 2, 60_000, 'exporter.counts.failed === 2', 10);
  t.equal(server.requests.length, 4, 'then three tries of the second');
  t.match(await registry.metrics(), /podflame_pyroscope_pushes_total\{outcome="failed"\} 2/);
});

t.test('an unreachable Pyroscope: retried, then counted as failed', async (t) => {
  const server = await startFakePyroscope();
  await server.close(); // its port now refuses connections
  const exporter = new PyroscopeExporter({ url: server.url, maxAttempts: 2, sleep: async () => undefined });
  exporter.start();
  exporter.enqueue(stored(), fixtureStacks('before'));
  await waitFor(() => exporter.counts.failed === 1, 60_000, 'exporter.counts.failed === 1', 10);
  t.same(exporter.counts, { ok: 0, failed: 1, dropped: 0, retries: 1 });
  await exporter.close();
});

t.test('the queue is bounded: the oldest waiting profile is dropped', async (t) => {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const sent: string[] = [];
  const exporter = new PyroscopeExporter({
    url: 'http://127.0.0.1:1',
    maxQueue: 2,
    transport: async (url) => {
      sent.push(new URL(url).searchParams.get('name') ?? '');
      await held;
      return { status: 200, body: '' };
    },
  });
  const registry = new Registry();
  exporter.start();
  for (const pod of ['p1', 'p2', 'p3', 'p4']) {
    exporter.enqueue(stored({ pod }), fixtureStacks('before'));
    await new Promise((r) => setImmediate(r));
  }
  // p1 is in flight, p2 was dropped for p4.
  t.equal(exporter.queueLength, 2);
  t.equal(exporter.counts.dropped, 1);
  release();
  await waitFor(() => exporter.counts.ok === 3, 60_000, 'exporter.counts.ok === 3', 10);
  t.same(
    sent.map((n) => /pod=(\w+)/.exec(n)?.[1]),
    ['p1', 'p3', 'p4'],
  );
  await exporter.close();
  void registry;
});

t.test('close drains what is queued, and counts what it could not send', async (t) => {
  const { server, exporter } = await setup(t);
  for (let i = 0; i < 5; i++) exporter.enqueue(stored({ pod: `p${i}` }), fixtureStacks('before'));
  await exporter.close();
  t.equal(server.ingested.length, 5);
  exporter.enqueue(stored(), fixtureStacks('before'));
  t.equal(exporter.queueLength, 0, 'nothing is queued after close');

  let calls = 0;
  const stuck = new PyroscopeExporter({
    url: 'http://127.0.0.1:1',
    drainTimeoutMs: 50,
    transport: (_url, _body, signal) =>
      new Promise((_resolve, reject) => {
        calls++;
        signal.addEventListener('abort', () => reject(new Error('aborted')));
      }),
  });
  stuck.start();
  stuck.enqueue(stored({ pod: 'a' }), fixtureStacks('before'));
  stuck.enqueue(stored({ pod: 'b' }), fixtureStacks('before'));
  await stuck.close();
  await stuck.close();
  t.equal(calls, 1);
  t.same(stuck.counts, { ok: 0, failed: 0, dropped: 2, retries: 0 });
  t.throws(() => stuck.start(), { code: 'INTERNAL' });
});

t.test('stacks too long for Pyroscope are left out, and counted', async (t) => {
  const { server, exporter, registry } = await setup(t);
  const stacks = fixtureStacks('before');
  const long = `java;${'deep_frame;'.repeat(7000)}leaf`;
  stacks.set(long, 3);
  exporter.enqueue(stored({ samples: totalSamples(stacks) }), stacks);
  await waitFor(() => server.ingested.length === 1, 60_000, 'server.ingested.length === 1', 10);
  const got = server.ingested[0] as FakePyroscope['ingested'][number];
  t.equal(got.truncated, false, 'Pyroscope read the whole body');
  t.equal(got.stacks.has(long), false);
  t.equal(got.stacks.size, stacks.size - 1);
  t.match(await registry.metrics(), /podflame_pyroscope_dropped_lines_total 1/);
});

t.test('configuration errors', async (t) => {
  t.throws(() => new PyroscopeExporter({ url: 'pyroscope:4040' }), {
    code: 'CONFIG_INVALID',
    message: /http\(s\) URL/,
  });
  t.throws(() => new PyroscopeExporter({ url: 'ftp://x' }), { code: 'CONFIG_INVALID' });
  t.throws(() => new PyroscopeExporter({ url: 'http://x', maxQueue: 0 }), { code: 'CONFIG_INVALID' });
  t.throws(() => new PyroscopeExporter({ url: 'http://x', appName: 'a b' }), { code: 'CONFIG_INVALID' });
});

t.test('the stand-in refuses units and aggregation types Pyroscope does not know', async (t) => {
  const server = await startFakePyroscope();
  t.teardown(() => server.close());
  const post = (query: string) =>
    fetch(`${server.url}/ingest?name=podflame.cpu&${query}`, { method: 'POST', body: 'a;b 1\n' });
  t.equal((await post('units=nanoseconds')).status, 400, 'plain nanoseconds is not a Pyroscope unit');
  t.equal((await post('aggregationType=avg')).status, 400);
  t.equal((await post('units=lock_nanoseconds&aggregationType=sum')).status, 200);
});

t.test('the stand-in parses as Pyroscope does', async (t) => {
  t.same(parsePyroscopeName('podflame.cpu{namespace=shop, pod = a-1 ,node=n}'), {
    serviceName: 'podflame.cpu',
    labels: { namespace: 'shop', pod: 'a-1', node: 'n' },
  });
  t.same(parsePyroscopeName('app'), { serviceName: 'app', labels: {} });
  t.throws(() => parsePyroscopeName('{a=b}'), /service name is required/);
  t.throws(() => parsePyroscopeName('my app.cpu{}'), /invalid service name/);
  t.throws(() => parsePyroscopeName('app.cpu{bad-key=1}'), /invalid label name/);
  t.equal(parseAtTime('1764237600', 0), 1764237600);
  t.equal(parseAtTime('1764237600123', 0), 1764237600);
  t.equal(parseAtTime('20251127', 0), 1764201600);
  t.equal(parseAtTime('now-1h', 42), 42);

  const server = await startFakePyroscope();
  t.teardown(() => server.close());
  const post = (query: string, body: string) =>
    fetch(`${server.url}/ingest?${query}`, { method: 'POST', body }).then((r) => r.status);
  t.equal(await post('name=app.cpu{}&sampleRate=abc', 'a;b 1\nnospace\n\r\nc 2\r\n'), 200);
  t.match(server.ingested[0], {
    sampleRate: 100,
    spyName: 'unknown',
    stacks: new Map([
      ['a;b', 1],
      ['c', 2],
    ]),
  });
  t.equal(await post('name=app.cpu{}', 'a;b 1.5\n'), 422, 'counts must be integers');
  t.equal(await post('name=app.heap{}', 'a 1\n'), 400, 'unknown profile type');
  t.equal(await post('name=app.cpu{}', `a 1\n${'x'.repeat(70000)} 1\nb 2\n`), 200);
  t.match(server.ingested[1], { truncated: true, stacks: new Map([['a', 1]]) }, 'a long line silently ends the parse');
});
