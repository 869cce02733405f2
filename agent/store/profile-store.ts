/**
 * The node-local profile store: one gzip-compressed folded file and one JSON metadata file per profile, flat in one
 * directory. Files, not SQLite: nothing native to install, and every write is a plain atomic rename.
 *
 * Crash safety: the folded file is written (temp name, fsync, rename, fsync dir) before its metadata, and the
 * metadata file is the commit marker — a profile exists once its `<id>.json` does. Removal deletes the marker first.
 * So a kill -9 at any point leaves at most a temp file or a folded file without metadata, and `start()` removes both.
 */
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { z } from 'zod';
import { Counter, Gauge, type Registry } from 'prom-client';
import { PodflameError } from '../../shared/errors.js';
import { parseFolded, serializeFolded, totalSamples, type FoldedStacks } from '../../shared/folded.js';
import type { HistoryFilter, StoredProfile } from '../../shared/history.js';
import { matchesLabels, parseLabelSelector } from '../../shared/label-selector.js';
import type { CaptureWarning } from '../../shared/api.js';
import { TEMP_PREFIX, removeIfPresent, writeFileDurable, fsyncDirectory } from './durable-file.js';
import { selectEvictions, type EvictionReason, type RetentionPolicy } from './retention.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

export interface ProfileStoreOptions {
  /** Directory of the profiles; created when missing. Required. */
  dir: string;
  /** Profiles whose start is older than this are removed (unless their schedule sets its own). Default 7 days. */
  maxAgeSeconds?: number;
  /** Compressed bytes kept in all; beyond it the oldest profiles are removed. Default 1 GiB. */
  maxTotalBytes?: number;
  /** Retention also runs on this interval, besides after every write. Default 60 000 ms. */
  sweepIntervalMs?: number;
  /** Clock in ms since the epoch. Default `Date.now`. */
  now?: () => number;
  /** Where the store's metrics are registered; none when absent. */
  registry?: Registry;
}

export const DEFAULT_PROFILE_STORE_OPTIONS = Object.freeze({
  maxAgeSeconds: 7 * 86400,
  maxTotalBytes: 1024 ** 3,
  sweepIntervalMs: 60_000,
  now: Date.now,
});

/** What a capture hands the store; `samples` and `bytes` are computed here, so they cannot disagree with the data. */
export interface NewProfile {
  namespace: string;
  pod: string;
  container: string;
  node: string;
  /** Capture start, ms since the epoch. */
  startMs: number;
  durationSeconds: number;
  frequencyHz: number;
  /** Whether the capture asked for inlined Java frames. Default false. */
  javaInlined?: boolean;
  warnings: CaptureWarning[];
  schedule: string | null;
  podUid: string | null;
  containerId: string | null;
  labels: Record<string, string>;
  stacks: FoldedStacks;
}

const ID = /^\d{8}T\d{6}Z-[0-9a-f]{8}$/;
const META_SUFFIX = '.json';
const DATA_SUFFIX = '.folded.gz';

const StoredProfileSchema = z.object({
  id: z.string().regex(ID),
  namespace: z.string(),
  pod: z.string(),
  container: z.string(),
  node: z.string(),
  start: z.string().datetime(),
  durationSeconds: z.number().positive(),
  frequencyHz: z.number().positive(),
  // Metadata written before the option existed has none: those captures had no inlined frames.
  java: z.object({ inlined: z.boolean() }).default({ inlined: false }),
  samples: z.number().nonnegative(),
  warnings: z.array(z.object({ code: z.string(), message: z.string(), pid: z.number().optional() })),
  schedule: z.string().nullable(),
  podUid: z.string().nullable(),
  containerId: z.string().nullable(),
  labels: z.record(z.string()),
  bytes: z.number().int().nonnegative(),
});

export function isProfileId(id: string): boolean {
  return ID.test(id);
}

function newId(startMs: number): string {
  const iso = new Date(startMs).toISOString(); // 2025-11-27T04:00:00.000Z
  const compact = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return `${compact}-${randomBytes(4).toString('hex')}`;
}

interface StoreMetrics {
  evictions: Counter<'reason'>;
  writes: Counter<'outcome'>;
  recovered: Counter<'kind'>;
}

