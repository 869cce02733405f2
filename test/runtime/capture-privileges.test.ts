// The capture container's privileges as the agent asks the engine for them (#13 finding 8): createContainer's
// HostConfig, recorded by a stub engine (a real capture with them runs in test/capture/capture-jvm.test.ts, and
// scripts/measure-capture-privileges.sh measures what breaks without each). Every capability dropped but the
// measured ones, the engine's default seccomp profile (never unconfined), no-new-privileges, a read-only root with a
// size-limited tmpfs /tmp.
import t from 'tap';
import type Docker from 'dockerode';
import { DockerRuntime } from '../../agent/runtime/docker-runtime.js';

const TARGET = 'cd'.repeat(32);
const spec = { targetContainerId: TARGET, durationSeconds: 1, frequencyHz: 99, agentInstance: 'priv-test' };

/** A stub engine that records createContainer's options. */
function stubEngine(): { docker: Docker; created: Docker.ContainerCreateOptions[] } {
  const created: Docker.ContainerCreateOptions[] = [];
  const docker = {
    createContainer: async (options: Docker.ContainerCreateOptions) => {
      created.push(options);
      // Ends runCapture before any attach or start.
      const message = `No such container: ${TARGET}`;
      throw Object.assign(new Error(`(HTTP code 404) ${message}`), { statusCode: 404, json: { message } });
    },
  } as unknown as Docker;
  return { docker, created };
}

for (const kernelSymbols of [true, false]) {
  t.test(`the capture container's privileges, kernelSymbols ${kernelSymbols}`, async (t) => {
    const { docker, created } = stubEngine();
    const runtime = new DockerRuntime({ captureImage: 'podflame-perf:test', docker, kernelSymbols });
    t.teardown(() => runtime.close());
    await t.rejects(runtime.runCapture(spec, new AbortController().signal), { code: /^TARGET_/ });
    t.equal(created.length, 1, 'created once');
    const host = created[0]?.HostConfig ?? {};
    t.same(host.CapDrop, ['ALL'], 'every capability dropped first');
    t.same(
      [...(host.CapAdd ?? [])].sort(),
      [
        'SYS_ADMIN',
        'SYS_CHROOT',
        'SYS_PTRACE',
        'SETUID',
        'SETGID',
        'DAC_READ_SEARCH',
        ...(kernelSymbols ? ['SYSLOG'] : []),
      ].sort(),
      'only the measured capabilities',
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
  const { docker, created } = stubEngine();
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
