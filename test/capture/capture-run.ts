/**
 * Helpers of the capture tests (not a test file): run a capture to its end, and read `perf script` text with a
 * parser of its own (independent of the collapser, which the tests also run over the same text to compare).
 */
import type { Test } from 'tap';
import type { CaptureExit, CaptureSpec, ContainerRuntime } from '../../agent/runtime/container-runtime.js';
import type { CaptureWarning } from '../../shared/api.js';
import { PerfCollapser } from '../../shared/collapse/perf-collapser.js';
import type { CollapseResult } from '../../shared/collapse/collapse-result.js';

export interface CaptureOutcome {
  text: string;
  exit: CaptureExit;
  warnings: CaptureWarning[];
  stats: PerfScriptStats;
  collapsed: CollapseResult;
}

/** Runs a capture and collects all of its stdout (and collapses it as the agent does: Java mode). */
export async function captureToEnd(
  runtime: ContainerRuntime,
  spec: CaptureSpec,
  signal: AbortSignal = new AbortController().signal,
): Promise<CaptureOutcome> {
  const running = await runtime.runCapture(spec, signal);
  const chunks: Buffer[] = [];
  const collapser = new PerfCollapser({ java: true });
  for await (const chunk of running.stdout as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    collapser.push(chunk);
  }
  const exit = await running.done;
  const text = Buffer.concat(chunks).toString('utf8');
  return { text, exit, warnings: running.warnings, stats: perfScriptStats(text), collapsed: collapser.finish() };
}

export interface PerfScriptStats {
  /** Event lines, e.g. `hot-fibonacci     1/25      859.314833: cpu-clock: `. */
  samples: number;
  /** Samples per PID. */
  samplesByPid: Map<number, number>;
  /** Frame lines whose module is a JIT map (`/tmp/perf-N.map`), and those of them perf named. */
  jitFrames: number;
  jitFramesResolved: number;
  /** How many frame lines name each symbol. */
  symbols: Map<string, number>;
  /** Event lines with a field list other than the one the capture script asks for (must stay 0). */
  oddEventLines: number;
}

// e.g. `hot-fibonacci     1/25      859.314833: cpu-clock: ` (comm may contain spaces: `C2 CompilerThre`)
const EVENT = /^(\S.*?)\s+(\d+)\/(\d+)\s+\d+\.\d+:\s+cpu-clock:\s*$/;
// e.g. `\t    7f083ceca940 long Hot.hotFibonacci(int) (/tmp/perf-1.map)`
const FRAME = /^\s+([0-9a-f]+) (.*) \((.*)\)$/;
const JIT_MAP = /^\/tmp\/perf-\d+\.map$/;

export function perfScriptStats(text: string): PerfScriptStats {
  const stats: PerfScriptStats = {
    samples: 0,
    samplesByPid: new Map(),
    jitFrames: 0,
    jitFramesResolved: 0,
    symbols: new Map(),
    oddEventLines: 0,
  };
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    if (!/^\s/.test(line)) {
      const m = EVENT.exec(line);
      if (!m) {
        stats.oddEventLines++;
        continue;
      }
      stats.samples++;
      const pid = Number(m[2]);
      stats.samplesByPid.set(pid, (stats.samplesByPid.get(pid) ?? 0) + 1);
      continue;
    }
    const f = FRAME.exec(line);
    if (!f) continue;
    const [, , sym, dso] = f as unknown as [string, string, string, string];
    stats.symbols.set(sym, (stats.symbols.get(sym) ?? 0) + 1);
    if (JIT_MAP.test(dso)) {
      stats.jitFrames++;
      if (sym !== '[unknown]') stats.jitFramesResolved++;
    }
  }
  return stats;
}

/** Frame lines naming a symbol that contains `part`. */
export function framesNaming(stats: PerfScriptStats, part: string): number {
  let n = 0;
  for (const [sym, count] of stats.symbols) if (sym.includes(part)) n += count;
  return n;
}

/** Share of JIT-map frames perf named (1 when there were none). */
export function jitResolvedShare(stats: PerfScriptStats): number {
  return stats.jitFrames === 0 ? 1 : stats.jitFramesResolved / stats.jitFrames;
}

/** A unique capture group / agent instance for one test file's runtime, so parallel files never touch each other. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** One line saying what a capture got: samples, JIT resolution, timings, warnings. */
export function describeCapture(o: CaptureOutcome): string {
  return (
    `${o.stats.samples} samples, JIT frames ${o.stats.jitFramesResolved}/${o.stats.jitFrames} resolved, ` +
    `timings ${JSON.stringify(o.exit.timings)}, warnings ${JSON.stringify(o.warnings)}`
  );
}

/**
 * What every good capture of the Hot workload shows, whichever path captured it (Docker or host mode): the same
 * flame-graph checks for both.
 */
export function checkHotCapture(t: Test, o: CaptureOutcome): void {
  t.equal(o.exit.exitCode, 0, `the capture succeeded (stderr: ${o.exit.stderrTail})`);
  t.equal(o.stats.oddEventLines, 0, 'every event line has the fields the collapser expects');
  t.ok(o.stats.samples > 0, 'samples were recorded');
  t.equal(o.collapsed.samples, o.stats.samples, 'the collapser counts each sample once (no period field)');
  t.ok(framesNaming(o.stats, 'Hot.hotFibonacci') > 0, 'perf script names Hot.hotFibonacci');
  t.ok(framesNaming(o.stats, 'Hot.hotSieve') > 0, 'perf script names Hot.hotSieve');
  t.ok(jitResolvedShare(o.stats) >= 0.95, `at least 95% of JIT frames resolve (${describeCapture(o)})`);
  const folded = [...o.collapsed.stacks.keys()].join('\n');
  t.match(folded, /Hot\.hotFibonacci_\[j\]/, 'the folded stacks name the hot method (Java mode)');
  t.comment(describeCapture(o));
}

// Kept here too for the files that import it from this module.
export { matchGolden } from '../helpers/golden.js';
