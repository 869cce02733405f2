/**
 * `podflame flamegraph`: one flame graph of every stored profile that matches, merged across all nodes (or the
 * agents given with `--agent URL`). Each agent merges its own profiles; the client adds the agents' folded stacks
 * together and renders the result, so counts add up exactly across nodes.
 *
 *   podflame flamegraph -l app=shop --since 1h -o shop.svg
 *   podflame flamegraph -n shop shop-7d9f --from 2025-11-27T09:00:00Z --to 2025-11-27T10:00:00Z --format pprof -o shop.pb.gz
 *   podflame flamegraph --agent http://127.0.0.1:7070 -A --since 30m --format folded
 *   podflame flamegraph -l app=shop -e alloc --since 6h -o alloc.svg
 */
import type { Command } from 'commander';
import type { CliIO } from '../io.js';
import { checkOutputWritable, writeOutput } from '../output-file.js';
import { PodflameError } from '../../../shared/errors.js';
import { HISTORY_FORMATS, type HistoryFilter, type HistoryFormat } from '../../../shared/history.js';
import { describeMerge, renderMergedGraph, summarize } from '../../../shared/history-graphs.js';
import { totalSamples } from '../../../shared/folded.js';
import { formatProfile, PROFILE_FORMATS, type ProfileFormat } from '../../profile-output.js';
import { rangeFromFlags, sinceRange } from '../../history/time-range.js';
import {
  addEventOption,
  addHistoryOptions,
  addTimeOptions,
  agentsOfError,
  historyFilter,
  openHistory,
  reportAgents,
  type HistoryFlags,
  type TimeFlags,
} from './history.js';

export const DEFAULT_FLAMEGRAPH_SINCE = '1h';

interface FlamegraphFlags extends HistoryFlags, TimeFlags {
  format: string;
  output?: string;
  title?: string;
}

export function graphTitle(filter: HistoryFilter): string {
  const who = [filter.namespace, filter.pod, filter.container].filter((x) => x !== undefined).join('/');
  const labels = filter.labelSelector === undefined ? '' : ` -l ${filter.labelSelector}`;
  return `${who === '' ? 'all namespaces' : who}${labels}`;
}

function isHistoryFormat(format: string): format is HistoryFormat {
  return (HISTORY_FORMATS as readonly string[]).includes(format);
}

export async function runFlamegraph(pod: string | undefined, flags: FlamegraphFlags, io: CliIO): Promise<void> {
  if (!(PROFILE_FORMATS as readonly string[]).includes(flags.format)) {
    throw new PodflameError('USAGE', `--format must be one of ${PROFILE_FORMATS.join(', ')}, got '${flags.format}'`);
  }
  const now = Date.now();
  const range = rangeFromFlags(flags, now, sinceRange(DEFAULT_FLAMEGRAPH_SINCE, now));
  await checkOutputWritable(flags.output, io);
  const opened = await openHistory(flags, io);
  try {
    const filter = historyFilter(pod, flags, opened.namespace, range);
    const { stacks, items, agents, event } = await opened.query.merged(filter).catch((err: unknown) => {
      reportAgents(agentsOfError(err), io);
      throw err;
    });
    reportAgents(agents, io);
    const summary = summarize(items);
    const title = flags.title ?? graphTitle(filter);
    const durationSeconds = (summary.toMs - summary.fromMs) / 1000;
    // The agents' merged-graph formats as they draw them; speedscope and the JSON tree, which they do not serve,
    // made here from the same merged stacks, so that every command that writes a profile offers every format.
    const graph = isHistoryFormat(flags.format)
      ? renderMergedGraph(flags.format, stacks, {
          event,
          title,
          subtitle: describeMerge({ ...summary, samples: totalSamples(stacks) }),
          frequencyHz: summary.frequencyHz,
          durationSeconds,
          startTimeMs: summary.fromMs,
        })
      : formatProfile(stacks, flags.format as ProfileFormat, {
          event,
          title,
          frequencyHz: summary.frequencyHz,
          durationSeconds,
        });
    await writeOutput(graph.body, flags.output, io);
    if (io.interactive && flags.output !== undefined) {
      io.stderr.write(
        `podflame: wrote ${flags.output} (${describeMerge({ ...summary, samples: totalSamples(stacks) })})\n`,
      );
    }
  } finally {
    await opened.endpoints.close();
  }
}

export function registerFlamegraph(program: Command, io: CliIO): void {
  const cmd = program
    .command('flamegraph')
    .description('one flame graph of the stored profiles over a time range, merged across every node');
  addHistoryOptions(cmd);
  addEventOption(cmd, 'default cpu; a graph never mixes events');
  addTimeOptions(cmd, DEFAULT_FLAMEGRAPH_SINCE);
  cmd
    .option('--format <format>', `output: ${PROFILE_FORMATS.join(', ')}`, 'svg')
    .option('-o, --output <file>', 'write the result to FILE (default: stdout)')
    .option('--title <text>', 'flame graph title (default: what was selected)');
  cmd.action(async (pod: string | undefined, flags: FlamegraphFlags) => {
    await runFlamegraph(pod, flags, io);
  });
}
