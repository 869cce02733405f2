/**
 * What the bench's sections that profile a JVM through a real agent share: the engine and base image check (the
 * section is skipped with the reason when they are missing), the capture and JDK images, a JVM container labelled as
 * kubelet labels a pod's container, and a podflame-agent on loopback, each with its cleanup.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';
import { AGENT_NODE_FLAGS } from '../../agent/node-flags.js';
import { BENCH_LABEL, freePort, run, waitReady } from './bench-agent.js';

const BASE_IMAGE = 'debian:bookworm-slim';
/**
 * The tag of the bench's images and the prefix of its pods: `PODFLAME_BENCH_TAG` (default `bench`), so that benches
 * run side by side on one engine from different checkouts neither share nor replace each other's images.
 */
const BENCH_TAG = /^[a-z0-9][a-z0-9_.-]{0,63}$/.test(process.env.PODFLAME_BENCH_TAG ?? '')
  ? (process.env.PODFLAME_BENCH_TAG as string)
  : 'bench';
export const CAPTURE_IMAGE = `podflame-perf:${BENCH_TAG}`;
export const JDK_IMAGE = `podflame-jdk:${BENCH_TAG}`;

/** Undone in reverse order by the section's `finally`. */
export type Cleanup = (() => Promise<unknown>)[];

/** Why the section cannot run here, or undefined when the engine and the base image are there. */
export async function dockerUnavailable(docker: Docker): Promise<string | undefined> {
  try {
    await docker.ping();
    await docker.getImage(BASE_IMAGE).inspect();
    return undefined;
  } catch (err) {
    return (
      `the Docker engine or the base image ${BASE_IMAGE} is not available ` +
      `(${(err as Error).message.split('\n')[0]}); run scripts/provision.sh as root`
    );
  }
}

export async function buildBenchImages(root: string, log: (line: string) => void): Promise<void> {
  log(`building ${CAPTURE_IMAGE} and ${JDK_IMAGE} (docker build, cached layers are reused)`);
  await run('docker', ['build', '--network', 'host', '-q', '-f', 'Dockerfile.perf', '-t', CAPTURE_IMAGE, '.'], root);
  await run('docker', ['build', '--network', 'host', '-q', '-t', JDK_IMAGE, 'test/workloads'], root);
}

export interface BenchPod {
  container: Docker.Container;
  uid: string;
}

/** A JVM in a container of a made-up pod, without network, removed at cleanup. */
export async function startBenchPod(
  docker: Docker,
  cleanup: Cleanup,
  { cmd, memoryMiB, binds }: { cmd: string[]; memoryMiB: number; binds?: string[] },
): Promise<BenchPod> {
  const pod = {
    uid: randomUUID(),
    name: `${BENCH_TAG}-${randomBytes(3).toString('hex')}`,
    namespace: 'podflame-bench',
  };
  const container = await docker.createContainer({
    name: `k8s_app_${pod.name}_${pod.namespace}_${pod.uid}_0`,
    Image: JDK_IMAGE,
    Cmd: cmd,
    Labels: {
      [BENCH_LABEL]: '1',
      'io.kubernetes.pod.uid': pod.uid,
      'io.kubernetes.pod.name': pod.name,
      'io.kubernetes.pod.namespace': pod.namespace,
      'io.kubernetes.container.name': 'app',
      'io.kubernetes.docker.type': 'container',
    },
    HostConfig: { NetworkMode: 'none', Memory: memoryMiB * 1024 * 1024, ...(binds ? { Binds: binds } : {}) },
  });
  cleanup.push(() => container.remove({ force: true }).catch(() => undefined));
  await container.start();
  return { container, uid: pod.uid };
}

export interface BenchAgent {
  process: ChildProcess;
  base: string;
  /** The last 4,000 characters the agent wrote to stderr. */
  stderr(): string;
}

/** The built agent (dist/agent/main.js) on a free loopback port with the bench's capture image, stopped at cleanup. */
export async function startBenchAgent(
  root: string,
  cleanup: Cleanup,
  {
    nodeName,
    readyTimeoutMs,
    args = [],
    env = {},
  }: { nodeName: string; readyTimeoutMs: number; args?: readonly string[]; env?: Record<string, string> },
): Promise<BenchAgent> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const agent = spawn(
    process.execPath,
    [
      // As the image runs it: its idle RSS is one of the bench's figures.
      ...AGENT_NODE_FLAGS,
      join(root, 'dist', 'agent', 'main.js'),
      ...['--listen', `127.0.0.1:${port}`, '--capture-image', CAPTURE_IMAGE, '--node-name', nodeName],
      ...['--log-level', 'warn', '--rate-limit', '0'],
      ...args,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } },
  );
  let stderr = '';
  agent.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  cleanup.push(async () => {
    agent.kill('SIGTERM');
    await Promise.race([new Promise((r) => agent.once('exit', r)), sleep(10_000)]);
    if (agent.exitCode === null) agent.kill('SIGKILL');
  });
  await waitReady(base, agent, readyTimeoutMs);
  return { process: agent, base, stderr: () => stderr };
}
