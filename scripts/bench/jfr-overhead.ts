/**
 * What an `alloc` capture costs the JVM it records (issue #14: "the target JVM's CPU during a 30 s alloc capture is
 * within 2% of its CPU without one"). The target is JavacLoop (javac compiling in a loop: real allocation, many
 * classes) on JDK 17 in a container; a real agent (dist/agent/main.js) records it with Flight Recorder through
 * `POST /v1/profiles {"event": "alloc"}`. Windows alternate: one without a capture, one while a 30 s capture runs
 * (from the request to its answer: attach, JFR start and stop included), each measured as the container's CPU
 * seconds (its cgroup's usage, which is the JVM) per javac iteration, so that a JVM slowed by recording shows as well
 * as one that burns more CPU. The result is the median of the per-pair ratios (with / without), same run.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import { buildBenchImages, dockerUnavailable, startBenchAgent, startBenchPod, type Cleanup } from './bench-target.js';
import { median } from './measure.js';

export interface JfrOverheadOptions {
  root: string;
  pairs: number;
  log: (line: string) => void;
}

const CAPTURE_SECONDS = 30;
const TARGET_RATIO = 1.02;
/** JavacLoop's source files per iteration: few, so that iterations are short and a window counts hundreds. */
const JAVAC_FILES = 4;

interface Reading {
  cpuSeconds: number;
  /** When it was read (ms since the epoch: the clock of the engine's log timestamps, on this machine). */
  atMs: number;
}

/** The container's CPU time so far: its cgroup's usage (ns → s). */
async function readingOf(container: Docker.Container): Promise<Reading> {
  const stats = (await container.stats({ stream: false })) as { cpu_stats: { cpu_usage: { total_usage: number } } };
  return { cpuSeconds: stats.cpu_stats.cpu_usage.total_usage / 1e9, atMs: Date.now() };
}

/**
 * JavacLoop's progress over time from its log: it prints `iterations N` every 10 iterations; the engine stamps each
 * line. Between two prints the count is interpolated, so that a window's count is not rounded to tens.
 */
interface Progress {
  /** Iterations done at a time (ms since the epoch), interpolated between two prints. */
  at(atMs: number): number;
  /** The time of the last print. */
  lastMs: number;
}

async function progressOf(container: Docker.Container): Promise<Progress> {
  const logs = (await container.logs({ stdout: true, timestamps: true })).toString('latin1');
  const points = [...logs.matchAll(/(\d{4}-\d\d-\d\dT[\d:.]+Z) iterations (\d+)/g)].map((m) => ({
    atMs: Date.parse(m[1] as string),
    count: Number(m[2]),
  }));
  return {
    lastMs: points.at(-1)?.atMs ?? 0,
    at(atMs) {
      const after = points.findIndex((p) => p.atMs >= atMs);
      if (after <= 0) {
        throw new Error(
          `a reading at ${new Date(atMs).toISOString()} outside the logged progress (${points.length} prints)`,
        );
      }
      const a = points[after - 1] as { atMs: number; count: number };
      const b = points[after] as { atMs: number; count: number };
      return a.count + ((b.count - a.count) * (atMs - a.atMs)) / (b.atMs - a.atMs);
    },
  };
}

/** JavacLoop prints every 10 iterations, seconds apart on a busy machine: waits for a print after `atMs`. */
async function progressAfter(container: Docker.Container, atMs: number): Promise<Progress> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const progress = await progressOf(container);
    if (progress.lastMs > atMs) return progress;
    if (Date.now() > deadline) throw new Error('JavacLoop printed no progress for 3 minutes');
    await sleep(1000);
  }
}

