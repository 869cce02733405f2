import t, { type Test } from 'tap';
import {
  AGENT_OPTIONS,
  DEFAULT_AGENT_CONFIG,
  parseAgentConfig,
  parseListenAddress,
  type AgentConfig,
} from '../../agent/config.js';
import { PodflameError } from '../../shared/errors.js';
import { packageVersion } from '../../shared/package-version.js';

function parse(argv: string[], env: Record<string, string> = {}): AgentConfig {
  const r = parseAgentConfig({ argv, env, hostname: 'host-a' });
  if (r.kind !== 'config') throw new Error('expected a config');
  return r.config;
}

function fails(t: Test, argv: string[], env: Record<string, string>, pattern: RegExp): void {
  const err = (() => {
    try {
      parse(argv, env);
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  t.type(err, PodflameError, argv.join(' '));
  t.equal((err as PodflameError).code, 'CONFIG_INVALID');
  t.match((err as PodflameError).message, pattern);
}

t.test('defaults', async (t) => {
  const c = parse([]);
  t.same(c, { ...DEFAULT_AGENT_CONFIG, nodeName: 'host-a' });
  t.same(c.listen, { host: '127.0.0.1', port: 7070 });
  t.equal(c.captureImage, `podflame-perf:${packageVersion()}`, 'the tag the README builds');
  t.equal(c.maxConcurrent, 4);
  t.ok(Object.isFrozen(DEFAULT_AGENT_CONFIG));
});

t.test('flags win over PODFLAME_* environment, which wins over defaults', async (t) => {
  const env = {
    PODFLAME_LISTEN: '0.0.0.0:8080',
    // Off loopback, --auth none is refused (test/security covers that).
    PODFLAME_AUTH: 'kubernetes',
    PODFLAME_MAX_CONCURRENT: '2',
    NODE_NAME: 'node-from-env',
    PODFLAME_CAPTURE_IMAGE: 'env-image:1',
  };
  const c = parse(['--listen', '127.0.0.1:0', '--capture-image=flag-image:2', '--max-output-bytes', '512MiB'], env);
  t.same(c.listen, { host: '127.0.0.1', port: 0 });
  t.equal(c.captureImage, 'flag-image:2');
  t.equal(c.maxConcurrent, 2);
  t.equal(c.nodeName, 'node-from-env');
  t.equal(c.maxOutputBytes, 512 * 1024 * 1024);
  t.equal(parse(['--node-name', 'n1'], env).nodeName, 'n1');
  t.equal(parse([], { ...env, PODFLAME_NODE_NAME: 'pf' }).nodeName, 'pf', 'PODFLAME_NODE_NAME before NODE_NAME');
  t.equal(parse(['--request-timeout', '2m']).requestTimeoutSeconds, 120);
  t.equal(parse(['--profile-retention', '5', '--log-level', 'debug']).profileRetention, 5);
  t.equal(parse([], { PODFLAME_LOG_LEVEL: 'silent' }).logLevel, 'silent');
  t.equal(parse([], { PODFLAME_LISTEN: '' }).listen.port, 7070, 'an empty variable counts as unset');
  t.equal(parse([]).captureGroup, 'true');
  t.equal(parse(['--capture-group', 'kube-1.a'], { PODFLAME_CAPTURE_GROUP: 'env' }).captureGroup, 'kube-1.a');
  t.equal(parse([], { PODFLAME_CAPTURE_GROUP: 'env' }).captureGroup, 'env');
});

t.test('listen addresses', async (t) => {
  t.same(parseListenAddress('[::1]:7070'), { host: '::1', port: 7070 });
  t.same(parseListenAddress('localhost:1'), { host: 'localhost', port: 1 });
  t.throws(() => parseListenAddress('7070'));
  t.throws(() => parseListenAddress('1.2.3.4:70000'));
});

t.test('invalid values name the flag or variable and what was expected', async (t) => {
  fails(t, ['--max-concurrent', '0'], {}, /--max-concurrent must be a whole number from 1 to 256, got '0'/);
  fails(t, [], { PODFLAME_MAX_CONCURRENT: 'lots' }, /PODFLAME_MAX_CONCURRENT must be a whole number/);
  fails(t, ['--listen', 'nowhere'], {}, /--listen must be HOST:PORT/);
  fails(t, ['--max-output-bytes', '12 parsecs'], {}, /--max-output-bytes must be a size in bytes/);
  fails(t, ['--request-timeout', 'soon'], {}, /--request-timeout must be a duration/);
  fails(t, ['--log-level', 'loud'], {}, /--log-level must be one of fatal, error/);
  fails(t, ['--capture-image', ''], {}, /--capture-image must be an image name/);
  fails(t, ['--capture-group', 'a b'], {}, /--capture-group must be letters, digits, _ \. - \(up to 63\), got 'a b'/);
  fails(t, ['--bogus'], {}, /Unknown option '--bogus'.*--help/);
  fails(t, ['positional'], {}, /positional/);
});

t.test('--help lists every option with its variable and default', async (t) => {
  const r = parseAgentConfig({ argv: ['--help'], env: {}, hostname: 'host-a' });
  t.equal(r.kind, 'help');
  if (r.kind !== 'help') return;
  for (const s of ['--listen HOST:PORT', 'PODFLAME_LISTEN', 'default 127.0.0.1:7070', 'NODE_NAME', 'default host-a']) {
    t.match(r.text, s);
  }
});

t.test('--help prints each default as the flag is typed, and typed back it is the default', async (t) => {
  const r = parseAgentConfig({ argv: ['--help'], env: {}, hostname: 'host-a' });
  if (r.kind !== 'help') return t.fail('expected the help text');
  const defaults = new Map(
    [...r.text.matchAll(/^ {2}--([a-z-]+) .*\n {6}.*; default (.*)\)$/gm)].map((m) => [m[1], m[2]] as const),
  );
  t.same([...defaults.keys()].sort(), AGENT_OPTIONS.map((o) => o.flag).sort(), 'one default per option');
  t.equal(defaults.get('max-output-bytes'), '256MiB');
  t.equal(defaults.get('max-profile-bytes'), '32MiB');
  t.equal(defaults.get('store-max-bytes'), '1GiB');
  t.equal(defaults.get('store-max-age'), '7d');
  t.equal(defaults.get('schedule-max-retention'), '30d');
  t.equal(defaults.get('request-timeout'), '60s');
  t.equal(defaults.get('read-timeout'), '60s');
  t.equal(defaults.get('schedule-jitter'), '10s');
  t.equal(defaults.get('metrics-schedule-names'), 'off');
  // Every default of a size, age, duration or switch, given back as the flag's value, is the default itself.
  for (const spec of AGENT_OPTIONS) {
    if (!['BYTES', 'AGE', 'DURATION', 'on|off'].includes(spec.placeholder)) continue;
    const text = defaults.get(spec.flag) as string;
    const value = DEFAULT_AGENT_CONFIG[spec.key as Exclude<keyof AgentConfig, 'nodeName'>];
    if (value === undefined) continue;
    t.not(text, String(value), `--${spec.flag}: ${text} is not the raw value`);
    t.same(parse([`--${spec.flag}`, text])[spec.key], value, `--${spec.flag} ${text}`);
  }
});

t.test('in a pod: the API server from KUBERNETES_SERVICE_HOST/_PORT, the service account folder', async (t) => {
  t.equal(parse([]).inCluster, undefined, 'not in a cluster');
  t.equal(parse([], { KUBERNETES_SERVICE_HOST: '' }).inCluster, undefined);
  t.same(parse([], { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' }).inCluster, {
    host: 'fd00::1',
    port: '6443',
  });
  t.same(
    parse([], { KUBERNETES_SERVICE_HOST: '10.96.0.1', PODFLAME_SERVICE_ACCOUNT_DIR: '/run/sa' }).inCluster,
    { host: '10.96.0.1', port: '443', serviceAccountDir: '/run/sa' },
    'port 443 when kubelet set none',
  );
});
