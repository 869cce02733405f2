/**
 * Continuous profiling as the agent assembles it: the schedules file read at start (a broken one stops the start,
 * naming the schedule and field) and again when it changes (a broken change keeps the schedules in force), API
 * schedules saved in the data directory, and the configuration rules of --data-dir.
 */
import t from 'tap';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { ContinuousProfiling } from '../../agent/schedules/continuous-profiling.js';
import { continuousProfilingFromConfig, createAgent } from '../../agent/agent.js';
import { createLogger } from '../../agent/logging.js';
import { DEFAULT_AGENT_CONFIG, type AgentConfig } from '../../agent/config.js';
import { FakeRuntime } from '../agent/fake-runtime.js';
import { Registry } from 'prom-client';

function logger() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l !== '') lines.push(JSON.parse(l));
      done();
    },
  });
  return { logger: createLogger('info', sink), lines };
}

const schedule = (name: string, cron = '0 0 * * * *') =>
  `  - name: ${name}\n    cron: "${cron}"\n    namespace: shop\n    durationSeconds: 5\n    frequencyHz: 99\n`;

function build(dir: string, log = logger()) {
  return new ContinuousProfiling({
    dataDir: join(dir, 'data'),
    schedulesFile: join(dir, 'schedules.yaml'),
    schedulesReloadMs: 0,
    nodeName: 'node-a',
    capture: async () => ({ stacks: new Map(), warnings: [], startedAtMs: 0 }),
    containers: new FakeRuntime(),
    registry: new Registry(),
    logger: log.logger,
  });
}

t.test('the schedules file: at start, then on change', async (t) => {
  const dir = t.testdir({ 'schedules.yaml': `schedules:\n${schedule('hourly')}` });
  const log = logger();
  const cp = build(dir, log);
  await cp.start();
  t.teardown(() => cp.close());
  t.same(
    cp.scheduler.list().map((s) => s.name),
    ['hourly'],
  );
  t.ok(log.lines.some((l) => l.msg === 'schedules started' && l.mode === 'local'));

  writeFileSync(join(dir, 'schedules.yaml'), `schedules:\n${schedule('hourly')}${schedule('nightly', '0 0 3 * * *')}`);
  await cp.reloadSchedulesFile();
  t.same(
    cp.scheduler.list().map((s) => s.name),
    ['hourly', 'nightly'],
  );
  writeFileSync(join(dir, 'schedules.yaml'), `schedules:\n${schedule('hourly', '99 * * * *')}`);
  await cp.reloadSchedulesFile();
  t.same(
    cp.scheduler.list().map((s) => s.name),
    ['hourly', 'nightly'],
    'a broken file changes nothing',
  );
  t.ok(log.lines.some((l) => l.msg === 'schedules file unusable: the schedules in force stay'));
  writeFileSync(join(dir, 'schedules.yaml'), 'schedules: []\n');
  await cp.reloadSchedulesFile();
  t.same(cp.scheduler.list(), []);
});

t.test('a broken schedules file stops the start', async (t) => {
  const dir = t.testdir({ 'schedules.yaml': `schedules:\n${schedule('hourly')}    colour: red\n` });
  const cp = build(dir);
  t.teardown(() => cp.close());
  await t.rejects(cp.start(), {
    code: 'CONFIG_INVALID',
    message: /schedule 'hourly' \(item 1\): unknown field colour/,
  });
  const missing = build(t.testdir());
  t.teardown(() => missing.close());
  await t.rejects(missing.start(), { code: 'CONFIG_INVALID', message: /cannot read the schedules file/ });
});

t.test('API schedules are saved; an interrupted save leaves nothing behind', async (t) => {
  const dir = t.testdir({ 'schedules.yaml': 'schedules: []\n', data: { '.tmp-schedules.api.json-0a1b2c3d': '{"sch' } });
  const first = build(dir);
  await first.start();
  t.notOk(existsSync(join(dir, 'data', '.tmp-schedules.api.json-0a1b2c3d')));
  first.scheduler.put({ name: 'quick', cron: '*/5 * * * * *', namespace: 'shop', durationSeconds: 2, frequencyHz: 99 });
  await (first as unknown as { saveApiSchedules(): Promise<void> }).saveApiSchedules();
  await first.close();
  t.same(readdirSync(join(dir, 'data')).sort(), ['profiles', 'schedules.api.json']);
  const second = build(dir);
  await second.start();
  t.teardown(() => second.close());
  t.match(second.scheduler.status('shop', 'quick'), { source: 'api', cron: '*/5 * * * * *' });
});

t.test('--schedules and --pyroscope-url need --data-dir; a bad --pyroscope-url is refused', async (t) => {
  const base: AgentConfig = { ...DEFAULT_AGENT_CONFIG, nodeName: 'node-a' };
  const deps = {
    captures: {
      resolve: async () => {
        throw new Error('unused');
      },
      start: async () => {
        throw new Error('unused');
      },
      countRefusal: () => undefined,
    },
    containers: new FakeRuntime(),
    registry: new Registry(),
    logger: logger().logger,
  };
  t.equal(await continuousProfilingFromConfig(base, deps), undefined, 'no --data-dir: no history');
  await t.rejects(continuousProfilingFromConfig({ ...base, schedulesFile: 's.yaml' }, deps), {
    code: 'CONFIG_INVALID',
    message: /^--schedules needs --data-dir DIR/,
  });
  await t.rejects(continuousProfilingFromConfig({ ...base, schedulesFile: 's.yaml', pyroscopeUrl: 'http://p' }, deps), {
    message: /^--schedules and --pyroscope-url need --data-dir DIR/,
  });
  await t.rejects(
    continuousProfilingFromConfig({ ...base, dataDir: t.testdir(), pyroscopeUrl: 'pyroscope:4040' }, deps),
    {
      code: 'CONFIG_INVALID',
      message: /--pyroscope-url must be an http\(s\) URL/,
    },
  );
  const local = await continuousProfilingFromConfig({ ...base, dataDir: t.testdir() }, deps);
  t.ok(local instanceof ContinuousProfiling);
  // The agent's own pod watcher (one for host mode and schedules) loads the kubeconfig, before anything else is built.
  await t.rejects(
    createAgent(
      { ...base, dataDir: t.testdir(), kubeconfig: '/nonexistent/kubeconfig' },
      { logger: logger().logger, kill: () => undefined },
    ),
    {
      code: 'CONFIG_INVALID',
      message: /cannot load the agent's kubeconfig \/nonexistent\/kubeconfig/,
    },
  );
});
