/**
 * Runs schedules on this node: at each cron time, after a bounded random delay (so that the agents of a cluster do
 * not all capture at the same second), it finds the matching containers on this node, captures each, and stores the
 * result (and hands it to the exporter, when there is one). A schedule never overlaps itself: a tick that finds the
 * previous run still going is counted as skipped. Health is data: every schedule has a status (last run, last error,
 * next run, counts) and metrics.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { Counter, Gauge, type Registry } from 'prom-client';
import { PodflameError, asPodflameError } from '../../shared/errors.js';
import type { CaptureWarning, ScheduleRef } from '../../shared/api.js';
import type { EventCounts, FoldedStacks } from '../../shared/folded.js';
import type { ScheduleRunOutcome, ScheduleRunRecord, ScheduleStatus, StoredProfile } from '../../shared/history.js';
import type { NewProfile } from '../store/profile-store.js';
import { DEFAULT_PROFILE_EVENT, type ProfileEvent } from '../../shared/profile-events.js';
import { nodeCronTriggers, type CronTrigger, type TriggerFactory } from './cron-trigger.js';
import { formatAge, retentionSeconds, scheduleKey, type ScheduleSpec } from './schedule-config.js';
import type { CaptureTarget, TargetSelector } from './targets.js';

export interface ScheduledCaptureRequest {
  target: CaptureTarget;
  durationSeconds: number;
  frequencyHz: number;
  /** The schedule's `inlined`: load the JVMTI agent for inlined Java frames. */
  javaInlined: boolean;
  /** The schedule's `event`: what every capture records. */
  event: ProfileEvent;
  /** The schedule that asked (shown with the capture while it is among the agent's recent profiles). */
  schedule: ScheduleRef;
  /** Aborted when the scheduler closes. */
  signal: AbortSignal;
}

export interface ScheduledCaptureResult {
  stacks: FoldedStacks;
  /** Per stack, how many events made up its count (a lock capture's contentions); absent for other events. */
  eventCounts?: EventCounts;
  warnings: CaptureWarning[];
  /** When perf started, ms since the epoch. */
  startedAtMs: number;
}

/** Runs one capture (the agent's capture service, which also enforces its concurrency limits). */
export type ScheduledCapture = (request: ScheduledCaptureRequest) => Promise<ScheduledCaptureResult>;

export interface TargetSource {
  find(selector: TargetSelector): Promise<CaptureTarget[]>;
}

/** The part of the profile store the scheduler uses. */
export interface ProfileSink {
  put(profile: NewProfile): Promise<StoredProfile>;
  setScheduleRetention(namespace: string, schedule: string, maxAgeSeconds: number | undefined): void;
}

/** Where scheduled profiles also go (Pyroscope); must not throw or block. */
export interface ProfileExport {
  enqueue(profile: StoredProfile, stacks: FoldedStacks, eventCounts?: EventCounts): void;
}

/** pino-compatible. */
export interface SchedulerLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface SchedulerOptions {
  /** This agent's node, recorded with every profile. Required. */
  nodeName: string;
  /** Runs a capture. Required. */
  capture: ScheduledCapture;
  /** Finds the containers a schedule selects on this node. Required. */
  targets: TargetSource;
  /** Keeps the profiles. Required. */
  store: ProfileSink;
  /** Also sends each stored profile elsewhere. Default: none. */
  exporter?: ProfileExport;
  /** Registry for the schedule metrics. Default: none. */
  registry?: Registry;
  /** When schedules fire. Default: node-cron. */
  triggers?: TriggerFactory;
  /** Clock, ms since the epoch. Default `Date.now`. */
  now?: () => number;
  /** Uniform random number in [0, 1) for the jitter. Default `Math.random`. */
  random?: () => number;
  /** Waits `ms` unless aborted. Default: a timer. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Upper bound of the random delay before a run, ms. Default 10 000. */
  maxJitterMs?: number;
  /** The delay is also at most this share of the schedule's period (so `every 3 s` stays every 3 s). Default 0.1. */
  maxJitterShare?: number;
  /** Containers captured at once within one run. Default 2. */
  parallelCaptures?: number;
  /** Default: silent. */
  logger?: SchedulerLogger;
  /** Longest `retention` a schedule may ask for, in seconds (`--schedule-max-retention`). Default 30 days. */
  maxRetentionSeconds?: number;
  /**
   * Schedules one namespace may have on this agent (`--namespace-max-schedules`); a PUT beyond it is refused with
   * QUOTA_EXCEEDED. The file's schedules count toward it but are never refused (the operator wrote them). Default 10.
   */
  maxSchedulesPerNamespace?: number;
  /**
   * Label the schedule metrics with each schedule's namespace and name (`--metrics-schedule-names`). Off, every series
   * carries `schedule="all"`: `/metrics` is open (no token), and schedule names say what other teams profile.
   * Default false.
   */
  metricsScheduleNames?: boolean;
}