export async function jfrOverhead(opts: JfrOverheadOptions): Promise<string> {
  const heading = `JFR alloc capture overhead (JDK 17 JavacLoop, ${CAPTURE_SECONDS} s captures, ${opts.pairs} pairs)`;
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  const unavailable = await dockerUnavailable(docker);
  if (unavailable) return `${heading}: skipped — ${unavailable}`;

  const cleanup: Cleanup = [];
  try {
    await buildBenchImages(opts.root, opts.log);
    // JavacLoop runs from its source (java's single-file launch); it writes its sources and classes in /tmp.
    const pod = await startBenchPod(docker, cleanup, {
      cmd: ['java', '-Xmx256m', '/bench/JavacLoop.java', '/tmp/javacloop', String(JAVAC_FILES), '0'],
      memoryMiB: 768,
      binds: [`${join(opts.root, 'scripts', 'bench')}:/bench:ro`],
    });
    const { container } = pod;
    const { base, stderr } = await startBenchAgent(opts.root, cleanup, {
      nodeName: 'bench-jfr',
      readyTimeoutMs: 60_000,
    });
    opts.log('JFR overhead: JavacLoop warming up (45 s)');
    await sleep(45_000);

    const body = JSON.stringify({
      target: { podUid: pod.uid, container: 'app' },
      durationSeconds: CAPTURE_SECONDS,
      event: 'alloc',
      format: 'folded',
    });
    const capture = async (): Promise<void> => {
      const res = await fetch(`${base}/v1/profiles`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      const answer = await res.text();
      if (res.status !== 200) throw new Error(`the alloc capture failed: ${res.status} ${answer.slice(0, 300)}`);
      folded.push(Buffer.byteLength(answer));
    };
    const folded: number[] = [];
    // The first recording of a JVM loads Flight Recorder's classes into it: a one-off cost, not each capture's.
    const first = performance.now();
    await capture();
    opts.log(
      `JFR overhead: a first capture loads Flight Recorder: ${((performance.now() - first) / 1000).toFixed(1)} s`,
    );
    await sleep(5000);
    // A window's iterations are interpolated between two prints: the first window may not start before the first
    // print (under load, JavacLoop's first 10 iterations can take longer than the warm-up and the first capture).
    await progressAfter(container, 0);
    const windows: { on: [Reading, Reading]; off: [Reading, Reading] }[] = [];
    for (let i = 0; i < opts.pairs; i++) {
      const start = await readingOf(container);
      await capture();
      const captured = await readingOf(container);
      // The same length of time without a capture.
      await sleep(captured.atMs - start.atMs);
      const quiet = await readingOf(container);
      windows.push({ on: [start, captured], off: [captured, quiet] });
      opts.log(
        `JFR overhead: pair ${i + 1}/${opts.pairs} measured (${((captured.atMs - start.atMs) / 1000).toFixed(1)} s windows)`,
      );
    }
    const progress = await progressAfter(container, (windows.at(-1) as { off: [Reading, Reading] }).off[1].atMs);
    const iterationsAt = (atMs: number): number => progress.at(atMs);
    const perIteration = ([a, b]: [Reading, Reading]): number =>
      (b.cpuSeconds - a.cpuSeconds) / (iterationsAt(b.atMs) - iterationsAt(a.atMs));
    const withCapture = windows.map((w) => perIteration(w.on));
    const without = windows.map((w) => perIteration(w.off));
    const values = windows.map((_, i) => (withCapture[i] as number) / (without[i] as number));
    const ratios = values.map((v) => v.toFixed(3));
    for (const [i, w] of windows.entries()) {
      opts.log(
        `JFR overhead: pair ${i + 1}: CPU per iteration ${((withCapture[i] as number) * 1000).toFixed(1)} ms with the ` +
          `capture (${(iterationsAt(w.on[1].atMs) - iterationsAt(w.on[0].atMs)).toFixed(1)} iterations), ` +
          `${((without[i] as number) * 1000).toFixed(1)} ms without ` +
          `(${(iterationsAt(w.off[1].atMs) - iterationsAt(w.off[0].atMs)).toFixed(1)})`,
      );
    }
    opts.log(`JFR overhead: folded answers ${folded.map((b) => (b / 1e6).toFixed(2)).join(', ')} MB`);
    const ratio = median(values);
    if (stderr().trim()) opts.log(`agent stderr: ${stderr().trim().slice(-1000)}`);
    return [
      heading,
      `  JVM CPU per javac iteration: ${(median(without) * 1000).toFixed(1)} ms without a capture, ` +
        `${(median(withCapture) * 1000).toFixed(1)} ms during one (medians)`,
      `  per-pair ratios (with / without): ${ratios.join(', ')}`,
      `  ${ratio <= TARGET_RATIO ? 'PASS' : 'MISS'}  median ratio ${ratio.toFixed(3)} <= ${TARGET_RATIO} ` +
        '(the target JVM within 2% of its CPU without a capture)',
    ].join('\n');
  } catch (err) {
    return `${heading}: failed — ${(err as Error).message}`;
  } finally {
    for (const c of cleanup.reverse()) await c();
  }
}
