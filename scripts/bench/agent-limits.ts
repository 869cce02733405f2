/**
 * "Agent limits" (issue #13, finding 3): the built agent (dist/agent/main.js, with the node flags of Dockerfile.agent's
 * ENTRYPOINT) in host mode with its default limits, filled through the capture path itself — a stand-in capture
 * script prints generated `perf script` text of more distinct stacks and bytes than --max-stacks and
 * --max-profile-bytes keep, so each profile is as large as the limits allow, and three of them overfill
 * --profiles-max-bytes. Then the largest renders the API allows (the default width, and width 10000 at the minwidth
 * floor) while a separate thread asks /healthz every 10 ms: the probe's worst and p99 latency. And the agent's peak
 * RSS (VmHWM) with the registry full and after the renders, against the Docker manifest's 512Mi limit. Targets are
 * reported as met/missed, never asserted. Needs the Docker engine for the target container (a `sleep` in a cgroup
 * host mode can find); otherwise the section is skipped with the reason.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { chmodSync, createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { memoryOf } from './bench-agent.js';

export interface AgentLimitsOptions {
  root: string;
  scratch: string;
  log: (line: string) => void;
}

/** The issue's "What to build". */
const TARGETS = { healthzMaxMs: 100, rssMiB: 512 };
const BASE_IMAGE = 'debian:bookworm-slim';
const BENCH_LABEL = 'io.podflame.bench';
/** Distinct stacks generated: beyond the default --max-stacks (100,000), so the limits choose what is kept. */
const GENERATED_STACKS = 110_000;
/** Frames per stack; with the names below each folded stack is about 350 bytes: beyond --max-profile-bytes too. */
const DEPTH = 9;
const FAN_OUT = 5;
const PROBE_INTERVAL_MS = 10;

const execFileP = promisify(execFile);

/**
 * perf script of GENERATED_STACKS one-sample stacks, as a JVM's perf map names frames: a tree FAN_OUT wide per level
 * (frame d is named by the first d+1 base-FAN_OUT digits of the stack's number), so the upper frames are wide and the
 * graph draws as many frames as the minwidth floor lets through.
 */
async function writePerfScript(file: string): Promise<number> {
  const out = createWriteStream(file);
  let bytes = 0;
  let buffered: string[] = [];
  const flush = async () => {
    const text = buffered.join('');
    buffered = [];
    bytes += Buffer.byteLength(text);
    if (!out.write(text)) await once(out, 'drain');
  };
  for (let i = 0; i < GENERATED_STACKS; i++) {
    const digits = i.toString(FAN_OUT).padStart(DEPTH, '0');
    buffered.push(`java 1000/${1000 + (i % 7)}  ${1000 + i / 1000}: 1 cpu-clock:pppH: \n`);
    for (let d = DEPTH - 1; d >= 0; d--) {
      const pc = (0x7fc800000000 + i * 16 + d).toString(16);
      buffered.push(
        `\t    ${pc} void com.shop.PricingLevel${d}.basket${digits.slice(0, d + 1)}(java.util.List)+0x4c ` +
          '(/tmp/perf-1000.map)\n',
      );
    }
    buffered.push('\n');
    if (buffered.length > 20_000) await flush();
  }
  await flush();
  out.end();
  await once(out, 'finish');
  return bytes;
}

/** The node options the image starts the agent with: ENTRYPOINT ["node", ...options, "/app/dist/agent/main.js"]. */
export function imageNodeOptions(dockerfile: string): string[] {
  const line = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile)?.[1];
  if (line === undefined) throw new Error('Dockerfile.agent has no ENTRYPOINT in exec form');
  const argv = JSON.parse(line) as string[];
  const main = argv.findIndex((a) => a.endsWith('/dist/agent/main.js'));
  if (argv[0] !== 'node' || main < 1) throw new Error(`unexpected ENTRYPOINT ${line}`);
  return argv.slice(1, main);
}

