/**
 * Records a benchmark input when ../shared/bench/java-javac.perf.txt.gz is not there: a real JDK 17+ JVM compiling
 * generated sources with the in-process javac in a loop (JavacLoop.java), sampled by perf with frame pointers and
 * the JVM's own perf map, `perf script` default fields. Needs root (or perf_event_paranoid ≤ 1), perf and a JDK.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RecordOptions {
  /** JavacLoop.java to compile and run. */
  source: string;
  /** Folder for classes, generated sources and perf.data (deleted by the caller). */
  work: string;
  /** The perf script text to write. */
  out: string;
  /** JIT warm-up before recording, in seconds (the shared input used 60). */
  warmupSeconds: number;
  /** Recording length, in seconds (the shared input used 20). */
  seconds: number;
  /** perf sampling frequency (the shared input used 999). */
  frequencyHz: number;
  log: (line: string) => void;
}

function run(command: string, args: string[], stdoutFile?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', stdoutFile ? 'pipe' : 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    if (stdoutFile && child.stdout) child.stdout.pipe(createWriteStream(stdoutFile));
    child.on('error', (err) => reject(new Error(`cannot run ${command}: ${err.message}`)));
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr.trim()}`)),
    );
  });
}

export async function recordJavac(opts: RecordOptions): Promise<void> {
  const classes = join(opts.work, 'classes');
  opts.log(`compiling ${opts.source}`);
  await run('javac', ['-d', classes, opts.source]);
  const jvm: ChildProcess = spawn(
    'java',
    [
      '-XX:+PreserveFramePointer',
      '-Xms512m',
      '-Xmx512m',
      '-cp',
      classes,
      'JavacLoop',
      join(opts.work, 'loop'),
      '40',
      '0',
    ],
    { stdio: 'ignore' },
  );
  const pid = jvm.pid;
  if (pid === undefined) throw new Error('cannot start java (is a JDK 17+ installed?)');
  try {
    opts.log(
      `JVM ${pid}: ${opts.warmupSeconds} s JIT warm-up, then ${opts.seconds} s of perf record -F ${opts.frequencyHz}`,
    );
    await sleep(opts.warmupSeconds * 1000);
    if (jvm.exitCode !== null) throw new Error(`the JVM exited early (status ${jvm.exitCode})`);
    const data = join(opts.work, 'perf.data');
    await run('perf', [
      'record',
      '-F',
      String(opts.frequencyHz),
      '-g',
      '-p',
      String(pid),
      '-o',
      data,
      '--',
      'sleep',
      String(opts.seconds),
    ]);
    // The map is written at the end so that methods compiled during the recording resolve.
    await run('jcmd', [String(pid), 'Compiler.perfmap']);
    await run('perf', ['script', '-i', data], opts.out);
  } finally {
    jvm.kill('SIGKILL');
    const map = `/tmp/perf-${pid}.map`;
    if (existsSync(map)) rmSync(map, { force: true });
  }
}
