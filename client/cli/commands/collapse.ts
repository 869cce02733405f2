import { resolve } from 'node:path';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import type { CliIO } from '../io.js';
import { collapseFiles } from '../../../shared/collapse/collapse-stream.js';
import type { CollapseOptions } from '../../../shared/collapse/options.js';
import { PodflameError } from '../../../shared/errors.js';

/** Flags as stackcollapse-perf.pl spells them, plus `--java`. */
export interface CollapseFlags {
  pid?: boolean;
  tid?: boolean;
  kernel?: boolean;
  jit?: boolean;
  all?: boolean;
  addrs?: boolean;
  eventFilter?: string;
  java?: boolean;
  inline?: boolean;
  context?: boolean;
  srcline?: boolean;
  samples?: boolean;
}

/** CLI flags → collapser options; refuses the flags that need addr2line on the profiled binaries. */
export function collapseOptionsFromFlags(flags: CollapseFlags): Partial<CollapseOptions> {
  for (const flag of ['inline', 'context', 'srcline'] as const) {
    if (flags[flag]) {
      throw new PodflameError(
        'UNSUPPORTED_OPTION',
        `--${flag} is not supported: it needs addr2line and the profiled binaries on this machine, and ` +
          'stackcollapse-perf.pl has no tests for it to match; collapse without it',
      );
    }
  }
  return {
    pid: flags.pid === true,
    tid: flags.tid === true,
    kernel: flags.kernel === true,
    jit: flags.jit === true,
    all: flags.all === true,
    addrs: flags.addrs === true,
    eventFilter: flags.eventFilter,
    java: flags.java === true,
    countPeriods: flags.samples !== true,
  };
}

/** `podflame collapse [FLAGS] [FILE...]`: stackcollapse-perf.pl, streaming and faster. */
export function registerCollapse(program: Command, io: CliIO): void {
  program
    .command('collapse')
    .description(
      'fold "perf script" output into one "stack count" line per distinct stack (as stackcollapse-perf.pl), ' +
        'the input of podflame render',
    )
    .argument('[file...]', 'perf script output files, read in order ("-" or none: stdin)')
    .option('--pid', 'include the PID with the process name (comm-PID)')
    .option('--tid', 'include the PID and TID with the process name (comm-PID/TID)')
    .option('--kernel', 'annotate kernel functions with _[k]')
    .option('--jit', 'annotate JIT functions (from /tmp/perf-PID.map) with _[j]')
    .option('--all', 'all annotations (--kernel --jit)')
    .option('--addrs', 'include raw addresses where symbols cannot be found')
    .option('--event-filter <event>', 'keep only samples of this event (default: the first event seen)')
    .option('--java', 'Java-aware names: JIT frames become Class.method_[j], lambdas lose per-JVM suffixes')
    .option('--samples', "count each sample once (as the agent's graphs do), not by perf's period")
    .option('--inline', 'not supported (needs addr2line on the profiled binaries)')
    .option('--context', 'not supported (goes with --inline)')
    .option('--srcline', 'not supported (perf script -F+srcline input)')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  perf script | podflame collapse > out.folded\n' +
        '  podflame collapse --java --kernel perf.txt | podflame render --colors java > java.svg\n' +
        'Samples are counted by their period when perf printed one (cpu-clock at 999 Hz: 1001001 each), as\n' +
        'stackcollapse-perf.pl does; --samples counts each one once. Unrecognized lines are skipped and counted on\n' +
        'stderr.\n',
    )
    .action(async (files: string[], flags: CollapseFlags) => {
      const options = collapseOptionsFromFlags(flags);
      const paths = files.length === 0 ? ['-'] : files.map((f) => (f === '-' ? f : resolve(io.cwd, f)));
      const result = await collapseFiles(paths, { ...options, stdin: io.stdin, signal: io.signal });
      for (const warning of result.warnings) io.stderr.write(`podflame collapse: ${warning}\n`);
      if (result.samples === 0) io.stderr.write('podflame collapse: no samples found in the input\n');
      if (options.java && result.jitFrames > 0) {
        const share = ((100 * result.jitFramesResolved) / result.jitFrames).toFixed(1);
        io.stderr.write(
          `podflame collapse: ${result.jitFramesResolved} of ${result.jitFrames} JIT frames resolved (${share}%)\n`,
        );
        // None at all is rarely a map written too early: most often perf found no map, as for a JVM in a container,
        // whose map (if any) is in the container's /tmp while perf on the host looks in its own.
        if (result.jitFramesResolved === 0) io.stderr.write(NO_PERF_MAP_HINT);
      }
      await writeAll(io.stdout, result.foldedChunks());
    });
}

export const NO_PERF_MAP_HINT =
  'podflame collapse: no JIT frame has a name: perf found no /tmp/perf-PID.map for the JVM. A JVM in a container ' +
  "writes none by itself, and perf on the host would look in the host's /tmp: profile it through the agent " +
  '(podflame profile), which has the JVM write its map and reads it inside the container\n';

/** Writes the chunks in order, waiting for 'drain' when the stream asks for it. */
async function writeAll(out: Writable, chunks: Iterable<Buffer>): Promise<void> {
  for (const chunk of chunks) {
    if (!out.write(chunk)) {
      await new Promise<void>((done, fail) => {
        const onDrain = (): void => {
          out.off('error', onError);
          done();
        };
        const onError = (err: Error): void => {
          out.off('drain', onDrain);
          fail(err);
        };
        out.once('drain', onDrain);
        out.once('error', onError);
      });
    }
  }
}