function startAgent(args: string[], log: (l: string) => void): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let buffered = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the agent exited (${code}) before listening: ${stderr}`)));
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let parsed: Record<string, unknown>;
        try {
          parsed = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        if (parsed.level === 'error' || parsed.level === 50) log(`agent: ${line.slice(0, 500)}`);
        if (parsed.msg === 'podflame-agent listening' && typeof parsed.url === 'string') {
          resolve({ child, url: parsed.url });
        }
      }
    });
  });
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  bytes: number;
  text: string;
}

/** One request; the body is counted, and kept only up to `keep` characters (an SVG of many MB is not held). */
function call(url: string, method: string, path: string, body?: unknown, keep = 1e6): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let bytes = 0;
      let text = '';
      res.on('data', (d: Buffer) => {
        bytes += d.length;
        if (text.length < keep) text += d.toString('utf8');
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, text }));
      res.on('error', reject);
    });
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function captureProfile(url: string, containerId: string, render: Record<string, unknown>) {
  const asked = await call(url, 'POST', '/v1/profiles?async=1', {
    target: { containerId },
    durationSeconds: 1,
    render,
  });
  if (asked.status !== 202) throw new Error(`POST /v1/profiles: HTTP ${asked.status}: ${asked.text.slice(0, 500)}`);
  const id = (JSON.parse(asked.text) as { id: string }).id;
  for (;;) {
    await sleep(250);
    const meta = JSON.parse((await call(url, 'GET', `/v1/profiles/${id}`)).text) as {
      status: string;
      error?: { code: string; message: string };
      dropped?: { stacks: number };
      samples: number;
      timings?: Record<string, unknown>;
    };
    if (meta.status === 'running') continue;
    if (meta.status !== 'done') throw new Error(`profile ${id}: ${meta.status} ${JSON.stringify(meta.error)}`);
    return { id, meta };
  }
}

/**
 * Asks GET /healthz every PROBE_INTERVAL_MS in a thread of its own (so that the bench's own work, e.g. reading an
 * SVG, never delays a probe), one request at a time on a kept-alive connection, until stopped; the latencies in ms.
 */
export function startProber(url: string): { stop: () => Promise<{ latencies: number[]; failures: number }> } {
  const worker = new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads');
    const http = require('node:http');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const latencies = [];
    let failures = 0;
    let stopping = false;
    parentPort.on('message', () => { stopping = true; });
    const probe = () => new Promise((resolve) => {
      const t0 = performance.now();
      const req = http.get(workerData.url + '/healthz', { agent }, (res) => {
        res.resume();
        res.on('end', () => { if (res.statusCode === 200) latencies.push(performance.now() - t0); else failures++; resolve(); });
      });
      req.on('error', () => { failures++; resolve(); });
    });
    (async () => {
      while (!stopping) {
        await probe();
        await new Promise((r) => setTimeout(r, ${PROBE_INTERVAL_MS}));
      }
      agent.destroy();
      parentPort.postMessage({ latencies, failures });
    })();
    `,
    { eval: true, workerData: { url } },
  );
  return {
    stop: async () => {
      const result = once(worker, 'message');
      worker.postMessage('stop');
      const [answer] = (await result) as [{ latencies: number[]; failures: number }];
      await worker.terminate();
      return answer;
    },
  };
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

interface RenderRun {
  name: string;
  status: number;
  bytes: number;
  seconds: number;
  code: string | undefined;
  probes: number;
  failures: number;
  max: number;
  p99: number;
}

async function renderWhileProbing(url: string, name: string, path: string): Promise<RenderRun> {
  const prober = startProber(url);
  await sleep(200); // a few probes before, so the worst case is not a cold connection
  const t0 = performance.now();
  const answer = await call(url, 'GET', path, undefined, 2000);
  const seconds = (performance.now() - t0) / 1000;
  await sleep(200);
  const { latencies, failures } = await prober.stop();
  let code: string | undefined;
  if (answer.status !== 200) {
    try {
      code = (JSON.parse(answer.text) as { error: { code: string } }).error.code;
    } catch {
      code = answer.text.slice(0, 100);
    }
  }
  return {
    name,
    status: answer.status,
    bytes: answer.bytes,
    seconds,
    code,
    probes: latencies.length,
    failures,
    max: Math.max(...latencies),
    p99: percentile(latencies, 99),
  };
}

