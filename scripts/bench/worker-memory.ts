/**
 * The profile worker's memory under the input of issue #13's N1 (attack/gen-big.mjs): N distinct stacks of 10 frames,
 * each frame a distinct ~110-byte JIT name, as perf script text, streamed in 64 KiB pieces into a real ProfileWorker
 * with the agent's default limits. Each trial runs in a fresh process, so its peak RSS (VmHWM) is its own.
 *
 *   node dist/scripts/bench/worker-memory.js [--dist DIR] [--stacks 40000] [--bytes 1100] [--heap 192]
 *
 * prints, for the worker of `DIR` (default this checkout's dist/; another checkout's dist/ compares versions): the
 * outcome at --heap MiB (kept stacks, dropped, or the error), the collapse's wall time, the process's peak RSS, the
 * smallest heap the collapse succeeds with (bisected, 8 MiB steps), and what a normal capture collapsed beside it at
 * the same time gets.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';

const { values: flags } = parseArgs({
  options: {
    dist: { type: 'string' },
    stacks: { type: 'string', default: '40000' },
    bytes: { type: 'string', default: '1100' },
    heap: { type: 'string', default: '192' },
    // The share of the heap collapses may hold together (a newer worker's option; an older one ignores it).
    share: { type: 'string' },
    trial: { type: 'boolean', default: false },
    beside: { type: 'boolean', default: false },
  },
});
const here = fileURLToPath(new URL('.', import.meta.url));
const dist = resolve(flags.dist ?? join(here, '..', '..'));
const LIMITS = { maxStacks: 100_000, maxBytes: 32 * 1024 * 1024 };

/** attack/gen-big.mjs's perf script, generated as it streams: `n` stacks of 10 frames of `per`-byte names. */
async function* bigPerfScript(n: number, bytes: number): AsyncGenerator<Buffer> {
  const per = Math.max(8, Math.floor(bytes / 10));
  let buf = '';
  for (let i = 0; i < n; i++) {
    buf += `java 100/101 [000] 1.${String(i).padStart(6, '0')}: 1001001 cpu-clock:pppH: \n`;
    for (let f = 0; f < 10; f++) {
      const name = (`s${i}f${f}_` + 'q'.repeat(per)).slice(0, per);
      buf += `\t    7f00000${String(f).padStart(5, '0')} long p.C${name}.m(int)+0x10 (/tmp/perf-100.map)\n`;
    }
    buf += '\n';
    while (buf.length >= 65536) {
      yield Buffer.from(buf.slice(0, 65536));
      buf = buf.slice(65536);
    }
  }
  if (buf.length > 0) yield Buffer.from(buf);
}

/** A normal capture: 2,000 stacks of 20 shared frames; its last piece only once `before` settled. */
async function* normalPerfScript(before: Promise<unknown>): AsyncGenerator<Buffer> {
  const lines: string[] = [];
  for (let i = 0; i < 2000; i++) {
    lines.push(`java 1000  ${1000 + i}.000001:    1001001 cpu-clock:pppH: `);
    for (let d = 19; d >= 0; d--) {
      lines.push(
        `\t    7fc868ec${d.toString(16).padStart(4, '0')} long app.Service${d}.m${d === 19 ? i : d}(int)+0x10 (/tmp/perf-1.map)`,
      );
    }
    lines.push('');
  }
  const text = Buffer.from(lines.join('\n') + '\n');
  for (let at = 0; at < text.length; at += 65536) {
    // Still collapsing when the big one ends, whichever way it ends.
    if (at + 65536 >= text.length) await before.catch(() => undefined);
    yield text.subarray(at, at + 65536);
  }
}

function vm(key: string): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  return Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) / 1024;
}

interface Outcome {
  ok: boolean;
  code?: string;
  message?: string;
  droppedStacks?: number;
  foldedBytes?: number;
  ms: number;
}

