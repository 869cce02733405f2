// `--runtime docker|host|auto`: the flag and its variable, and auto's choice made by pinging a real Docker socket
// path (one that answers when the engine runs here, and one where nothing listens), never by configuration alone.
import t from 'tap';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { parseAgentConfig } from '../../agent/config.js';
import { selectRuntime } from '../../agent/runtime/runtime-selection.js';
import { HostRuntime } from '../../agent/runtime/host-runtime.js';
import { PodflameError } from '../../shared/errors.js';

const parse = (argv: string[], env: Record<string, string> = {}) => {
  const parsed = parseAgentConfig({ argv, env, hostname: 'node-a' });
  if (parsed.kind !== 'config') throw new Error('expected a config');
  return parsed.config;
};

t.test('the flags: --runtime, --capture-script, --proc-root', async (t) => {
  const d = parse([]);
  t.equal(d.runtime, 'auto');
  t.equal(d.captureScript, '/usr/local/bin/podflame-capture');
  t.equal(d.procRoot, '/proc');
  t.equal(parse(['--runtime', 'host']).runtime, 'host');
  t.equal(parse([], { PODFLAME_RUNTIME: 'docker' }).runtime, 'docker');
  t.equal(parse(['--runtime', 'host'], { PODFLAME_RUNTIME: 'docker' }).runtime, 'host', 'the flag wins');
  t.equal(parse([], { PODFLAME_CAPTURE_SCRIPT: '/opt/pc' }).captureScript, '/opt/pc');
  t.throws(() => parse(['--runtime', 'containerd']), { code: 'CONFIG_INVALID', message: /docker, host, auto/ });
  t.throws(() => parse(['--capture-script', 'relative/path']), { code: 'CONFIG_INVALID' });
  t.throws(() => parse(['--proc-root', 'proc']), { code: 'CONFIG_INVALID' });
});

const docker = { captureImage: 'podflame-perf:latest' };
const hostDeps = { kill: (pid: number, signal: NodeJS.Signals) => process.kill(pid, signal) };

t.test('docker and host are taken as said', async (t) => {
  const d = await selectRuntime({ choice: 'docker', docker, host: {}, hostDeps });
  t.match(d, { kind: 'docker', reason: '--runtime docker' });
  t.equal(d.runtime.kind, 'docker');
  await d.runtime.close();
  const h = await selectRuntime({ choice: 'host', docker, host: {}, hostDeps });
  t.match(h, { kind: 'host', reason: '--runtime host' });
  t.ok(h.runtime instanceof HostRuntime);
});

t.test('auto: host when nothing answers on the Docker socket', async (t) => {
  const socketPath = `/tmp/podflame-no-docker-${randomBytes(4).toString('hex')}.sock`;
  const s = await selectRuntime({
    choice: 'auto',
    docker: { ...docker, socketPath },
    host: {},
    hostDeps,
    pingTimeoutMs: 1000,
  });
  t.equal(s.kind, 'host');
  t.match(s.reason, /^auto: no Docker engine \(the Docker engine at .* does not answer/);
});

t.test(
  'auto: docker when the engine answers',
  { skip: !existsSync('/var/run/docker.sock') && 'no Docker engine' },
  async (t) => {
    const s = await selectRuntime({ choice: 'auto', docker, host: {}, hostDeps });
    t.match(s, { kind: 'docker', reason: 'auto: the Docker engine answers' });
    await s.runtime.close();
  },
);

t.test('host runtime: unreadable /proc and a missing capture script are reported', async (t) => {
  const r = new HostRuntime(
    { procRoot: '/nonexistent-proc', captureScript: '/nonexistent/podflame-capture' },
    hostDeps,
  );
  await t.rejects(r.ping(), { code: 'HOST_PROC_UNAVAILABLE', message: /hostPID: true/ });
  t.equal(await r.toolsPresent(), false);
  const err = await r
    .runCapture(
      { targetContainerId: 'a'.repeat(64), durationSeconds: 1, frequencyHz: 99, agentInstance: 'n.x' },
      new AbortController().signal,
    )
    .catch((e: unknown) => e);
  t.ok(err instanceof PodflameError);
  t.equal((err as PodflameError).code, 'CAPTURE_TOOLS_MISSING');
  await t.rejects(
    r.runCapture(
      { targetContainerId: 'not-an-id', durationSeconds: 1, frequencyHz: 99, agentInstance: 'n.x' },
      new AbortController().signal,
    ),
    { code: 'INVALID_REQUEST' },
  );
  t.throws(() => new HostRuntime({ procRoot: 'proc' }, hostDeps), { code: 'CONFIG_INVALID' });
  t.throws(() => new HostRuntime({ niceness: 40 }, hostDeps), { code: 'CONFIG_INVALID' });
});
