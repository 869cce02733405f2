/**
 * Pushes scheduled profiles to Pyroscope's ingest API, for long-term, cluster-wide storage (opt-in with
 * `--pyroscope-url`). One request per profile:
 *
 *   POST {url}/ingest?name=podflame.cpu{namespace=shop,pod=shop-1,container=app,node=node-a}
 *        &from=1764237600&until=1764237630&sampleRate=99&spyName=podflame&format=folded
 *        &units=samples&aggregationType=sum
 *
 * with the folded stacks as the raw body, newlines intact. Pyroscope reads the last dot-segment of the name as the
 * profile type (`cpu`) and scales every count by 1e9/sampleRate into CPU time, so sampleRate is perf's real
 * frequency. Other events go under their own type and unit (profile-events.ts): `podflame.alloc_in_new_tlab_bytes`
 * in bytes, `podflame.lock_duration` in lock_nanoseconds, `podflame.wall` in samples; summed, never averaged. A lock
 * profile with its event counts is also pushed as `podflame.lock_count` in lock_samples (the contentions per stack;
 * Pyroscope keeps the two as `block:delay:nanoseconds` and `block:contentions:count`, as from its Java agent): one
 * folded body holds one number per stack, so the counts are a request of their own. Pushing never blocks a
 * schedule: pushes wait in a bounded queue (the oldest is dropped when it is full), failures are retried with
 * exponential backoff, and every outcome is counted in metrics.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { Counter, Gauge, type Registry } from 'prom-client';
import { PodflameError } from '../../shared/errors.js';
import { compareBytes, type EventCounts, type FoldedStacks } from '../../shared/folded.js';
import type { StoredProfile } from '../../shared/history.js';
import { EVENT_KINDS } from '../../shared/profile-events.js';

export interface PushResult {
  status: number;
  body: string;
}

/** Sends one request; the default uses undici. */
export type PushTransport = (url: string, body: Buffer, signal: AbortSignal) => Promise<PushResult>;

export interface PyroscopeExporterOptions {
  /** Pyroscope's base URL, e.g. `http://pyroscope.monitoring:4040`. Required. */
  url: string;
  /** Application name; the series is `APP.TYPE{...}` (`APP.cpu` for cpu profiles). Default `podflame`. */
  appName?: string;
  /** Profiles waiting to be sent; beyond it the oldest is dropped. Default 256. */
  maxQueue?: number;
  /** Tries per profile, the first included. Default 5. */
  maxAttempts?: number;
  /** Wait before the first retry, doubled each time. Default 1 000 ms. */
  initialBackoffMs?: number;
  /** Longest wait between tries. Default 30 000 ms. */
  maxBackoffMs?: number;
  /** One request's time limit. Default 10 000 ms. */
  requestTimeoutMs?: number;
  /** How long `close()` keeps sending what is queued. Default 5 000 ms. */
  drainTimeoutMs?: number;
  /** Registry for the export metrics. Default: none. */
  registry?: Registry;
  /** Default: an undici request. */
  transport?: PushTransport;
  /** Waits `ms` unless aborted (backoff). Default: a timer. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** pino-compatible; default silent. */
  logger?: { warn(obj: object, msg: string): void };
}

export const DEFAULT_PYROSCOPE_EXPORTER_OPTIONS = Object.freeze({
  appName: 'podflame',
  maxQueue: 256,
  maxAttempts: 5,
  initialBackoffMs: 1_000,
  maxBackoffMs: 30_000,
  requestTimeoutMs: 10_000,
  drainTimeoutMs: 5_000,
});

/** Pyroscope reads the body with Go's bufio.Scanner: a line over 64 KiB silently ends its parsing of the profile. */
export const PYROSCOPE_MAX_LINE_BYTES = 64 * 1024 - 1;

// Label values end at `,` or `}` in Pyroscope's name parser; Kubernetes names never contain either, but be sure.
function labelValue(v: string): string {
  return v.replace(/[,}{=]/g, '_');
}

/**
 * The `/ingest` URL of one profile: of its weights, or with `eventCounts` of its event counts (lock_count), for an
 * event that has them.
 */
export function ingestUrl(base: string, appName: string, p: StoredProfile, eventCounts = false): string {
  const labels = [
    ['namespace', p.namespace],
    ['pod', p.pod],
    ['container', p.container],
    ['node', p.node],
  ]
    .map(([k, v]) => `${k}=${labelValue(v as string)}`)
    .join(',');
  const from = Math.floor(Date.parse(p.start) / 1000);
  const kind = EVENT_KINDS[p.event];
  const counted = eventCounts ? kind.eventCounts : undefined;
  if (eventCounts && counted === undefined) {
    throw new PodflameError('INTERNAL', `${p.event} profiles have no event counts to push to Pyroscope`);
  }
  const query = new URLSearchParams({
    name: `${appName}.${counted?.pyroscopeType ?? kind.pyroscopeType}{${labels}}`,
    from: String(from),
    until: String(from + Math.max(1, Math.round(p.durationSeconds))),
    sampleRate: String(Math.round(p.frequencyHz)),
    spyName: 'podflame',
    format: 'folded',
    units: counted?.pyroscopeUnits ?? kind.pyroscopeUnits,
    aggregationType: 'sum',
  });
  return `${base.replace(/\/+$/, '')}/ingest?${query.toString()}`;
}

