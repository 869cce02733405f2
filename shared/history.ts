/**
 * Continuous profiling over time, the shapes both sides share: a stored profile's metadata, the query parameters of
 * `GET /v1/profiles`, `/v1/flamegraph` and `/v1/diff`, schedule status, and the time syntax of `from`/`to`.
 */
import { PodflameError } from './errors.js';
import type { CaptureWarning } from './api.js';
import type { ProfileEvent } from './profile-events.js';

/** Metadata of one profile in an agent's node-local store (the list answer's items). */
export interface StoredProfile {
  /** `YYYYMMDDTHHMMSSZ-` + 8 hex digits: sorts by start time, safe as a file name. */
  id: string;
  namespace: string;
  pod: string;
  container: string;
  node: string;
  /** Start of the capture, ISO 8601 in UTC. */
  start: string;
  durationSeconds: number;
  frequencyHz: number;
  /**
   * The capture's JVM options: `inlined`, whether inlined frames were asked for (their stacks are deeper than the
   * same code's without them, so a merge or diff over both kinds is worth a second look). False for profiles stored
   * before the option existed.
   */
  java: { inlined: boolean };
  /** What the profile counts (its unit is EVENT_KINDS[event].unit); `cpu` for profiles stored before events existed. */
  event: ProfileEvent;
  /**
   * The sum of the stored folded counts, in the event's unit: perf samples (cpu), Flight Recorder samples (wall),
   * bytes allocated (alloc), nanoseconds blocked (lock).
   */
  samples: number;
  warnings: CaptureWarning[];
  /** Name of the schedule that took it; null for a profile stored outside a schedule. */
  schedule: string | null;
  podUid: string | null;
  containerId: string | null;
  /** The pod's labels when the capture ran (so that `labelSelector` still finds pods that are gone). */
  labels: Record<string, string>;
  /**
   * Bytes the store counts for the profile (retention, quotas): its (stack ID, count) pairs on disk plus the stack
   * dictionary lines it added (`dictionaryBytes`).
   */
  bytes: number;
  /**
   * Of `bytes`, the stack dictionary lines the profile is charged for: those it added (new stacks and frames), and
   * those of removed profiles it is the first still stored to use; absent (0) before they counted.
   */
  dictionaryBytes?: number;
  /**
   * The day's next stack ID when the profile was stored (its new stacks' IDs start there): the order in which a day's
   * profiles were stored, which decides who is charged for a line (the first stored profile that uses it). Absent in
   * profiles stored before it was kept (they count as stored first).
   */
  firstNewStackId?: number;
}

export interface ProfileListResponse {
  node: string;
  items: StoredProfile[];
}

/** Which stored profiles a query selects; every field is optional and they all must hold. */
export interface HistoryFilter {
  /** Only profiles of this event. Merges and diffs always have one (`cpu` unless asked); a list may have none. */
  event?: ProfileEvent;
  namespace?: string;
  pod?: string;
  container?: string;
  schedule?: string;
  /** A Kubernetes label selector matched against the labels recorded with each profile. */
  labelSelector?: string;
  /** Inclusive lower bound on the profile's start, ms since the epoch. */
  from?: number;
  /** Exclusive upper bound on the profile's start, ms since the epoch. */
  to?: number;
}

/** A filter in words, for messages such as "no stored profile matches namespace shop, from 2025-11-27T09:00:00.000Z". */
export function describeFilter(filter: HistoryFilter): string {
  const parts: string[] = [];
  if (filter.namespace) parts.push(`namespace ${filter.namespace}`);
  if (filter.pod) parts.push(`pod ${filter.pod}`);
  if (filter.container) parts.push(`container ${filter.container}`);
  if (filter.schedule) parts.push(`schedule ${filter.schedule}`);
  if (filter.labelSelector) parts.push(`labels ${filter.labelSelector}`);
  if (filter.from !== undefined) parts.push(`from ${new Date(filter.from).toISOString()}`);
  if (filter.to !== undefined) parts.push(`to ${new Date(filter.to).toISOString()}`);
  if (filter.event !== undefined) parts.push(`event ${filter.event}`);
  return parts.length > 0 ? parts.join(', ') : 'any profile';
}

/** Query parameter names, shared so the client and the agent cannot drift apart. */
export const HISTORY_PARAMS = {
  event: 'event',
  namespace: 'namespace',
  pod: 'pod',
  container: 'container',
  schedule: 'schedule',
  labelSelector: 'labelSelector',
  from: 'from',
  to: 'to',
  format: 'format',
  baseFrom: 'baseFrom',
  baseTo: 'baseTo',
  targetFrom: 'targetFrom',
  targetTo: 'targetTo',
  normalize: 'normalize',
  /** `/v1/diff` only: one side's event, instead of `event`; the two sides must agree (else EVENT_MISMATCH). */
  baseEvent: 'baseEvent',
  targetEvent: 'targetEvent',
} as const;

