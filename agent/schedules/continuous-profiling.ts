/**
 * Continuous profiling assembled: the node-local store under `--data-dir`, the schedules (from `--schedules FILE`
 * and the API), the Pyroscope export (`--pyroscope-url`), and the history routes. agent.ts builds one when a data
 * directory is configured, serves `routes` through the history router, starts it before the HTTP server and closes it
 * after.
 *
 * Layout of the data directory: `profiles/` (the store), `schedules.api.json` (schedules defined through the API,
 * so that they survive a restart).
 */
import { mkdir, readFile, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Request } from 'express';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { PodflameError } from '../../shared/errors.js';
import { ProfileStore } from '../store/profile-store.js';
import { TEMP_PREFIX, writeFileDurable } from '../store/durable-file.js';
import { PyroscopeExporter } from '../export/pyroscope.js';
import { Scheduler, type ScheduledCapture, type SchedulerLogger } from './scheduler.js';
import {
  ScheduleSpecSchema,
  normalize,
  parseSchedulesFile,
  scheduleKey,
  writtenForm,
  type ScheduleSpec,
} from './schedule-config.js';
import { TargetFinder, type ContainerLister, type PodLabelSource } from './targets.js';
import type { TriggerFactory } from './cron-trigger.js';

export interface ContinuousProfilingOptions {
  /** `--data-dir`. Required. */
  dataDir: string;
  /** `--schedules`: the YAML file; none when absent (schedules can still be added through the API). */
  schedulesFile?: string;
  /** How often the schedules file is read again (a ConfigMap changes in place). Default 30 000 ms; 0: never. */
  schedulesReloadMs?: number;
  /** `--pyroscope-url`; no export when absent. */
  pyroscopeUrl?: string;
  /** Store limits (see ProfileStoreOptions). Defaults there. */
  maxAgeSeconds?: number;
  maxTotalBytes?: number;
  /** Bytes of profile data one namespace keeps (see ProfileStoreOptions). Default there. */
  maxNamespaceBytes?: number;
  /** Bytes of one day's stack dictionary (see ProfileStoreOptions). Default there. */
  maxDictionaryBytes?: number;
  /** Upper bound of the random delay before each scheduled run. Default 10 000 ms. */
  maxJitterMs?: number;
  /** Longest schedule `retention` (see SchedulerOptions). Default there. */
  maxRetentionSeconds?: number;
  /** Schedules per namespace (see SchedulerOptions). Default there. */
  maxSchedulesPerNamespace?: number;
  /** Schedule names as metric labels (see SchedulerOptions). Default there (off). */
  metricsScheduleNames?: boolean;
  nodeName: string;
  /** Runs one capture (the agent's capture service). */
  capture: ScheduledCapture;
  /** The container engine, for finding schedule targets. */
  containers: ContainerLister;
  /** Pod labels from the Kubernetes API; absent in local mode (Docker labels are used). Started and closed by its owner. */
  pods?: PodLabelSource;
  /** The agent's metrics registry. */
  registry?: Registry;
  logger: SchedulerLogger & { error(obj: object, msg: string): void };
  /** For history route authorization (see server/routes/history.ts HistoryRouteDeps). */
  authorizeNamespace?: (req: Request, namespace: string) => Promise<void>;
  /** Test seams; defaults are node-cron and Date.now. */
  triggers?: TriggerFactory;
  now?: () => number;
}

/** The store and scheduler as the history routes use them (their HistoryRouteDeps, by shape). */
export interface HistoryRoutesSource {
  nodeName: string;
  store: ProfileStore;
  scheduler: Scheduler;
  onSchedulesChanged: () => Promise<void>;
  authorizeNamespace?: (req: Request, namespace: string) => Promise<void>;
  now?: () => number;
}

const API_SCHEDULES_FILE = 'schedules.api.json';
const ApiSchedulesSchema = z.object({ schedules: z.array(ScheduleSpecSchema) }).strict();

export class ContinuousProfiling {
  readonly store: ProfileStore;
  readonly scheduler: Scheduler;
  readonly exporter: PyroscopeExporter | undefined;
  /** What the history routes (server/routes/history.ts) serve: the server builds them from this. */
  readonly routes: HistoryRoutesSource;
  private readonly options: ContinuousProfilingOptions;
  private reloadTimer: NodeJS.Timeout | undefined;
  private lastFileText: string | undefined;
  private closed = false;