/** The body: `stack count` lines in byte order; lines Pyroscope could not read are left out and counted. */
export function ingestBody(stacks: FoldedStacks): { body: Buffer; droppedLines: number } {
  const parts: string[] = [];
  let droppedLines = 0;
  for (const stack of [...stacks.keys()].sort(compareBytes)) {
    const line = `${stack} ${stacks.get(stack)}`;
    if (Buffer.byteLength(line) > PYROSCOPE_MAX_LINE_BYTES) {
      droppedLines++;
      continue;
    }
    parts.push(`${line}\n`);
  }
  return { body: Buffer.from(parts.join(''), 'utf8'), droppedLines };
}

const undiciTransport =
  (timeoutMs: number): PushTransport =>
  async (url, body, signal) => {
    // Loaded on the first push, not with the agent: undici holds about 8 MiB of an agent that never pushes (no
    // --pyroscope-url), which is most of them.
    const { request } = await import('undici');
    const res = await request(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal,
    });
    return { status: res.statusCode, body: (await res.body.text()).slice(0, 500) };
  };

interface Job {
  profileId: string;
  url: string;
  body: Buffer;
}

interface ExportMetrics {
  pushes: Counter<'outcome'>;
  retries: Counter;
  droppedLines: Counter;
}

/** Retry on what may pass: network errors, 5xx, 408 and 429. Other 4xx are our request's fault and final. */
function retryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

export class PyroscopeExporter {
  private readonly url: string;
  private readonly appName: string;
  private readonly maxQueue: number;
  private readonly maxAttempts: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly drainTimeoutMs: number;
  private readonly transport: PushTransport;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly requestTimeoutMs: number;
  private readonly logger: { warn(obj: object, msg: string): void };
  private readonly metrics: ExportMetrics | undefined;
  private readonly queue: Job[] = [];
  private readonly stop = new AbortController();
  private wake: (() => void) | undefined;
  private worker: Promise<void> | undefined;
  private closed = false;
  private busy = false;
  /** Outcome counts, also without a registry (status, tests). */
  readonly counts = { ok: 0, failed: 0, dropped: 0, retries: 0 };