/** The `schedule` label of every series when schedule names are kept out of the metrics. */
export const ALL_SCHEDULES_LABEL = 'all';

export const DEFAULT_SCHEDULER_OPTIONS = Object.freeze({
  now: Date.now,
  random: Math.random,
  maxJitterMs: 10_000,
  maxJitterShare: 0.1,
  parallelCaptures: 2,
  maxRetentionSeconds: 30 * 86400,
  maxSchedulesPerNamespace: 10,
});

const defaultSleep = (ms: number, signal: AbortSignal): Promise<void> =>
  ms <= 0 ? Promise.resolve() : delay(ms, undefined, { signal }).then(() => undefined);

const silent: SchedulerLogger = { info: () => undefined, warn: () => undefined };

interface Entry {
  spec: ScheduleSpec;
  source: 'file' | 'api';
  trigger: CronTrigger;
  running: Promise<ScheduleRunRecord> | undefined;
  lastRun: ScheduleRunRecord | null;
  lastError: ScheduleStatus['lastError'];
  counts: ScheduleStatus['counts'];
}

/** A schedule's series: `namespace` only when names are shown (one name may be a schedule in several namespaces). */
type ScheduleLabel = 'namespace' | 'schedule';
type ScheduleLabels = Partial<Record<ScheduleLabel, string>>;

interface SchedulerMetrics {
  runs: Counter<ScheduleLabel | 'outcome'>;
  profiles: Counter<ScheduleLabel>;
  captureFailures: Counter<ScheduleLabel | 'code'>;
  lastRun: Gauge<ScheduleLabel>;
}

function keyOf(spec: Pick<ScheduleSpec, 'namespace' | 'name'>): string {
  return scheduleKey(spec.namespace, spec.name);
}

function byNameThenNamespace(a: ScheduleSpec, b: ScheduleSpec): number {
  return a.name < b.name
    ? -1
    : a.name > b.name
      ? 1
      : a.namespace < b.namespace
        ? -1
        : a.namespace > b.namespace
          ? 1
          : 0;
}

const OUTCOME_COUNT: Record<ScheduleRunOutcome, keyof ScheduleStatus['counts']> = {
  ok: 'ok',
  partial: 'partial',
  failed: 'failed',
  no_targets: 'noTargets',
  skipped_overlap: 'skipped',
};

export class Scheduler {
  private readonly options: SchedulerOptions;
  private readonly triggers: TriggerFactory;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly maxJitterMs: number;
  private readonly maxJitterShare: number;
  private readonly parallelCaptures: number;
  private readonly maxRetentionSeconds: number;
  private readonly maxSchedulesPerNamespace: number;
  private readonly logger: SchedulerLogger;
  private readonly entries = new Map<string, Entry>();
  private readonly metrics: SchedulerMetrics | undefined;
  private readonly metricsScheduleNames: boolean;
  private readonly abort = new AbortController();
  private started = false;
  private closed = false;

