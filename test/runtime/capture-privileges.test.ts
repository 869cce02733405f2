// The capture container's privileges as the agent asks the engine for them (#13 finding 8): createContainer's
// HostConfig, recorded by a stub engine (a real capture with them runs in test/capture/capture-jvm.test.ts, and
// scripts/measure-capture-privileges.sh measures what breaks without each). Every capability dropped but the
// measured ones, CAP_PERFMON instead of CAP_SYS_ADMIN where the engine knows it, the engine's default seccomp
// profile (never unconfined), no-new-privileges, a read-only root with a size-limited tmpfs /tmp.
import t from 'tap';
import type Docker from 'dockerode';
import { DockerRuntime } from '../../agent/runtime/docker-runtime.js';

const TARGET = 'cd'.repeat(32);
const spec = { targetContainerId: TARGET, durationSeconds: 1, frequencyHz: 99, agentInstance: 'priv-test' };

/** A stub engine that records createContainer's options, refusing PERFMON as Docker 20.10 does when `old`. */
function stubEngine(old: boolean): { docker: Docker; created: Docker.ContainerCreateOptions[] } {
  const created: Docker.ContainerCreateOptions[] = [];
  const refuse = (status: number, message: string): never => {
    throw Object.assign(new Error(`(HTTP code ${status}) ${message}`), { statusCode: status, json: { message } });
  };
  const docker = {
    createContainer: async (options: Docker.ContainerCreateOptions) => {
      created.push(options);
      if (old && options.HostConfig?.CapAdd?.includes('PERFMON')) {
        refuse(400, 'invalid CapAdd: unknown capability: "CAP_PERFMON"');
      }
      // Ends runCapture before any attach or start.
      return refuse(404, `No such container: ${TARGET}`);
    },
  } as unknown as Docker;
  return { docker, created };
}

for (const old of [true, false]) {
  t.test(`an engine that ${old ? 'rejects' : 'knows'} CAP_PERFMON`, async (t) => {
    const { docker, created } = stubEngine(old);
    const runtime = new DockerRuntime({ captureImage: 'podflame-perf:test', docker });
    t.teardown(() => runtime.close());
    await t.rejects(runtime.runCapture(spec, new AbortController().signal), { code: /^TARGET_/ });
    const host = created.at(-1)?.HostConfig ?? {};
    t.same(host.CapDrop, ['ALL'], 'every capability dropped first');
    t.same(
      [...(host.CapAdd ?? [])].sort(),
      [old ? 'SYS_ADMIN' : 'PERFMON', 'SYS_PTRACE', 'SETUID', 'SETGID', 'DAC_READ_SEARCH', 'SYSLOG'].sort(),
      old ? 'SYS_ADMIN stands in for PERFMON' : 'PERFMON, and no SYS_ADMIN',
    );
    t.same(host.SecurityOpt, ['no-new-privileges'], 'no seccomp=unconfined: the engine default profile');
    t.equal(host.Privileged, false);
    t.equal(host.ReadonlyRootfs, true, 'read-only root filesystem');
    t.same(host.Tmpfs, { '/tmp': `rw,nosuid,nodev,noexec,size=${256 * 1024 * 1024}` }, 'a size-limited /tmp');
    t.equal(host.Memory, 512 * 1024 * 1024);
    t.equal(host.NetworkMode, 'none');
  });
}

t.test('captureTmpBytes: configurable, below the memory limit', async (t) => {
  const { docker, created } = stubEngine(true);
  const runtime = new DockerRuntime({ captureImage: 'podflame-perf:test', docker, captureTmpBytes: 64 * 1024 * 1024 });
  t.teardown(() => runtime.close());
  await t.rejects(runtime.runCapture(spec, new AbortController().signal), { code: /^TARGET_/ });
  t.match(created.at(-1)?.HostConfig?.Tmpfs?.['/tmp'], /size=67108864$/);
  t.throws(
    () => new DockerRuntime({ captureImage: 'x', docker, captureTmpBytes: 512 * 1024 * 1024 }),
    { code: 'CONFIG_INVALID', message: /captureTmpBytes/ },
    'a tmpfs as large as the memory limit is refused',
  );
});
