import { Command, CommanderError } from 'commander';
import type { CliIO, RegisterCommand } from './io.js';
import { PodflameError } from '../../shared/errors.js';

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

/** Usage errors exit 2, as the perl scripts and most CLIs do. */
export const EXIT_USAGE = 2;

/**
 * The line after a usage error, instead of the whole help: the help of `profile` is some sixty lines, and the one line
 * that says what was wrong would scroll away above it.
 */
export function helpHint(command: string | undefined): string {
  return `podflame: run podflame ${command === undefined ? '' : `${command} `}--help for the options`;
}

export function buildProgram(io: CliIO, commands: readonly RegisterCommand[], version: string): Command {
  const program = new Command('podflame')
    .description('CPU flame graphs of Java workloads in Kubernetes')
    .version(version)
    .showHelpAfterError(helpHint(undefined))
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });
  for (const register of commands) register(program, io);
  for (const sub of program.commands) {
    sub
      .exitOverride()
      .showHelpAfterError(helpHint(sub.name()))
      .configureOutput({
        writeOut: (s) => io.stdout.write(s),
        writeErr: (s) => io.stderr.write(s),
      });
  }
  return program;
}

/** Runs the program and maps the outcome to an exit status; writes the error message for failures. */
export async function runProgram(program: Command, argv: readonly string[], io: CliIO): Promise<number> {
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are "errors" to commander only because of exitOverride.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      if (err.code === 'commander.help') return 0;
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (err instanceof PodflameError) {
      io.stderr.write(`podflame: ${err.message} [${err.code}]\n`);
      if (err.code === 'USAGE' || err.code === 'UNSUPPORTED_OPTION') {
        const sub = program.commands.find((c) => c.name() === argv[0]);
        io.stderr.write(`${helpHint(sub?.name())}\n`);
      }
      return err.exitCode;
    }
    io.stderr.write(`podflame: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}