  constructor(options: SchedulerOptions) {
    this.options = options;
    this.triggers = options.triggers ?? nodeCronTriggers;
    this.now = options.now ?? DEFAULT_SCHEDULER_OPTIONS.now;
    this.random = options.random ?? DEFAULT_SCHEDULER_OPTIONS.random;
    this.sleep = options.sleep ?? defaultSleep;
    this.maxJitterMs = options.maxJitterMs ?? DEFAULT_SCHEDULER_OPTIONS.maxJitterMs;
    this.maxJitterShare = options.maxJitterShare ?? DEFAULT_SCHEDULER_OPTIONS.maxJitterShare;
    this.parallelCaptures = options.parallelCaptures ?? DEFAULT_SCHEDULER_OPTIONS.parallelCaptures;
    this.maxRetentionSeconds = options.maxRetentionSeconds ?? DEFAULT_SCHEDULER_OPTIONS.maxRetentionSeconds;
    this.maxSchedulesPerNamespace =
      options.maxSchedulesPerNamespace ?? DEFAULT_SCHEDULER_OPTIONS.maxSchedulesPerNamespace;
    this.logger = options.logger ?? silent;
    if (!(this.maxJitterMs >= 0) || !(this.maxJitterShare >= 0) || !(this.parallelCaptures >= 1)) {
      throw new PodflameError('CONFIG_INVALID', 'scheduler jitter bounds must be ≥ 0 and parallel captures ≥ 1');
    }
    if (
      !(this.maxRetentionSeconds > 0) ||
      !(Number.isInteger(this.maxSchedulesPerNamespace) && this.maxSchedulesPerNamespace >= 1)
    ) {
      throw new PodflameError(
        'CONFIG_INVALID',
        'the longest schedule retention must be positive and the schedules per namespace a whole number ≥ 1',
        {
          details: {
            maxRetentionSeconds: this.maxRetentionSeconds,
            maxSchedulesPerNamespace: this.maxSchedulesPerNamespace,
          },
        },
      );
    }
    this.metricsScheduleNames = options.metricsScheduleNames ?? false;
    this.metrics = options.registry ? this.registerMetrics(options.registry) : undefined;
  }

  /** The labels a schedule's series carry: its namespace and name, or `schedule="all"` for every schedule. */
  private metricLabels(spec: Pick<ScheduleSpec, 'namespace' | 'name'>): ScheduleLabels {
    return this.metricsScheduleNames
      ? { namespace: spec.namespace, schedule: spec.name }
      : { schedule: ALL_SCHEDULES_LABEL };
  }

  private registerMetrics(registry: Registry): SchedulerMetrics {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const scheduler = this;
    // With names shown, a schedule is its namespace and name: a name alone would add up two namespaces' schedules.
    const scheduleLabels: readonly ScheduleLabel[] = this.metricsScheduleNames
      ? ['namespace', 'schedule']
      : ['schedule'];
    new Gauge({
      name: 'podflame_schedule_next_run_timestamp_seconds',
      help: 'When each schedule fires next (unix seconds); with schedule="all", the soonest of them',
      labelNames: scheduleLabels,
      registers: [registry],
      collect() {
        this.reset();
        const soonest = new Map<string, { labels: ScheduleLabels; at: number }>();
        for (const entry of scheduler.entries.values()) {
          const next = entry.trigger.nextRuns(1)[0];
          if (!next) continue;
          const labels = scheduler.metricLabels(entry.spec);
          const key = JSON.stringify(labels);
          soonest.set(key, { labels, at: Math.min(soonest.get(key)?.at ?? Infinity, next.getTime() / 1000) });
        }
        for (const { labels, at } of soonest.values()) this.set(labels, at);
      },
    });
    new Gauge({
      name: 'podflame_schedule_running',
      help: 'Schedule runs in progress (1 or 0 per schedule; with schedule="all", how many)',
      labelNames: scheduleLabels,
      registers: [registry],
      collect() {
        this.reset();
        for (const entry of scheduler.entries.values())
          this.inc(scheduler.metricLabels(entry.spec), entry.running ? 1 : 0);
      },
    });
    return {
      runs: new Counter({
        name: 'podflame_schedule_runs_total',
        help: 'Schedule runs by outcome (ok, partial, failed, no_targets, skipped_overlap)',
        labelNames: [...scheduleLabels, 'outcome'],
        registers: [registry],
      }),
      profiles: new Counter({
        name: 'podflame_schedule_profiles_total',
        help: 'Profiles stored by schedule runs',
        labelNames: scheduleLabels,
        registers: [registry],
      }),
      captureFailures: new Counter({
        name: 'podflame_schedule_capture_failures_total',
        help: 'Captures of schedule runs that failed, by error code',
        labelNames: [...scheduleLabels, 'code'],
        registers: [registry],
      }),
      lastRun: new Gauge({
        name: 'podflame_schedule_last_run_timestamp_seconds',
        help: 'When each schedule last finished a run (unix seconds); with schedule="all", the latest of them',
        labelNames: scheduleLabels,
        registers: [registry],
      }),
    };
  }

