/**
 * `podflame diff`: a differential flame graph of two time ranges of stored profiles, merged across every node — what
 * changed between them (red: more CPU in the target range, blue: less), normalized so ranges of different lengths
 * or load compare by share.
 *
 *   podflame diff -l app=shop --base 2h..1h --target 1h..now -o change.svg
 *   podflame diff -n shop --base 2025-11-26T09:00:00Z..2025-11-26T10:00:00Z --target 1h..now --format folded
 */
import type { Command } from 'commander';
import type { CliIO } from '../io.js';
import { checkOutputWritable, writeOutput } from '../output-file.js';
import { PodflameError } from '../../../shared/errors.js';
import { totalSamples } from '../../../shared/folded.js';
import { DIFF_FORMATS, type DiffFormat } from '../../../shared/history.js';
import { describeMerge, diffEvent, renderDiffGraph, summarize } from '../../../shared/history-graphs.js';
import { parseRange } from '../../history/time-range.js';
import { requireOneSchedule } from '../../history/history-query.js';
import { graphTitle } from './flamegraph.js';
import {
  addEventOption,
  addHistoryOptions,
  agentsOfError,
  historyFilter,
  openHistory,
  reportAgents,
  type HistoryFlags,
} from './history.js';

interface DiffFlags extends HistoryFlags {
  base?: string;
  target?: string;
  format: string;
  output?: string;
  normalize: boolean;
  title?: string;
}

export async function runDiff(pod: string | undefined, flags: DiffFlags, io: CliIO): Promise<void> {
  if (flags.base === undefined || flags.target === undefined) {
    throw new PodflameError(
      'USAGE',
      'give both --base FROM..TO and --target FROM..TO, e.g. --base 2h..1h --target 1h..now',
    );
  }
  if (!(DIFF_FORMATS as readonly string[]).includes(flags.format)) {
    throw new PodflameError('USAGE', `--format must be one of ${DIFF_FORMATS.join(', ')}, got '${flags.format}'`);
  }
  const now = Date.now();
  const baseRange = parseRange(flags.base, '--base', now);
  const targetRange = parseRange(flags.target, '--target', now);
  await checkOutputWritable(flags.output, io);
  const opened = await openHistory(flags, io);
  try {
    const base = await opened.query.merged(historyFilter(pod, flags, opened.namespace, baseRange)).catch((err) => {
      reportAgents(agentsOfError(err), io);
      throw err instanceof PodflameError && err.code === 'NO_STORED_PROFILES'
        ? new PodflameError('NO_STORED_PROFILES', `the base range (--base ${flags.base}) is empty: ${err.message}`, {
            cause: err,
            ...(err.details ? { details: err.details } : {}),
          })
        : err;
    });
    const target = await opened.query.merged(historyFilter(pod, flags, opened.namespace, targetRange)).catch((err) => {
      reportAgents(agentsOfError(err), io);
      throw err instanceof PodflameError && err.code === 'NO_STORED_PROFILES'
        ? new PodflameError(
            'NO_STORED_PROFILES',
            `the target range (--target ${flags.target}) is empty: ${err.message}`,
            {
              cause: err,
              ...(err.details ? { details: err.details } : {}),
            },
          )
        : err;
    });
    reportAgents([...base.agents, ...target.agents], io);
    // Each range is one schedule's; both together must be too (its base in shop, its target in vault is no diff).
    requireOneSchedule(historyFilter(pod, flags, opened.namespace, undefined), [...base.items, ...target.items]);
    const event = diffEvent(base.event, target.event);
    const b = { ...summarize(base.items), samples: totalSamples(base.stacks) };
    const t = { ...summarize(target.items), samples: totalSamples(target.stacks) };
    const graph = renderDiffGraph(flags.format as DiffFormat, base.stacks, target.stacks, {
      event,
      title: flags.title ?? `${graphTitle(historyFilter(pod, flags, opened.namespace, undefined))}: differential`,
      subtitle: `base: ${describeMerge(b)}; target: ${describeMerge(t)}${flags.normalize ? '; normalized' : ''}`,
      normalize: flags.normalize,
    });
    await writeOutput(graph.body, flags.output, io);
  } finally {
    await opened.endpoints.close();
  }
}

export function registerDiff(program: Command, io: CliIO): void {
  const cmd = program
    .command('diff')
    .description('a differential flame graph of two time ranges of stored profiles, merged across every node');
  addHistoryOptions(cmd);
  addEventOption(cmd, 'default cpu; both ranges of the one event');
  cmd
    .option(
      '--base <range>',
      'the range to compare against, FROM..TO, e.g. 2h..1h or 2025-11-26T09:00:00Z..2025-11-26T10:00:00Z',
    )
    .option('--target <range>', 'the range to compare, FROM..TO, e.g. 1h..now')
    .option('--format <format>', `output: ${DIFF_FORMATS.join(', ')} (two-column difffolded text)`, 'svg')
    .option('--no-normalize', "keep the base range's own counts instead of scaling them to the target's total")
    .option('-o, --output <file>', 'write the result to FILE (default: stdout)')
    .option('--title <text>', 'flame graph title');
  cmd.action(async (pod: string | undefined, flags: DiffFlags) => {
    await runDiff(pod, flags, io);
  });
}