/** What `start()` cleaned up after an earlier process (for logs and tests). */
export interface RecoveryReport {
  profiles: number;
  tempFilesRemoved: number;
  orphanDataRemoved: number;
  invalidMetadataRemoved: number;
}

export class ProfileStore {
  readonly dir: string;
  private readonly maxAgeSeconds: number;
  private readonly maxTotalBytes: number;
  private readonly sweepIntervalMs: number;
  private readonly now: () => number;
  private readonly index = new Map<string, StoredProfile>();
  private readonly scheduleMaxAge = new Map<string, number>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly metrics: StoreMetrics | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  private started = false;
  private closed = false;

  constructor(options: ProfileStoreOptions) {
    this.dir = options.dir;
    this.maxAgeSeconds = options.maxAgeSeconds ?? DEFAULT_PROFILE_STORE_OPTIONS.maxAgeSeconds;
    this.maxTotalBytes = options.maxTotalBytes ?? DEFAULT_PROFILE_STORE_OPTIONS.maxTotalBytes;
    this.sweepIntervalMs = options.sweepIntervalMs ?? DEFAULT_PROFILE_STORE_OPTIONS.sweepIntervalMs;
    this.now = options.now ?? DEFAULT_PROFILE_STORE_OPTIONS.now;
    if (typeof this.dir !== 'string' || this.dir === '') {
      throw new PodflameError('CONFIG_INVALID', 'the profile store needs a data directory (--data-dir DIR)');
    }
    if (!(this.maxAgeSeconds > 0) || !(this.maxTotalBytes > 0) || !(this.sweepIntervalMs > 0)) {
      throw new PodflameError('CONFIG_INVALID', 'profile store retention limits and sweep interval must be positive', {
        details: { maxAgeSeconds: this.maxAgeSeconds, maxTotalBytes: this.maxTotalBytes },
      });
    }
    this.metrics = options.registry ? this.registerMetrics(options.registry) : undefined;
  }

  private registerMetrics(registry: Registry): StoreMetrics {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const store = this;
    new Gauge({
      name: 'podflame_store_profiles',
      help: 'Profiles in the node-local store',
      registers: [registry],
      collect() {
        this.set(store.index.size);
      },
    });
    new Gauge({
      name: 'podflame_store_bytes',
      help: 'Compressed bytes of the profiles in the node-local store',
      registers: [registry],
      collect() {
        this.set(store.totalBytes());
      },
    });
    return {
      evictions: new Counter({
        name: 'podflame_store_evictions_total',
        help: 'Profiles removed by retention, by reason (age, schedule_age, bytes)',
        labelNames: ['reason'] as const,
        registers: [registry],
      }),
      writes: new Counter({
        name: 'podflame_store_writes_total',
        help: 'Profiles written to the store, by outcome (ok, error)',
        labelNames: ['outcome'] as const,
        registers: [registry],
      }),
      recovered: new Counter({
        name: 'podflame_store_recovered_total',
        help: 'Leftovers of interrupted writes removed at start-up, by kind',
        labelNames: ['kind'] as const,
        registers: [registry],
      }),
    };
  }