async function trial(): Promise<void> {
  const { ProfileWorker } = (await import(pathToFileURL(join(dist, 'agent/profiles/profile-worker.js')).href)) as {
    ProfileWorker: new (o: { maxHeapMb: number; collapseHeapShare?: number }) => {
      start(): Promise<void>;
      collapse(
        input: AsyncIterable<Buffer>,
        limits: typeof LIMITS,
      ): Promise<{ droppedStacks: number; folded: Uint8Array }>;
      close(): Promise<void>;
    };
  };
  const worker = new ProfileWorker({
    maxHeapMb: Number(flags.heap),
    ...(flags.share === undefined ? {} : { collapseHeapShare: Number(flags.share) }),
  });
  await worker.start();
  const idle = vm('VmRSS');
  const run = async (input: AsyncIterable<Buffer>): Promise<Outcome> => {
    const t0 = performance.now();
    try {
      const r = await worker.collapse(input, LIMITS);
      return { ok: true, droppedStacks: r.droppedStacks, foldedBytes: r.folded.byteLength, ms: performance.now() - t0 };
    } catch (err) {
      const e = err as { code?: string; message: string };
      return { ok: false, code: e.code, message: e.message.slice(0, 160), ms: performance.now() - t0 };
    }
  };
  const big = run(bigPerfScript(Number(flags.stacks), Number(flags.bytes)));
  const normal = flags.beside ? run(normalPerfScript(big)) : undefined;
  const result = { big: await big, normal: await normal, idleRssMiB: idle, peakRssMiB: vm('VmHWM') };
  await worker.close();
  process.stdout.write(JSON.stringify(result) + '\n');
}

const execFileP = promisify(execFile);

async function runTrial(
  heap: number,
  beside = false,
): Promise<{ big: Outcome; normal?: Outcome; idleRssMiB: number; peakRssMiB: number }> {
  const args = [
    fileURLToPath(import.meta.url),
    '--trial',
    '--dist',
    dist,
    '--stacks',
    flags.stacks,
    '--bytes',
    flags.bytes,
  ];
  if (flags.share !== undefined) args.push('--share', flags.share);
  try {
    const { stdout } = await execFileP(
      process.execPath,
      [...args, '--heap', String(heap), ...(beside ? ['--beside'] : [])],
      { maxBuffer: 1 << 20 },
    );
    return JSON.parse(stdout);
  } catch (err) {
    // A worker's heap running out can take the whole process with it (V8's fatal "allocation failed").
    const message = `the trial process died: ${(err as Error).message.split('\n')[0]}`;
    return { big: { ok: false, code: 'PROCESS_DIED', message, ms: NaN }, idleRssMiB: NaN, peakRssMiB: NaN };
  }
}

function describe(o: Outcome): string {
  return o.ok
    ? `ok, ${o.droppedStacks} stacks dropped, ${((o.foldedBytes ?? 0) / 1e6).toFixed(1)} MB kept, ${(o.ms / 1000).toFixed(2)} s`
    : `${o.code} after ${(o.ms / 1000).toFixed(2)} s: ${o.message}`;
}

async function main(): Promise<void> {
  const heap = Number(flags.heap);
  process.stdout.write(`worker of ${dist}; input: ${flags.stacks} stacks x ~${flags.bytes} B of frame names\n`);
  const at = await runTrial(heap);
  process.stdout.write(
    `  at ${heap} MiB: ${describe(at.big)}; process RSS idle ${at.idleRssMiB.toFixed(0)} MiB, peak ${at.peakRssMiB.toFixed(0)} MiB\n`,
  );
  const beside = await runTrial(heap, true);
  process.stdout.write(
    `  beside it at ${heap} MiB: big ${describe(beside.big)}; normal ${describe(beside.normal as Outcome)}\n`,
  );
  const roomy = await runTrial(512);
  process.stdout.write(`  at 512 MiB: ${describe(roomy.big)}; process RSS peak ${roomy.peakRssMiB.toFixed(0)} MiB\n`);
  let lo = 32;
  let hi = 1024;
  if (!(await runTrial(hi)).big.ok) {
    process.stdout.write(`  smallest heap that succeeds: > ${hi} MiB\n`);
    return;
  }
  while (hi - lo > 8) {
    const mid = Math.round((lo + hi) / 2);
    if ((await runTrial(mid)).big.ok) hi = mid;
    else lo = mid;
  }
  process.stdout.write(`  smallest heap that succeeds: ${hi} MiB (fails at ${lo} MiB)\n`);
}

await (flags.trial ? trial() : main());
