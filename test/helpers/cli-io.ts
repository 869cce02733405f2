/**
 * The CLI in process: a CliIO over memory streams (what a command writes is kept, stdin is given text), and a run of
 * `podflame ARGS` with the commands a test registers, as client/cli/main.ts runs it, returning the exit status and
 * the output. Spawned runs of the built CLI are in test/agent/e2e-agent.ts (`runCli`).
 */
import { PassThrough, Writable } from 'node:stream';
import type { CliIO, RegisterCommand } from '../../client/cli/io.js';
import { buildProgram, runProgram } from '../../client/cli/program.js';

export interface MemoryIOOptions {
  /** What stdin holds (default: nothing; it is ended either way). */
  stdin?: string | Buffer;
  /** Working directory (default /tmp). */
  cwd?: string;
  /** Environment variables (default none). */
  env?: Record<string, string | undefined>;
  /** Whether stderr is a terminal, which shows progress (default false). */
  interactive?: boolean;
  /** A stdout of the test's own (e.g. a slow one); out() is then empty. */
  stdout?: Writable;
  /** The signal SIGINT/SIGTERM would abort (default: never aborted). */
  signal?: AbortSignal;
}

export interface MemoryIO {
  io: CliIO;
  /** The bytes written to stdout so far. */
  out(): Buffer;
  /** What was written to stderr so far, as UTF-8. */
  err(): string;
}

/** A CliIO whose stdout and stderr are kept in memory. */
export function memoryIO(options: MemoryIOOptions = {}): MemoryIO {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sink = (chunks: Buffer[]): Writable =>
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(Buffer.from(chunk));
        done();
      },
    });
  const stdin = new PassThrough();
  stdin.end(options.stdin ?? '');
  return {
    io: {
      stdin,
      stdout: options.stdout ?? sink(out),
      stderr: sink(err),
      env: options.env ?? {},
      cwd: options.cwd ?? '/tmp',
      interactive: options.interactive ?? false,
      signal: options.signal ?? new AbortController().signal,
    },
    out: () => Buffer.concat(out),
    err: () => Buffer.concat(err).toString('utf8'),
  };
}

export interface InProcessRun {
  /** The exit status main.ts would exit with. */
  code: number;
  /** stdout's bytes. */
  out: Buffer;
  /** stdout as UTF-8. */
  text: string;
  /** stderr as UTF-8. */
  err: string;
}

/** `podflame ARGV` in process with only `commands` registered (version 0.0.0), over memoryIO(options). */
export async function runInProcess(
  commands: readonly RegisterCommand[],
  argv: readonly string[],
  options: MemoryIOOptions = {},
): Promise<InProcessRun> {
  const m = memoryIO(options);
  const code = await runProgram(buildProgram(m.io, commands, '0.0.0'), argv, m.io);
  const out = m.out();
  return { code, out, text: out.toString('utf8'), err: m.err() };
}
