import type { Command } from 'commander';
import type { Readable, Writable } from 'node:stream';

/**
 * What a CLI command may touch of the outside world. Only client/cli/main.ts builds it from `process`, so commands
 * stay testable and library code never reaches for globals.
 */
export interface CliIO {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  /** Environment variables as given to the process. */
  env: Record<string, string | undefined>;
  /** Working directory, for resolving relative paths (e.g. flamegraph.pl's ./palette.map). */
  cwd: string;
  /** True when stderr is a terminal: progress indicators are shown only then. */
  interactive: boolean;
  /** Aborted on SIGINT/SIGTERM; long operations pass it on. */
  signal: AbortSignal;
}

/** What every command module exports: it adds its subcommand to the program; the action resolves once all output is written. */
export type RegisterCommand = (program: Command, io: CliIO) => void;
