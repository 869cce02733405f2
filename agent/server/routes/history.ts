/**
 * The agent's history API: the stored-profile list (`GET /v1/profiles`, the collection only — `/v1/profiles/:id`
 * is the capture API's), merged graphs over a time range (`GET /v1/flamegraph`), differential graphs of two ranges
 * (`GET /v1/diff`), and the schedules (`GET /v1/schedules`, `GET|PUT|DELETE /v1/schedules/:name`).
 *
 * A schedule is its namespace and name. The routes keep `/v1/schedules/:name`: a PUT's namespace is the body's, the
 * others take `?namespace=`, and without it the one schedule of that name in the namespaces the caller may see.
 * A schedule in a namespace the caller may not see is answered exactly as one that does not exist; only a
 * namespace the request names itself is refused with 403, which says nothing about what exists there.
 */
import express, { type Request, type Response, type Router } from 'express';
import { API_PREFIX } from '../../../shared/api.js';
import { PodflameError } from '../../../shared/errors.js';
import {
  describeFilter,
  DIFF_FORMATS,
  HISTORY_FORMATS,
  HISTORY_HEADERS,
  HISTORY_PARAMS,
  parseTimeParam,
  type HistoryFilter,
  type ScheduleStatus,
  type StoredProfile,
} from '../../../shared/history.js';
import { parseLabelSelector } from '../../../shared/label-selector.js';
import {
  DEFAULT_PROFILE_EVENT,
  isProfileEvent,
  PROFILE_EVENTS,
  type ProfileEvent,
} from '../../../shared/profile-events.js';
import {
  describeMerge,
  diffEvent,
  renderDiffGraph,
  renderMergedGraph,
  summarize,
  type DiffGraphOptions,
  type GraphAnswer,
  type MergedGraphOptions,
} from '../../../shared/history-graphs.js';
import type { FoldedStacks } from '../../../shared/folded.js';
import type { DiffFormat, HistoryFormat } from '../../../shared/history.js';
import type { MergedProfiles } from '../../store/block-merge.js';
import { defaultMergeLimits, MergeBudget, type MergeLimits } from '../../store/merge-budget.js';
import { MergeGate } from '../merge-gate.js';
import { holdAnswerUntilClosed, sendAnswer, type AnswerSendOptions } from '../answer-sender.js';
import { DEFAULT_WORKER_HEAP_MB } from '../../profiles/profile-worker.js';
import { DEFAULT_MAX_STACKS } from '../../profiles/stack-limits.js';
import { parseNamespaceParam, parseScheduleBody, type ScheduleSpec } from '../../schedules/schedule-config.js';
import { jsonBody } from '../middleware/json-body.js';

/** The part of the profile store the routes read. */
export interface HistoryStore {
  list(filter: HistoryFilter): StoredProfile[];
  /**
   * The listed profiles' stacks merged, and the profiles actually merged (retention may remove some meanwhile);
   * PROFILE_TOO_LARGE, the merge stopped, once its distinct stacks go past `budget`; `signal`'s reason, the merge
   * stopped at its next turn, once the caller went away.
   */
  merge(items: readonly StoredProfile[], budget?: MergeBudget, signal?: AbortSignal): Promise<MergedProfiles>;
}

/** The part of the scheduler the routes drive. */
export interface ScheduleAdmin {
  list(): ScheduleStatus[];
  status(namespace: string, name: string): ScheduleStatus | undefined;
  /** Every schedule of that name, one per namespace. */
  named(name: string): ScheduleStatus[];
  put(spec: ScheduleSpec): { created: boolean; status: ScheduleStatus };
  delete(namespace: string, name: string): boolean;
}

/**
 * Where merged and differential graphs are drawn: the agent's profile worker (its own thread) fits it by shape. Once
 * `signal` is aborted (the caller went away), a drawing fails with its reason as soon as it can.
 */
export interface GraphRenderer {
  renderMergedGraph(
    format: HistoryFormat,
    stacks: FoldedStacks,
    options: MergedGraphOptions,
    signal?: AbortSignal,
  ): Promise<GraphAnswer>;
  renderDiffGraph(
    format: DiffFormat,
    base: FoldedStacks,
    target: FoldedStacks,
    options: DiffGraphOptions,
    signal?: AbortSignal,
  ): Promise<GraphAnswer>;
}

/** Drawing in the caller's own thread (the default, for tests and tools): in one piece, so only before it starts. */
export const IN_PROCESS_GRAPHS: GraphRenderer = {
  renderMergedGraph: async (format, stacks, options, signal) => {
    signal?.throwIfAborted();
    return renderMergedGraph(format, stacks, options);
  },
  renderDiffGraph: async (format, base, target, options, signal) => {
    signal?.throwIfAborted();
    return renderDiffGraph(format, base, target, options);
  },
};

