/**
 * `podflame history`: the profiles the agents stored (by schedule), across every node of the cluster or from the
 * agents given with `--agent URL`. Also the options and plumbing that `podflame flamegraph` and `podflame diff`
 * share with it.
 *
 *   podflame history -n shop --since 6h
 *   podflame history -l app=shop --schedule shop-every-10m --json
 *   podflame history --agent http://127.0.0.1:7070 -A
 *   podflame history -n shop -e alloc
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliIO } from '../io.js';
import { writeOutput } from '../output-file.js';
import { PodflameError } from '../../../shared/errors.js';
import { fileErrorReason } from '../../../shared/file-error.js';
import type { HistoryFilter, StoredProfile } from '../../../shared/history.js';
import { parseLabelSelector } from '../../../shared/label-selector.js';
import { takesFrequency } from '../../../shared/event-options.js';
import { VIA_MODES, type Via } from '../../routing/agent-route.js';
import { clusterEndpoints, urlEndpoints, type HistoryEndpoints } from '../../history/endpoints.js';
import { HistoryQuery, type AgentOutcome } from '../../history/history-query.js';
import { rangeFromFlags, type TimeRange } from '../../history/time-range.js';
import { addKubeConnectionOptions, TOKEN_AUDIENCE_HELP } from './kube-options.js';
import { INSECURE_TOKEN_HELP } from './profile-options.js';
import { formatTable } from './agents.js';
import { EVENT_KINDS, isProfileEvent, PROFILE_EVENTS, type ProfileEvent } from '../../../shared/profile-events.js';

/** Flags every history command has. */
export interface HistoryFlags {
  namespace?: string;
  allNamespaces?: boolean;
  selector?: string;
  container?: string;
  schedule?: string;
  /** `-e, --event`: only profiles of this event (flamegraph and diff: cpu when absent). */
  event?: string;
  agent?: string[];
  tokenFile?: string;
  caFile?: string;
  insecureSendTokenOverHttp?: boolean;
  tokenAudience?: string;
  context?: string;
  kubeconfig?: string;
  agentNamespace: string;
  via: string;
}