  /** Starts the triggers of the schedules defined so far (and of those added later). */
  start(): void {
    if (this.closed) throw new PodflameError('INTERNAL', 'the scheduler is closed');
    if (this.started) return;
    this.started = true;
    for (const entry of this.entries.values()) entry.trigger.start();
  }

  /** Throws CONFIG_INVALID naming the first schedule of the file whose retention is above the maximum. */
  checkFile(specs: readonly ScheduleSpec[]): void {
    for (const spec of specs) {
      if (!this.retentionTooLong(spec)) continue;
      throw new PodflameError(
        'CONFIG_INVALID',
        `schedules file: schedule '${spec.name}': retention ${spec.retention} is above this agent's maximum of ` +
          `${formatAge(this.maxRetentionSeconds)} (--schedule-max-retention); shorten it in the file or raise the flag`,
        { details: { schedule: spec.name, field: 'retention', maxRetention: formatAge(this.maxRetentionSeconds) } },
      );
    }
  }

  private retentionTooLong(spec: ScheduleSpec): boolean {
    const seconds = retentionSeconds(spec);
    return seconds !== undefined && seconds > this.maxRetentionSeconds;
  }

  /**
   * Replaces every file-defined schedule with `specs` (API-defined ones stay); a retention above the maximum refuses
   * the whole file (CONFIG_INVALID) before anything changes.
   */
  loadFile(specs: readonly ScheduleSpec[]): void {
    this.checkFile(specs);
    const keys = new Set(specs.map(keyOf));
    for (const [key, entry] of this.entries) {
      if (entry.source === 'file' && !keys.has(key)) this.removeEntry(key);
    }
    for (const spec of specs) {
      // Only the same name in the same namespace: a file's `nightly` in shop leaves vault's `nightly` alone.
      const existing = this.entries.get(keyOf(spec));
      if (existing?.source === 'api') {
        this.logger.warn(
          { schedule: spec.name, namespace: spec.namespace },
          'schedule in the file replaces the one defined through the API',
        );
      }
      this.set(spec, 'file');
    }
  }

  /** Creates or replaces an API-defined schedule. A file-defined one is changed in the file only. */
  put(spec: ScheduleSpec): { created: boolean; status: ScheduleStatus } {
    const existing = this.entries.get(keyOf(spec));
    if (existing?.source === 'file') {
      throw new PodflameError(
        'SCHEDULE_READ_ONLY',
        `schedule '${spec.name}' of namespace ${spec.namespace} is defined in the schedules file; change it there ` +
          '(or pick another name)',
        { details: { schedule: spec.name, namespace: spec.namespace } },
      );
    }
    if (this.retentionTooLong(spec)) {
      const max = formatAge(this.maxRetentionSeconds);
      throw new PodflameError(
        'INVALID_REQUEST',
        `schedule '${spec.name}': retention ${spec.retention} is above this agent's maximum of ${max} ` +
          `(--schedule-max-retention); ask for ${max} or less`,
        {
          details: {
            schedule: spec.name,
            field: 'retention',
            maxRetention: max,
            maxRetentionSeconds: this.maxRetentionSeconds,
          },
        },
      );
    }
    // Replacing one of the namespace's schedules takes no new share.
    const used = [...this.entries.values()].filter(
      (e) => e.spec.namespace === spec.namespace && e.spec.name !== spec.name,
    ).length;
    if (used >= this.maxSchedulesPerNamespace) {
      throw new PodflameError(
        'QUOTA_EXCEEDED',
        `namespace ${spec.namespace} already has ${used} schedules on this agent, its limit ` +
          `(--namespace-max-schedules ${this.maxSchedulesPerNamespace}); delete one or ask the operator for more`,
        {
          details: {
            quota: 'schedules',
            limit: this.maxSchedulesPerNamespace,
            namespace: spec.namespace,
            used,
            schedule: spec.name,
          },
        },
      );
    }
    this.set(spec, 'api');
    return { created: existing === undefined, status: this.status(spec.namespace, spec.name) as ScheduleStatus };
  }