export const HISTORY_FORMATS = ['svg', 'folded', 'pprof'] as const;
export type HistoryFormat = (typeof HISTORY_FORMATS)[number];
export const DIFF_FORMATS = ['svg', 'folded'] as const;
export type DiffFormat = (typeof DIFF_FORMATS)[number];

/** Answer headers of `/v1/flamegraph` and `/v1/diff`. */
export const HISTORY_HEADERS = {
  /** Number of stored profiles merged (for a diff: `BASE,TARGET`). */
  profiles: 'x-podflame-profiles',
  /** Sum of the merged profiles' samples (for a diff: `BASE,TARGET`). */
  samples: 'x-podflame-samples',
  node: 'x-podflame-node',
  /** The event of the merged profiles (`cpu`, `alloc`, `lock`, `wall`); absent from agents older than events: cpu. */
  event: 'x-podflame-event',
} as const;

/** Outcome of one schedule run. */
export type ScheduleRunOutcome = 'ok' | 'partial' | 'failed' | 'no_targets' | 'skipped_overlap';

export interface ScheduleRunRecord {
  startedAt: string;
  finishedAt: string;
  outcome: ScheduleRunOutcome;
  /** Profiles stored by this run. */
  profiles: number;
  /** Targets the run tried. */
  targets: number;
  error?: { code: string; message: string };
}

/** One schedule's definition, validated: what the YAML file and `PUT /v1/schedules/:name` describe. */
export interface ScheduleDefinition {
  name: string;
  /** Five fields (minute first) or six (seconds first), node-cron syntax. */
  cron: string;
  /** IANA time zone of the cron expression; the agent's own when absent. */
  timezone?: string;
  namespace: string;
  labelSelector?: string;
  /** A pod name: only that pod (matched in local mode too). */
  pod?: string;
  /** A container name; every application container of each matching pod when absent. */
  container?: string;
  durationSeconds: number;
  frequencyHz: number;
  /** Ask for inlined Java frames in every capture (`java.inlined` of `POST /v1/profiles`); off when absent. */
  inlined?: boolean;
  /** What every capture records (`event` of `POST /v1/profiles`); `cpu` when absent. */
  event?: ProfileEvent;
  /** How long this schedule's profiles are kept (`90m`, `24h`, `7d`); the store's limit when absent. */
  retention?: string;
}

/** One schedule as `GET /v1/schedules` lists it: its definition and its health. */
export interface ScheduleStatus extends ScheduleDefinition {
  source: 'file' | 'api';
  running: boolean;
  nextRun: string | null;
  lastRun: ScheduleRunRecord | null;
  lastError: { at: string; code: string; message: string } | null;
  counts: {
    runs: number;
    ok: number;
    partial: number;
    failed: number;
    noTargets: number;
    skipped: number;
    profiles: number;
  };
}

export interface ScheduleListResponse {
  node: string;
  items: ScheduleStatus[];
}

const RELATIVE = /^now(?:-(\d+(?:\.\d+)?)(s|m|h|d|w))?$/;
const UNIT_MS: Readonly<Record<string, number>> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

/**
 * Parses a point in time as the query API accepts it: RFC 3339 (`2025-11-27T04:00:00Z`), unix seconds
 * (`1764216000`), or relative to `nowMs` (`now`, `now-90m`, `now-2h`, `now-7d`). Returns ms since the epoch.
 */
export function parseTimeParam(text: string, what: string, nowMs: number): number {
  const t = text.trim();
  const rel = RELATIVE.exec(t);
  if (rel) return rel[1] === undefined ? nowMs : nowMs - Number(rel[1]) * (UNIT_MS[rel[2] as string] as number);
  if (/^\d{9,11}$/.test(t)) return Number(t) * 1000;
  // Only full date-times: Date.parse accepts loose forms (`2025`) that would surprise a user.
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(t)) {
    const ms = Date.parse(t);
    if (Number.isFinite(ms)) return ms;
  }
  throw new PodflameError(
    'INVALID_REQUEST',
    `${what} must be a time such as 2025-11-27T04:00:00Z, unix seconds, now or now-2h, got '${text}'`,
    { details: { parameter: what } },
  );
}

/** Durations of retention and of `--since`: `90s`, `30m`, `2h`, `7d`, `1w`; returns seconds. */
export function parseAgeSeconds(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d|w)$/.exec(text.trim());
  const seconds = m ? (Number(m[1]) * (UNIT_MS[m[2] as string] as number)) / 1000 : NaN;
  if (!m || !(seconds > 0)) {
    throw new PodflameError('INVALID_REQUEST', `${what} must be a duration such as 90s, 30m, 2h or 7d, got '${text}'`, {
      details: { parameter: what },
    });
  }
  return seconds;
}
