/**
 * The scheduler on a clock the test moves: cron times, jitter, no overlap, outcomes, status and metrics, API
 * definitions against file ones, shutdown. The store is the real one; captures hand back a real recorded profile.
 */
import t, { type Test } from 'tap';
import { Registry } from 'prom-client';
import { captureThrough, type CaptureStarter } from '../../agent/schedules/capture-adapter.js';
import { Scheduler, type ScheduledCaptureRequest, type SchedulerOptions } from '../../agent/schedules/scheduler.js';
import type { ProfileRecord } from '../../agent/profiles/profile-registry.js';
import { toFoldedBytes } from '../../agent/profiles/folded-bytes.js';
import type { ValidProfileRequest } from '../../shared/api.js';
import type { CaptureTarget, TargetSelector } from '../../agent/schedules/targets.js';
import { parseScheduleBody, type ScheduleSpec } from '../../agent/schedules/schedule-config.js';
import { ProfileStore } from '../../agent/store/profile-store.js';
import { PodflameError } from '../../shared/errors.js';
import { serializeFolded, totalSamples } from '../../shared/folded.js';
import type { StoredProfile } from '../../shared/history.js';
import { fixtureStacks } from '../history/fixtures.js';
import { ManualClock } from './manual-clock.js';

const START = '2025-11-27T10:00:00.250Z';

function target(pod: string, container = 'app'): CaptureTarget {
  return {
    namespace: 'shop',
    pod,
    podUid: `uid-${pod}`,
    container,
    containerId: `${pod}-${container}`.padEnd(64, '0'),
    labels: { app: 'shop' },
  };
}

function spec(over: Partial<ScheduleSpec> = {}): ScheduleSpec {
  return { name: 'shop', cron: '*/10 * * * * *', namespace: 'shop', durationSeconds: 4, frequencyHz: 99, ...over };
}

/** The real store, its writes made to take no time on the manual clock. */
function tracked(clock: ManualClock, store: ProfileStore) {
  return {
    put: (p: Parameters<ProfileStore['put']>[0]) => clock.track(store.put(p)),
    setScheduleRetention: (namespace: string, name: string, seconds: number | undefined) =>
      store.setScheduleRetention(namespace, name, seconds),
  };
}

interface Harness {
  clock: ManualClock;
  store: ProfileStore;
  scheduler: Scheduler;
  registry: Registry;
  captures: { at: number; request: ScheduledCaptureRequest }[];
  exported: StoredProfile[];
  selectors: TargetSelector[];
}

async function harness(
  t: Test,
  opts: {
    targets?: CaptureTarget[];
    captureMs?: number;
    fail?: (target: CaptureTarget) => PodflameError | undefined;
    scheduler?: Partial<SchedulerOptions>;
    /** Leave the metrics as the agent's default has them (no schedule names); else names on, as these tests read them. */
    defaultMetrics?: boolean;
  } = {},
): Promise<Harness> {
  const clock = new ManualClock(START);
  const store = new ProfileStore({ dir: t.testdir(), now: clock.now });
  await store.start();
  const registry = new Registry();
  const captures: Harness['captures'] = [];
  const exported: StoredProfile[] = [];
  const selectors: TargetSelector[] = [];
  const scheduler = new Scheduler({
    nodeName: 'node-a',
    registry,
    now: clock.now,
    sleep: clock.sleep,
    triggers: clock.triggers,
    random: () => 0.5,
    targets: {
      find: async (selector) => {
        selectors.push(selector);
        return opts.targets ?? [target('shop-1')];
      },
    },
    capture: async (request) => {
      const at = clock.now();
      captures.push({ at, request });
      await clock.sleep(opts.captureMs ?? request.durationSeconds * 1000, request.signal);
      const failure = opts.fail?.(request.target);
      if (failure) throw failure;
      return { stacks: fixtureStacks('before'), warnings: [], startedAtMs: at };
    },
    store: tracked(clock, store),
    exporter: { enqueue: (p) => exported.push(p) },
    ...(opts.defaultMetrics ? {} : { metricsScheduleNames: true }),
    ...opts.scheduler,
  });
  t.teardown(async () => {
    await scheduler.close();
    await store.close();
    clock.close();
  });
  return { clock, store, scheduler, registry, captures, exported, selectors };
}

