/**
 * Agent request overhead: a real podflame-agent (dist/agent/main.js) on loopback and a busy JVM in a container
 * labelled as kubelet labels pod containers; `POST /v1/profiles` for a 10 s capture at 99 Hz, several times. The
 * overhead is the response time minus the requested 10 s; the agent's own `timings` (GET /v1/profiles/:id) say where
 * it goes. Also the agent's resident memory when idle and its peak. Needs the Docker engine and the local base image
 * (scripts/provision.sh); otherwise the section is skipped with the reason.
 */
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import { median } from './measure.js';
import { inClusterIdleRss } from './agent-in-cluster.js';
import { cpuSecondsOf, memoryOf } from './bench-agent.js';
import { buildBenchImages, dockerUnavailable, startBenchAgent, startBenchPod, type Cleanup } from './bench-target.js';

export interface AgentOverheadOptions {
  root: string;
  scratch: string;
  runs: number;
  log: (line: string) => void;
}

const CAPTURE_SECONDS = 10;
const FREQUENCY_HZ = 99;
/** Issue #15's targets: the time a request adds at the agent (Docker path, 10 s capture), the agent's idle RSS. */
const TARGETS = { overheadSeconds: 0.6, idleRssMiB: 80 };
const met = (ok: boolean): string => (ok ? 'PASS' : 'MISS');

interface Sample {
  responseSeconds: number;
  overheadSeconds: number;
  timings: Record<string, number>;
  captureTimings: Record<string, number>;
  /** The agent process's CPU seconds (user + system, all its threads) from sending the request to the answer. */
  agentCpuSeconds: number;
}

export async function agentOverhead(opts: AgentOverheadOptions): Promise<string> {
  const heading = `agent request overhead (${CAPTURE_SECONDS} s capture at ${FREQUENCY_HZ} Hz, SVG answer)`;
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  const unavailable = await dockerUnavailable(docker);
  if (unavailable) return `${heading}: skipped — ${unavailable}`;

  const cleanup: Cleanup = [];
  try {
    await buildBenchImages(opts.root, opts.log);
    const pod = await startBenchPod(docker, cleanup, {
      cmd: ['java', '-Xmx128m', '-XX:+PreserveFramePointer', '-cp', '/app', 'Hot'],
      memoryMiB: 512,
    });
    const {
      process: agent,
      base,
      stderr,
    } = await startBenchAgent(opts.root, cleanup, {
      nodeName: 'bench',
      readyTimeoutMs: 30_000,
    });
    // Idle: start-up garbage settled, and the profile worker's thread stopped (5 s without a job). The JVM's JIT has
    // had these seconds too before the first capture.
    await sleep(8000);
    const idle = memoryOf(agent.pid as number);
    const loadStart = loadavg()[0] as number;

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
      const cpuBefore = cpuSecondsOf(agent.pid as number);
      const res = await fetch(`${base}/v1/profiles`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      const svg = await res.text();
      const responseSeconds = (performance.now() - start) / 1000;
      const agentCpuSeconds = cpuSecondsOf(agent.pid as number) - cpuBefore;
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
        agentCpuSeconds,
      });
      opts.log(
        `agent: request ${i + 1}/${opts.runs} ${responseSeconds.toFixed(3)} s, ` +
          `${res.headers.get('x-podflame-samples')} samples, SVG ${svg.length} bytes, agent CPU ` +
          `${(agentCpuSeconds * 1000).toFixed(0)} ms, load average ${loadavg()[0]?.toFixed(2)}`,
      );
    }
    if (samples.length === 0) throw new Error(`every request failed:\n  ${failures.join('\n  ')}`);
    const after = memoryOf(agent.pid as number);
    if (stderr().trim()) opts.log(`agent stderr: ${stderr().trim().slice(-1000)}`);
    opts.log('agent: the idle RSS of an agent as the DaemonSet runs it, in a cluster (stand-in API server)');
    const inCluster = await inClusterIdleRss(opts.root, opts.scratch, cleanup);

    const med = (f: (s: Sample) => number | undefined) => {
      const v = samples.map(f).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
      return v.length ? median(v) : undefined;
    };
    const overhead = med((s) => s.overheadSeconds) ?? NaN;
    const lines = [
      heading,
      `  load average (1 min) at the start ${loadStart.toFixed(2)}, at the end ${(loadavg()[0] as number).toFixed(2)}`,
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
      `  agent CPU per capture (user + system, all threads, median): ` +
        `${((med((s) => s.agentCpuSeconds) ?? NaN) * 1000).toFixed(0)} ms`,
    );
    lines.push(
      `  agent RSS: idle ${idle.rss.toFixed(1)} MiB; after the captures ${after.rss.toFixed(1)} MiB, peak ${after.peak.toFixed(1)} MiB`,
      `  agent idle RSS as the DaemonSet runs it (--auth kubernetes, --data-dir, in a cluster: service account, pod ` +
        `watch): ${inCluster.toFixed(1)} MiB`,
    );
    lines.push(
      `  ${met(overhead <= TARGETS.overheadSeconds)}  overhead ${overhead.toFixed(3)} s <= ${TARGETS.overheadSeconds} s`,
      `  ${met(idle.rss <= TARGETS.idleRssMiB)}  agent idle RSS ${idle.rss.toFixed(1)} MiB <= ${TARGETS.idleRssMiB} MiB`,
      `  ${met(inCluster <= TARGETS.idleRssMiB)}  agent idle RSS in a cluster ${inCluster.toFixed(1)} MiB <= ${TARGETS.idleRssMiB} MiB`,
    );
    return lines.join('\n');
  } catch (err) {
    return `${heading}: failed — ${(err as Error).message}`;
  } finally {
    for (const c of cleanup.reverse()) await c();
  }
}
