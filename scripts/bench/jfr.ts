/**
 * The JFR reader (issue #14: "reading a 100 MB recording takes under 2 s here"): a ~100 MB recording made of copies
 * of the real JDK 21 recording in test/fixtures/jfr (a JFR file is a sequence of self-contained chunks, so copies of
 * a chunk make a valid file; each ~220 KB chunk repeats its metadata and pools, more per byte than the JVM's 12 MB
 * chunks), read from disk in a fresh process per run (jfr-read.ts). Prints the median time and peak RSS against the
 * target, PASS/MISS, never asserted.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { median } from './measure.js';

export interface JfrBenchOptions {
  root: string;
  scratch: string;
  runs: number;
  log: (line: string) => void;
}

const TARGET_MS = 2000;
const FILE_BYTES = 100 * 1024 * 1024;

interface Read {
  ms: number;
  cpuMs: number;
  maxRssMiB: number;
  chunks: number;
  events: number;
  stacks: number;
}

export function jfrBench({ root, scratch, runs, log }: JfrBenchOptions): string {
  const chunk = readFileSync(join(root, 'test', 'fixtures', 'jfr', 'mix-jdk21.jfr'));
  const copies = Math.ceil(FILE_BYTES / chunk.length);
  const file = join(scratch, 'large.jfr');
  writeFileSync(file, Buffer.concat(Array.from({ length: copies }, () => chunk)));
  const bytes = copies * chunk.length;
  log(`JFR: ${file}, ${copies} chunks, ${(bytes / 1048576).toFixed(1)} MiB`);
  const reads: Read[] = [];
  for (let i = 0; i < runs; i++) {
    const r = spawnSync(process.execPath, [join(root, 'dist', 'scripts', 'bench', 'jfr-read.js'), file], {
      encoding: 'utf8',
    });
    if (r.status !== 0) return `JFR reader: failed — ${r.stderr.trim()}`;
    reads.push(JSON.parse(r.stdout) as Read);
  }
  const ms = median(reads.map((r) => r.ms));
  const cpuMs = median(reads.map((r) => r.cpuMs));
  const rss = median(reads.map((r) => r.maxRssMiB));
  const first = reads[0] as Read;
  return [
    `JFR reader: ${(bytes / 1048576).toFixed(1)} MiB (${first.chunks} chunks, ${first.events} events, ${first.stacks} distinct stacks), ${runs} runs`,
    `  read time (median): ${ms.toFixed(0)} ms  target < ${TARGET_MS} ms  ${ms < TARGET_MS ? 'PASS' : 'MISS'}`,
    `  CPU time (median):  ${cpuMs.toFixed(0)} ms (user + system; load average ${loadavg()[0]?.toFixed(1)} on ${cpus().length} cores)`,
    `  peak RSS (median):  ${rss.toFixed(0)} MiB`,
  ].join('\n');
}