t.test('fires at the cron times, after a bounded jitter, and stores each capture', async (t) => {
  const h = await harness(t);
  h.scheduler.loadFile([spec()]);
  h.scheduler.start();
  t.equal(h.scheduler.status('shop', 'shop')?.nextRun, '2025-11-27T10:00:10.000Z');
  await h.clock.advance(35_000);
  t.same(
    h.clock.fired.map((f) => f.at),
    ['2025-11-27T10:00:10.000Z', '2025-11-27T10:00:20.000Z', '2025-11-27T10:00:30.000Z'],
  );
  // random() = 0.5 of min(10 s, 10 % of the 10 s period) = 500 ms after each tick.
  t.same(
    h.captures.map((c) => new Date(c.at).toISOString()),
    ['2025-11-27T10:00:10.500Z', '2025-11-27T10:00:20.500Z', '2025-11-27T10:00:30.500Z'],
  );
  t.same(h.selectors[0], spec(), 'the schedule is the target selector');
  t.same(
    { duration: h.captures[0]?.request.durationSeconds, hz: h.captures[0]?.request.frequencyHz },
    { duration: 4, hz: 99 },
  );
  const stored = h.store.list({ schedule: 'shop' });
  t.equal(stored.length, 3);
  t.match(stored[0], {
    namespace: 'shop',
    pod: 'shop-1',
    container: 'app',
    node: 'node-a',
    start: '2025-11-27T10:00:10.500Z',
    durationSeconds: 4,
    frequencyHz: 99,
    samples: totalSamples(fixtureStacks('before')),
    schedule: 'shop',
    podUid: 'uid-shop-1',
    labels: { app: 'shop' },
  });
  t.equal(serializeFolded(await h.store.readStacks(stored[0]?.id as string)), serializeFolded(fixtureStacks('before')));
  t.same(
    h.exported.map((p) => p.id),
    stored.map((p) => p.id),
    'every stored profile is exported',
  );
  const status = h.scheduler.status('shop', 'shop');
  t.match(status, {
    name: 'shop',
    source: 'file',
    cron: '*/10 * * * * *',
    running: false,
    nextRun: '2025-11-27T10:00:40.000Z',
    lastRun: {
      startedAt: '2025-11-27T10:00:30.000Z',
      finishedAt: '2025-11-27T10:00:34.500Z',
      outcome: 'ok',
      profiles: 1,
      targets: 1,
    },
    lastError: null,
    counts: { runs: 3, ok: 3, partial: 0, failed: 0, noTargets: 0, skipped: 0, profiles: 3 },
  });
  const metrics = await h.registry.metrics();
  t.match(metrics, /podflame_schedule_runs_total\{namespace="shop",schedule="shop",outcome="ok"\} 3/);
  t.match(metrics, /podflame_schedule_profiles_total\{namespace="shop",schedule="shop"\} 3/);
  t.match(metrics, /podflame_schedule_next_run_timestamp_seconds\{namespace="shop",schedule="shop"\} 1764237640/);
  t.match(metrics, /podflame_schedule_last_run_timestamp_seconds\{namespace="shop",schedule="shop"\} 1764237634\.5/);
});

t.test("a schedule's inlined reaches each capture and its stored profiles", async (t) => {
  const h = await harness(t, { targets: [target('shop-1')] });
  h.scheduler.loadFile([spec(), spec({ name: 'deep', inlined: true })]);
  h.scheduler.start();
  await h.clock.advance(15_000);
  const byTarget = h.captures.map((c) => c.request.javaInlined).sort();
  t.same(byTarget, [false, true], 'one capture without, one with inlined frames');
  t.same(
    h.store.list({ schedule: 'shop' }).map((p) => p.java),
    [{ inlined: false }],
  );
  t.same(
    h.store.list({ schedule: 'deep' }).map((p) => p.java),
    [{ inlined: true }],
  );
});

