import type { RegisterCommand } from '../program.js';

/** Every CLI subcommand, in the order `podflame --help` lists them. Each lives in its own file. */
export const COMMANDS: readonly RegisterCommand[] = [];