export interface HistoryRouteDeps {
  nodeName: string;
  /** Draws the graphs. Default IN_PROCESS_GRAPHS; the agent gives its profile worker. */
  graphs?: GraphRenderer;
  /** Absent when the agent runs without `--data-dir`: every route then says how to turn history on. */
  store?: HistoryStore;
  scheduler?: ScheduleAdmin;
  /** Called after a schedule was created, replaced or deleted through the API (to persist them). */
  onSchedulesChanged?: () => Promise<void>;
  /**
   * Refuses a caller a namespace (authorization: may they profile its pods?). A query naming a namespace is refused
   * with its error (403); one across namespaces keeps only the namespaces the caller may see. Absent: whoever passed
   * authentication sees everything.
   */
  authorizeNamespace?: (req: Request, namespace: string) => Promise<void>;
  /** Clock for `now`-relative times, ms since the epoch. Default Date.now. */
  now?: () => number;
  /** Largest schedule body accepted, bytes. Default 64 KiB. */
  bodyLimitBytes?: number;
  /**
   * The cap on a merged graph's distinct stacks, and on both sides of a diff together, checked as the merge runs and
   * before anything goes to `graphs`. Default `defaultMergeLimits` of the default worker heap and --max-stacks; the
   * agent derives it from its own.
   */
  mergeLimits?: MergeLimits;
  /**
   * Where merged and differential graphs take turns, from the merge to the drawn answer: the merge cap bounds one of
   * them. Default one at a time, four waiting (merge-gate.ts).
   */
  mergeGate?: MergeGate;
  /**
   * How merged and differential answers are sent: a caller that takes nothing of its answer for `stallMs` (default
   * 30 s) is cut, which frees the answer (answer-sender.ts).
   */
  answerSend?: AnswerSendOptions;
}

const FILTER_PARAMS = ['namespace', 'pod', 'container', 'schedule', 'labelSelector'] as const;
const LIST_PARAMS = [...FILTER_PARAMS, 'from', 'to', 'event'];
const GRAPH_PARAMS = [...LIST_PARAMS, 'format'];
const DIFF_PARAMS = [
  ...FILTER_PARAMS,
  'baseFrom',
  'baseTo',
  'targetFrom',
  'targetTo',
  'format',
  'normalize',
  'event',
  'baseEvent',
  'targetEvent',
];

function noStore(): PodflameError {
  return new PodflameError(
    'NO_STORED_PROFILES',
    'this agent keeps no profiles: start it with --data-dir DIR (and --schedules FILE) to store and query them',
    { details: { store: false } },
  );
}

/** Reads the query as single strings, refusing parameters the route does not know and repeated ones. */
function queryParams(req: Request, allowed: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(req.query)) {
    if (!allowed.includes(key)) {
      throw new PodflameError(
        'INVALID_REQUEST',
        `unknown query parameter '${key}' for ${req.path}; known: ${allowed.join(', ')}`,
        { details: { parameter: key } },
      );
    }
    if (typeof value !== 'string') {
      throw new PodflameError('INVALID_REQUEST', `query parameter '${key}' is given more than once`, {
        details: { parameter: key },
      });
    }
    out[key] = value;
  }
  return out;
}

function filterFrom(q: Record<string, string>, nowMs: number, range?: { from: string; to: string }): HistoryFilter {
  const filter: HistoryFilter = {};
  for (const key of FILTER_PARAMS) {
    const v = q[HISTORY_PARAMS[key]];
    if (v !== undefined && v !== '') filter[key] = v;
  }
  if (filter.labelSelector !== undefined) parseLabelSelector(filter.labelSelector);
  const fromText = q[range?.from ?? HISTORY_PARAMS.from];
  const toText = q[range?.to ?? HISTORY_PARAMS.to];
  if (fromText !== undefined) filter.from = parseTimeParam(fromText, range?.from ?? 'from', nowMs);
  if (toText !== undefined) filter.to = parseTimeParam(toText, range?.to ?? 'to', nowMs);
  if (filter.from !== undefined && filter.to !== undefined && filter.from >= filter.to) {
    throw new PodflameError(
      'INVALID_REQUEST',
      `${range?.from ?? 'from'} must be before ${range?.to ?? 'to'} (got ${new Date(filter.from).toISOString()} and ${new Date(filter.to).toISOString()})`,
    );
  }
  return filter;
}