t.test("a schedule's event reaches each capture, its stored profiles, their export and its status", async (t) => {
  const h = await harness(t, { targets: [target('shop-1')] });
  h.scheduler.loadFile([spec(), spec({ name: 'alloc', event: 'alloc' })]);
  h.scheduler.start();
  await h.clock.advance(15_000);
  t.same(h.captures.map((c) => c.request.event).sort(), ['alloc', 'cpu'], 'one cpu capture, one alloc capture');
  t.same(
    h.store.list({ schedule: 'alloc' }).map((p) => p.event),
    ['alloc'],
  );
  t.same(
    h.store.list({ schedule: 'shop' }).map((p) => p.event),
    ['cpu'],
  );
  t.same(h.exported.map((p) => p.event).sort(), ['alloc', 'cpu'], 'exported with their event');
  t.equal(h.scheduler.status('shop', 'alloc')?.event, 'alloc');
  t.equal(h.scheduler.status('shop', 'shop')?.event, 'cpu', 'a schedule without event shows the default');
});

t.test('scheduled captures ask the capture service for what the schedule says', async (t) => {
  const asked: ValidProfileRequest[] = [];
  const origins: unknown[] = [];
  const service: CaptureStarter = {
    resolve: async (request) => ({
      request,
      target: { containerId: (request.target as { containerId: string }).containerId },
      startedAt: 0,
    }),
    start: async ({ request }, _signal, origin) => {
      asked.push(request);
      origins.push(origin);
      return {
        metadata: { startedAt: '2025-11-27T10:00:00.000Z', warnings: [] },
        folded: toFoldedBytes(new Map([['java;Main.main', 1]])),
        settled: Promise.resolve(),
      } as unknown as ProfileRecord;
    },
    countRefusal: () => undefined,
  };
  const capture = captureThrough(service);
  const signal = new AbortController().signal;
  for (const javaInlined of [true, false]) {
    const schedule = { namespace: 'shop', name: 'cpu-hourly' };
    await capture({
      target: target('shop-1'),
      durationSeconds: 5,
      frequencyHz: 49,
      javaInlined,
      event: 'cpu',
      schedule,
      signal,
    });
  }
  await capture({
    target: target('shop-1'),
    durationSeconds: 5,
    frequencyHz: 49,
    javaInlined: false,
    event: 'alloc',
    schedule: { namespace: 'shop', name: 'alloc' },
    signal,
  });
  t.same(
    asked.map((r) => r.java),
    [{ inlined: true }, { inlined: false }, { inlined: false }],
  );
  t.same(
    asked.map((r) => r.event),
    ['cpu', 'cpu', 'alloc'],
    "the schedule's event is the capture's",
  );
  t.match(asked[0], { target: { containerId: target('shop-1').containerId }, durationSeconds: 5, frequencyHz: 49 });
  t.same(origins[2], { schedule: { namespace: 'shop', name: 'alloc' } }, 'the capture knows its schedule');
});

t.test('jitter stays within its bounds', async (t) => {
  for (const [random, cron, expectedMs] of [
    [0.999, '*/10 * * * * *', 999], // 10 % of 10 s
    [0.5, '0 * * * * *', 3000], // 10 % of 60 s = 6 s, half of it
    [0.5, '0 0 * * * *', 5000], // min(10 s, 360 s) = 10 s, half of it
    [0, '*/10 * * * * *', 0],
  ] as const) {
    const h = await harness(t, { scheduler: { random: () => random } });
    h.scheduler.loadFile([spec({ cron })]);
    h.scheduler.start();
    const fireAt = Date.parse((h.scheduler.status('shop', 'shop')?.nextRun as string) ?? '');
    await h.clock.advance(fireAt - h.clock.now() + 11_000);
    t.equal(h.captures[0]?.at, fireAt + expectedMs, `${cron} with random ${random}`);
    await h.scheduler.close();
  }
});