export interface TimeFlags {
  since?: string;
  from?: string;
  to?: string;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Which profiles: the pod argument and the filter flags, and where to ask. */
export function addHistoryOptions(cmd: Command): Command {
  cmd
    .argument('[pod]', 'only this pod (by name)')
    .option('-n, --namespace <ns>', "only this namespace (default: the context's namespace; with --agent: all)")
    .option('-A, --all-namespaces', 'every namespace')
    .option('-l, --selector <selector>', 'only pods whose labels (when profiled) match, e.g. app=shop,tier!=cache')
    .option('-c, --container <name>', 'only this container')
    .option(
      '--schedule <name>',
      'only profiles taken by this schedule (of the namespace -n names; with -A, one namespace must have it)',
    )
    .option('--agent <url>', 'ask this agent instead of every agent in the cluster (repeatable)', collect)
    .option('--token-file <file>', 'with --agent: bearer token for agents started with --auth token')
    .option(
      '--ca-file <file>',
      "CA certificate (PEM) of the agents' HTTPS certificates (default: ConfigMap podflame-agent-ca in the agents' namespace)",
    )
    .option('--insecure-send-token-over-http', INSECURE_TOKEN_HELP)
    .option('--token-audience <aud>', TOKEN_AUDIENCE_HELP)
    .option('--via <route>', `how to reach the agents in the cluster: ${VIA_MODES.join(', ')}`, 'auto');
  return addKubeConnectionOptions(cmd);
}

/** `-e, --event`; `fallback` is what the command does without it, for the help text. */
export function addEventOption(cmd: Command, fallback: string): Command {
  return cmd.option(
    '-e, --event <event>',
    `only profiles of this event: ${PROFILE_EVENTS.map((e) => `${e} (${EVENT_KINDS[e].unit})`).join(', ')} (${fallback})`,
  );
}

/** The `-e` flag checked; undefined when not given. */
export function eventFlag(flags: HistoryFlags): ProfileEvent | undefined {
  if (flags.event === undefined) return undefined;
  if (!isProfileEvent(flags.event)) {
    throw new PodflameError('USAGE', `-e/--event must be one of ${PROFILE_EVENTS.join(', ')}, got '${flags.event}'`);
  }
  return flags.event;
}

export function addTimeOptions(cmd: Command, since: string | undefined): Command {
  return cmd
    .option(
      '--since <age>',
      `profiles that started within this age, e.g. 30m, 6h, 7d${since ? ` (default ${since})` : ''}`,
    )
    .option('--from <time>', 'profiles that started at or after: an age (2h), a time (2025-11-27T09:00:00Z) or now-2h')
    .option('--to <time>', 'profiles that started before: an age, a time, or now');
}

export interface OpenedHistory {
  query: HistoryQuery;
  /** The namespace filter in force (undefined: all). */
  namespace: string | undefined;
  endpoints: HistoryEndpoints;
}

async function readFlagFile(io: CliIO, flag: string, file: string): Promise<Buffer> {
  const path = resolve(io.cwd, file);
  try {
    return await readFile(path);
  } catch (err) {
    throw new PodflameError('FILE_UNREADABLE', `cannot read ${flag} ${path}: ${fileErrorReason(err)}`, {
      cause: err,
    });
  }
}

/** Where to ask (the `--agent` URLs, else every agent pod of the cluster) and the namespace in force. */
export async function openHistory(flags: HistoryFlags, io: CliIO): Promise<OpenedHistory> {
  if (!(VIA_MODES as readonly string[]).includes(flags.via)) {
    throw new PodflameError('USAGE', `--via must be one of ${VIA_MODES.join(', ')}, got '${flags.via}'`);
  }
  if (flags.allNamespaces && flags.namespace !== undefined) {
    throw new PodflameError('USAGE', 'give either -n NAMESPACE or -A, not both');
  }
  const ca = flags.caFile === undefined ? undefined : await readFlagFile(io, '--ca-file', flags.caFile);
  let endpoints: HistoryEndpoints;
  let namespace = flags.allNamespaces ? undefined : flags.namespace;
  if (flags.agent !== undefined && flags.agent.length > 0) {
    for (const [given, flag] of [
      [flags.context, '--context'],
      [flags.kubeconfig, '--kubeconfig'],
      [flags.tokenAudience, '--token-audience'],
    ] as const) {
      if (given !== undefined)
        throw new PodflameError('USAGE', `${flag} is for the cluster; with --agent URL it has no use`);
    }
    const token =
      flags.tokenFile === undefined
        ? undefined
        : (await readFlagFile(io, '--token-file', flags.tokenFile)).toString('utf8').split(/\r?\n/)[0]?.trim();
    endpoints = urlEndpoints(flags.agent, {
      ...(ca ? { ca } : {}),
      ...(flags.insecureSendTokenOverHttp ? { insecureSendTokenOverHttp: true } : {}),
      ...(token
        ? { headers: { authorization: `Bearer ${token}`, 'x-podflame-authorization': `Bearer ${token}` } }
        : {}),
    });
  } else {
    if (flags.tokenFile !== undefined) {
      throw new PodflameError(
        'USAGE',
        '--token-file is for --agent URL; in a cluster your kubeconfig credentials are sent',
      );
    }
    const cluster = await clusterEndpoints({
      env: io.env,
      via: flags.via as Via,
      agentNamespace: flags.agentNamespace,
      ...(ca ? { agentTls: { ca } } : {}),
      ...(flags.insecureSendTokenOverHttp ? { insecureSendTokenOverHttp: true } : {}),
      ...(flags.tokenAudience !== undefined ? { agentTokenAudience: flags.tokenAudience } : {}),
      ...(flags.kubeconfig !== undefined ? { kubeconfig: resolve(io.cwd, flags.kubeconfig) } : {}),
      ...(flags.context !== undefined ? { context: flags.context } : {}),
    });
    endpoints = cluster;
    // As kubectl does: the context's namespace unless told otherwise.
    if (!flags.allNamespaces && namespace === undefined) namespace = cluster.namespace;
    for (const s of cluster.skipped) io.stderr.write(`podflame: warning: ${s.label} not asked: ${s.reason}\n`);
  }
  return { query: new HistoryQuery(endpoints.endpoints, { signal: io.signal }), namespace, endpoints };
}

/** The filter from the pod argument, the flags and a time range. */
export function historyFilter(
  pod: string | undefined,
  flags: HistoryFlags,
  namespace: string | undefined,
  range: Partial<TimeRange> | undefined,
): HistoryFilter {
  if (flags.selector !== undefined) {
    try {
      parseLabelSelector(flags.selector);
    } catch (err) {
      throw new PodflameError('USAGE', (err as Error).message, { cause: err });
    }
  }
  const filter: HistoryFilter = {};
  const event = eventFlag(flags);
  if (event !== undefined) filter.event = event;
  if (namespace !== undefined) filter.namespace = namespace;
  if (pod !== undefined) filter.pod = pod;
  if (flags.container !== undefined) filter.container = flags.container;
  if (flags.schedule !== undefined) filter.schedule = flags.schedule;
  if (flags.selector !== undefined) filter.labelSelector = flags.selector;
  if (range?.from !== undefined) filter.from = range.from;
  if (range?.to !== undefined) filter.to = range.to;
  return filter;
}

/**
 * One warning line per agent that failed, so a partial answer is never mistaken for a whole one, and per agent that
 * keeps no profiles at all (started without --data-dir), so that "nothing matches" is not taken for an empty store.
 */
export function reportAgents(agents: readonly AgentOutcome[], io: CliIO): void {
  const said = new Set<string>();
  for (const a of agents) {
    const line =
      a.status === 'failed'
        ? `podflame: warning: ${a.agent} left out: ${a.error?.message} [${a.error?.code}]\n`
        : a.status === 'no_store'
          ? `podflame: warning: ${a.agent} has no store: ${a.error?.message} [${a.error?.code}]\n`
          : undefined;
    // diff asks every agent twice (base and target): one line per agent is enough.
    if (line !== undefined && !said.has(line)) io.stderr.write(line);
    if (line !== undefined) said.add(line);
  }
}

/** The agents' outcomes a NO_STORED_PROFILES error of `HistoryQuery.merged` carries, to report before failing. */
export function agentsOfError(err: unknown): readonly AgentOutcome[] {
  const agents = err instanceof PodflameError ? err.details?.agents : undefined;
  return Array.isArray(agents) ? (agents as AgentOutcome[]) : [];
}

function minutes(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

/** A profile's total in its event's unit, without spaces (a table cell): `5432`, `1048576B`, `2500000000ns`. */
function totalCell(p: StoredProfile): string {
  const unit = EVENT_KINDS[p.event]?.unit ?? 'samples';
  return `${p.samples}${unit === 'bytes' ? 'B' : unit === 'nanoseconds' ? 'ns' : ''}`;
}

export function historyRows(items: readonly StoredProfile[]): string[][] {
  return items.map((p) => [
    minutes(Date.parse(p.start)),
    p.node,
    `${p.namespace}/${p.pod}`,
    p.container,
    p.event,
    // Inlined frames deepen the same code's stacks: worth seeing before merging or diffing such profiles with others.
    // (An agent older than the option lists no `java`.)
    // alloc and lock are weighted, not sampled: a frequency would mean nothing.
    `${p.durationSeconds}s${takesFrequency(p.event ?? 'cpu') ? `@${p.frequencyHz}Hz` : ''}${(p.java as StoredProfile['java'] | undefined)?.inlined === true ? '+inlined' : ''}`,
    totalCell(p),
    p.schedule ?? '-',
    p.warnings.length === 0 ? '-' : [...new Set(p.warnings.map((w) => w.code))].join(','),
    p.id,
  ]);
}

interface HistoryCommandFlags extends HistoryFlags, TimeFlags {
  json?: boolean;
}

export async function runHistory(pod: string | undefined, flags: HistoryCommandFlags, io: CliIO): Promise<void> {
  const range = rangeFromFlags(flags, Date.now(), undefined);
  const opened = await openHistory(flags, io);
  try {
    const filter = historyFilter(pod, flags, opened.namespace, range);
    const { items, agents } = await opened.query.list(filter);
    reportAgents(agents, io);
    if (flags.json) {
      await writeOutput(`${JSON.stringify({ items, agents }, null, 2)}\n`, undefined, io);
      return;
    }
    if (items.length === 0) {
      io.stderr.write(
        `podflame: no stored profiles match (asked ${agents.length} agent${agents.length === 1 ? '' : 's'})\n`,
      );
      return;
    }
    const header = [
      'START (UTC)',
      'NODE',
      'POD',
      'CONTAINER',
      'EVENT',
      'CAPTURE',
      'TOTAL',
      'SCHEDULE',
      'WARNINGS',
      'ID',
    ];
    await writeOutput(formatTable(header, historyRows(items)), undefined, io);
  } finally {
    await opened.endpoints.close();
  }
}

export function registerHistory(program: Command, io: CliIO): void {
  const cmd = program
    .command('history')
    .description('list the profiles the agents stored (continuous profiling), on every node or --agent URL');
  addHistoryOptions(cmd);
  addEventOption(cmd, 'default: every event');
  addTimeOptions(cmd, undefined);
  cmd.option('--json', 'print {"items": [...], "agents": [...]} as JSON instead of a table');
  cmd.action(async (pod: string | undefined, flags: HistoryCommandFlags) => {
    await runHistory(pod, flags, io);
  });
}
