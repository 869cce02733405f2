/**
 * The agent's parts list (agent/parts.ts): started in order, closed in reverse, close idempotent, a failed start
 * closing what had started, a close bounded by a deadline; and the order the real Agent puts its parts in.
 */
import t from 'tap';
import { Parts, part, type Part } from '../../agent/parts.js';
import { Agent } from '../../agent/agent.js';
import { FakeRuntime } from './fake-runtime.js';
import { memoryLogger, testConfig } from './http.js';
import { testProfileWorker } from '../helpers/profile-worker.js';

function recorder(): { events: string[]; make(name: string, opts?: { failStart?: boolean; hang?: boolean }): Part } {
  const events: string[] = [];
  return {
    events,
    make: (name, opts = {}) =>
      part(
        name,
        async () => {
          events.push(`start ${name}`);
          if (opts.failStart) throw new Error(`${name} would not start`);
        },
        async () => {
          events.push(`close ${name}`);
          if (opts.hang) await new Promise(() => undefined);
        },
      ),
  };
}

t.test('started in order, closed in reverse, once however often close is called', async (t) => {
  const r = recorder();
  const parts = new Parts([r.make('pods'), r.make('runtime'), r.make('http')]);
  await parts.start();
  await Promise.all([parts.close(), parts.close()]);
  await parts.close();
  t.same(r.events, ['start pods', 'start runtime', 'start http', 'close http', 'close runtime', 'close pods']);
});

t.test('a part that fails to start: the ones before it are closed in reverse, the rest never start', async (t) => {
  const r = recorder();
  const parts = new Parts([r.make('a'), r.make('b'), r.make('c', { failStart: true }), r.make('d')]);
  await t.rejects(parts.start(), { message: 'c would not start' });
  t.same(r.events, ['start a', 'start b', 'start c', 'close b', 'close a']);
});

t.test('every part is closed even when one fails to; the first failure is rethrown', async (t) => {
  const events: string[] = [];
  const errors: object[] = [];
  const parts = new Parts(
    [
      part(
        'a',
        () => undefined,
        async () => void events.push('close a'),
      ),
      part(
        'b',
        () => undefined,
        async () => {
          events.push('close b');
          throw new Error('b broke');
        },
      ),
      part(
        'c',
        () => undefined,
        async () => void events.push('close c'),
      ),
    ],
    { error: (obj) => errors.push(obj) },
  );
  await parts.start();
  await t.rejects(parts.close(), { message: 'b broke' });
  t.same(events, ['close c', 'close b', 'close a']);
  t.match(errors, [{ part: 'b', err: 'b broke' }]);
});

t.test('closeWithin: `deadline` when a part hangs past it, `closed` otherwise', async (t) => {
  const r = recorder();
  const hanging = new Parts([r.make('store'), r.make('stuck', { hang: true })]);
  await hanging.start();
  t.equal(await hanging.closeWithin(50), 'deadline');
  t.same(r.events.slice(-1), ['close stuck'], 'the parts before the stuck one wait for it');
  const quick = new Parts([r.make('x')]);
  await quick.start();
  t.equal(await quick.closeWithin(5_000), 'closed');
});

t.test('part(): close runs once', async (t) => {
  let closes = 0;
  const p = part(
    'p',
    () => undefined,
    async () => void closes++,
  );
  await Promise.all([p.close(), p.close()]);
  t.equal(closes, 1);
});

t.test("the Agent's parts: runtime, history (with --data-dir), http, captures", async (t) => {
  const plain = new Agent({
    worker: testProfileWorker(),
    config: testConfig(),
    runtime: new FakeRuntime(),
    logger: memoryLogger().logger,
  });
  t.same(plain.partNames, ['runtime', 'worker', 'http', 'captures']);
  const withHistory = new Agent({
    worker: testProfileWorker(),
    config: testConfig({ dataDir: t.testdir() }),
    runtime: new FakeRuntime(),
    logger: memoryLogger().logger,
  });
  t.same(withHistory.partNames, ['runtime', 'worker', 'history', 'http', 'captures']);
  await withHistory.start();
  await withHistory.close();
  await withHistory.close();
});