  /**
   * Brings back an API-defined schedule saved before a restart, without the quota (it was admitted then): a
   * retention above a maximum lowered since is cut to the maximum, with a warning. Returns the schedule in force.
   */
  restore(spec: ScheduleSpec): ScheduleSpec {
    let restored = spec;
    if (this.retentionTooLong(spec)) {
      restored = { ...spec, retention: formatAge(this.maxRetentionSeconds) };
      this.logger.warn(
        { schedule: spec.name, retention: spec.retention, maxRetention: restored.retention },
        'saved schedule asks for a retention above --schedule-max-retention: cut to the maximum',
      );
    }
    this.set(restored, 'api');
    return restored;
  }

  /** Removes an API-defined schedule; false when the namespace has none of that name. */
  delete(namespace: string, name: string): boolean {
    const key = scheduleKey(namespace, name);
    const existing = this.entries.get(key);
    if (!existing) return false;
    if (existing.source === 'file') {
      throw new PodflameError(
        'SCHEDULE_READ_ONLY',
        `schedule '${name}' of namespace ${namespace} is defined in the schedules file; remove it there`,
        { details: { schedule: name, namespace } },
      );
    }
    this.removeEntry(key);
    return true;
  }

  /** API-defined schedules, for persisting them. */
  apiSchedules(): ScheduleSpec[] {
    return [...this.entries.values()]
      .filter((e) => e.source === 'api')
      .map((e) => e.spec)
      .sort(byNameThenNamespace);
  }

  private set(spec: ScheduleSpec, source: 'file' | 'api'): void {
    const key = keyOf(spec);
    const previous = this.entries.get(key);
    previous?.trigger.stop();
    const trigger = this.triggers(spec, () => {
      this.run(spec.namespace, spec.name).catch(() => undefined);
    });
    const entry: Entry = {
      spec,
      source,
      trigger,
      // A changed definition keeps its history and its run in progress.
      running: previous?.running,
      lastRun: previous?.lastRun ?? null,
      lastError: previous?.lastError ?? null,
      counts: previous?.counts ?? { runs: 0, ok: 0, partial: 0, failed: 0, noTargets: 0, skipped: 0, profiles: 0 },
    };
    this.entries.set(key, entry);
    this.options.store.setScheduleRetention(spec.namespace, spec.name, retentionSeconds(spec));
    if (this.started && !this.closed) trigger.start();
  }

  private removeEntry(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.trigger.stop();
    this.entries.delete(key);
    this.options.store.setScheduleRetention(entry.spec.namespace, entry.spec.name, undefined);
    // Series of all schedules together stay: the others still count in them.
    if (this.metrics && this.metricsScheduleNames) {
      const labels = this.metricLabels(entry.spec);
      for (const outcome of Object.keys(OUTCOME_COUNT)) this.metrics.runs.remove({ ...labels, outcome });
      this.metrics.profiles.remove(labels);
      this.metrics.lastRun.remove(labels);
    }
  }

  /** The schedule `name` of `namespace`; undefined when there is none. */
  status(namespace: string, name: string): ScheduleStatus | undefined {
    const e = this.entries.get(scheduleKey(namespace, name));
    if (!e) return undefined;
    return this.statusOf(e);
  }

