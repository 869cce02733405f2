#!/usr/bin/env node
// Entry point of `podflame` and `kubectl-podflame`: the only client module that touches `process`.
import { buildProgram, commandsFor, runProgram } from './program.js';
import type { CliIO } from './io.js';
import { packageVersion } from '../../shared/package-version.js';

const controller = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => controller.abort(new Error(`received ${sig}`)));
}

const io: CliIO = {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  interactive: Boolean(process.stderr.isTTY),
  signal: controller.signal,
};

// kubectl runs plugins as `kubectl-podflame ARGS`; the same binary serves both names.
const argv = process.argv.slice(2);
const code = await runProgram(buildProgram(io, await commandsFor(argv), packageVersion()), argv, io);
// Let stdout drain before exiting (large SVGs on a pipe).
process.stdout.write('', () => process.exit(code));