export async function agentLimits(opts: AgentLimitsOptions): Promise<string> {
  const heading = 'agent limits (default limits, the largest profiles they allow, /healthz during the largest renders)';
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    let containerId: string;
    try {
      const { stdout } = await execFileP('docker', [
        'run',
        '-d',
        '--rm',
        '--network',
        'none',
        '--label',
        `${BENCH_LABEL}=1`,
        BASE_IMAGE,
        'sleep',
        '600',
      ]);
      containerId = stdout.trim();
    } catch (err) {
      return (
        `${heading}: skipped — could not start a target container from ${BASE_IMAGE} ` +
        `(${(err as Error).message.split('\n')[0]}); run scripts/provision.sh as root`
      );
    }
    cleanup.push(() => execFileP('docker', ['rm', '-f', containerId]).catch(() => undefined));

    const dir = join(opts.scratch, 'agent-limits');
    const nativeDir = join(dir, 'native');
    mkdirSync(nativeDir, { recursive: true });
    // Host mode checks that its native parts are there; the stand-in capture script uses neither.
    writeFileSync(join(nativeDir, 'libpodflame-perfmap.so'), '');
    writeFileSync(join(nativeDir, 'podflame-target-fs'), '#!/bin/sh\nexit 1\n');
    chmodSync(join(nativeDir, 'podflame-target-fs'), 0o755);
    const perfFile = join(dir, 'largest.perf.txt');
    opts.log(`agent limits: writing ${GENERATED_STACKS} distinct stacks of perf script`);
    const perfBytes = await writePerfScript(perfFile);
    const script = join(dir, 'capture.sh');
    writeFileSync(script, `#!/bin/sh\n# stand-in capture: the generated perf script\nexec cat '${perfFile}'\n`);
    chmodSync(script, 0o755);

    const nodeOptions = imageNodeOptions(readFileSync(join(opts.root, 'Dockerfile.agent'), 'utf8'));
    const { child, url } = await startAgent(
      [
        ...nodeOptions,
        join(opts.root, 'dist', 'agent', 'main.js'),
        '--listen',
        '127.0.0.1:0',
        '--node-name',
        'bench',
        '--runtime',
        'host',
        '--auth',
        'none',
        '--rate-limit',
        '0',
        '--capture-script',
        script,
        '--native-dir',
        nativeDir,
      ],
      opts.log,
    );
    cleanup.push(async () => {
      child.kill('SIGTERM');
      await Promise.race([once(child, 'exit'), sleep(10_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const pid = child.pid as number;
    await sleep(1000);
    const idle = memoryOf(pid);
    const loadStart = loadavg()[0] as number;

    // Three profiles as large as the limits allow: the registry holds two (--profiles-max-bytes), the third evicts
    // the first. The last is drawn at the widest the API allows.
    const profiles = [];
    for (const render of [{}, {}, { width: 10000, minwidth: 0.1 }]) {
      const t0 = performance.now();
      const p = await captureProfile(url, containerId, render);
      profiles.push(p);
      opts.log(
        `agent limits: profile ${profiles.length}/3 ${p.id}: ${p.meta.samples} samples, ` +
          `${p.meta.dropped?.stacks ?? 0} stacks dropped, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
    }
    const full = memoryOf(pid);
    const firstGone = (await call(url, 'GET', `/v1/profiles/${profiles[0]!.id}/folded`)).status === 404;

    const runs: RenderRun[] = [];
    runs.push(await renderWhileProbing(url, 'SVG, width 1200', `/v1/profiles/${profiles[1]!.id}/flamegraph.svg`));
    runs.push(
      await renderWhileProbing(url, 'SVG, width 10000, minwidth 0.1', `/v1/profiles/${profiles[2]!.id}/flamegraph.svg`),
    );
    runs.push(await renderWhileProbing(url, 'folded', `/v1/profiles/${profiles[2]!.id}/folded`));
    for (const r of runs) {
      opts.log(
        `agent limits: ${r.name}: HTTP ${r.status}${r.code ? ` ${r.code}` : ''}, ${(r.bytes / 1e6).toFixed(1)} MB in ` +
          `${r.seconds.toFixed(2)} s; /healthz max ${r.max.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms (${r.probes} probes)`,
      );
    }
    const after = memoryOf(pid);
    const alive = child.exitCode === null && (await call(url, 'GET', '/healthz')).status === 200;
    const loadEnd = loadavg()[0] as number;

    const met = (ok: boolean) => (ok ? 'met   ' : 'MISSED');
    const worst = Math.max(...runs.map((r) => r.max));
    const lines = [
      heading,
      `  agent: ${['node', ...nodeOptions].join(' ')} dist/agent/main.js (Dockerfile.agent's node options), ` +
        'host mode, default --max-stacks/--max-profile-bytes/--profiles-max-bytes/--max-output-bytes',
      `  each capture: ${(perfBytes / 1e6).toFixed(1)} MB of perf script, ${GENERATED_STACKS} distinct stacks of ${DEPTH} ` +
        `frames; kept ${profiles[1]!.meta.samples - (profiles[1]!.meta.dropped?.stacks ?? 0)} + [dropped stacks]; ` +
        `3 captures, the first ${firstGone ? 'evicted' : 'STILL KEPT'} by --profiles-max-bytes`,
      `  load average (1 min): ${loadStart.toFixed(1)} before the captures, ${loadEnd.toFixed(1)} at the end, on ${cpus().length} CPUs`,
      '  renders (GET while a thread of the bench asks /healthz every 10 ms):',
      ...runs.map(
        (r) =>
          `    ${r.name}: HTTP ${r.status}${r.code ? ` ${r.code}` : ''}, ${(r.bytes / 1e6).toFixed(1)} MB in ` +
          `${r.seconds.toFixed(2)} s; /healthz max ${r.max.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, ` +
          `${r.probes} probes${r.failures ? `, ${r.failures} FAILED` : ''}`,
      ),
      `  agent RSS: idle ${idle.rss.toFixed(0)} MiB; registry full: ${full.rss.toFixed(0)} MiB, peak ${full.peak.toFixed(0)} MiB; ` +
        `after the renders ${after.rss.toFixed(0)} MiB, peak ${after.peak.toFixed(0)} MiB; ${alive ? 'still answering' : 'DEAD'}`,
      'targets (reported, not asserted):',
      `  ${met(worst <= TARGETS.healthzMaxMs)}  /healthz worst latency during the renders ${worst.toFixed(1)} ms <= ${TARGETS.healthzMaxMs} ms`,
      `  ${met(after.peak < TARGETS.rssMiB)}  agent peak RSS ${after.peak.toFixed(0)} MiB < ${TARGETS.rssMiB} MiB (manifests/base: limits.memory 512Mi)`,
    ];
    if (Math.max(loadStart, loadEnd) > cpus().length) {
      lines.push(`note: the load average exceeded the ${cpus().length} CPUs: other work competed for them`);
    }
    return lines.join('\n');
  } catch (err) {
    return `${heading}: failed — ${(err as Error).message}`;
  } finally {
    for (const c of cleanup.reverse()) await c();
  }
}
