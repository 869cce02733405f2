/**
 * Questions over time asked of every agent at once, with the answers merged: the stored profiles of all nodes, their
 * folded stacks merged exactly (a stack's count is the sum of its counts on every node), and the two merged sides of
 * a differential graph. An agent with nothing stored counts as empty, and one without a store (started without
 * --data-dir) as such, with its own message, so that the user learns why it has nothing; one that fails is reported
 * and left out, unless all fail.
 */
import { API_PREFIX } from '../../shared/api.js';
import { PodflameError, type ErrorCode } from '../../shared/errors.js';
import { mergeFolded, parseFolded, type FoldedStacks } from '../../shared/folded.js';
import {
  describeFilter,
  HISTORY_HEADERS,
  HISTORY_PARAMS,
  type HistoryFilter,
  type StoredProfile,
} from '../../shared/history.js';
import { DEFAULT_PROFILE_EVENT, type ProfileEvent } from '../../shared/profile-events.js';
import type { AgentAnswer } from '../transport/agent-errors.js';
import type { HistoryEndpoint } from './endpoints.js';

export interface AgentOutcome {
  agent: string;
  /** `no_store`: the agent keeps no profiles at all (no --data-dir); `error` holds its message. */
  status: 'ok' | 'empty' | 'no_store' | 'failed';
  error?: { code: ErrorCode; message: string };
}

export interface ListAnswer {
  /** Every agent's matching profiles, oldest first. */
  items: StoredProfile[];
  agents: AgentOutcome[];
}

export interface MergeAnswer {
  stacks: FoldedStacks;
  /** The profiles behind the merge (from the list, for titles and counts). */
  items: StoredProfile[];
  agents: AgentOutcome[];
}

export interface HistoryQueryOptions {
  signal?: AbortSignal;
}

/**
 * The query string of a filter; times go as RFC 3339 so every agent reads the same instants. The event goes only
 * when it is not cpu: agents default to cpu, and agents older than events refuse the parameter but hold cpu only.
 */
