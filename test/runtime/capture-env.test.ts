// A CaptureSpec's options reach the capture script's environment on both paths: the Docker capture container's Env
// (createContainer's options, recorded by a stub engine: the options are what this checks, and a real capture needs
// the capture image, which the e2e files build), and host mode's child process (a real spawn of a stand-in script
// that prints what it was given, over a /proc of one fake process).
import t from 'tap';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { CAPTURE_SCRIPT_ENV, captureScriptEnv, type CaptureSpec } from '../../agent/runtime/container-runtime.js';
import { DockerRuntime } from '../../agent/runtime/docker-runtime.js';
import { HostRuntime } from '../../agent/runtime/host-runtime.js';

const TARGET = 'ab'.repeat(32);

function spec(javaInlined: boolean | undefined): CaptureSpec {
  return {
    targetContainerId: TARGET,
    durationSeconds: 1,
    frequencyHz: 99,
    agentInstance: 'env-test',
    ...(javaInlined !== undefined ? { javaInlined } : {}),
  };
}

t.test('the variable and its values', async (t) => {
  t.equal(CAPTURE_SCRIPT_ENV.javaInlined, 'PODFLAME_JAVA_INLINED', 'the name the capture script reads');
  t.equal(CAPTURE_SCRIPT_ENV.event, 'PODFLAME_EVENT', 'the event variable the capture script reads');
  t.same(captureScriptEnv(spec(true)), { PODFLAME_JAVA_INLINED: '1', PODFLAME_EVENT: 'cpu' });
  t.same(captureScriptEnv(spec(false)), { PODFLAME_JAVA_INLINED: '0', PODFLAME_EVENT: 'cpu' });
  t.same(
    captureScriptEnv(spec(undefined)),
    { PODFLAME_JAVA_INLINED: '0', PODFLAME_EVENT: 'cpu' },
    'absent is off and cpu, said explicitly',
  );
  t.same(captureScriptEnv({ ...spec(false), event: 'alloc' }), { PODFLAME_JAVA_INLINED: '0', PODFLAME_EVENT: 'alloc' });
});

t.test('Docker: the capture container is created with PODFLAME_JAVA_INLINED in its Env', async (t) => {
  const created: Docker.ContainerCreateOptions[] = [];
  // Only createContainer is reached: it refuses (as the engine does for a target that is gone), which ends runCapture
  // before any attach or start.
  const docker = {
    createContainer: async (options: Docker.ContainerCreateOptions) => {
      created.push(options);
      throw Object.assign(new Error('(HTTP code 404) no such container - No such container: ' + TARGET), {
        statusCode: 404,
        json: { message: `No such container: ${TARGET}` },
      });
    },
  } as unknown as Docker;
  const runtime = new DockerRuntime({ captureImage: 'podflame-perf:test', docker });
  t.teardown(() => runtime.close());
  for (const inlined of [true, false, undefined]) {
    await t.rejects(runtime.runCapture(spec(inlined), new AbortController().signal), { code: /^TARGET_/ });
  }
  t.equal(created.length, 3);
  t.same(
    created.map((c) => c.Env),
    [
      ['PODFLAME_JAVA_INLINED=1', 'PODFLAME_EVENT=cpu'],
      ['PODFLAME_JAVA_INLINED=0', 'PODFLAME_EVENT=cpu'],
      ['PODFLAME_JAVA_INLINED=0', 'PODFLAME_EVENT=cpu'],
    ],
  );
  t.same(created[0]?.Cmd, ['1', '99'], 'the arguments are unchanged');
  await t.rejects(
    runtime.runCapture({ ...spec(true), javaInlined: 'yes' as unknown as boolean }, new AbortController().signal),
    { code: 'INVALID_REQUEST', message: /javaInlined must be true or false/ },
  );
  t.equal(created.length, 3, 'a bad spec creates nothing');
});

t.test('host mode: the capture script runs with PODFLAME_JAVA_INLINED in its environment', async (t) => {
  const dir = t.testdir();
  // /proc with one process of the target container (cgroup v2, Docker's systemd driver).
  const proc = join(dir, 'proc');
  mkdirSync(join(proc, '4242'), { recursive: true });
  writeFileSync(join(proc, '4242', 'cgroup'), `0::/system.slice/docker-${TARGET}.scope\n`);
  writeFileSync(join(proc, '4242', 'comm'), 'java\n');
  writeFileSync(join(proc, '4242', 'cmdline'), 'java\0-jar\0app.jar\0');
  // Stands in for podflame-capture.sh: prints the variable (or "unset") where perf script's output would go.
  const script = join(dir, 'capture.sh');
  writeFileSync(script, '#!/bin/sh\nprintf "%s %s %s\\n" "${PODFLAME_JAVA_INLINED-unset}" "$1" "$2"\n');
  chmodSync(script, 0o755);
  // The native parts the runtime checks for before it runs the script (the stand-in script uses neither).
  const natives = join(dir, 'native');
  mkdirSync(natives);
  writeFileSync(join(natives, 'libpodflame-perfmap.so'), '');
  writeFileSync(join(natives, 'podflame-target-fs'), '#!/bin/sh\nexit 1\n');
  chmodSync(join(natives, 'podflame-target-fs'), 0o755);
  const runtime = new HostRuntime(
    {
      procRoot: proc,
      captureScript: script,
      nativeDir: natives,
      workRoot: join(dir, 'work'),
      niceness: 0,
      copyJitMaps: false,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PODFLAME_JAVA_INLINED: 'from-the-agent-env' },
      captureGroup: 'env-test',
    },
    { kill: (pid, signal) => process.kill(pid, signal) },
  );
  t.teardown(() => runtime.close());
  const seen: string[] = [];
  for (const inlined of [true, false, undefined]) {
    const running = await runtime.runCapture(spec(inlined), new AbortController().signal);
    const chunks: Buffer[] = [];
    for await (const chunk of running.stdout) chunks.push(chunk as Buffer);
    const exit = await running.done;
    t.equal(exit.exitCode, 0, exit.stderrTail);
    seen.push(Buffer.concat(chunks).toString('utf8').trim());
  }
  t.same(seen, ['1 1 99', '0 1 99', '0 1 99'], "the spec's value, over any in the agent's own environment");
});