  /** Loads the index from disk, removing what interrupted writes left; starts the retention timer. */
  async start(): Promise<RecoveryReport> {
    if (this.started) throw new PodflameError('INTERNAL', 'profile store started twice');
    this.started = true;
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o750 });
    } catch (err) {
      throw new PodflameError(
        'CONFIG_INVALID',
        `cannot create the data directory ${this.dir}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    const report = await this.recover();
    await this.enforceRetention();
    this.timer = setInterval(() => {
      void this.enforceRetention().catch(() => undefined);
    }, this.sweepIntervalMs);
    this.timer.unref();
    return report;
  }

  private async recover(): Promise<RecoveryReport> {
    const report: RecoveryReport = {
      profiles: 0,
      tempFilesRemoved: 0,
      orphanDataRemoved: 0,
      invalidMetadataRemoved: 0,
    };
    const names = await readdir(this.dir);
    // Only names of our own shape are touched: anything else in the directory is not the store's to remove.
    const ours = (name: string, suffix: string) => name.endsWith(suffix) && ID.test(name.slice(0, -suffix.length));
    const dataFiles = new Set(names.filter((n) => ours(n, DATA_SUFFIX)));
    let changed = false;
    for (const name of names) {
      if (name.startsWith(TEMP_PREFIX)) {
        await removeIfPresent(join(this.dir, name));
        report.tempFilesRemoved++;
        this.metrics?.recovered.inc({ kind: 'temp_file' });
        changed = true;
      }
    }
    for (const name of names.filter((n) => ours(n, META_SUFFIX)).sort()) {
      const id = name.slice(0, -META_SUFFIX.length);
      const meta = await this.readMetadataFile(id);
      const dataName = `${id}${DATA_SUFFIX}`;
      const dataSize = await stat(join(this.dir, dataName)).then(
        (s) => s.size,
        () => -1,
      );
      if (!meta || dataSize !== meta.bytes) {
        // Cannot come from our own writes (the data is complete before its marker); a damaged or foreign file.
        await removeIfPresent(join(this.dir, name));
        await removeIfPresent(join(this.dir, dataName));
        dataFiles.delete(dataName);
        report.invalidMetadataRemoved++;
        this.metrics?.recovered.inc({ kind: 'invalid_metadata' });
        changed = true;
        continue;
      }
      dataFiles.delete(dataName);
      this.index.set(id, meta);
      report.profiles++;
    }
    for (const dataName of dataFiles) {
      await removeIfPresent(join(this.dir, dataName));
      report.orphanDataRemoved++;
      this.metrics?.recovered.inc({ kind: 'orphan_data' });
      changed = true;
    }
    if (changed) await fsyncDirectory(this.dir);
    return report;
  }

  private async readMetadataFile(id: string): Promise<StoredProfile | undefined> {
    if (!ID.test(id)) return undefined;
    try {
      const parsed = StoredProfileSchema.safeParse(
        JSON.parse(await readFile(join(this.dir, `${id}${META_SUFFIX}`), 'utf8')),
      );
      return parsed.success && parsed.data.id === id ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  private assertOpen(): void {
    if (!this.started || this.closed) {
      throw new PodflameError('INTERNAL', `the profile store is ${this.closed ? 'closed' : 'not started'}`);
    }
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.pending.add(promise);
    const done = () => this.pending.delete(promise);
    promise.then(done, done);
    return promise;
  }

  /** Stores a profile durably; resolves with its metadata once it is committed. */
  put(profile: NewProfile): Promise<StoredProfile> {
    this.assertOpen();
    return this.track(this.write(profile));
  }

  private async write(profile: NewProfile): Promise<StoredProfile> {
    const id = newId(profile.startMs);
    try {
      const data = await gzipAsync(Buffer.from(serializeFolded(profile.stacks), 'utf8'));
      const meta: StoredProfile = {
        id,
        namespace: profile.namespace,
        pod: profile.pod,
        container: profile.container,
        node: profile.node,
        start: new Date(profile.startMs).toISOString(),
        durationSeconds: profile.durationSeconds,
        frequencyHz: profile.frequencyHz,
        java: { inlined: profile.javaInlined ?? false },
        samples: totalSamples(profile.stacks),
        warnings: profile.warnings,
        schedule: profile.schedule,
        podUid: profile.podUid,
        containerId: profile.containerId,
        labels: { ...profile.labels },
        bytes: data.byteLength,
      };
      await writeFileDurable(this.dir, `${id}${DATA_SUFFIX}`, data);
      await writeFileDurable(this.dir, `${id}${META_SUFFIX}`, `${JSON.stringify(meta)}\n`);
      this.index.set(id, meta);
      this.metrics?.writes.inc({ outcome: 'ok' });
      await this.enforceRetention();
      return meta;
    } catch (err) {
      this.metrics?.writes.inc({ outcome: 'error' });
      throw err instanceof PodflameError
        ? err
        : new PodflameError('INTERNAL', `cannot write a profile to ${this.dir}: ${(err as Error).message}`, {
            cause: err,
          });
    }
  }

  get(id: string): StoredProfile | undefined {
    return this.index.get(id);
  }

  /** Stored profiles matching `filter`, oldest first. */
  list(filter: HistoryFilter = {}): StoredProfile[] {
    const selector = filter.labelSelector === undefined ? undefined : parseLabelSelector(filter.labelSelector);
    const out: StoredProfile[] = [];
    for (const p of this.index.values()) {
      if (filter.namespace !== undefined && p.namespace !== filter.namespace) continue;
      if (filter.pod !== undefined && p.pod !== filter.pod) continue;
      if (filter.container !== undefined && p.container !== filter.container) continue;
      if (filter.schedule !== undefined && p.schedule !== filter.schedule) continue;
      const startMs = Date.parse(p.start);
      if (filter.from !== undefined && startMs < filter.from) continue;
      if (filter.to !== undefined && startMs >= filter.to) continue;
      if (selector && !matchesLabels(selector, p.labels)) continue;
      out.push(p);
    }
    return out.sort((a, b) => a.start.localeCompare(b.start) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The profile's folded stacks; PROFILE_NOT_FOUND when retention removed it meanwhile. */
  async readStacks(id: string): Promise<FoldedStacks> {
    const meta = this.index.get(id);
    if (!meta)
      throw new PodflameError('PROFILE_NOT_FOUND', `no stored profile ${id} on this node`, { details: { id } });
    let data: Buffer;
    try {
      data = await readFile(join(this.dir, `${id}${DATA_SUFFIX}`));
    } catch (err) {
      throw new PodflameError('PROFILE_NOT_FOUND', `stored profile ${id} was removed while being read`, {
        cause: err,
        details: { id },
      });
    }
    const { stacks, invalidLines } = parseFolded((await gunzipAsync(data)).toString('utf8'));
    if (invalidLines > 0) {
      throw new PodflameError('INTERNAL', `stored profile ${id} is damaged (${invalidLines} unreadable lines)`);
    }
    return stacks;
  }

  totalBytes(): number {
    let total = 0;
    for (const p of this.index.values()) total += p.bytes;
    return total;
  }

  /** Sets (or, with undefined, clears) a schedule's own age limit. */
  setScheduleRetention(schedule: string, maxAgeSeconds: number | undefined): void {
    if (maxAgeSeconds === undefined) this.scheduleMaxAge.delete(schedule);
    else this.scheduleMaxAge.set(schedule, maxAgeSeconds);
  }

  policy(): RetentionPolicy {
    return {
      maxAgeSeconds: this.maxAgeSeconds,
      maxTotalBytes: this.maxTotalBytes,
      scheduleMaxAgeSeconds: new Map(this.scheduleMaxAge),
    };
  }

  /** Applies retention now; passes run one after another. */
  enforceRetention(): Promise<void> {
    // Chain passes so a pass started after a write always sees that write.
    const previous = this.sweeping ?? Promise.resolve();
    const pass = previous.then(() => this.sweep());
    this.sweeping = pass.catch(() => undefined);
    return pass;
  }

  private async sweep(): Promise<void> {
    const items = [...this.index.values()].map((p) => ({
      id: p.id,
      startMs: Date.parse(p.start),
      bytes: p.bytes,
      schedule: p.schedule,
    }));
    const evictions = selectEvictions(items, this.policy(), this.now());
    for (const { id, reason } of evictions) await this.remove(id, reason);
    if (evictions.length > 0) await fsyncDirectory(this.dir);
  }

  private async remove(id: string, reason: EvictionReason | 'deleted'): Promise<void> {
    if (!this.index.delete(id)) return;
    if (reason !== 'deleted') this.metrics?.evictions.inc({ reason });
    // Marker first: once it is gone the profile no longer exists, whatever happens to the data file.
    await removeIfPresent(join(this.dir, `${id}${META_SUFFIX}`));
    await removeIfPresent(join(this.dir, `${id}${DATA_SUFFIX}`));
  }

  /** Removes one profile; false when there was none. */
  async delete(id: string): Promise<boolean> {
    this.assertOpen();
    if (!this.index.has(id)) return false;
    await this.track(this.remove(id, 'deleted').then(() => fsyncDirectory(this.dir)));
    return true;
  }

  /** Stops the timer and waits for writes in progress. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.pending]);
    await this.sweeping;
  }
}