t.test('a run still going when the next tick comes is not overlapped: the tick is counted as skipped', async (t) => {
  const h = await harness(t, { captureMs: 25_000 });
  h.scheduler.loadFile([spec()]);
  h.scheduler.start();
  await h.clock.advance(12_000);
  t.equal(h.scheduler.status('shop', 'shop')?.running, true);
  // Ticks at :20 and :30 find the :10 run (until :35.5) going, the one at :50 the :40 run (until 1:05.5).
  await h.clock.advance(40_000);
  t.equal(h.captures.length, 2, 'captures at :10 and :40 only');
  t.match(h.scheduler.status('shop', 'shop')?.counts, { runs: 4, ok: 1, skipped: 3 });
  t.match(
    await h.registry.metrics(),
    /podflame_schedule_runs_total\{namespace="shop",schedule="shop",outcome="skipped_overlap"\} 3/,
  );
});

t.test('outcomes: partial, failed, no targets; the last error stays visible', async (t) => {
  const runs: CaptureTarget[][] = [[target('shop-1'), target('shop-2'), target('shop-3')], [target('shop-2')], []];
  const clock = new ManualClock(START);
  const store = new ProfileStore({ dir: t.testdir(), now: clock.now });
  await store.start();
  const registry = new Registry();
  const scheduler = new Scheduler({
    nodeName: 'node-a',
    registry,
    metricsScheduleNames: true,
    now: clock.now,
    sleep: clock.sleep,
    triggers: clock.triggers,
    random: () => 0,
    targets: { find: async () => runs.shift() ?? [] },
    capture: async (request) => {
      if (request.target.pod === 'shop-2') {
        throw new PodflameError('TARGET_NOT_RUNNING', 'container shop-2 is not running');
      }
      return {
        stacks: fixtureStacks('after'),
        warnings: [{ code: 'NO_PRESERVE_FRAME_POINTER', message: 'x' }],
        startedAtMs: clock.now(),
      };
    },
    store: tracked(clock, store),
  });
  t.teardown(async () => {
    await scheduler.close();
    await store.close();
    clock.close();
  });
  scheduler.loadFile([spec()]);
  scheduler.start();
  await clock.advance(10_000);
  t.match(scheduler.status('shop', 'shop')?.lastRun, {
    outcome: 'partial',
    profiles: 2,
    targets: 3,
    error: { code: 'TARGET_NOT_RUNNING' },
  });
  t.match(store.list()[0]?.warnings, [{ code: 'NO_PRESERVE_FRAME_POINTER' }], 'warnings are stored');
  await clock.advance(10_000);
  t.match(scheduler.status('shop', 'shop')?.lastRun, { outcome: 'failed', profiles: 0, targets: 1 });
  await clock.advance(10_000);
  const status = scheduler.status('shop', 'shop');
  t.match(status?.lastRun, { outcome: 'no_targets', targets: 0 });
  t.match(status?.lastError, { at: '2025-11-27T10:00:20.000Z', code: 'TARGET_NOT_RUNNING' }, 'kept after a clean run');
  t.match(status?.counts, { runs: 3, ok: 0, partial: 1, failed: 1, noTargets: 1, profiles: 2 });
  const metrics = await registry.metrics();
  t.match(
    metrics,
    /podflame_schedule_capture_failures_total\{namespace="shop",schedule="shop",code="TARGET_NOT_RUNNING"\} 2/,
  );
  t.match(metrics, /podflame_schedule_runs_total\{namespace="shop",schedule="shop",outcome="no_targets"\} 1/);
});

t.test('a failing target lookup fails the run with its error', async (t) => {
  const h = await harness(t, {
    scheduler: {
      targets: {
        find: async () => {
          throw new PodflameError('DOCKER_UNAVAILABLE', 'the Docker engine does not answer');
        },
      },
    },
  });
  h.scheduler.loadFile([spec()]);
  const running = h.scheduler.run('shop', 'shop');
  await h.clock.advance(10_000); // the jitter
  const record = await running;
  t.match(record, { outcome: 'failed', error: { code: 'DOCKER_UNAVAILABLE' } });
  await t.rejects(h.scheduler.run('shop', 'nope'), { code: 'SCHEDULE_NOT_FOUND' });
});

