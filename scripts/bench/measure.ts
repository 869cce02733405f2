import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** GNU time prints the peak RSS of the process it runs (`%M`, KiB); the Debian package `time` provides it. */
export const GNU_TIME = '/usr/bin/time';

export interface Measured {
  wallSeconds: number;
  /** Peak resident set size in MiB, or undefined when GNU time is not installed. */
  peakRssMiB: number | undefined;
  exitCode: number;
  stderr: string;
}

export interface RunSpec {
  command: string;
  args: string[];
  /** Where the child's stdout goes (a file, so that output costs what it costs in a pipeline). */
  stdoutFile: string;
  /** Scratch folder for GNU time's report. */
  scratch: string;
  /** Environment of the child. Default: this process's. */
  env?: NodeJS.ProcessEnv | undefined;
}

/** Runs one fresh process, timing it from spawn to exit; peak RSS from GNU time when available. */
export async function runMeasured(spec: RunSpec): Promise<Measured> {
  const withTime = existsSync(GNU_TIME);
  const report = join(spec.scratch, 'time-report.txt');
  const [command, args] = withTime
    ? [GNU_TIME, ['-f', '%e %M', '-o', report, spec.command, ...spec.args]]
    : [spec.command, spec.args];
  const out = openSync(spec.stdoutFile, 'w');
  const stderr: Buffer[] = [];
  const start = process.hrtime.bigint();
  try {
    const exitCode = await new Promise<number>((resolve, reject) => {
      const child = spawn(command, args, { stdio: ['ignore', out, 'pipe'], env: spec.env ?? process.env });
      child.stderr?.on('data', (c: Buffer) => stderr.push(c));
      child.on('error', reject);
      child.on('close', (code) => resolve(code ?? 1));
    });
    const wallSeconds = Number(process.hrtime.bigint() - start) / 1e9;
    let peakRssMiB: number | undefined;
    if (withTime) {
      // e.g. "0.52 61240" (seconds, KiB); a non-zero exit adds a "Command exited with non-zero status" line first.
      const last = readFileSync(report, 'utf8').trim().split('\n').at(-1) ?? '';
      const kib = Number(last.split(' ')[1]);
      peakRssMiB = Number.isFinite(kib) ? kib / 1024 : undefined;
      rmSync(report, { force: true });
    }
    return { wallSeconds, peakRssMiB, exitCode, stderr: Buffer.concat(stderr).toString() };
  } finally {
    closeSync(out);
  }
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}