  /** Every schedule of that name, one per namespace that has one, by namespace. */
  named(name: string): ScheduleStatus[] {
    return [...this.entries.values()]
      .filter((e) => e.spec.name === name)
      .sort((a, b) => byNameThenNamespace(a.spec, b.spec))
      .map((e) => this.statusOf(e));
  }

  private statusOf(e: Entry): ScheduleStatus {
    const next = e.trigger.nextRuns(1)[0];
    return {
      ...e.spec,
      // Always shown, so a reader of the status need not know the default.
      event: e.spec.event ?? DEFAULT_PROFILE_EVENT,
      source: e.source,
      running: e.running !== undefined,
      nextRun: next ? next.toISOString() : null,
      lastRun: e.lastRun,
      lastError: e.lastError,
      counts: { ...e.counts },
    };
  }

  /** Every schedule, by name, then namespace. */
  list(): ScheduleStatus[] {
    return [...this.entries.values()].sort((a, b) => byNameThenNamespace(a.spec, b.spec)).map((e) => this.statusOf(e));
  }

  /** Runs a schedule now, as its trigger does (jitter included); resolves with the run's record. */
  run(namespace: string, name: string): Promise<ScheduleRunRecord> {
    const key = scheduleKey(namespace, name);
    const entry = this.entries.get(key);
    if (!entry) {
      return Promise.reject(
        new PodflameError('SCHEDULE_NOT_FOUND', `no schedule named '${name}' in namespace ${namespace} on this agent`, {
          details: { schedule: name, namespace },
        }),
      );
    }
    if (this.closed) return Promise.reject(new PodflameError('INTERNAL', 'the scheduler is closed'));
    if (entry.running) {
      const at = new Date(this.now()).toISOString();
      const record: ScheduleRunRecord = {
        startedAt: at,
        finishedAt: at,
        outcome: 'skipped_overlap',
        profiles: 0,
        targets: 0,
      };
      this.count(entry, record);
      this.logger.warn({ schedule: name, namespace }, 'schedule run skipped: the previous run is still going');
      return Promise.resolve(record);
    }
    const running = this.execute(entry).finally(() => {
      if (entry.running === running) entry.running = undefined;
      // The definition may have been replaced meanwhile: the current entry inherits the flag.
      const current = this.entries.get(key);
      if (current && current.running === running) current.running = undefined;
    });
    entry.running = running;
    return running;
  }

  private jitterMs(entry: Entry): number {
    const [a, b] = entry.trigger.nextRuns(2);
    const period = a && b ? b.getTime() - a.getTime() : Infinity;
    return Math.floor(this.random() * Math.min(this.maxJitterMs, period * this.maxJitterShare));
  }

  private async execute(entry: Entry): Promise<ScheduleRunRecord> {
    const { spec } = entry;
    const signal = this.abort.signal;
    const startedAt = new Date(this.now()).toISOString();
    let record: ScheduleRunRecord;
    try {
      await this.sleep(this.jitterMs(entry), signal);
      const targets = await this.options.targets.find(spec);
      if (targets.length === 0) {
        record = {
          startedAt,
          finishedAt: new Date(this.now()).toISOString(),
          outcome: 'no_targets',
          profiles: 0,
          targets: 0,
        };
      } else {
        const errors = await this.captureAll(spec, targets, signal);
        const stored = targets.length - errors.length;
        const outcome: ScheduleRunOutcome = errors.length === 0 ? 'ok' : stored === 0 ? 'failed' : 'partial';
        record = {
          startedAt,
          finishedAt: new Date(this.now()).toISOString(),
          outcome,
          profiles: stored,
          targets: targets.length,
        };
        const first = errors[0];
        if (first) record.error = { code: first.code, message: first.message };
      }
    } catch (err) {
      const e = asPodflameError(err, 'INTERNAL', `schedule '${spec.name}' failed`);
      record = {
        startedAt,
        finishedAt: new Date(this.now()).toISOString(),
        outcome: 'failed',
        profiles: 0,
        targets: 0,
        error: { code: e.code, message: e.message },
      };
    }
    this.count(entry, record);
    this.logger.info(
      {
        schedule: spec.name,
        namespace: spec.namespace,
        outcome: record.outcome,
        profiles: record.profiles,
        targets: record.targets,
      },
      'schedule run finished',
    );
    return record;
  }

