/**
 * The agent's continuous-profiling flags: parsed and validated with the rest of its configuration, and the built
 * `podflame-agent` refusing to start on a schedules file it cannot use, saying which schedule and field.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { parseAgentConfig } from '../../agent/config.js';
import { continuousProfilingFromConfig } from '../../agent/agent.js';
import { memoryLogger } from '../agent/http.js';
import { FakeRuntime } from '../agent/fake-runtime.js';
import { runAgentToExit } from '../helpers/agent-process.js';
import { DIST_AGENT } from '../helpers/built.js';

const parse = (argv: string[], env: Record<string, string> = {}) => {
  const parsed = parseAgentConfig({ argv, env, hostname: 'host-1' });
  if (parsed.kind !== 'config') throw new Error('expected a configuration');
  return parsed.config;
};

t.test('flags and environment', async (t) => {
  const c = parse([
    '--data-dir',
    '/var/lib/podflame',
    '--schedules',
    '/etc/podflame/schedules.yaml',
    '--pyroscope-url',
    'http://pyroscope:4040',
    '--store-max-age',
    '36h',
    '--store-max-bytes',
    '512MiB',
    '--schedule-jitter',
    '0',
  ]);
  t.match(c, {
    dataDir: '/var/lib/podflame',
    schedulesFile: '/etc/podflame/schedules.yaml',
    pyroscopeUrl: 'http://pyroscope:4040',
    storeMaxAgeSeconds: 36 * 3600,
    storeMaxBytes: 512 * 1024 ** 2,
    scheduleJitterSeconds: 0,
  });
  const defaults = parse([]);
  t.match(defaults, { storeMaxAgeSeconds: 7 * 86400, storeMaxBytes: 1024 ** 3, scheduleJitterSeconds: 10 });
  t.equal(defaults.dataDir, undefined);
  t.match(parse([], { PODFLAME_DATA_DIR: '/d', PODFLAME_SCHEDULES: '/s.yaml', PODFLAME_SCHEDULE_JITTER: '30s' }), {
    dataDir: '/d',
    schedulesFile: '/s.yaml',
    scheduleJitterSeconds: 30,
  });
  for (const [argv, message] of [
    [['--store-max-age', '7'], /--store-max-age must be an age such as 36h or 7d/],
    [['--store-max-bytes', 'lots'], /--store-max-bytes must be a size/],
    [['--schedule-jitter', 'x'], /--schedule-jitter must be a duration/],
    [['--data-dir', ''], /--data-dir must be a directory path/],
  ] as const) {
    t.throws(() => parse([...argv]), { code: 'CONFIG_INVALID', message }, argv.join(' '));
  }
  const help = parseAgentConfig({ argv: ['--help'], env: {}, hostname: 'h' });
  t.match(help.kind === 'help' ? help.text : '', /--data-dir DIR[\s\S]*--schedules FILE[\s\S]*--pyroscope-url URL/);
});

t.test('namespace quotas and the longest schedule retention: flags, environment, defaults, wiring', async (t) => {
  const defaults = parse([]);
  t.match(defaults, {
    namespaceMaxConcurrent: 2,
    namespaceMaxSchedules: 10,
    scheduleMaxRetentionSeconds: 30 * 86400,
  });
  t.equal(defaults.namespaceMaxStoreBytes, undefined, 'default: a quarter of --store-max-bytes');
  t.match(
    parse([
      '--namespace-max-concurrent',
      '3',
      '--namespace-max-schedules',
      '25',
      '--schedule-max-retention',
      '14d',
      '--namespace-max-store-bytes',
      '256MiB',
    ]),
    {
      namespaceMaxConcurrent: 3,
      namespaceMaxSchedules: 25,
      scheduleMaxRetentionSeconds: 14 * 86400,
      namespaceMaxStoreBytes: 256 * 1024 ** 2,
    },
  );
  t.match(
    parse([], {
      PODFLAME_NAMESPACE_MAX_CONCURRENT: '1',
      PODFLAME_NAMESPACE_MAX_SCHEDULES: '2',
      PODFLAME_SCHEDULE_MAX_RETENTION: '2w',
      PODFLAME_NAMESPACE_MAX_STORE_BYTES: '1GiB',
    }),
    {
      namespaceMaxConcurrent: 1,
      namespaceMaxSchedules: 2,
      scheduleMaxRetentionSeconds: 14 * 86400,
      namespaceMaxStoreBytes: 1024 ** 3,
    },
  );
  for (const [argv, message] of [
    [['--namespace-max-concurrent', '0'], /--namespace-max-concurrent must be a whole number from 1 to 256/],
    [['--namespace-max-schedules', '0'], /--namespace-max-schedules must be a whole number from 1 to 10000/],
    [['--schedule-max-retention', '30'], /--schedule-max-retention must be an age such as 36h or 7d/],
    [['--namespace-max-store-bytes', '0'], /--namespace-max-store-bytes must be a size/],
  ] as const) {
    t.throws(() => parse([...argv]), { code: 'CONFIG_INVALID', message }, argv.join(' '));
  }
  const help = parseAgentConfig({ argv: ['--help'], env: {}, hostname: 'h' });
  const text = help.kind === 'help' ? help.text : '';
  t.match(text, /--namespace-max-store-bytes BYTES\n.*default a quarter of --store-max-bytes\)/);
  t.match(text, /--schedule-max-retention AGE\n.*default 30d\)/);

  // The agent hands the flags to the store and the scheduler.
  const config = parse([
    '--data-dir',
    t.testdir(),
    '--namespace-max-schedules',
    '1',
    '--schedule-max-retention',
    '1d',
    '--store-max-bytes',
    '4MiB',
  ]);
  const unused = async () => {
    throw new Error('unused');
  };
  const history = await continuousProfilingFromConfig(config, {
    captures: { resolve: unused, start: unused, countRefusal: () => undefined },
    containers: new FakeRuntime(),
    registry: new Registry(),
    logger: memoryLogger().logger,
  });
  if (!history) throw new Error('expected continuous profiling');
  t.equal(history.store.policy().maxNamespaceBytes, 1024 ** 2, 'a quarter of --store-max-bytes');
  const spec = { name: 'a', cron: '0 0 * * * *', namespace: 'shop', durationSeconds: 5, frequencyHz: 99 };
  t.throws(() => history.scheduler.put({ ...spec, retention: '2d' }), { code: 'INVALID_REQUEST' });
  history.scheduler.put(spec);
  t.throws(() => history.scheduler.put({ ...spec, name: 'b' }), { code: 'QUOTA_EXCEEDED' });
});

t.test(
  'the built agent refuses an unusable schedules setup',
  { skip: !existsSync(DIST_AGENT) && 'run npm run build first' },
  async (t) => {
    const dir = t.testdir({
      'bad.yaml':
        'schedules:\n  - name: shop\n    cron: "*/3 * * * * *"\n    namespace: shop\n    durationSeconds: 0\n    frequencyHz: 99\n',
    });
    const common = ['--listen', '127.0.0.1:0', '--docker-socket', join(dir, 'no.sock')];
    const noDataDir = await runAgentToExit([...common, '--schedules', join(dir, 'bad.yaml')]);
    t.equal(noDataDir.code, 2);
    t.match(noDataDir.stdout + noDataDir.stderr, /--schedules needs --data-dir DIR/);
    const bad = await runAgentToExit([
      ...common,
      '--data-dir',
      join(dir, 'data'),
      '--schedules',
      join(dir, 'bad.yaml'),
    ]);
    t.equal(bad.code, 2);
    t.match(
      bad.stdout + bad.stderr,
      /schedule 'shop' \(item 1\): durationSeconds: Number must be greater than or equal to 1/,
    );
    t.notMatch(bad.stdout, /podflame-agent listening/, 'it never listened');
  },
);
