import { Command, CommanderError } from 'commander';
import type { CliIO, RegisterCommand } from './io.js';
import { ERROR_CODES, PodflameError } from '../../shared/errors.js';
import { fromCommanderError, isCommanderNonError } from './usage-errors.js';

/**
 * Commands that are run over and over in pipelines (`perf script | podflame collapse | podflame render`) and whose
 * start-up is a large share of their run: invoked as `podflame NAME ...`, only NAME's module is loaded, not the
 * modules of every command (the Kubernetes client, zod schemas, exporters): 0.27 s → 0.1 s on this project's machine.
 * Their own help and errors do not mention other commands, so the output is the same.
 */
const STANDALONE_COMMANDS: Readonly<Record<string, () => Promise<RegisterCommand>>> = {
  collapse: async () => (await import('./commands/collapse.js')).registerCollapse,
  render: async () => (await import('./commands/render.js')).registerRender,
  'diff-folded': async () => (await import('./commands/diff-folded.js')).registerDiffFolded,
};

/**
 * The commands to register for this command line: the named one alone when it is a standalone command, every
 * command otherwise (top-level help, `help NAME`, unknown names and their suggestions need them all).
 */
export async function commandsFor(argv: readonly string[]): Promise<readonly RegisterCommand[]> {
  const name = argv[0];
  const standalone =
    name !== undefined && Object.hasOwn(STANDALONE_COMMANDS, name) ? STANDALONE_COMMANDS[name] : undefined;
  if (standalone) return [await standalone()];
  return (await import('./commands/index.js')).COMMANDS;
}

/**
 * The line after a usage error, instead of the whole help: the help of `profile` is some sixty lines, and the one line
 * that says what was wrong would scroll away above it.
 */
export function helpHint(command: string | undefined): string {
  return command === undefined
    ? 'podflame: run podflame --help for the commands'
    : `podflame: run podflame ${command} --help for the options`;
}

/** Codes whose hint is where the options are: the flags or the command line were wrong. */
const USAGE_CODES: ReadonlySet<string> = new Set(['USAGE', 'UNSUPPORTED_OPTION', 'UNKNOWN_COMMAND']);

export function buildProgram(io: CliIO, commands: readonly RegisterCommand[], version: string): Command {
  // Commander's own error text is not written: runProgram writes every error in podflame's one form.
  const output = {
    writeOut: (s: string) => io.stdout.write(s),
    writeErr: (s: string) => io.stderr.write(s),
    outputError: () => undefined,
  };
  const program = new Command('podflame')
    .description('CPU, allocation, lock and wall-clock flame graphs of Java workloads in Kubernetes')
    .version(version)
    .exitOverride()
    .configureOutput(output);
  for (const register of commands) register(program, io);
  for (const sub of program.commands) sub.exitOverride().configureOutput(output);
  return program;
}

/** Runs the program and maps the outcome to an exit status; writes the error message for failures. */
export async function runProgram(program: Command, argv: readonly string[], io: CliIO): Promise<number> {
  const sub = program.commands.find((c) => c.name() === argv[0]);
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return 0;
  } catch (thrown) {
    let err = thrown;
    if (err instanceof CommanderError) {
      if (isCommanderNonError(err)) return 0;
      err = fromCommanderError(
        err,
        argv,
        program.commands.map((c) => c.name()),
      );
    }
    if (err instanceof PodflameError) {
      io.stderr.write(`podflame: ${err.message} [${err.code}]\n`);
      if (USAGE_CODES.has(err.code))
        io.stderr.write(`${helpHint(err.code === 'UNKNOWN_COMMAND' ? undefined : sub?.name())}\n`);
      return err.exitCode;
    }
    // A bug: the stack trace is what a report needs, but it is many lines, so only when asked for.
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(`podflame: unexpected error: ${message} [INTERNAL]\n`);
    io.stderr.write(
      io.env.PODFLAME_DEBUG && err instanceof Error && err.stack !== undefined
        ? `${err.stack}\n`
        : 'podflame: a bug in podflame; run again with PODFLAME_DEBUG=1 for the stack trace to report\n',
    );
    return ERROR_CODES.INTERNAL.exitCode;
  }
}