export function filterQuery(filter: HistoryFilter, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams();
  if (filter.event !== undefined && filter.event !== DEFAULT_PROFILE_EVENT) q.set(HISTORY_PARAMS.event, filter.event);
  for (const key of ['namespace', 'pod', 'container', 'schedule', 'labelSelector'] as const) {
    const v = filter[key];
    if (v !== undefined) q.set(HISTORY_PARAMS[key], v);
  }
  if (filter.from !== undefined) q.set(HISTORY_PARAMS.from, new Date(filter.from).toISOString());
  if (filter.to !== undefined) q.set(HISTORY_PARAMS.to, new Date(filter.to).toISOString());
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

/**
 * A question by schedule without a namespace is about one schedule: same-named schedules of two namespaces are two
 * schedules, whose profiles are never listed or merged as one. Each agent checks its own (SCHEDULE_AMBIGUOUS); two
 * agents may each hold one of them, so the answers together are checked again.
 */
export function requireOneSchedule(filter: HistoryFilter, items: readonly StoredProfile[]): void {
  if (filter.schedule === undefined || filter.namespace !== undefined) return;
  const namespaces = [...new Set(items.map((p) => p.namespace))].sort();
  if (namespaces.length > 1) {
    throw new PodflameError(
      'SCHEDULE_AMBIGUOUS',
      `schedule name '${filter.schedule}' is used in ${namespaces.length} namespaces (${namespaces.join(', ')}): ` +
        'give the namespace too (-n NAMESPACE)',
      { details: { schedule: filter.schedule, namespaces } },
    );
  }
}

export class HistoryQuery {
  constructor(
    private readonly endpoints: readonly HistoryEndpoint[],
    private readonly options: HistoryQueryOptions = {},
  ) {
    if (endpoints.length === 0) throw new PodflameError('USAGE', 'no agent to ask');
  }

  /** GETs `path` on every agent at once; NO_STORED_PROFILES is an empty answer (or no store), others a failed agent. */
  private async askAll<T>(
    path: string,
    read: (answer: AgentAnswer) => T,
  ): Promise<{ answers: { agent: string; value: T }[]; agents: AgentOutcome[] }> {
    const settled = await Promise.all(
      this.endpoints.map(async (endpoint) => {
        try {
          const answer = await endpoint.get(path, this.options.signal);
          const outcome: AgentOutcome = { agent: endpoint.label, status: 'ok' };
          return { agent: endpoint.label, value: read(answer), outcome };
        } catch (err) {
          const e =
            err instanceof PodflameError
              ? err
              : new PodflameError('AGENT_UNREACHABLE', `${endpoint.label}: ${(err as Error).message}`, { cause: err });
          const status: AgentOutcome['status'] =
            e.code !== 'NO_STORED_PROFILES' ? 'failed' : e.details?.store === false ? 'no_store' : 'empty';
          return {
            agent: endpoint.label,
            value: undefined,
            outcome: {
              agent: endpoint.label,
              status,
              ...(status === 'empty' ? {} : { error: { code: e.code, message: e.message } }),
            } as AgentOutcome,
            error: e,
          };
        }
      }),
    );
    const agents = settled.map((s) => s.outcome).sort((a, b) => a.agent.localeCompare(b.agent));
    // The question, not the agent, is at fault: leaving that agent out would answer for one namespace of several.
    const ambiguous = settled.find((s) => s.error?.code === 'SCHEDULE_AMBIGUOUS');
    if (ambiguous) throw ambiguous.error as PodflameError;
    const failed = settled.filter((s) => s.outcome.status === 'failed');
    if (failed.length === settled.length) {
      // Nobody answered: the first error says why (unreachable, refused, ...).
      throw failed[0]?.error as PodflameError;
    }
    const answers = settled
      .filter((s): s is typeof s & { value: T } => s.value !== undefined)
      .map((s) => ({ agent: s.agent, value: s.value }));
    return { answers, agents };
  }

  async list(filter: HistoryFilter): Promise<ListAnswer> {
    const { answers, agents } = await this.askAll(`${API_PREFIX}/profiles${filterQuery(filter)}`, (a) => {
      const body = JSON.parse(a.body.toString('utf8')) as { items?: StoredProfile[] };
      // Agents older than events list no event: theirs are cpu profiles.
      return (body.items ?? []).map((p) => (p.event === undefined ? { ...p, event: DEFAULT_PROFILE_EVENT } : p));
    });
    const items = answers
      .flatMap((a) => a.value)
      // cpu is not sent (filterQuery), so an agent lists every event then: keep the one asked.
      .filter((p) => filter.event === undefined || p.event === filter.event)
      .sort((a, b) => a.start.localeCompare(b.start) || a.node.localeCompare(b.node) || a.id.localeCompare(b.id));
    requireOneSchedule(filter, items);
    return { items, agents };
  }

  /**
   * Every agent's merged folded stacks for `filter` (of one event: cpu unless the filter names another), merged
   * again; NO_STORED_PROFILES when nothing matches, EVENT_MISMATCH when an agent answers with another event.
   */
  async merged(filter: HistoryFilter): Promise<MergeAnswer & { event: ProfileEvent }> {
    const event = filter.event ?? DEFAULT_PROFILE_EVENT;
    const one = { ...filter, event };
    const listed = await this.list(one);
    const { answers, agents } = await this.askAll(
      `${API_PREFIX}/flamegraph${filterQuery(one, { [HISTORY_PARAMS.format]: 'folded' })}`,
      (a) => {
        const answered = a.headers[HISTORY_HEADERS.event] ?? DEFAULT_PROFILE_EVENT;
        if (answered !== event) {
          throw new PodflameError(
            'EVENT_MISMATCH',
            `the agent answered with ${String(answered)} profiles for a merge of ${event}: its counts cannot be added`,
            { details: { asked: event, answered } },
          );
        }
        return parseFolded(a.body.toString('utf8')).stacks;
      },
    );
    const stacks: FoldedStacks = new Map();
    for (const a of answers) mergeFolded(stacks, a.value);
    if (stacks.size === 0) {
      throw new PodflameError(
        'NO_STORED_PROFILES',
        `no stored profile matches ${describeFilter(filter)} on ${this.endpoints.length} agent${this.endpoints.length === 1 ? '' : 's'}`,
        { details: { agents } },
      );
    }
    // The merge is authoritative; the list only describes it (a profile stored in between may be in one of them).
    return { stacks, items: listed.items, agents, event };
  }
}
