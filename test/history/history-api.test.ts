/**
 * The query API over HTTP, on a real agent app: list, merged flame graph (folded, SVG, pprof), differential graph,
 * schedules; every error a caller can make. Profiles are real captures of the Shop workload.
 */
import t from 'tap';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import { call } from '../agent/http.js';
import { mergeFolded, parseFolded, serializeFolded, totalSamples, type FoldedStacks } from '../../shared/folded.js';
import type { NewProfile } from '../../agent/store/profile-store.js';
import type { StoredProfile } from '../../shared/history.js';
import { fixtureStacks } from './fixtures.js';
import { startHistoryAgent } from './agent-harness.js';
import { testProfileWorker } from '../helpers/profile-worker.js';

const HOUR = 3600_000;
const T0 = Date.now() - 3 * HOUR; // within the store's default retention

function profile(over: Partial<NewProfile>, stacks: FoldedStacks): NewProfile {
  return {
    namespace: 'shop',
    pod: 'shop-1',
    container: 'app',
    node: 'node-a',
    startMs: T0,
    durationSeconds: 10,
    frequencyHz: 99,
    warnings: [],
    schedule: 'shop',
    podUid: 'uid-1',
    containerId: 'a'.repeat(64),
    labels: { app: 'shop' },
    stacks,
    ...over,
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

t.test('list, merge and diff stored real captures', async (t) => {
  const { url, history } = await startHistoryAgent(t);
  const before = fixtureStacks('before');
  const after = fixtureStacks('after');
  // Base hour: two pods on the old release; target hour: two pods on the new one; plus another namespace.
  const stored: StoredProfile[] = [];
  stored.push(await history.store.put(profile({ startMs: T0 }, before)));
  stored.push(await history.store.put(profile({ startMs: T0 + 60_000, pod: 'shop-2', podUid: 'uid-2' }, before)));
  stored.push(await history.store.put(profile({ startMs: T0 + HOUR }, after)));
  stored.push(await history.store.put(profile({ startMs: T0 + HOUR + 60_000, pod: 'shop-2', podUid: 'uid-2' }, after)));
  await history.store.put(
    profile({ namespace: 'billing', pod: 'bill-0', labels: { app: 'billing' }, schedule: null }, after),
  );

  const list = await call(url, 'GET', '/v1/profiles?namespace=shop&pod=shop-1');
  t.equal(list.status, 200);
  t.same(Object.keys(list.json).sort(), ['items', 'node']);
  t.equal(list.json.items.length, 2);
  for (const item of list.json.items) {
    t.has(item, {
      namespace: 'shop',
      pod: 'shop-1',
      container: 'app',
      node: 'node-a',
      durationSeconds: 10,
      frequencyHz: 99,
    });
    t.type(item.id, 'string');
    t.type(item.start, 'string');
    t.type(item.samples, 'number');
  }
  t.same(
    list.json.items.map((i: StoredProfile) => i.start),
    [iso(T0), iso(T0 + HOUR)],
  );
  t.equal((await call(url, 'GET', '/v1/profiles')).json.items.length, 5);
  t.equal((await call(url, 'GET', '/v1/profiles?labelSelector=app%3Dshop')).json.items.length, 4);
  t.equal((await call(url, 'GET', '/v1/profiles?schedule=shop&namespace=shop')).json.items.length, 4);
  const ranged = await call(url, 'GET', `/v1/profiles?namespace=shop&from=${iso(T0 + HOUR)}&to=now`);
  t.same(
    ranged.json.items.map((i: StoredProfile) => i.id),
    [stored[2]?.id, stored[3]?.id],
  );

  // The "Done when" form: merged folded counts add up to the sum of the items' samples.
  const folded = await call(url, 'GET', '/v1/flamegraph?namespace=shop&pod=shop-1&format=folded');
  t.equal(folded.status, 200);
  t.match(folded.headers['content-type'], /^text\/plain/);
  const merged = parseFolded(folded.text);
  t.equal(merged.invalidLines, 0);
  const sumOfItems = list.json.items.reduce((s: number, i: StoredProfile) => s + i.samples, 0);
  t.equal(totalSamples(merged.stacks), sumOfItems);
  t.equal(folded.headers['x-podflame-samples'], String(sumOfItems));
  t.equal(folded.headers['x-podflame-profiles'], '2');
  t.equal(folded.text, serializeFolded(mergeFolded(mergeFolded(new Map(), before), after)), 'stack for stack');

  const base = `baseFrom=${iso(T0)}&baseTo=${iso(T0 + HOUR)}`;
  const target = `targetFrom=${iso(T0 + HOUR)}&targetTo=now`;
  const svg = await call(url, 'GET', `/v1/flamegraph?namespace=shop&from=${iso(T0)}`);
  t.equal(svg.status, 200);
  t.match(svg.headers['content-type'], /^image\/svg\+xml/);
  t.match(svg.text, /^<\?xml/);
  t.match(svg.text, /Shop\.checkout/);
  t.match(svg.text, /4 profiles of 2 pods on 1 node/);

  const pprof = await call(url, 'GET', '/v1/flamegraph?namespace=shop&format=pprof');
  t.equal(pprof.status, 200);
  const raw = await fetch(`${url}/v1/flamegraph?namespace=shop&format=pprof`).then(async (r) =>
    Buffer.from(await r.arrayBuffer()),
  );
  const decoded = Profile.decode(gunzipSync(raw));
  const pprofSamples = decoded.sample.reduce((s, x) => s + Number(x.value[0]), 0);
  t.equal(pprofSamples, 2 * totalSamples(before) + 2 * totalSamples(after), 'pprof counts add up too');

  // Differential: base (old release) against target (new release), normalized to the target's total.
  const diff = await call(url, 'GET', `/v1/diff?namespace=shop&${base}&${target}&format=folded`);
  t.equal(diff.status, 200);
  t.equal(diff.headers['x-podflame-profiles'], '2,2');
  const baseTotal = 2 * totalSamples(before);
  const targetTotal = 2 * totalSamples(after);
  t.equal(diff.headers['x-podflame-samples'], `${baseTotal},${targetTotal}`);
  const lines = diff.text.trimEnd().split('\n');
  const stacks = new Set([...before.keys(), ...after.keys()]);
  t.equal(lines.length, stacks.size, 'one line per stack of either range');
  for (const line of lines) {
    const m = /^(.*) (\d+) (\d+)$/.exec(line);
    if (!m) {
      t.fail(`not a two-column line: ${line}`);
      continue;
    }
    const stack = m[1] as string;
    const expectedBase = Math.floor(((before.get(stack) ?? 0) * 2 * targetTotal) / baseTotal);
    const expectedTarget = (after.get(stack) ?? 0) * 2;
    if (Number(m[2]) !== expectedBase || Number(m[3]) !== expectedTarget) {
      t.fail(`${stack}: ${m[2]} ${m[3]}, expected ${expectedBase} ${expectedTarget}`);
    }
  }
  t.ok(
    lines.some((l) => l.includes('formatPrice') && / 0 [1-9]\d*$/.test(l)),
    'the new release shows frames the old one did not have',
  );
  const raw2 = await call(url, 'GET', `/v1/diff?namespace=shop&${base}&${target}&normalize=false&format=folded`);
  const rawBase = raw2.text
    .trimEnd()
    .split('\n')
    .map((l) => /^(.*) (\d+) (\d+)$/.exec(l))
    .map((m) => [Number(m?.[2]), 2 * (before.get(m?.[1] as string) ?? 0)]);
  t.ok(
    rawBase.every(([got, want]) => got === want),
    'normalize=false keeps the raw base counts',
  );
  const diffSvg = await call(url, 'GET', `/v1/diff?namespace=shop&${base}&${target}`);
  t.equal(diffSvg.status, 200);
  t.match(diffSvg.text, /<svg/);
  t.match(diffSvg.text, /differential/);
  t.match(diffSvg.text, /normalized/);
});

t.test(
  'events kept apart: cpu by default, byte for byte as before; one event asked; a mixed diff refused',
  async (t) => {
    const { url, history } = await startHistoryAgent(t);
    const before = fixtureStacks('before');
    const after = fixtureStacks('after');
    await history.store.put(profile({ startMs: T0 }, before));
    await history.store.put(profile({ startMs: T0 + HOUR }, after));
    const base = `baseFrom=${iso(T0)}&baseTo=${iso(T0 + HOUR)}`;
    const target = `targetFrom=${iso(T0 + HOUR)}&targetTo=now`;
    const queries = [
      '/v1/flamegraph?namespace=shop&format=folded',
      '/v1/flamegraph?namespace=shop',
      '/v1/flamegraph?namespace=shop&format=pprof',
      `/v1/diff?namespace=shop&${base}&${target}&format=folded`,
      `/v1/diff?namespace=shop&${base}&${target}`,
    ];
    const bytes = (path: string) =>
      fetch(`${url}${path}`).then(async (r) => ({ status: r.status, body: Buffer.from(await r.arrayBuffer()) }));
    const cpuOnly = await Promise.all(queries.map(bytes));
    t.ok(
      cpuOnly.every((a) => a.status === 200),
      'cpu answers',
    );

    // The same pod and hours, other events: weights in bytes and in nanoseconds.
    const allocStacks: FoldedStacks = new Map([...after].map(([stack, n]) => [stack, n * 4096]));
    const lockStacks: FoldedStacks = new Map([['java;Shop.checkout;Object.wait', 2_500_000_000]]);
    await history.store.put(profile({ startMs: T0 + 1000, event: 'alloc' }, allocStacks));
    await history.store.put(profile({ startMs: T0 + HOUR + 1000, event: 'alloc' }, allocStacks));
    await history.store.put(profile({ startMs: T0 + 2000, event: 'lock' }, lockStacks));

    const mixed = await Promise.all(queries.map(bytes));
    for (const [i, path] of queries.entries()) {
      t.ok(mixed[i]?.body.equals(cpuOnly[i]?.body as Buffer), `${path}: byte for byte the cpu-only answer`);
    }
    const explicit = await Promise.all(queries.map((q) => bytes(`${q}&event=cpu`)));
    for (const [i, path] of queries.entries()) {
      t.ok(explicit[i]?.body.equals(cpuOnly[i]?.body as Buffer), `${path}&event=cpu: the same`);
    }

    const all = await call(url, 'GET', '/v1/profiles?namespace=shop');
    t.same(
      all.json.items.map((i: StoredProfile) => i.event),
      ['cpu', 'alloc', 'lock', 'cpu', 'alloc'],
      'a list without event shows every event, each profile with its own',
    );
    const allocList = await call(url, 'GET', '/v1/profiles?namespace=shop&event=alloc');
    t.same(
      allocList.json.items.map((i: StoredProfile) => [i.event, i.samples]),
      [
        ['alloc', totalSamples(allocStacks)],
        ['alloc', totalSamples(allocStacks)],
      ],
      "event=alloc lists alloc only; samples are the bytes' sum",
    );

    const allocFolded = await call(url, 'GET', '/v1/flamegraph?namespace=shop&event=alloc&format=folded');
    t.equal(allocFolded.status, 200);
    t.equal(allocFolded.headers['x-podflame-event'], 'alloc');
    t.equal(allocFolded.headers['x-podflame-profiles'], '2');
    t.equal(allocFolded.text, serializeFolded(mergeFolded(mergeFolded(new Map(), allocStacks), allocStacks)));
    t.equal((await call(url, 'GET', '/v1/flamegraph?namespace=shop&format=folded')).headers['x-podflame-event'], 'cpu');

    const allocSvg = await call(url, 'GET', '/v1/flamegraph?namespace=shop&event=alloc');
    const allocBytes = 2 * totalSamples(allocStacks);
    t.match(
      allocSvg.text,
      /2 profiles of 1 pod on 1 node, .* UTC, alloc, [\d.]+ [KMG]?B allocated/,
      'subtitle: event and total',
    );
    t.match(allocSvg.text, /bytes/, 'hover text counts bytes');
    t.notMatch(allocSvg.text, / samples, /, 'no samples in the subtitle');
    const lockSvg = await call(url, 'GET', '/v1/flamegraph?namespace=shop&event=lock');
    t.match(lockSvg.text, /1 profile of 1 pod on 1 node, .* UTC, lock, 2\.5 s blocked/);

    const allocPprof = await bytes('/v1/flamegraph?namespace=shop&event=alloc&format=pprof');
    const decoded = Profile.decode(gunzipSync(allocPprof.body));
    const strings = decoded.stringTable.strings;
    t.same(
      decoded.sampleType.map((v) => `${strings[Number(v.type)]}/${strings[Number(v.unit)]}`),
      ['alloc_space/bytes'],
    );
    t.equal(
      decoded.sample.reduce((s, x) => s + Number(x.value[0]), 0),
      allocBytes,
      'the bytes add up',
    );

    const allocDiff = await call(url, 'GET', `/v1/diff?namespace=shop&${base}&${target}&event=alloc&format=folded`);
    t.equal(allocDiff.status, 200);
    t.equal(allocDiff.headers['x-podflame-event'], 'alloc');
    t.equal(allocDiff.headers['x-podflame-profiles'], '1,1');
    const sides = await call(
      url,
      'GET',
      `/v1/diff?namespace=shop&${base}&${target}&baseEvent=alloc&targetEvent=alloc&format=folded`,
    );
    t.equal(sides.text, allocDiff.text, 'baseEvent and targetEvent that agree are event');

    const refused = await call(url, 'GET', `/v1/diff?namespace=shop&${base}&${target}&baseEvent=cpu&targetEvent=alloc`);
    t.equal(refused.status, 400);
    t.equal(refused.json.error.code, 'EVENT_MISMATCH');
    t.match(refused.json.error.message, /base is cpu and the target is alloc/);
    t.same(refused.json.error.details, { base: 'cpu', target: 'alloc' });
    const halfRefused = await call(
      url,
      'GET',
      `/v1/diff?namespace=shop&${base}&${target}&event=alloc&targetEvent=lock`,
    );
    t.equal(halfRefused.json.error.code, 'EVENT_MISMATCH', 'a side given against event');

    const unknown = await call(url, 'GET', '/v1/flamegraph?namespace=shop&event=heap');
    t.equal(unknown.status, 400);
    t.match(unknown.json.error, { code: 'INVALID_REQUEST', message: /event must be one of cpu, alloc, lock, wall/ });
    const none = await call(url, 'GET', '/v1/flamegraph?namespace=shop&event=wall');
    t.equal(none.status, 404);
    t.match(none.json.error.message, /event wall/, 'nothing of that event: the message names it');
  },
);

t.test('errors say what was wrong', async (t) => {
  const { url, history } = await startHistoryAgent(t);
  await history.store.put(profile({}, fixtureStacks('before')));
  const cases: [string, number, string, RegExp][] = [
    ['/v1/profiles?podd=x', 400, 'INVALID_REQUEST', /unknown query parameter 'podd'.*known: namespace, pod/],
    ['/v1/profiles?pod=a&pod=b', 400, 'INVALID_REQUEST', /'pod' is given more than once/],
    ['/v1/profiles?from=yesterday', 400, 'INVALID_REQUEST', /from must be a time such as/],
    ['/v1/profiles?from=now&to=now-1h', 400, 'INVALID_REQUEST', /from must be before to/],
    ['/v1/profiles?labelSelector=a%20b', 400, 'INVALID_REQUEST', /label selector 'a b' is not valid/],
    ['/v1/flamegraph?format=png', 400, 'INVALID_REQUEST', /format must be one of svg, folded, pprof/],
    [
      '/v1/flamegraph?namespace=nope',
      404,
      'NO_STORED_PROFILES',
      /no stored profile on node node-a matches namespace nope/,
    ],
    ['/v1/diff?namespace=shop', 400, 'INVALID_REQUEST', /baseFrom is required/],
    ['/v1/diff?baseFrom=now-10h&baseTo=now-9h&targetFrom=now-1h&targetTo=now', 404, 'NO_STORED_PROFILES', /base range/],
    [
      '/v1/diff?baseFrom=now-10h&baseTo=now&targetFrom=now-1h&targetTo=now&format=pprof',
      400,
      'INVALID_REQUEST',
      /svg, folded/,
    ],
    [
      '/v1/diff?baseFrom=now-10h&baseTo=now&targetFrom=now-1h&targetTo=now&normalize=yes',
      400,
      'INVALID_REQUEST',
      /normalize/,
    ],
    ['/v1/schedules/nope', 404, 'SCHEDULE_NOT_FOUND', /no schedule named 'nope'/],
  ];
  for (const [path, status, code, message] of cases) {
    const res = await call(url, 'GET', path);
    t.equal(res.status, status, path);
    t.equal(res.json?.error?.code, code, path);
    t.match(res.json?.error?.message, message, path);
  }
  // The capture API's own route is untouched.
  const byId = await call(url, 'GET', '/v1/profiles/0b5a5d5e-0000-4000-8000-000000000000');
  t.equal(byId.json.error.code, 'PROFILE_NOT_FOUND');
});

t.test('schedules over the API, persisted across a restart', async (t) => {
  const dataDir = t.testdir({
    'schedules.yaml': [
      'schedules:',
      '  - name: from-file',
      '    cron: "0 0 * * * *"',
      '    namespace: shop',
      '    durationSeconds: 10',
      '    frequencyHz: 99',
      '',
    ].join('\n'),
  });
  const first = await startHistoryAgent(t, { dataDir: `${dataDir}/data`, schedulesFile: `${dataDir}/schedules.yaml` });
  const body = {
    cron: '*/30 * * * * *',
    namespace: 'shop',
    labelSelector: 'app=shop',
    durationSeconds: 5,
    frequencyHz: 49,
    retention: '2h',
  };
  const created = await call(first.url, 'PUT', '/v1/schedules/quick', body);
  t.equal(created.status, 201);
  t.match(created.json, { name: 'quick', source: 'api', cron: '*/30 * * * * *', running: false, lastRun: null });
  t.match(created.json.nextRun, /^\d{4}-\d\d-\d\dT/);
  t.equal((await call(first.url, 'PUT', '/v1/schedules/quick', { ...body, frequencyHz: 99 })).status, 200);
  const bad = await call(first.url, 'PUT', '/v1/schedules/quick', { ...body, durationSeconds: 0 });
  t.equal(bad.status, 400);
  t.match(bad.json.error.message, /schedule 'quick': durationSeconds: Number must be greater than or equal to 1/);
  const notJson = await call(first.url, 'PUT', '/v1/schedules/quick', undefined, { raw: '{"cron":' });
  t.equal(notJson.status, 400);
  const readOnly = await call(first.url, 'PUT', '/v1/schedules/from-file', body);
  t.equal(readOnly.status, 409);
  t.equal(readOnly.json.error.code, 'SCHEDULE_READ_ONLY');
  t.equal((await call(first.url, 'DELETE', '/v1/schedules/from-file')).status, 409);
  const listed = await call(first.url, 'GET', '/v1/schedules');
  t.same(
    listed.json.items.map((s: { name: string; source: string; frequencyHz: number }) => [
      s.name,
      s.source,
      s.frequencyHz,
    ]),
    [
      ['from-file', 'file', 99],
      ['quick', 'api', 99],
    ],
  );
  t.match(listed.json.items[1], { counts: { runs: 0, ok: 0, failed: 0, skipped: 0, profiles: 0 }, lastError: null });
  t.match((await call(first.url, 'GET', '/v1/schedules/quick')).json, { name: 'quick', retention: '2h' });
  await call(first.url, 'PUT', '/v1/schedules/doomed', body);
  t.equal((await call(first.url, 'DELETE', '/v1/schedules/doomed')).status, 204);
  t.equal((await call(first.url, 'DELETE', '/v1/schedules/doomed')).status, 404);
  await first.history.close();
  await first.agent.close();

  const second = await startHistoryAgent(t, { dataDir: `${dataDir}/data`, schedulesFile: `${dataDir}/schedules.yaml` });
  t.same(
    (await call(second.url, 'GET', '/v1/schedules')).json.items.map((s: { name: string }) => s.name),
    ['from-file', 'quick'],
    'API schedules survive a restart',
  );
});

t.test('an agent without a data directory says how to turn history on', async (t) => {
  const { Agent } = await import('../../agent/agent.js');
  const { historyRouter } = await import('../../agent/server/routes/history.js');
  const { FakeRuntime } = await import('../agent/fake-runtime.js');
  const { memoryLogger, testConfig } = await import('../agent/http.js');
  const agent = new Agent({
    worker: testProfileWorker(),
    config: testConfig(),
    runtime: new FakeRuntime(),
    logger: memoryLogger().logger,
    app: { routers: [historyRouter({ nodeName: 'test-node' })] },
  });
  const { url } = await agent.start();
  t.teardown(() => agent.close());
  for (const path of ['/v1/profiles', '/v1/flamegraph', '/v1/schedules']) {
    const res = await call(url, 'GET', path);
    t.equal(res.status, 404);
    t.equal(res.json.error.code, 'NO_STORED_PROFILES');
    t.match(res.json.error.message, /--data-dir DIR/);
  }
});

t.test('authorization per namespace: a named namespace must be allowed, the rest is filtered', async (t) => {
  const { PodflameError } = await import('../../shared/errors.js');
  const asked: string[] = [];
  const { url, history } = await startHistoryAgent(t, {
    authorizeNamespace: async (_req, namespace) => {
      asked.push(namespace);
      if (namespace === 'billing') {
        throw new PodflameError('FORBIDDEN', `user "tester" cannot create pods/exec in the namespace "billing"`);
      }
      if (namespace === 'broken') throw new PodflameError('KUBERNETES_API_ERROR', 'the API server did not answer');
    },
  });
  await history.store.put(profile({}, fixtureStacks('before')));
  await history.store.put(profile({ namespace: 'billing', pod: 'bill-0' }, fixtureStacks('after')));
  const all = await call(url, 'GET', '/v1/profiles');
  t.same(
    all.json.items.map((i: StoredProfile) => i.namespace),
    ['shop'],
    'billing is hidden',
  );
  const named = await call(url, 'GET', '/v1/profiles?namespace=billing');
  t.equal(named.status, 403);
  t.match(named.json.error.message, /cannot create pods\/exec in the namespace "billing"/);
  const merged = await call(url, 'GET', '/v1/flamegraph?format=folded');
  t.equal(totalSamples(parseFolded(merged.text).stacks), totalSamples(fixtureStacks('before')), 'only shop is merged');
  t.equal((await call(url, 'GET', '/v1/flamegraph?namespace=billing')).status, 403);
  const body = { cron: '0 0 * * * *', namespace: 'billing', durationSeconds: 5, frequencyHz: 99 };
  t.equal((await call(url, 'PUT', '/v1/schedules/bill', body)).status, 403);
  t.equal((await call(url, 'PUT', '/v1/schedules/shop', { ...body, namespace: 'shop' })).status, 201);
  history.scheduler.put({ name: 'bill', ...body }); // as if defined by someone allowed
  t.same(
    (await call(url, 'GET', '/v1/schedules')).json.items.map((s: { name: string }) => s.name),
    ['shop'],
  );
  // A schedule of a namespace the caller may not see is one that does not exist; naming the namespace is refused.
  const unseen = await call(url, 'GET', '/v1/schedules/bill');
  t.equal(unseen.status, 404);
  t.equal(unseen.json.error.code, 'SCHEDULE_NOT_FOUND');
  t.notMatch(unseen.text, /billing/, 'nothing of its namespace');
  t.equal((await call(url, 'DELETE', '/v1/schedules/bill')).status, 404);
  t.equal((await call(url, 'GET', '/v1/schedules/bill?namespace=billing')).status, 403);
  t.equal((await call(url, 'DELETE', '/v1/schedules/bill?namespace=billing')).status, 403);
  t.ok(history.scheduler.status('billing', 'bill'), 'still there');
  await history.store.put(profile({ namespace: 'broken', pod: 'x' }, fixtureStacks('after')));
  const broken = await call(url, 'GET', '/v1/profiles');
  t.equal(broken.status, 502, 'an API server that cannot answer is an error, not a silent filter');
  t.ok(asked.includes('shop'));
});