  private count(entry: Entry, record: ScheduleRunRecord): void {
    // Record into whatever entry now holds the schedule (a PUT during the run replaced the object).
    const current = this.entries.get(keyOf(entry.spec)) ?? entry;
    current.counts.runs++;
    current.counts[OUTCOME_COUNT[record.outcome]]++;
    current.counts.profiles += record.profiles;
    if (record.outcome !== 'skipped_overlap') current.lastRun = record;
    if (record.error) current.lastError = { at: record.finishedAt, ...record.error };
    const labels = this.metricLabels(entry.spec);
    this.metrics?.runs.inc({ ...labels, outcome: record.outcome });
    if (record.profiles > 0) this.metrics?.profiles.inc(labels, record.profiles);
    if (record.outcome !== 'skipped_overlap') {
      this.metrics?.lastRun.set(labels, Date.parse(record.finishedAt) / 1000);
    }
  }

  /** Captures every target, a few at a time; returns the errors (one per failed target). */
  private async captureAll(
    spec: ScheduleSpec,
    targets: CaptureTarget[],
    signal: AbortSignal,
  ): Promise<PodflameError[]> {
    const errors: PodflameError[] = [];
    let next = 0;
    const worker = async () => {
      while (next < targets.length && !signal.aborted) {
        const target = targets[next++] as CaptureTarget;
        try {
          await this.captureOne(spec, target, signal);
        } catch (err) {
          const e = asPodflameError(
            err,
            'CAPTURE_FAILED',
            `capture of ${target.namespace}/${target.pod}/${target.container} failed`,
          );
          errors.push(e);
          this.metrics?.captureFailures.inc({ ...this.metricLabels(spec), code: e.code });
          this.logger.warn(
            {
              schedule: spec.name,
              namespace: spec.namespace,
              pod: target.pod,
              container: target.container,
              code: e.code,
              err: e.message,
            },
            'scheduled capture failed',
          );
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.parallelCaptures, targets.length) }, worker));
    // Targets never reached (the agent is closing) count as failed, so that outcome and counts stay honest.
    for (let i = next; i < targets.length; i++) {
      errors.push(new PodflameError('CAPTURE_ABORTED', 'the agent is shutting down'));
    }
    return errors;
  }

  private async captureOne(spec: ScheduleSpec, target: CaptureTarget, signal: AbortSignal): Promise<void> {
    const javaInlined = spec.inlined ?? false;
    const event = spec.event ?? DEFAULT_PROFILE_EVENT;
    const result = await this.options.capture({
      target,
      durationSeconds: spec.durationSeconds,
      frequencyHz: spec.frequencyHz,
      javaInlined,
      event,
      schedule: { namespace: spec.namespace, name: spec.name },
      signal,
    });
    const stored = await this.options.store.put({
      namespace: target.namespace,
      pod: target.pod,
      container: target.container,
      node: this.options.nodeName,
      startMs: result.startedAtMs,
      durationSeconds: spec.durationSeconds,
      frequencyHz: spec.frequencyHz,
      javaInlined,
      event,
      warnings: result.warnings,
      schedule: spec.name,
      podUid: target.podUid,
      containerId: target.containerId,
      labels: target.labels,
      stacks: result.stacks,
      ...(result.eventCounts !== undefined ? { eventCounts: result.eventCounts } : {}),
    });
    this.options.exporter?.enqueue(stored, result.stacks, result.eventCounts);
  }

  /** Stops every trigger, aborts runs in progress and waits for them. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const entry of this.entries.values()) entry.trigger.stop();
    this.abort.abort(new PodflameError('CAPTURE_ABORTED', 'the agent is shutting down'));
    await Promise.allSettled([...this.entries.values()].map((e) => e.running));
  }
}
