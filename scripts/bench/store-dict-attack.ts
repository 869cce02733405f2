/**
 * The stack-dictionary attack of issue #13 (finding A1) at a small scale, through the ProfileStore API: for a given
 * time, profiles whose stacks are all new each time (new frame names, as a workload that generates classes or
 * lambdas at every run), two puts in flight; then a fresh process opens the store (the agent's restart). Prints the
 * store's disk use, what the store counts, and the process's RSS every 10 s, then the restart's time and RSS.
 *
 * Run after `npm run build`: `node dist/scripts/bench/store-dict-attack.js DIR SECONDS MAX_TOTAL_BYTES`
 * (`... restart DIR MAX_TOTAL_BYTES` is the second process). Not part of `npm run bench`: it fills a disk on purpose.
 */
import { spawn } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProfileStore } from '../../agent/store/profile-store.js';
import type { FoldedStacks } from '../../shared/folded.js';

const STACKS_PER_PROFILE = 1000;
const SHARED_FRAMES = ['java', 'start_thread', 'thread_native_entry', 'JavaThread::run', 'Interpreter'];

async function diskBytes(dir: string): Promise<number> {
  let bytes = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    // A temp file may be renamed away between the listing and the stat.
    bytes += e.isDirectory()
      ? await diskBytes(p)
      : await stat(p).then(
          (s) => s.size,
          () => 0,
        );
  }
  return bytes;
}

const mib = (n: number) => (n / 1024 ** 2).toFixed(1);

/** A profile of stacks no earlier profile had: each ends in frames named after the profile. */
function allNewStacks(n: number): FoldedStacks {
  const stacks: FoldedStacks = new Map();
  for (let s = 0; s < STACKS_PER_PROFILE; s++) {
    const own = Array.from(
      { length: 4 },
      (_, f) => `com/example/gen/Gen${n}_${s}$$Lambda$${f}.apply(Ljava/lang/Object;)V`,
    );
    stacks.set([...SHARED_FRAMES, ...own].join(';'), 1 + (s % 7));
  }
  return stacks;
}

async function attack(dir: string, seconds: number, maxTotalBytes: number): Promise<void> {
  const store = new ProfileStore({ dir, maxTotalBytes, maxNamespaceBytes: maxTotalBytes / 4, sweepIntervalMs: 1000 });
  await store.start();
  const endAt = Date.now() + seconds * 1000;
  let puts = 0;
  let failed = 0;
  let peakRss = 0;
  const loop = async (lane: number) => {
    for (let i = lane; Date.now() < endAt; i += 2) {
      await store
        .put({
          namespace: `attacker-${i % 3}`,
          pod: 'gen',
          container: 'app',
          node: 'node-a',
          startMs: Date.now(),
          durationSeconds: 1,
          frequencyHz: 99,
          warnings: [],
          schedule: 'gen',
          podUid: null,
          containerId: null,
          labels: {},
          stacks: allNewStacks(i),
        })
        .then(
          () => puts++,
          () => failed++,
        );
    }
  };
  const report = async () => {
    const rss = process.memoryUsage().rss;
    peakRss = Math.max(peakRss, rss);
    console.log(
      `t=${Math.round(seconds - (endAt - Date.now()) / 1000)}s puts=${puts} failed=${failed} profiles=${store.list().length} ` +
        `counted=${mib(store.totalBytes())}MiB disk=${mib(await diskBytes(dir))}MiB rss=${mib(rss)}MiB`,
    );
  };
  const timer = setInterval(() => void report(), 10_000);
  await Promise.all([loop(0), loop(1)]);
  clearInterval(timer);
  await store.close();
  await report();
  console.log(`attack peak rss ${mib(peakRss)}MiB (sampled every 10 s)`);
}

async function restart(dir: string, maxTotalBytes: number): Promise<void> {
  const started = process.hrtime.bigint();
  const store = new ProfileStore({ dir, maxTotalBytes, maxNamespaceBytes: maxTotalBytes / 4 });
  const report = await store.start();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const rssAfterStart = process.memoryUsage().rss;
  // One query of the day through the dictionary, as the first history request after a restart does.
  const listed = store.list();
  if (listed.length > 0) await store.readStacks(listed[listed.length - 1]!.id);
  const { rss } = process.memoryUsage();
  const hwm = /VmHWM:\s+(\d+) kB/.exec(
    await import('node:fs/promises').then((fs) => fs.readFile('/proc/self/status', 'utf8')),
  );
  console.log(
    `restart: start ${ms.toFixed(0)} ms, ${report.profiles} profiles, rss after start ${mib(rssAfterStart)}MiB, ` +
      `after the first read ${mib(rss)}MiB, peak rss ${mib(Number(hwm?.[1] ?? 0) * 1024)}MiB`,
  );
  await store.close();
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'restart') {
  await restart(args[0] as string, Number(args[1]));
} else {
  const [dir, seconds, maxTotalBytes] = [mode as string, Number(args[0] ?? 120), Number(args[1] ?? 256 * 1024 ** 2)];
  await attack(dir, seconds, maxTotalBytes);
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'restart', dir, String(maxTotalBytes)], {
    stdio: 'inherit',
  });
  await new Promise((resolve) => child.on('exit', resolve));
}