t.test(
  'API schedules: create, replace, delete; file schedules are read-only; retention reaches the store',
  async (t) => {
    const h = await harness(t);
    h.scheduler.loadFile([spec({ name: 'from-file' })]);
    h.scheduler.start();
    const created = h.scheduler.put(
      parseScheduleBody('hourly', { ...spec(), name: undefined, cron: '0 0 * * * *', retention: '2h' }),
    );
    t.equal(created.created, true);
    t.match(created.status, { name: 'hourly', source: 'api', nextRun: '2025-11-27T11:00:00.000Z', retention: '2h' });
    t.same(h.store.policy().scheduleMaxAgeSeconds.get('shop')?.get('hourly'), 7200);
    const replaced = h.scheduler.put(parseScheduleBody('hourly', { ...spec(), name: 'hourly', cron: '0 30 * * * *' }));
    t.equal(replaced.created, false);
    t.equal(replaced.status.nextRun, '2025-11-27T10:30:00.000Z');
    t.equal(
      h.store.policy().scheduleMaxAgeSeconds.get('shop')?.has('hourly') ?? false,
      false,
      'retention cleared with the field',
    );
    t.same(
      h.scheduler.list().map((s) => [s.name, s.source]),
      [
        ['from-file', 'file'],
        ['hourly', 'api'],
      ],
    );
    t.same(
      h.scheduler.apiSchedules().map((s) => s.name),
      ['hourly'],
    );
    t.throws(() => h.scheduler.put(spec({ name: 'from-file' })), {
      code: 'SCHEDULE_READ_ONLY',
      message: /schedules file/,
    });
    t.throws(() => h.scheduler.delete('shop', 'from-file'), { code: 'SCHEDULE_READ_ONLY' });
    t.equal(h.scheduler.delete('shop', 'hourly'), true);
    t.equal(h.scheduler.delete('shop', 'hourly'), false);
    // Reloading the file drops what it no longer has.
    h.scheduler.loadFile([spec({ name: 'other' })]);
    t.same(
      h.scheduler.list().map((s) => s.name),
      ['other'],
    );
    t.equal(h.scheduler.status('shop', 'from-file'), undefined);
  },
);

t.test('a schedule is its namespace and name: same-named schedules of two namespaces live side by side', async (t) => {
  const h = await harness(t);
  h.scheduler.loadFile([spec({ name: 'nightly', retention: '2h' })]);
  // The API may define the same name in another namespace: neither replaces nor is refused by the file's.
  const vault = h.scheduler.put(spec({ name: 'nightly', namespace: 'vault', retention: '1h' }));
  t.equal(vault.created, true);
  t.match(vault.status, { name: 'nightly', namespace: 'vault', source: 'api' });
  t.same(
    h.scheduler.named('nightly').map((s) => [s.namespace, s.source]),
    [
      ['shop', 'file'],
      ['vault', 'api'],
    ],
  );
  t.equal(h.store.policy().scheduleMaxAgeSeconds.get('shop')?.get('nightly'), 7200, "shop's retention stays");
  t.equal(h.store.policy().scheduleMaxAgeSeconds.get('vault')?.get('nightly'), 3600);
  t.throws(() => h.scheduler.put(spec({ name: 'nightly' })), { code: 'SCHEDULE_READ_ONLY', message: /namespace shop/ });

  // Triggers not started: runs happen only when asked, one schedule at a time.
  const running = h.scheduler.run('vault', 'nightly');
  await h.clock.advance(20_000);
  t.match(await running, { outcome: 'ok' });
  t.match(h.scheduler.status('shop', 'nightly')?.counts, { runs: 0 }, "vault's run is not shop's");
  t.match(h.scheduler.status('vault', 'nightly')?.counts, { runs: 1, ok: 1 });
  await t.rejects(h.scheduler.run('billing', 'nightly'), { code: 'SCHEDULE_NOT_FOUND', message: /namespace billing/ });
  const again = h.scheduler.run('shop', 'nightly');
  await h.clock.advance(20_000);
  await again;
  const metrics = await h.registry.metrics();
  t.match(metrics, /podflame_schedule_runs_total\{namespace="shop",schedule="nightly",outcome="ok"\} 1/);
  t.match(metrics, /podflame_schedule_runs_total\{namespace="vault",schedule="nightly",outcome="ok"\} 1/);

  t.equal(h.scheduler.delete('vault', 'nightly'), true);
  t.equal(h.scheduler.delete('vault', 'nightly'), false);
  t.ok(h.scheduler.status('shop', 'nightly'), "deleting vault's leaves shop's");
  t.match(
    await h.registry.metrics(),
    /podflame_schedule_runs_total\{namespace="shop",schedule="nightly",outcome="ok"\} 1/,
    'and its series',
  );
  t.notMatch(await h.registry.metrics(), /namespace="vault"/);
  t.equal(h.store.policy().scheduleMaxAgeSeconds.get('shop')?.get('nightly'), 7200);
});