  constructor(options: PyroscopeExporterOptions) {
    const d = DEFAULT_PYROSCOPE_EXPORTER_OPTIONS;
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      parsed = new URL('invalid:');
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new PodflameError(
        'CONFIG_INVALID',
        `--pyroscope-url must be an http(s) URL such as http://pyroscope:4040, got '${options.url}'`,
      );
    }
    this.url = options.url;
    this.appName = options.appName ?? d.appName;
    this.maxQueue = options.maxQueue ?? d.maxQueue;
    this.maxAttempts = options.maxAttempts ?? d.maxAttempts;
    this.initialBackoffMs = options.initialBackoffMs ?? d.initialBackoffMs;
    this.maxBackoffMs = options.maxBackoffMs ?? d.maxBackoffMs;
    this.drainTimeoutMs = options.drainTimeoutMs ?? d.drainTimeoutMs;
    this.requestTimeoutMs = options.requestTimeoutMs ?? d.requestTimeoutMs;
    this.transport = options.transport ?? undiciTransport(this.requestTimeoutMs);
    this.sleep =
      options.sleep ??
      ((ms, signal) => (ms <= 0 ? Promise.resolve() : delay(ms, undefined, { signal }).then(() => undefined)));
    this.logger = options.logger ?? { warn: () => undefined };
    if (!(this.maxQueue >= 1) || !(this.maxAttempts >= 1) || !(this.initialBackoffMs >= 0)) {
      throw new PodflameError('CONFIG_INVALID', 'Pyroscope export: queue size and attempts must be ≥ 1, backoff ≥ 0');
    }
    if (!/^[A-Za-z0-9_.\-/]+$/.test(this.appName)) {
      throw new PodflameError(
        'CONFIG_INVALID',
        `Pyroscope application name '${this.appName}' may only use letters, digits, _ . - /`,
      );
    }
    this.metrics = options.registry ? this.registerMetrics(options.registry) : undefined;
  }

  private registerMetrics(registry: Registry): ExportMetrics {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const exporter = this;
    new Gauge({
      name: 'podflame_pyroscope_queue_length',
      help: 'Profiles waiting to be pushed to Pyroscope',
      registers: [registry],
      collect() {
        this.set(exporter.queue.length);
      },
    });
    return {
      pushes: new Counter({
        name: 'podflame_pyroscope_pushes_total',
        help: 'Profiles pushed to Pyroscope, by outcome (ok, failed after all retries or refused, dropped from a full queue)',
        labelNames: ['outcome'] as const,
        registers: [registry],
      }),
      retries: new Counter({
        name: 'podflame_pyroscope_retries_total',
        help: 'Pyroscope pushes tried again after a failure',
        registers: [registry],
      }),
      droppedLines: new Counter({
        name: 'podflame_pyroscope_dropped_lines_total',
        help: 'Folded lines left out of pushes because Pyroscope cannot read lines over 64 KiB',
        registers: [registry],
      }),
    };
  }

  get queueLength(): number {
    return this.queue.length;
  }

  start(): void {
    if (this.closed) throw new PodflameError('INTERNAL', 'the Pyroscope exporter is closed');
    this.worker ??= this.run();
  }

  /**
   * Queues a profile; never blocks nor throws. `eventCounts` (a lock profile's contentions per stack) are queued as
   * a second push, of the event's count type (lock_count).
   */
  enqueue(profile: StoredProfile, stacks: FoldedStacks, eventCounts?: EventCounts): void {
    if (this.closed) return;
    this.queuePush(profile, stacks, false);
    if (eventCounts !== undefined && EVENT_KINDS[profile.event].eventCounts !== undefined) {
      this.queuePush(profile, eventCounts, true);
    }
  }

  private queuePush(profile: StoredProfile, stacks: FoldedStacks, eventCounts: boolean): void {
    const { body, droppedLines } = ingestBody(stacks);
    if (droppedLines > 0) {
      this.metrics?.droppedLines.inc(droppedLines);
      this.logger.warn({ profileId: profile.id, droppedLines }, 'stacks too long for Pyroscope left out of the push');
    }
    if (this.queue.length >= this.maxQueue) {
      const dropped = this.queue.shift() as Job;
      this.count('dropped');
      this.logger.warn(
        { profileId: dropped.profileId, maxQueue: this.maxQueue },
        'Pyroscope queue full: oldest profile dropped',
      );
    }
    this.queue.push({ profileId: profile.id, url: ingestUrl(this.url, this.appName, profile, eventCounts), body });
    this.wake?.();
  }

  private count(outcome: 'ok' | 'failed' | 'dropped'): void {
    this.counts[outcome]++;
    this.metrics?.pushes.inc({ outcome });
  }

  private async run(): Promise<void> {
    const signal = this.stop.signal;
    while (!signal.aborted) {
      const job = this.queue.shift();
      if (!job) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          signal.addEventListener('abort', () => resolve(), { once: true });
        });
        this.wake = undefined;
        continue;
      }
      this.busy = true;
      try {
        await this.push(job, signal);
      } finally {
        this.busy = false;
      }
    }
  }

  private async push(job: Job, signal: AbortSignal): Promise<void> {
    let backoff = this.initialBackoffMs;
    for (let attempt = 1; ; attempt++) {
      let status = 0;
      let why: string;
      try {
        const res = await this.transport(
          job.url,
          job.body,
          AbortSignal.any([signal, AbortSignal.timeout(this.requestTimeoutMs)]),
        );
        status = res.status;
        if (status >= 200 && status < 300) {
          this.count('ok');
          return;
        }
        why = `HTTP ${status}: ${res.body.trim()}`;
      } catch (err) {
        if (signal.aborted) {
          // Shutting down: put it back so the count of what was lost is honest (close() counts what is left).
          this.queue.unshift(job);
          return;
        }
        why = err instanceof Error ? err.message : String(err);
      }
      const again = (status === 0 || retryable(status)) && attempt < this.maxAttempts;
      if (!again) {
        this.count('failed');
        this.logger.warn({ profileId: job.profileId, attempts: attempt, error: why }, 'push to Pyroscope failed');
        return;
      }
      this.counts.retries++;
      this.metrics?.retries.inc();
      try {
        await this.sleep(backoff, signal);
      } catch {
        this.queue.unshift(job);
        return;
      }
      backoff = Math.min(this.maxBackoffMs, backoff * 2);
    }
  }

  /** Sends what is queued for up to `drainTimeoutMs`, then stops; what is still queued counts as dropped. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.worker) {
      const deadline = Date.now() + this.drainTimeoutMs;
      while ((this.queue.length > 0 || this.busy) && Date.now() < deadline) await delay(20);
      this.stop.abort();
      await this.worker;
    }
    for (const job of this.queue.splice(0)) {
      this.count('dropped');
      this.logger.warn({ profileId: job.profileId }, 'agent stopping: profile not pushed to Pyroscope');
    }
  }
}