  constructor(options: ContinuousProfilingOptions) {
    this.options = options;
    // The exporter first: a bad URL must fail before anything registers metrics.
    this.exporter =
      options.pyroscopeUrl === undefined
        ? undefined
        : new PyroscopeExporter({
            url: options.pyroscopeUrl,
            logger: options.logger,
            ...(options.registry ? { registry: options.registry } : {}),
          });
    this.store = new ProfileStore({
      dir: join(options.dataDir, 'profiles'),
      ...(options.maxAgeSeconds !== undefined ? { maxAgeSeconds: options.maxAgeSeconds } : {}),
      ...(options.maxTotalBytes !== undefined ? { maxTotalBytes: options.maxTotalBytes } : {}),
      ...(options.maxNamespaceBytes !== undefined ? { maxNamespaceBytes: options.maxNamespaceBytes } : {}),
      ...(options.maxDictionaryBytes !== undefined ? { maxDictionaryBytes: options.maxDictionaryBytes } : {}),
      ...(options.registry ? { registry: options.registry } : {}),
      ...(options.now ? { now: options.now } : {}),
    });
    this.scheduler = new Scheduler({
      nodeName: options.nodeName,
      capture: options.capture,
      targets: new TargetFinder(options.containers, options.pods),
      store: this.store,
      logger: options.logger,
      ...(this.exporter ? { exporter: this.exporter } : {}),
      ...(options.registry ? { registry: options.registry } : {}),
      ...(options.triggers ? { triggers: options.triggers } : {}),
      ...(options.now ? { now: options.now } : {}),
      ...(options.maxJitterMs !== undefined ? { maxJitterMs: options.maxJitterMs } : {}),
      ...(options.maxRetentionSeconds !== undefined ? { maxRetentionSeconds: options.maxRetentionSeconds } : {}),
      ...(options.maxSchedulesPerNamespace !== undefined
        ? { maxSchedulesPerNamespace: options.maxSchedulesPerNamespace }
        : {}),
      ...(options.metricsScheduleNames !== undefined ? { metricsScheduleNames: options.metricsScheduleNames } : {}),
    });
    this.routes = {
      nodeName: options.nodeName,
      store: this.store,
      scheduler: this.scheduler,
      onSchedulesChanged: () => this.saveApiSchedules(),
      ...(options.authorizeNamespace ? { authorizeNamespace: options.authorizeNamespace } : {}),
      ...(options.now ? { now: options.now } : {}),
    };
  }

  /** Reads the schedules (a bad file fails the start, naming the schedule and field), opens the store, starts. */
  async start(): Promise<void> {
    const fileSpecs = this.options.schedulesFile === undefined ? [] : await this.readSchedulesFile();
    // A retention above --schedule-max-retention fails the start before the store opens.
    this.scheduler.checkFile(fileSpecs);
    await mkdir(this.options.dataDir, { recursive: true, mode: 0o750 }).catch((err: unknown) => {
      throw new PodflameError(
        'CONFIG_INVALID',
        `cannot create the data directory ${this.options.dataDir}: ${String(err)}`,
        {
          cause: err,
        },
      );
    });
    const report = await this.store.start();
    this.options.logger.info({ dir: this.store.dir, ...report }, 'profile store opened');
    for (const spec of await this.loadApiSchedules()) this.scheduler.restore(spec);
    this.scheduler.loadFile(fileSpecs);
    this.exporter?.start();
    this.scheduler.start();
    this.options.logger.info(
      {
        schedules: this.scheduler
          .list()
          .map((s) => ({ name: s.name, namespace: s.namespace, source: s.source, nextRun: s.nextRun })),
        pyroscope: this.options.pyroscopeUrl ?? null,
        mode: this.options.pods ? 'kubernetes' : 'local',
      },
      'schedules started',
    );
    const every = this.options.schedulesReloadMs ?? 30_000;
    if (this.options.schedulesFile !== undefined && every > 0) {
      this.reloadTimer = setInterval(() => void this.reloadSchedulesFile(), every);
      this.reloadTimer.unref();
    }
  }

  private async readSchedulesFile(): Promise<ScheduleSpec[]> {
    const path = this.options.schedulesFile as string;
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new PodflameError('CONFIG_INVALID', `cannot read the schedules file ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const specs = parseSchedulesFile(text, path);
    this.lastFileText = text;
    return specs;
  }

  /** Applies a changed schedules file; a broken one is logged and the schedules in force stay. */
  async reloadSchedulesFile(): Promise<void> {
    if (this.closed || this.options.schedulesFile === undefined) return;
    try {
      const text = await readFile(this.options.schedulesFile, 'utf8');
      if (text === this.lastFileText) return;
      const specs = parseSchedulesFile(text, this.options.schedulesFile);
      this.lastFileText = text;
      this.scheduler.loadFile(specs);
      this.options.logger.info(
        { schedules: specs.map((s) => scheduleKey(s.namespace, s.name)) },
        'schedules file changed: schedules reloaded',
      );
    } catch (err) {
      this.options.logger.error(
        { err: err instanceof Error ? err.message : String(err) },
        'schedules file unusable: the schedules in force stay',
      );
    }
  }

  private async loadApiSchedules(): Promise<ScheduleSpec[]> {
    // A save interrupted by a crash leaves its temp file (the saved file itself is whole, old or new).
    for (const name of await readdir(this.options.dataDir)) {
      if (name.startsWith(`${TEMP_PREFIX}${API_SCHEDULES_FILE}`)) await unlink(join(this.options.dataDir, name));
    }
    const path = join(this.options.dataDir, API_SCHEDULES_FILE);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      return [];
    }
    const parsed = ApiSchedulesSchema.safeParse(JSON.parse(text));
    if (!parsed.success) {
      this.options.logger.error({ path }, 'schedules saved from the API are unreadable: ignored');
      return [];
    }
    return parsed.data.schedules.map(normalize);
  }

  private async saveApiSchedules(): Promise<void> {
    const body = `${JSON.stringify({ schedules: this.scheduler.apiSchedules().map(writtenForm) }, null, 2)}\n`;
    await writeFileDurable(this.options.dataDir, API_SCHEDULES_FILE, body);
  }

  /** Stops the schedules (aborting runs), drains the export, closes the store. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.reloadTimer);
    await this.scheduler.close();
    await this.exporter?.close();
    await this.store.close();
  }
}
