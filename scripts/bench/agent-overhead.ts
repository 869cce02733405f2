/**
 * Agent request overhead: a real podflame-agent (dist/agent/main.js) on loopback and a busy JVM in a container
 * labelled as kubelet labels pod containers; `POST /v1/profiles` for a 10 s capture at 99 Hz, several times. The
 * overhead is the response time minus the requested 10 s; the agent's own `timings` (GET /v1/profiles/:id) say where
 * it goes. Also the agent's resident memory when idle and its peak. Needs the Docker engine and the local base image
 * (scripts/provision.sh); otherwise the section is skipped with the reason.
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import { median } from './measure.js';
import { BENCH_LABEL, freePort, memoryOf, run, waitReady } from './bench-agent.js';

export interface AgentOverheadOptions {
  root: string;
  scratch: string;
  runs: number;
  log: (line: string) => void;
}

const CAPTURE_SECONDS = 10;
const FREQUENCY_HZ = 99;
const BASE_IMAGE = 'debian:bookworm-slim';
const CAPTURE_IMAGE = 'podflame-perf:bench';
const JDK_IMAGE = 'podflame-jdk:bench';

interface Sample {
  responseSeconds: number;
  overheadSeconds: number;
  timings: Record<string, number>;
  captureTimings: Record<string, number>;
}

export async function agentOverhead(opts: AgentOverheadOptions): Promise<string> {
  const heading = `agent request overhead (${CAPTURE_SECONDS} s capture at ${FREQUENCY_HZ} Hz, SVG answer)`;
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  try {
    await docker.ping();
    await docker.getImage(BASE_IMAGE).inspect();
  } catch (err) {
    return (
      `${heading}: skipped — the Docker engine or the base image ${BASE_IMAGE} is not available ` +
      `(${(err as Error).message.split('\n')[0]}); run scripts/provision.sh as root`
    );
  }

  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    opts.log(`building ${CAPTURE_IMAGE} and ${JDK_IMAGE} (docker build, cached layers are reused)`);
    await run(
      'docker',
      ['build', '--network', 'host', '-q', '-f', 'Dockerfile.perf', '-t', CAPTURE_IMAGE, '.'],
      opts.root,
    );
    await run('docker', ['build', '--network', 'host', '-q', '-t', JDK_IMAGE, 'test/workloads'], opts.root);

    const pod = { uid: randomUUID(), name: `bench-${randomBytes(3).toString('hex')}`, namespace: 'podflame-bench' };
    const container = await docker.createContainer({
      name: `k8s_app_${pod.name}_${pod.namespace}_${pod.uid}_0`,
      Image: JDK_IMAGE,
      Cmd: ['java', '-Xmx128m', '-XX:+PreserveFramePointer', '-cp', '/app', 'Hot'],
      Labels: {
        [BENCH_LABEL]: '1',
        'io.kubernetes.pod.uid': pod.uid,
        'io.kubernetes.pod.name': pod.name,
        'io.kubernetes.pod.namespace': pod.namespace,
        'io.kubernetes.container.name': 'app',
        'io.kubernetes.docker.type': 'container',
      },
      HostConfig: { NetworkMode: 'none', Memory: 512 * 1024 * 1024 },
    });
    cleanup.push(() => container.remove({ force: true }).catch(() => undefined));
    await container.start();

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const agent = spawn(
      process.execPath,
      [
        join(opts.root, 'dist', 'agent', 'main.js'),
        '--listen',
        `127.0.0.1:${port}`,
        '--capture-image',
        CAPTURE_IMAGE,
        '--node-name',
        'bench',
        '--log-level',
        'warn',
        '--rate-limit',
        '0',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let agentStderr = '';
    agent.stderr?.on('data', (d: Buffer) => (agentStderr = (agentStderr + d.toString()).slice(-4000)));
    cleanup.push(async () => {
      agent.kill('SIGTERM');
      await Promise.race([new Promise((r) => agent.once('exit', r)), sleep(10_000)]);
      if (agent.exitCode === null) agent.kill('SIGKILL');
    });
    await waitReady(base, agent, 30_000);
    await sleep(3000); // idle: let start-up garbage settle
    const idle = memoryOf(agent.pid as number);
    // The JVM has run for a while now; give its JIT a little more before the first capture.
    await sleep(2000);

    const samples: Sample[] = [];
    const body = JSON.stringify({
      target: { podUid: pod.uid, container: 'app' },
      durationSeconds: CAPTURE_SECONDS,
      frequencyHz: FREQUENCY_HZ,
      format: 'svg',
    });
    const failures: string[] = [];
    for (let i = 0; i < opts.runs; i++) {
      const start = performance.now();
      const res = await fetch(`${base}/v1/profiles`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      const svg = await res.text();
      const responseSeconds = (performance.now() - start) / 1000;
      if (res.status !== 200) {
        // Reported, not fatal: on a shared engine another process may stop a capture container.
        failures.push(`run ${i + 1}: ${res.status} ${svg.slice(0, 300)}`);
        opts.log(`agent: request ${i + 1}/${opts.runs} failed: ${res.status} ${svg.slice(0, 300)}`);
        continue;
      }
      const id = res.headers.get('x-podflame-profile-id');
      const meta = (await (await fetch(`${base}/v1/profiles/${id}`)).json()) as {
        timings?: Record<string, number | Record<string, number>>;
      };
      const { capture, ...timings } = meta.timings ?? {};
      samples.push({
        responseSeconds,
        overheadSeconds: responseSeconds - CAPTURE_SECONDS,
        timings: timings as Record<string, number>,
        captureTimings: (capture ?? {}) as Record<string, number>,
      });
      opts.log(
        `agent: request ${i + 1}/${opts.runs} ${responseSeconds.toFixed(3)} s, ` +
          `${res.headers.get('x-podflame-samples')} samples, SVG ${svg.length} bytes`,
      );
    }
    if (samples.length === 0) throw new Error(`every request failed:\n  ${failures.join('\n  ')}`);
    const after = memoryOf(agent.pid as number);
    if (agentStderr.trim()) opts.log(`agent stderr: ${agentStderr.trim().slice(-1000)}`);

    const med = (f: (s: Sample) => number | undefined) => {
      const v = samples.map(f).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
      return v.length ? median(v) : undefined;
    };
    const lines = [
      heading,
      `  runs: ${samples.length} answered (${failures.length} failed), each a fresh capture container; medians`,
      ...failures.map((f) => `  failed ${f}`),
    ];
    lines.push(
      `  response ${med((s) => s.responseSeconds)?.toFixed(3)} s; overhead (response - ${CAPTURE_SECONDS} s) ` +
        `median ${med((s) => s.overheadSeconds)?.toFixed(3)} s, min ${Math.min(...samples.map((s) => s.overheadSeconds)).toFixed(3)} s`,
    );
    const phaseKeys = [...new Set(samples.flatMap((s) => Object.keys(s.timings)))];
    lines.push(`  agent timings (ms, median): ${phaseKeys.map((k) => `${k} ${med((s) => s.timings[k])}`).join(', ')}`);
    const captureKeys = [...new Set(samples.flatMap((s) => Object.keys(s.captureTimings)))];
    if (captureKeys.length) {
      lines.push(
        `  inside the capture container (ms, median): ${captureKeys.map((k) => `${k} ${med((s) => s.captureTimings[k])}`).join(', ')}`,
      );
    }
    lines.push(
      `  agent RSS: idle ${idle.rss.toFixed(1)} MiB; after the captures ${after.rss.toFixed(1)} MiB, peak ${after.peak.toFixed(1)} MiB`,
    );
    return lines.join('\n');
  } catch (err) {
    return `${heading}: failed — ${(err as Error).message}`;
  } finally {
    for (const c of cleanup.reverse()) await c();
  }
}