t.test('close aborts a run in progress and stops the triggers', async (t) => {
  const h = await harness(t, { captureMs: 60_000 });
  h.scheduler.loadFile([spec()]);
  h.scheduler.start();
  await h.clock.advance(11_000);
  t.equal(h.scheduler.status('shop', 'shop')?.running, true);
  await h.scheduler.close();
  await h.scheduler.close();
  const status = h.scheduler.status('shop', 'shop');
  t.match(status, {
    running: false,
    nextRun: null,
    lastRun: { outcome: 'failed', error: { code: 'CAPTURE_ABORTED' } },
  });
  await h.clock.advance(30_000);
  t.equal(h.captures.length, 1, 'nothing fires after close');
  await t.rejects(h.scheduler.run('shop', 'shop'), { code: 'INTERNAL' });
  t.throws(() => h.scheduler.start(), { code: 'INTERNAL' });
});

t.test('options are validated', async (t) => {
  const base = { nodeName: 'n', capture: async () => ({ stacks: new Map(), warnings: [], startedAtMs: 0 }) };
  const deps = {
    ...base,
    targets: { find: async () => [] },
    store: { put: async () => ({}) as StoredProfile, setScheduleRetention: () => undefined },
  };
  t.throws(() => new Scheduler({ ...deps, parallelCaptures: 0 }), { code: 'CONFIG_INVALID' });
  t.throws(() => new Scheduler({ ...deps, maxJitterMs: -1 }), { code: 'CONFIG_INVALID' });
});

t.test('by default the open metrics carry no schedule names: every series is schedule="all"', async (t) => {
  const h = await harness(t, { defaultMetrics: true });
  h.scheduler.loadFile([spec()]);
  h.scheduler.put(spec({ name: 'billing-ledger-audit', namespace: 'billing' }));
  h.scheduler.start();
  await h.clock.advance(25_000);
  const metrics = await h.registry.metrics();
  t.notMatch(
    metrics,
    /billing-ledger-audit|schedule="shop"|namespace=/,
    'no schedule name nor namespace in any series',
  );
  // Two schedules, two runs each so far: the counts add up under one label.
  t.match(metrics, /podflame_schedule_runs_total\{schedule="all",outcome="ok"\} 4/);
  t.match(metrics, /podflame_schedule_profiles_total\{schedule="all"\} 4/);
  t.match(metrics, /podflame_schedule_next_run_timestamp_seconds\{schedule="all"\} 1764237630/);
  t.match(metrics, /podflame_schedule_running\{schedule="all"\} 0/);
  h.scheduler.delete('billing', 'billing-ledger-audit');
  t.match(
    await h.registry.metrics(),
    /podflame_schedule_runs_total\{schedule="all",outcome="ok"\} 4/,
    'a deleted schedule takes no count with it',
  );
});