/** An event parameter's value; undefined when absent. */
function eventParam(q: Record<string, string>, name: string): ProfileEvent | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (!isProfileEvent(v)) {
    throw new PodflameError('INVALID_REQUEST', `${name} must be one of ${PROFILE_EVENTS.join(', ')}, got '${v}'`, {
      details: { parameter: name },
    });
  }
  return v;
}

function formatOf<T extends string>(q: Record<string, string>, formats: readonly T[], fallback: T): T {
  const f = q[HISTORY_PARAMS.format] ?? fallback;
  if (!(formats as readonly string[]).includes(f)) {
    throw new PodflameError('INVALID_REQUEST', `format must be one of ${formats.join(', ')}, got '${f}'`, {
      details: { parameter: 'format' },
    });
  }
  return f as T;
}

function nothingMatches(f: HistoryFilter, node: string, what = 'stored profile'): PodflameError {
  return new PodflameError('NO_STORED_PROFILES', `no ${what} on node ${node} matches ${describeFilter(f)}`, {
    details: { node },
  });
}

/** A schedule name the caller may see in several namespaces, given without one. */
function ambiguousSchedule(name: string, namespaces: readonly string[]): PodflameError {
  return new PodflameError(
    'SCHEDULE_AMBIGUOUS',
    `schedule name '${name}' is used in ${namespaces.length} namespaces you may see (${namespaces.join(', ')}): ` +
      'add ?namespace=NAMESPACE to say which (podflame: -n NAMESPACE)',
    { details: { schedule: name, namespaces: [...namespaces] } },
  );
}

/**
 * A query by schedule without a namespace answers for one schedule: same-named schedules of two namespaces are two
 * schedules, and their profiles are never listed or merged as one.
 */
function requireOneSchedule(filter: HistoryFilter, ...lists: readonly { namespace: string }[][]): void {
  if (filter.schedule === undefined || filter.namespace !== undefined) return;
  const namespaces = [...new Set(lists.flat().map((i) => i.namespace))].sort();
  if (namespaces.length > 1) throw ambiguousSchedule(filter.schedule, namespaces);
}

function titleFor(f: HistoryFilter): string {
  const who = [f.namespace, f.pod, f.container].filter((x) => x !== undefined).join('/');
  return who === '' ? (f.labelSelector ?? 'all stored profiles') : who;
}

/**
 * Aborted when the caller goes away before the answer is sent: a merge still waiting for its turn is not run, and a
 * running one (merging, packing or drawing) stops at its next turn and hands the gate's turn on at once (issue #13,
 * cold attack 17 F5: an abandoned 7-day merge held the next caller's turn for seconds).
 */
function whileCallerWaits(res: Response): AbortSignal {
  const gone = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) {
      gone.abort(new PodflameError('MERGE_ABORTED', 'the caller went away before its merge was answered'));
    }
  });
  return gone.signal;
}

/**
 * A drawn answer as the bytes to send, counted in the gate until its connection closes (answer-sender.ts). Called
 * within the merge's turn.
 */
function heldForSending(gate: MergeGate, res: Response, answer: GraphAnswer, gone: AbortSignal): SendableAnswer {
  const body = typeof answer.body === 'string' ? Buffer.from(answer.body, 'utf8') : answer.body;
  holdAnswerUntilClosed(gate, res, body.length, gone);
  return { contentType: answer.contentType, body };
}

type SendableAnswer = { contentType: string; body: Buffer };

