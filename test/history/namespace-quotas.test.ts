/**
 * One namespace cannot reach another's history or take the node's share of it (issue #13, findings 6 and 12), over
 * the HTTP API of a real agent app: a schedule's retention applies to its own namespace's profiles only, a schedule's
 * retention is at most `--schedule-max-retention`, and a namespace has at most `--namespace-max-schedules` schedules.
 */
import t, { type Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { call } from '../agent/http.js';
import { PodflameError } from '../../shared/errors.js';
import type { NewProfile } from '../../agent/store/profile-store.js';
import { ContinuousProfiling } from '../../agent/schedules/continuous-profiling.js';
import { FakeRuntime } from '../agent/fake-runtime.js';
import { memoryLogger } from '../agent/http.js';
import type { StoredProfile } from '../../shared/history.js';
import { fixtureStacks } from './fixtures.js';
import { startHistoryAgent } from './agent-harness.js';

const HOUR = 3600_000;

function profile(over: Partial<NewProfile>): NewProfile {
  return {
    namespace: 'shop',
    pod: 'shop-1',
    container: 'app',
    node: 'node-a',
    startMs: Date.now() - HOUR,
    durationSeconds: 10,
    frequencyHz: 99,
    warnings: [],
    schedule: 'cpu',
    podUid: 'uid-1',
    containerId: 'a'.repeat(64),
    labels: { app: 'shop' },
    stacks: fixtureStacks('before'),
    ...over,
  };
}

const schedule = (namespace: string, over: Record<string, unknown> = {}) => ({
  cron: '0 0 * * * *',
  namespace,
  durationSeconds: 5,
  frequencyHz: 99,
  ...over,
});

/** An agent whose caller may profile one namespace only, the one `as` names (as --auth kubernetes would decide). */
async function tenantAgent(t: Test, options: Parameters<typeof startHistoryAgent>[1] = {}) {
  const caller = { namespace: 'shop' };
  const agent = await startHistoryAgent(t, {
    authorizeNamespace: async (_req, namespace) => {
      if (namespace !== caller.namespace) {
        throw new PodflameError('FORBIDDEN', `the caller cannot profile pods of namespace ${namespace}`);
      }
    },
    ...options,
  });
  return { ...agent, as: (namespace: string) => (caller.namespace = namespace) };
}

t.test('a same-named schedule with retention 1s in namespace B leaves namespace A’s profiles alone', async (t) => {
  const { url, history, as } = await tenantAgent(t);
  as('shop');
  t.equal((await call(url, 'PUT', '/v1/schedules/cpu', schedule('shop'))).status, 201, 'A defines cpu');
  const kept = [
    await history.store.put(profile({ startMs: Date.now() - 2 * HOUR })),
    await history.store.put(profile({ startMs: Date.now() - HOUR })),
  ];
  t.equal((await call(url, 'DELETE', '/v1/schedules/cpu')).status, 204, 'A removes it; its history stays');

  as('billing');
  const evil = await call(url, 'PUT', '/v1/schedules/cpu', schedule('billing', { retention: '1s' }));
  t.equal(evil.status, 201, 'the name is free: B takes it, in its own namespace');
  const own = await history.store.put(profile({ namespace: 'billing', pod: 'bill-0', startMs: Date.now() - HOUR }));
  await history.store.enforceRetention();

  t.notOk(history.store.get(own.id), "B's retention applies to B's own profiles of that schedule");
  t.same(
    history.store
      .list({ namespace: 'shop' })
      .map((p: StoredProfile) => p.id)
      .sort(),
    kept.map((p) => p.id).sort(),
    "A's profiles survive",
  );
  as('shop');
  const listed = await call(url, 'GET', '/v1/profiles?namespace=shop&schedule=cpu');
  t.equal(listed.json.items.length, 2, 'and A still reads them');
});

t.test('a PUT of the same name in another namespace is another schedule: the first keeps its retention', async (t) => {
  const { history } = await tenantAgent(t);
  history.scheduler.put({ name: 'cpu', ...schedule('shop'), retention: '1s' });
  history.scheduler.put({ name: 'cpu', ...schedule('billing') });
  const a = await history.store.put(profile({ startMs: Date.now() - HOUR }));
  await history.store.enforceRetention();
  t.notOk(history.store.get(a.id), 'shop’s cpu still applies its 1s to shop’s profiles');
  t.equal(history.scheduler.list().length, 2);
  history.scheduler.delete('shop', 'cpu');
  const b = await history.store.put(profile({ startMs: Date.now() - HOUR }));
  await history.store.enforceRetention();
  t.ok(history.store.get(b.id), 'once deleted, its profiles fall back to the store’s own limit');
});

t.test('a burst of PUTs beyond the namespace’s schedule quota is refused with QUOTA_EXCEEDED', async (t) => {
  const { url, as } = await tenantAgent(t, { maxSchedulesPerNamespace: 5 });
  as('shop');
  const answers = await Promise.all(
    Array.from({ length: 40 }, (_, i) => call(url, 'PUT', `/v1/schedules/burst-${i}`, schedule('shop'))),
  );
  const by = new Map<number, number>();
  for (const a of answers) by.set(a.status, (by.get(a.status) ?? 0) + 1);
  t.same(Object.fromEntries(by), { 201: 5, 403: 35 }, 'five created, the rest refused');
  const refused = answers.find((a) => a.status === 403)!;
  t.equal(refused.json.error.code, 'QUOTA_EXCEEDED');
  t.match(refused.json.error.details, { quota: 'schedules', limit: 5, namespace: 'shop', used: 5 });
  t.match(
    refused.json.error.message,
    /namespace shop already has 5 schedules on this agent.*--namespace-max-schedules 5/,
  );
  const listed = await call(url, 'GET', '/v1/schedules');
  t.equal(listed.json.items.length, 5, 'only the admitted ones exist');

  const createdName = answers.findIndex((a) => a.status === 201);
  const replaced = await call(url, 'PUT', `/v1/schedules/burst-${createdName}`, schedule('shop', { frequencyHz: 49 }));
  t.equal(replaced.status, 200, 'replacing one of its own takes no new share');
  as('billing');
  t.equal(
    (await call(url, 'PUT', '/v1/schedules/other', schedule('billing'))).status,
    201,
    'another namespace still has its own share',
  );
  as('shop');
  t.equal((await call(url, 'DELETE', `/v1/schedules/burst-${createdName}`)).status, 204);
  t.equal(
    (await call(url, 'PUT', '/v1/schedules/again', schedule('shop'))).status,
    201,
    'a deleted one frees its share',
  );
});

t.test('a schedule’s retention is at most --schedule-max-retention', async (t) => {
  const { url, history, as } = await tenantAgent(t, { maxRetentionSeconds: 14 * 86400 });
  as('shop');
  const tooLong = await call(url, 'PUT', '/v1/schedules/keep', schedule('shop', { retention: '15d' }));
  t.equal(tooLong.status, 400);
  t.equal(tooLong.json.error.code, 'INVALID_REQUEST');
  t.match(
    tooLong.json.error.message,
    /retention 15d is above this agent's maximum of 14d \(--schedule-max-retention\)/,
  );
  t.match(tooLong.json.error.details, { field: 'retention', maxRetention: '14d', maxRetentionSeconds: 14 * 86400 });
  t.equal(history.scheduler.status('shop', 'keep'), undefined, 'nothing was created');
  t.equal((await call(url, 'PUT', '/v1/schedules/keep', schedule('shop', { retention: '14d' }))).status, 201);
});

t.test('a schedules file asking for more than the maximum retention is not loaded', async (t) => {
  const dir = t.testdir();
  const file = `${dir}/schedules.yaml`;
  const entry = (retention: string) =>
    [
      'schedules:',
      '  - name: nightly',
      '    cron: "0 3 * * *"',
      '    namespace: shop',
      '    durationSeconds: 10',
      '    frequencyHz: 99',
      `    retention: ${retention}`,
      '',
    ].join('\n');
  writeFileSync(file, entry('90d'));
  const refused = new ContinuousProfiling({
    dataDir: `${dir}/a`,
    schedulesFile: file,
    schedulesReloadMs: 0,
    nodeName: 'node-a',
    capture: () => Promise.reject(new Error('no capture expected')),
    containers: new FakeRuntime(),
    logger: memoryLogger().logger,
  });
  await t.rejects(
    refused.start(),
    { code: 'CONFIG_INVALID', message: /schedule 'nightly': retention 90d is above this agent's maximum of 30d/ },
    'the default maximum is 30 days; the start fails',
  );
  await refused.close();

  writeFileSync(file, entry('7d'));
  const { history } = await startHistoryAgent(t, { dataDir: `${dir}/b`, schedulesFile: file });
  t.equal(history.scheduler.status('shop', 'nightly')?.retention, '7d');
  writeFileSync(file, entry('60d'));
  await history.reloadSchedulesFile();
  t.equal(
    history.scheduler.status('shop', 'nightly')?.retention,
    '7d',
    'a changed file asking more is refused; 7d stays',
  );
});

t.test('schedules saved through the API come back whole after a restart with lower limits', async (t) => {
  const dir = t.testdir();
  const first = await tenantAgent(t, { dataDir: dir });
  first.as('shop');
  for (const name of ['one', 'two', 'three']) {
    const body = schedule('shop', name === 'one' ? { retention: '20d' } : {});
    t.equal((await call(first.url, 'PUT', `/v1/schedules/${name}`, body)).status, 201);
  }
  await first.history.close();
  await first.agent.close();

  const second = await tenantAgent(t, { dataDir: dir, maxSchedulesPerNamespace: 2, maxRetentionSeconds: 7 * 86400 });
  t.same(
    second.history.scheduler.list().map((s) => [s.name, s.retention]),
    [
      ['one', '7d'],
      ['three', undefined],
      ['two', undefined],
    ],
    'none dropped; a retention above the lowered maximum is cut to it',
  );
  t.equal(second.history.store.policy().scheduleMaxAgeSeconds.get('shop')?.get('one'), 7 * 86400);
  second.as('shop');
  const more = await call(second.url, 'PUT', '/v1/schedules/four', schedule('shop'));
  t.equal(more.json.error.code, 'QUOTA_EXCEEDED', 'but the namespace gets no new one while over its share');
});