export function historyRouter(deps: HistoryRouteDeps): Router {
  const router = express.Router();
  const now = deps.now ?? Date.now;
  const graphs = deps.graphs ?? IN_PROCESS_GRAPHS;
  const json = jsonBody(deps.bodyLimitBytes ?? 64 * 1024);
  const mergeLimits = deps.mergeLimits ?? defaultMergeLimits(DEFAULT_WORKER_HEAP_MB * 1024 ** 2, DEFAULT_MAX_STACKS);
  new MergeBudget(mergeLimits); // a cap that allows nothing fails here, when the routes are built
  const gate = deps.mergeGate ?? new MergeGate();
  const store = (): HistoryStore => {
    if (!deps.store) throw noStore();
    return deps.store;
  };
  /** The items (or schedules) of namespaces the caller may see; a namespace the query names must be allowed. */
  const visible = async <T extends { namespace: string }>(req: Request, named: string | undefined, items: T[]) => {
    const check = deps.authorizeNamespace;
    if (!check) return items;
    if (named !== undefined) {
      await check(req, named);
      return items;
    }
    const allowed = new Map<string, boolean>();
    for (const ns of new Set(items.map((i) => i.namespace))) {
      allowed.set(
        ns,
        await check(req, ns).then(
          () => true,
          (err: unknown) => {
            // Only a refusal hides a namespace; an API server that cannot answer is the caller's error to see.
            if (err instanceof PodflameError && err.code === 'FORBIDDEN') return false;
            throw err;
          },
        ),
      );
    }
    return items.filter((i) => allowed.get(i.namespace) === true);
  };

  router.get(`${API_PREFIX}/profiles`, async (req, res) => {
    const q = queryParams(req, LIST_PARAMS);
    const filter = filterFrom(q, now());
    // A list shows every event unless asked for one; a merge always has one (below).
    const event = eventParam(q, HISTORY_PARAMS.event);
    if (event !== undefined) filter.event = event;
    const s = store();
    const items = await visible(req, filter.namespace, s.list(filter));
    requireOneSchedule(filter, items);
    res.json({ node: deps.nodeName, items });
  });

  router.get(`${API_PREFIX}/flamegraph`, async (req, res) => {
    const q = queryParams(req, GRAPH_PARAMS);
    // Never a mix: counts of different events are in different units. cpu unless asked, as before events existed.
    const filter = { ...filterFrom(q, now()), event: eventParam(q, HISTORY_PARAMS.event) ?? DEFAULT_PROFILE_EVENT };
    const format = formatOf(q, HISTORY_FORMATS, 'svg');
    const s = store();
    const listed = await visible(req, filter.namespace, s.list(filter));
    requireOneSchedule(filter, listed);
    const gone = whileCallerWaits(res);
    const answer = await gate.run(async () => {
      const { stacks, eventCounts, items } = await s.merge(listed, new MergeBudget(mergeLimits), gone);
      if (items.length === 0) throw nothingMatches(filter, deps.nodeName);
      const summary = summarize(items);
      res.setHeader(HISTORY_HEADERS.profiles, String(items.length));
      res.setHeader(HISTORY_HEADERS.samples, String(summary.samples));
      res.setHeader(HISTORY_HEADERS.event, summary.event);
      const drawn = await graphs.renderMergedGraph(
        format,
        stacks,
        {
          event: summary.event,
          title: titleFor(filter),
          subtitle: describeMerge(summary),
          frequencyHz: summary.frequencyHz,
          durationSeconds: (summary.toMs - summary.fromMs) / 1000,
          startTimeMs: summary.fromMs,
          // pprof's contentions/count of a lock graph; none when a merged profile was stored without them.
          ...(eventCounts !== undefined ? { eventCounts } : {}),
        },
        gone,
      );
      return heldForSending(gate, res, drawn, gone);
    }, gone);
    sendAnswer(res, answer, deps.answerSend);
  });

  router.get(`${API_PREFIX}/diff`, async (req, res) => {
    const q = queryParams(req, DIFF_PARAMS);
    for (const p of ['baseFrom', 'baseTo', 'targetFrom', 'targetTo'] as const) {
      if (q[p] === undefined) {
        throw new PodflameError(
          'INVALID_REQUEST',
          `${p} is required: /v1/diff compares a base range (baseFrom..baseTo) with a target range (targetFrom..targetTo)`,
          { details: { parameter: p } },
        );
      }
    }
    const nowMs = now();
    const both = eventParam(q, HISTORY_PARAMS.event) ?? DEFAULT_PROFILE_EVENT;
    const event = diffEvent(
      eventParam(q, HISTORY_PARAMS.baseEvent) ?? both,
      eventParam(q, HISTORY_PARAMS.targetEvent) ?? both,
    );
    const base = { ...filterFrom(q, nowMs, { from: 'baseFrom', to: 'baseTo' }), event };
    const target = { ...filterFrom(q, nowMs, { from: 'targetFrom', to: 'targetTo' }), event };
    const format = formatOf(q, DIFF_FORMATS, 'svg');
    const normalizeText = q[HISTORY_PARAMS.normalize] ?? 'true';
    if (normalizeText !== 'true' && normalizeText !== 'false') {
      throw new PodflameError('INVALID_REQUEST', `normalize must be true or false, got '${normalizeText}'`);
    }
    const s = store();
    const baseListed = await visible(req, base.namespace, s.list(base));
    const targetListed = await visible(req, target.namespace, s.list(target));
    requireOneSchedule(base, baseListed, targetListed);
    const gone = whileCallerWaits(res);
    const answer = await gate.run(async () => {
      // One budget for both sides: both go to the worker.
      const budget = new MergeBudget(mergeLimits);
      const baseMerge = await s.merge(baseListed, budget, gone);
      if (baseMerge.items.length === 0) throw nothingMatches(base, deps.nodeName, 'stored profile of the base range');
      const targetMerge = await s.merge(targetListed, budget, gone);
      if (targetMerge.items.length === 0)
        throw nothingMatches(target, deps.nodeName, 'stored profile of the target range');
      const b = summarize(baseMerge.items);
      const t = summarize(targetMerge.items);
      res.setHeader(HISTORY_HEADERS.profiles, `${b.profiles},${t.profiles}`);
      res.setHeader(HISTORY_HEADERS.samples, `${b.samples},${t.samples}`);
      res.setHeader(HISTORY_HEADERS.event, diffEvent(b.event, t.event));
      const drawn = await graphs.renderDiffGraph(
        format,
        baseMerge.stacks,
        targetMerge.stacks,
        {
          event,
          title: `${titleFor(base)}: differential`,
          subtitle: `base: ${describeMerge(b)}; target: ${describeMerge(t)}${normalizeText === 'true' ? '; normalized' : ''}`,
          normalize: normalizeText === 'true',
        },
        gone,
      );
      return heldForSending(gate, res, drawn, gone);
    }, gone);
    sendAnswer(res, answer, deps.answerSend);
  });

  const scheduler = (): ScheduleAdmin => {
    if (!deps.scheduler) throw noStore();
    return deps.scheduler;
  };
  // The same answer whether no namespace has the name or only namespaces the caller may not see have it.
  const notFound = (name: string, namespace?: string) =>
    namespace === undefined
      ? new PodflameError(
          'SCHEDULE_NOT_FOUND',
          `no schedule named '${name}' on node ${deps.nodeName} in the namespaces you may profile; ` +
            'GET /v1/schedules lists those you may see',
          { details: { schedule: name } },
        )
      : new PodflameError(
          'SCHEDULE_NOT_FOUND',
          `no schedule named '${name}' in namespace ${namespace} on node ${deps.nodeName}`,
          { details: { schedule: name, namespace } },
        );
  const namespaceOf = (req: Request): string | undefined => {
    const value = queryParams(req, ['namespace']).namespace;
    return value === undefined || value === '' ? undefined : parseNamespaceParam(value);
  };

  /**
   * The schedule `GET`/`DELETE /v1/schedules/:name` mean: with `?namespace=`, that namespace's (the caller must be
   * allowed there: 403 otherwise, whether the schedule exists or not); without, the one of that name among the
   * namespaces the caller may see (409 SCHEDULE_AMBIGUOUS when several are).
   */
  const namedSchedule = async (req: Request): Promise<ScheduleStatus> => {
    const name = req.params.name as string;
    const namespace = namespaceOf(req);
    if (namespace !== undefined) {
      await deps.authorizeNamespace?.(req, namespace);
      const status = scheduler().status(namespace, name);
      if (!status) throw notFound(name, namespace);
      return status;
    }
    const seen = await visible(req, undefined, scheduler().named(name));
    if (seen.length > 1)
      throw ambiguousSchedule(
        name,
        seen.map((s) => s.namespace),
      );
    const [only] = seen;
    if (!only) throw notFound(name);
    return only;
  };

  router.get(`${API_PREFIX}/schedules`, async (req, res) => {
    const namespace = namespaceOf(req);
    const all = scheduler().list();
    const items = namespace === undefined ? all : all.filter((s) => s.namespace === namespace);
    res.json({ node: deps.nodeName, items: await visible(req, namespace, items) });
  });

  router.get(`${API_PREFIX}/schedules/:name`, async (req, res) => {
    res.json(await namedSchedule(req));
  });

  router.put(`${API_PREFIX}/schedules/:name`, ...json, async (req, res) => {
    const namespace = namespaceOf(req);
    const spec = parseScheduleBody(req.params.name as string, req.body);
    if (namespace !== undefined && namespace !== spec.namespace) {
      throw new PodflameError(
        'INVALID_REQUEST',
        `schedule '${spec.name}': ?namespace=${namespace} and the body's namespace ${spec.namespace} differ; a ` +
          'schedule belongs to the namespace it profiles: leave ?namespace= out or make them agree',
        { details: { schedule: spec.name, parameter: 'namespace' } },
      );
    }
    // The namespace is the one the body names: refusing it tells the caller nothing about other namespaces.
    await deps.authorizeNamespace?.(req, spec.namespace);
    const { created, status } = scheduler().put(spec);
    await deps.onSchedulesChanged?.();
    res.status(created ? 201 : 200).json(status);
  });

  router.delete(`${API_PREFIX}/schedules/:name`, async (req, res) => {
    const existing = await namedSchedule(req);
    scheduler().delete(existing.namespace, existing.name);
    await deps.onSchedulesChanged?.();
    res.status(204).end();
  });

  return router;
}
