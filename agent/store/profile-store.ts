/**
 * The node-local profile store, laid out for queries (format 2, see block-layout.ts): one block per UTC day, in it a
 * stack dictionary, each profile as (stack ID, count) pairs with a JSON metadata file, and hour and day rollups per
 * series maintained as profiles arrive and leave. A merge over a week then reads a few rollups, not every profile.
 * A store of format 1 (one gzip folded file per profile) is migrated at start (migration.ts).
 *
 * Files, not SQLite: no binding for Node 20 installs here without an install script (npm blocks them), Node 20 has
 * no node:sqlite, and what a query needs — sums of pairs by stack ID — is a loop over a few buffers.
 *
 * Crash safety, as in format 1: a profile's data and its dictionary lines are durable before its metadata file, the
 * commit marker; removal deletes the marker first. So a kill -9 at any point leaves at most temp files, a data file
 * without a marker, unreferenced dictionary lines or a partial last one, and rollups whose members differ from the
 * committed profiles: `start()` removes the first two, cuts the partial line, and rebuilds such rollups. A query
 * never uses a rollup whose members are not exactly the profiles it selected (query-plan.ts).
 *
 * Bounds (issue #13 A1): a profile is counted (`bytes`) for its pairs and for the dictionary lines it adds, so
 * retention and the namespace shares see a workload whose stacks are new at every run; what no profile is counted
 * for (rollups, metadata files, lines of removed profiles still in use) is counted against the total too; a day's
 * dictionary has a cap (STORE_DICTIONARY_FULL beyond it); lines no committed profile uses any more are reclaimed
 * after removals (dictionary-compaction.ts); the dictionaries in memory are bounded in bytes (dictionary-cache.ts),
 * and start-up reads only each dictionary's tail.
 *
 * A line stays charged while any profile uses it (issue #13, F2): a namespace that stored new stacks twice, the
 * charged copy expiring, kept them alive uncharged and filled the day for everyone. A compaction charges every line it
 * keeps to the first stored profile using it (the one that added it while that one lives) and rewrites the metadata
 * of the profiles whose charge changed; until then, a removed profile's lines count in its namespace's share.
 */
import { mkdir, readdir, readFile, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Counter, Gauge, type Registry } from 'prom-client';
import { PodflameError } from '../../shared/errors.js';
import { totalSamples, type EventCounts, type FoldedStacks } from '../../shared/folded.js';
import type { HistoryFilter, StoredProfile } from '../../shared/history.js';
import { matchesLabels, parseLabelSelector } from '../../shared/label-selector.js';
import type { CaptureWarning } from '../../shared/api.js';
import { DEFAULT_PROFILE_EVENT, type ProfileEvent } from '../../shared/profile-events.js';
import { TEMP_PREFIX, fsyncDirectory, removeIfPresent, writeFileDurable, writeFileReplacing } from './durable-file.js';
import { selectEvictions, type EvictionReason, type RetentionPolicy } from './retention.js';
import {
  BLOCKS_DIR,
  FORMAT_FILE,
  META_SUFFIX,
  PAIRS_SUFFIX,
  STORE_FORMAT,
  blockDir,
  blockOf,
  idOfFile,
  isBlockName,
  isProfileId,
  newProfileId,
} from './block-layout.js';
import { readMetadataFile, serializeMetadata } from './metadata-file.js';
import { DICTIONARY_FILE, repairDictionaryTail } from './stack-dictionary.js';
import { DictionaryCache } from './dictionary-cache.js';
import { NO_OWNER, Owners, compactDictionary } from './dictionary-compaction.js';
import {
  ByteReader,
  EventCountSums,
  addEventCounts,
  addPairs,
  encodeCountedPairs,
  type PairCounts,
} from './pairs-codec.js';
import {
  LEVEL_MS,
  ROLLUP_SUFFIX,
  bucketStart,
  decodeRollup,
  decodeRollupHeader,
  encodeRollup,
  rollupFileName,
  sameMembers,
  seriesKey,
  type RollupLevel,
} from './rollup-file.js';
import { planSeries } from './query-plan.js';
import { addProfile, mergeProfiles, sumBlock, type BlockFiles, type MergedProfiles } from './block-merge.js';
import type { MergeBudget } from './merge-budget.js';
import { SerialQueue } from './serial-queue.js';
import { migrateFormat1 } from './migration.js';

export { isProfileId };

export interface ProfileStoreOptions {
  /** Directory of the profiles; created when missing. Required. */
  dir: string;
  /** Profiles whose start is older than this are removed (unless their schedule sets its own). Default 7 days. */
  maxAgeSeconds?: number;
  /**
   * Bytes of profile data (`<id>.pairs`) kept in all; beyond it the oldest profiles of the namespace holding the most
   * bytes are removed. Default 1 GiB.
   */
  maxTotalBytes?: number;
  /**
   * Bytes of profile data one namespace keeps; beyond it that namespace's own oldest profiles are removed (never
   * another namespace's). Default `maxTotalBytes` (no share of its own; the agent sets one, `--namespace-max-store-bytes`).
   */
  maxNamespaceBytes?: number;
  /**
   * The least a namespace may add to a day's dictionary whatever its store share (its share is otherwise the day's
   * cap in the proportion of maxNamespaceBytes to maxTotalBytes). Default 1 MiB.
   */
  minNamespaceDictionaryBytes?: number;
  /** Retention also runs on this interval, besides after every write. Default 60 000 ms. */
  sweepIntervalMs?: number;
  /** Blocks (days) whose stack dictionaries stay in memory, least recently used evicted first. Default 10. */
  cachedBlocks?: number;
  /**
   * Estimated bytes of memory the dictionaries in memory hold together, least recently used evicted first (the one
   * used last stays). Default 128 MiB.
   */
  cachedDictionaryBytes?: number;
  /**
   * Bytes of one day's stack dictionary file (`stacks.dict`); a profile that would grow it beyond is refused with
   * STORE_DICTIONARY_FULL. Default 16 MiB: the week of the store bench (#18) is 14 MB on disk in all, and a dictionary takes several times its file size in memory.
   */
  maxDictionaryBytes?: number;
  /** Clock in ms since the epoch. Default `Date.now`. */
  now?: () => number;
  /** Where the store's metrics are registered; none when absent. */
  registry?: Registry;
}

export const DEFAULT_PROFILE_STORE_OPTIONS = Object.freeze({
  maxAgeSeconds: 7 * 86400,
  maxTotalBytes: 1024 ** 3,
  sweepIntervalMs: 60_000,
  cachedBlocks: 10,
  cachedDictionaryBytes: 128 * 1024 ** 2,
  maxDictionaryBytes: 16 * 1024 ** 2,
  minNamespaceDictionaryBytes: 1024 ** 2,
  now: Date.now,
});

/**
 * Stack IDs one day's dictionary gives at most, reclaimed ones included (their places are kept): beyond it a profile
 * is refused as beyond the byte cap. A merge's sums are arrays up to this ID (pairs-codec.ts DenseCounts).
 */
const MAX_DICTIONARY_IDS = 2 ** 22;

/**
 * A block's dictionary is compacted after removals once the bytes of its lines no profile is counted for have grown
 * by this much since its last compaction, or by a sixteenth of the file if that is more: compaction reads the
 * block's pairs and the file twice, so it is not run for every few lines.
 */
const MIN_COMPACTION_BYTES = 64 * 1024;

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
  /** What the stacks' counts are (their unit is EVENT_KINDS[event].unit). Default cpu. */
  event?: ProfileEvent;
  warnings: CaptureWarning[];
  schedule: string | null;
  podUid: string | null;
  containerId: string | null;
  labels: Record<string, string>;
  stacks: FoldedStacks;
  /** Per stack, how many events made up its count (a lock profile's contentions). Default none. */
  eventCounts?: EventCounts;
}

interface StoreMetrics {
  evictions: Counter<'reason'>;
  writes: Counter<'outcome'>;
  recovered: Counter<'kind'>;
  rollupWrites: Counter<'outcome'>;
  compactions: Counter;
}

/** What `start()` cleaned up after an earlier process, and migrated (for logs and tests). */
export interface RecoveryReport {
  profiles: number;
  tempFilesRemoved: number;
  orphanDataRemoved: number;
  invalidMetadataRemoved: number;
  /** Profiles of a format 1 store converted to this format. */
  migrated: number;
  /** Rollups written at start because they were missing or did not match their profiles. */
  rollupsRebuilt: number;
}

const ROLLUP_LEVELS: readonly RollupLevel[] = ['hour', 'day']; // hours first: a day is rebuilt from its hours

export class ProfileStore {
  readonly dir: string;
  private readonly maxAgeSeconds: number;
  private readonly maxTotalBytes: number;
  private readonly maxNamespaceBytes: number;
  private readonly minNamespaceDictionaryBytes: number;
  private readonly sweepIntervalMs: number;
  private readonly now: () => number;
  private readonly index = new Map<string, StoredProfile>();
  /** Per block: rollup file name → its members, as on disk. */
  private readonly rollups = new Map<string, Map<string, string[]>>();
  private readonly dictionaries: DictionaryCache;
  private readonly maxDictionaryBytes: number;
  /** Per block: bytes of its dictionary file (whole lines), known without loading it. */
  private readonly dictionaryFileBytes = new Map<string, number>();
  /** Per block: its dictionary's bytes no profile was counted for right after its last compaction. */
  private readonly unchargedAfterCompaction = new Map<string, number>();
  /**
   * Per block, then namespace: bytes of dictionary lines its removed profiles were charged for since the block's last
   * compaction, which then either reclaims them or charges them to the profiles still using them. Until then they
   * count in the namespace's share of the day (in memory only: after a restart, such lines wait for the next
   * compaction as lines no profile is counted for).
   */
  private readonly removedCharges = new Map<string, Map<string, number>>();
  /** `block/file` → bytes of each rollup on disk. */
  private readonly rollupBytes = new Map<string, number>();
  /** Profile ID → bytes of its metadata file. */
  private readonly metadataBytes = new Map<string, number>();
  /** Reads in progress (readStacks, merge): compaction waits for them before it forgets stacks. */
  private readonly reads = new Set<Promise<unknown>>();
  private readonly writes = new SerialQueue();
  /** Namespace → schedule name → its `retention` in seconds. */
  private readonly scheduleMaxAge = new Map<string, Map<string, number>>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly metrics: StoreMetrics | undefined;
  private readonly files: BlockFiles;
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  private started = false;
  private closed = false;

  constructor(options: ProfileStoreOptions) {
    this.dir = options.dir;
    this.maxAgeSeconds = options.maxAgeSeconds ?? DEFAULT_PROFILE_STORE_OPTIONS.maxAgeSeconds;
    this.maxTotalBytes = options.maxTotalBytes ?? DEFAULT_PROFILE_STORE_OPTIONS.maxTotalBytes;
    this.maxNamespaceBytes = options.maxNamespaceBytes ?? this.maxTotalBytes;
    this.minNamespaceDictionaryBytes =
      options.minNamespaceDictionaryBytes ?? DEFAULT_PROFILE_STORE_OPTIONS.minNamespaceDictionaryBytes;
    this.sweepIntervalMs = options.sweepIntervalMs ?? DEFAULT_PROFILE_STORE_OPTIONS.sweepIntervalMs;
    const cachedBlocks = options.cachedBlocks ?? DEFAULT_PROFILE_STORE_OPTIONS.cachedBlocks;
    const cachedDictionaryBytes = options.cachedDictionaryBytes ?? DEFAULT_PROFILE_STORE_OPTIONS.cachedDictionaryBytes;
    this.maxDictionaryBytes = options.maxDictionaryBytes ?? DEFAULT_PROFILE_STORE_OPTIONS.maxDictionaryBytes;
    this.now = options.now ?? DEFAULT_PROFILE_STORE_OPTIONS.now;
    if (typeof this.dir !== 'string' || this.dir === '') {
      throw new PodflameError('CONFIG_INVALID', 'the profile store needs a data directory (--data-dir DIR)');
    }
    if (
      !(this.maxAgeSeconds > 0) ||
      !(this.maxTotalBytes > 0) ||
      !(this.maxNamespaceBytes > 0) ||
      !(this.sweepIntervalMs > 0)
    ) {
      throw new PodflameError('CONFIG_INVALID', 'profile store retention limits and sweep interval must be positive', {
        details: {
          maxAgeSeconds: this.maxAgeSeconds,
          maxTotalBytes: this.maxTotalBytes,
          maxNamespaceBytes: this.maxNamespaceBytes,
        },
      });
    }
    if (!Number.isInteger(cachedBlocks) || cachedBlocks < 1) {
      throw new PodflameError('CONFIG_INVALID', `cachedBlocks must be a positive integer, got ${cachedBlocks}`);
    }
    if (!(this.maxDictionaryBytes > 0) || !(cachedDictionaryBytes > 0)) {
      throw new PodflameError('CONFIG_INVALID', "the stack dictionaries' byte limits must be positive", {
        details: { maxDictionaryBytes: this.maxDictionaryBytes, cachedDictionaryBytes },
      });
    }
    this.dictionaries = new DictionaryCache((block) => blockDir(this.dir, block), cachedBlocks, cachedDictionaryBytes);
    this.files = {
      read: (block, name) => this.readBlockFile(block, name),
      dictionary: (block) => this.dictionaries.get(block),
      rollups: (block, file) => this.rollups.get(block)?.get(file),
    };
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
      help: 'Bytes the node-local store counts for its profiles: their pairs and the dictionary lines they added',
      registers: [registry],
      collect() {
        this.set(store.totalBytes());
      },
    });
    new Gauge({
      name: 'podflame_store_disk_bytes',
      help: 'Bytes of the node-local store on disk: profiles, dictionaries, rollups and metadata',
      registers: [registry],
      collect() {
        this.set(store.diskBytes());
      },
    });
    new Gauge({
      name: 'podflame_store_dictionary_cache_bytes',
      help: 'Estimated bytes of memory the stack dictionaries in memory hold',
      registers: [registry],
      collect() {
        this.set(store.dictionaryCacheBytes());
      },
    });
    return {
      evictions: new Counter({
        name: 'podflame_store_evictions_total',
        help: 'Profiles removed by retention, by reason (age, schedule_age, namespace_bytes, bytes)',
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
      compactions: new Counter({
        name: 'podflame_store_dictionary_compactions_total',
        help: 'Stack dictionaries compacted (lines no stored profile uses reclaimed)',
        registers: [registry],
      }),
      rollupWrites: new Counter({
        name: 'podflame_store_rollup_writes_total',
        help: 'Rollups written, by outcome (ok, error: queries read the profiles instead until the next start)',
        labelNames: ['outcome'] as const,
        registers: [registry],
      }),
    };
  }

  /** Loads the index from disk, migrating a format 1 store and repairing interrupted writes; starts retention. */
  async start(): Promise<RecoveryReport> {
    if (this.started) throw new PodflameError('INTERNAL', 'profile store started twice');
    this.started = true;
    try {
      await mkdir(join(this.dir, BLOCKS_DIR), { recursive: true, mode: 0o750 });
    } catch (err) {
      throw new PodflameError(
        'CONFIG_INVALID',
        `cannot create the data directory ${this.dir}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const report: RecoveryReport = {
      profiles: 0,
      tempFilesRemoved: 0,
      orphanDataRemoved: 0,
      invalidMetadataRemoved: 0,
      migrated: 0,
      rollupsRebuilt: 0,
    };
    await this.recoverBlocks(report);
    const migration = await migrateFormat1(this.dir, {
      has: (id) => this.index.has(id),
      // Not capped: these profiles were stored already; refusing them would lose them.
      commit: (id, fields, stacks) => this.commitNow(id, fields, stacks, false),
    });
    report.migrated = migration.migrated;
    report.tempFilesRemoved += migration.tempFilesRemoved;
    report.orphanDataRemoved += migration.orphanDataRemoved;
    report.invalidMetadataRemoved += migration.invalidMetadataRemoved;
    this.countRecovered('temp_file', migration.tempFilesRemoved);
    this.countRecovered('orphan_data', migration.orphanDataRemoved);
    this.countRecovered('invalid_metadata', migration.invalidMetadataRemoved);
    report.rollupsRebuilt = await this.reconcileRollups();
    report.profiles = this.index.size;
    await writeFileDurable(this.dir, FORMAT_FILE, `${STORE_FORMAT}\n`);
    await this.enforceRetention();
    this.timer = setInterval(() => {
      void this.enforceRetention().catch(() => undefined);
    }, this.sweepIntervalMs);
    this.timer.unref();
    return report;
  }

  private countRecovered(kind: string, n: number): void {
    if (n > 0) this.metrics?.recovered.inc({ kind }, n);
  }

  /** Reads every block: leftovers removed, partial dictionary lines cut, profiles indexed, rollups' members noted. */
  private async recoverBlocks(report: RecoveryReport): Promise<void> {
    const blocksDir = join(this.dir, BLOCKS_DIR);
    for (const block of (await readdir(blocksDir)).filter(isBlockName).sort()) {
      const dir = blockDir(this.dir, block);
      const names = await readdir(dir);
      this.dictionaryFileBytes.set(block, await repairDictionaryTail(join(dir, DICTIONARY_FILE)));
      const dataFiles = new Set(names.filter((n) => idOfFile(n, PAIRS_SUFFIX) !== undefined));
      let changed = false;
      const remove = async (name: string, kind: 'temp_file' | 'orphan_data' | 'invalid_metadata' | 'rollup') => {
        await removeIfPresent(join(dir, name));
        if (kind !== 'rollup') this.countRecovered(kind, 1);
        changed = true;
      };
      for (const name of names.filter((n) => n.startsWith(TEMP_PREFIX))) {
        await remove(name, 'temp_file');
        report.tempFilesRemoved++;
      }
      for (const name of names.sort()) {
        const id = idOfFile(name, META_SUFFIX);
        if (id === undefined) continue;
        const meta = await readMetadataFile(join(dir, name), id);
        const dataName = `${id}${PAIRS_SUFFIX}`;
        const dataSize = await stat(join(dir, dataName)).then(
          (s) => s.size,
          () => -1,
        );
        dataFiles.delete(dataName);
        if (!meta || dataSize !== meta.bytes - (meta.dictionaryBytes ?? 0) || blockOf(id) !== block) {
          // Cannot come from our own writes (the data is complete before its marker); a damaged or foreign file.
          await remove(name, 'invalid_metadata');
          await removeIfPresent(join(dir, dataName));
          report.invalidMetadataRemoved++;
          continue;
        }
        this.indexProfile(meta);
      }
      for (const dataName of dataFiles) {
        await remove(dataName, 'orphan_data');
        report.orphanDataRemoved++;
      }
      const members = new Map<string, string[]>();
      for (const name of names.filter((n) => n.endsWith(ROLLUP_SUFFIX))) {
        try {
          const data = await readFile(join(dir, name));
          members.set(name, decodeRollupHeader(data).header.members);
          this.rollupBytes.set(`${block}/${name}`, data.length);
        } catch {
          await remove(name, 'rollup'); // damaged (a power cut before it reached the disk): rebuilt below
        }
      }
      this.rollups.set(block, members);
      this.chargeLegacyProfiles(block);
      if (changed) await fsyncDirectory(dir);
    }
  }

  /**
   * Profiles stored before dictionary lines were counted have no `dictionaryBytes`: they are counted (in memory,
   * their files unchanged) for the block's dictionary bytes no profile is counted for, shared in proportion to their
   * pairs, so that retention can choose among them; counted for nothing, removing them would seem to free nothing
   * and the uncounted dictionary would make retention remove every profile of the store.
   */
  private chargeLegacyProfiles(block: string): void {
    const legacy: StoredProfile[] = [];
    let charged = 0;
    let legacyPairs = 0;
    for (const p of this.index.values()) {
      if (blockOf(p.id) !== block) continue;
      if (p.dictionaryBytes === undefined) {
        legacy.push(p);
        legacyPairs += p.bytes;
      } else {
        charged += p.dictionaryBytes;
      }
    }
    const uncharged = this.unchargedDictionaryBytes(block, charged);
    if (legacy.length === 0 || uncharged === 0) return;
    let left = uncharged;
    legacy.forEach((p, i) => {
      const share =
        i === legacy.length - 1
          ? left
          : Math.floor(uncharged * (legacyPairs > 0 ? p.bytes / legacyPairs : 1 / legacy.length));
      left -= share;
      this.indexProfile({ ...p, bytes: p.bytes + share, dictionaryBytes: share });
    });
  }

  /** Rewrites every rollup that does not sum exactly its bucket's profiles; removes those of empty buckets. */
  private async reconcileRollups(): Promise<number> {
    const expected = new Map<string, Map<string, { key: string; level: RollupLevel; bucketMs: number }>>();
    for (const p of this.index.values()) {
      const key = seriesKey(p);
      const block = blockOf(p.id);
      let files = expected.get(block);
      if (!files) expected.set(block, (files = new Map()));
      for (const level of ROLLUP_LEVELS) {
        const bucketMs = bucketStart(Date.parse(p.start), level);
        files.set(rollupFileName(level, bucketMs, key), { key, level, bucketMs });
      }
    }
    let rebuilt = 0;
    for (const [block, known] of this.rollups) {
      for (const file of known.keys()) {
        if (!expected.get(block)?.has(file)) await this.removeRollup(block, file);
      }
      if (!expected.has(block)) await this.removeBlockIfEmpty(block);
    }
    for (const level of ROLLUP_LEVELS) {
      for (const [block, files] of expected) {
        for (const [file, spec] of files) {
          if (spec.level !== level) continue;
          const members = this.membersOf(block, spec.key, level, spec.bucketMs).map((p) => p.id);
          if (sameMembers(this.rollups.get(block)?.get(file) ?? [], members)) continue;
          await this.refreshRollup(block, spec.key, level, spec.bucketMs);
          rebuilt++;
        }
      }
    }
    return rebuilt;
  }

  private async readBlockFile(block: string, name: string): Promise<Buffer | undefined> {
    try {
      return await readFile(join(blockDir(this.dir, block), name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  private assertOpen(): void {
    if (!this.started || this.closed) {
      throw new PodflameError('INTERNAL', `the profile store is ${this.closed ? 'closed' : 'not started'}`);
    }
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    return holdWhilePending(this.pending, promise);
  }

  /** Stores a profile durably; resolves with its metadata once it is committed. */
  put(profile: NewProfile): Promise<StoredProfile> {
    this.assertOpen();
    return this.track(this.write(profile));
  }

  private async write(profile: NewProfile): Promise<StoredProfile> {
    const id = newProfileId(profile.startMs);
    const fields = {
      namespace: profile.namespace,
      pod: profile.pod,
      container: profile.container,
      node: profile.node,
      start: new Date(profile.startMs).toISOString(),
      durationSeconds: profile.durationSeconds,
      frequencyHz: profile.frequencyHz,
      java: { inlined: profile.javaInlined ?? false },
      event: profile.event ?? DEFAULT_PROFILE_EVENT,
      samples: totalSamples(profile.stacks),
      warnings: profile.warnings,
      schedule: profile.schedule,
      podUid: profile.podUid,
      containerId: profile.containerId,
      labels: { ...profile.labels },
    };
    let meta: StoredProfile;
    try {
      meta = await this.writes.run(async () => {
        const commit = (): Promise<StoredProfile> =>
          this.commitNow(id, fields, profile.stacks, true, profile.eventCounts);
        const committed = await commit().catch(async (err: unknown) => {
          // At its cap: lines of removed profiles may be all that fills it; reclaim them and try once more.
          if (!(err instanceof PodflameError && err.code === 'STORE_DICTIONARY_FULL')) throw err;
          if (!(await this.compactBlock(blockOf(id), 1))) throw err;
          return commit();
        });
        // In the same turn of the queue, so that the rollups grow by exactly this profile (no rebuild).
        await this.refreshRollupsOf([committed], committed);
        return committed;
      });
      this.metrics?.writes.inc({ outcome: 'ok' });
    } catch (err) {
      this.metrics?.writes.inc({ outcome: 'error' });
      throw err instanceof PodflameError
        ? err
        : new PodflameError('INTERNAL', `cannot write a profile to ${this.dir}: ${(err as Error).message}`, {
            cause: err,
          });
    }
    await this.enforceRetention();
    return meta;
  }

  /**
   * Writes a profile's dictionary lines, data and marker, in that order; indexes it once the marker is durable.
   * Called in the write queue's turn (put) or before the store serves anything (migration).
   */
  private commitNow(
    id: string,
    fields: Omit<StoredProfile, 'id' | 'bytes' | 'dictionaryBytes'>,
    stacks: FoldedStacks,
    capped: boolean,
    eventCounts?: EventCounts,
  ): Promise<StoredProfile> {
    const block = blockOf(id);
    return this.dictionaries.pinned(block, async (dictionary) => {
      const dir = blockDir(this.dir, block);
      if ((await mkdir(dir, { recursive: true, mode: 0o750 })) !== undefined) {
        await fsyncDirectory(join(this.dir, BLOCKS_DIR));
      }
      if (!this.rollups.has(block)) this.rollups.set(block, new Map());
      const pairs: PairCounts = new Map();
      const counts: PairCounts | undefined = eventCounts && new Map();
      const firstNewStackId = dictionary.idCount;
      let dictionaryBytes: number;
      try {
        for (const [stack, count] of stacks) {
          const stackId = dictionary.intern(stack);
          pairs.set(stackId, (pairs.get(stackId) ?? 0) + count);
          const events = eventCounts?.get(stack);
          if (counts && events !== undefined) counts.set(stackId, (counts.get(stackId) ?? 0) + events);
        }
        dictionaryBytes = dictionary.pendingBytes;
        if (capped) {
          this.checkDictionaryCap(block, dictionary.bytes, dictionaryBytes, dictionary.idCount);
          this.checkDictionaryShare(block, fields.namespace, dictionaryBytes);
        }
        await dictionary.flush();
      } catch (err) {
        dictionary.discardPending();
        throw err;
      }
      this.dictionaryFileBytes.set(block, dictionary.bytes);
      const data = encodeCountedPairs(pairs, counts);
      const { namespace, pod, container, node, start, durationSeconds, frequencyHz, java, samples, warnings } = fields;
      const { event, schedule, podUid, containerId, labels } = fields;
      // The field order of format 1, so that listings read the same; the event (newer) after the JVM options.
      const meta: StoredProfile = {
        id,
        namespace,
        pod,
        container,
        node,
        start,
        durationSeconds,
        frequencyHz,
        java,
        event,
        samples,
        warnings,
        schedule,
        podUid,
        containerId,
        labels,
        bytes: data.byteLength + dictionaryBytes,
        dictionaryBytes,
        firstNewStackId,
      };
      await writeFileDurable(dir, `${id}${PAIRS_SUFFIX}`, data);
      await writeFileDurable(dir, `${id}${META_SUFFIX}`, serializeMetadata(meta));
      this.indexProfile(meta);
      return meta;
    });
  }

  private indexProfile(meta: StoredProfile): void {
    this.index.set(meta.id, meta);
    this.metadataBytes.set(meta.id, Buffer.byteLength(serializeMetadata(meta), 'utf8'));
  }

  private unindexProfile(id: string): void {
    this.index.delete(id);
    this.metadataBytes.delete(id);
  }

  /** STORE_DICTIONARY_FULL when `adding` bytes (or the IDs given so far) would take the block's dictionary beyond its cap. */
  private checkDictionaryCap(block: string, bytes: number, adding: number, ids: number): void {
    if (bytes + adding <= this.maxDictionaryBytes && ids <= MAX_DICTIONARY_IDS) return;
    throw new PodflameError(
      'STORE_DICTIONARY_FULL',
      `the stack dictionary of day ${block} in the profile store is full (${bytes} bytes, ${ids} stack IDs; ` +
        `this profile adds ${adding} bytes of new stacks beyond the ${this.maxDictionaryBytes} of ` +
        `--store-max-dictionary-bytes): the profile was not stored; it frees itself as retention removes that day's ` +
        `profiles; raise --store-max-dictionary-bytes, or profile workloads whose stacks change at every run less often`,
      { details: { block, limit: this.maxDictionaryBytes, bytes, adding, ids } },
    );
  }

  /**
   * A namespace's share of a day's dictionary: the cap in the proportion of its store share to the store's total (a
   * quarter with the agent's defaults), so that one namespace whose stacks are new at every run cannot fill the day for
   * every other one; at least `minNamespaceDictionaryBytes` (a day of ordinary stacks fits in far less). No share of
   * its own (maxNamespaceBytes = maxTotalBytes): the whole cap.
   */
  private checkDictionaryShare(block: string, namespace: string, adding: number): void {
    if (adding === 0) return;
    const proportional = Math.floor(
      (this.maxDictionaryBytes * Math.min(this.maxNamespaceBytes, this.maxTotalBytes)) / this.maxTotalBytes,
    );
    const share = Math.min(this.maxDictionaryBytes, Math.max(proportional, this.minNamespaceDictionaryBytes));
    let added = this.removedCharges.get(block)?.get(namespace) ?? 0;
    for (const p of this.index.values()) {
      if (p.namespace === namespace && blockOf(p.id) === block) added += p.dictionaryBytes ?? 0;
    }
    if (added + adding <= share) return;
    throw new PodflameError(
      'STORE_DICTIONARY_FULL',
      `namespace ${namespace} has added ${added} bytes of new stacks to day ${block}'s stack dictionary in the ` +
        `profile store, and this profile adds ${adding} beyond its share of ${share} (--store-max-dictionary-bytes ` +
        `in the proportion of --namespace-max-store-bytes to --store-max-bytes): the profile was not stored; ` +
        `profile workloads whose stacks change at every run less often, or raise those limits`,
      { details: { block, namespace, share, added, adding } },
    );
  }

  /** Bytes of a block's dictionary file that no stored profile is counted for. */
  private unchargedDictionaryBytes(block: string, charged: number): number {
    return Math.max(0, (this.dictionaryFileBytes.get(block) ?? 0) - charged);
  }

  /** Per block, the dictionary bytes its stored profiles are counted for. */
  private chargedDictionaryBytes(): Map<string, number> {
    const charged = new Map<string, number>();
    for (const p of this.index.values()) {
      const block = blockOf(p.id);
      charged.set(block, (charged.get(block) ?? 0) + (p.dictionaryBytes ?? 0));
    }
    return charged;
  }

  /**
   * Reclaims the block's dictionary lines that no committed profile uses, and charges each line kept to the first
   * stored profile that uses it, once at least `minGrowth` bytes that no profile is counted for were added since its
   * last compaction (undefined: the default threshold). Runs in the write queue's turn. True when it reclaimed
   * something or moved a charge.
   */
  private async compactBlock(block: string, minGrowth?: number): Promise<boolean> {
    const bytes = this.dictionaryFileBytes.get(block) ?? 0;
    const uncharged = this.unchargedDictionaryBytes(block, this.chargedDictionaryBytes().get(block) ?? 0);
    const threshold = minGrowth ?? Math.max(MIN_COMPACTION_BYTES, Math.floor(bytes / 16));
    if (uncharged - (this.unchargedAfterCompaction.get(block) ?? 0) < threshold) return false;
    // The profile that added a line is the first stored to use it (a later one has a larger firstNewStackId, as
    // its IDs only grow): while it lives it keeps the charge; once it is gone, the next one using the line takes it.
    const profiles = [...this.index.values()].filter((p) => blockOf(p.id) === block).sort(byStoreOrder);
    const owners = new Owners();
    for (const [owner, p] of profiles.entries()) {
      const data = await this.readBlockFile(block, `${p.id}${PAIRS_SUFFIX}`);
      if (!data) continue;
      const pairs: PairCounts = new Map();
      addPairs(new ByteReader(data), pairs);
      for (const stackId of pairs.keys()) if (owners.get(stackId) === NO_OWNER) owners.set(stackId, owner);
    }
    // A read that began before the removals may still name their stacks: it finishes first.
    await Promise.allSettled([...this.reads]);
    const result = await compactDictionary(join(blockDir(this.dir, block), DICTIONARY_FILE), bytes, (id) =>
      owners.get(id),
    );
    const reclaimed = result.stacks.length > 0 || result.frames.length > 0;
    if (reclaimed) {
      this.dictionaries.compacted(block, result);
      this.dictionaryFileBytes.set(block, result.bytes);
      this.metrics?.compactions.inc();
    }
    let moved = this.removedCharges.has(block);
    for (const [owner, p] of profiles.entries()) {
      if (await this.recharge(p, result.charges[owner] ?? 0)) moved = true;
    }
    this.removedCharges.delete(block);
    this.unchargedAfterCompaction.set(
      block,
      this.unchargedDictionaryBytes(block, this.chargedDictionaryBytes().get(block) ?? 0),
    );
    return reclaimed || moved;
  }

  /**
   * Charges a stored profile `dictionaryBytes` for dictionary lines, its metadata rewritten (durably, so a restart
   * finds the same charges); false when that is already its charge.
   */
  private async recharge(p: StoredProfile, dictionaryBytes: number): Promise<boolean> {
    if ((p.dictionaryBytes ?? 0) === dictionaryBytes) return false;
    const meta: StoredProfile = { ...p, bytes: p.bytes - (p.dictionaryBytes ?? 0) + dictionaryBytes, dictionaryBytes };
    await writeFileDurable(blockDir(this.dir, blockOf(p.id)), `${p.id}${META_SUFFIX}`, serializeMetadata(meta));
    this.indexProfile(meta);
    return true;
  }

  /** The committed profiles of one series in one rollup bucket, sorted by ID. */
  private membersOf(block: string, key: string, level: RollupLevel, bucketMs: number): StoredProfile[] {
    const out: StoredProfile[] = [];
    for (const p of this.index.values()) {
      if (blockOf(p.id) !== block) continue;
      const startMs = Date.parse(p.start);
      if (startMs < bucketMs || startMs >= bucketMs + LEVEL_MS[level]) continue;
      if (seriesKey(p) === key) out.push(p);
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Brings the hour and day rollups of these profiles' buckets up to date (after a commit or a removal). */
  private async refreshRollupsOf(profiles: readonly StoredProfile[], added?: StoredProfile): Promise<void> {
    for (const level of ROLLUP_LEVELS) {
      const done = new Set<string>();
      for (const p of profiles) {
        const key = seriesKey(p);
        const block = blockOf(p.id);
        const bucketMs = bucketStart(Date.parse(p.start), level);
        const file = rollupFileName(level, bucketMs, key);
        if (done.has(`${block}/${file}`)) continue;
        done.add(`${block}/${file}`);
        try {
          await this.refreshRollup(block, key, level, bucketMs, added);
          this.metrics?.rollupWrites.inc({ outcome: 'ok' });
        } catch {
          // The profiles are committed; a rollup that failed is only unused (its members no longer match).
          this.rollups.get(block)?.delete(file);
          this.metrics?.rollupWrites.inc({ outcome: 'error' });
        }
      }
    }
  }

  /**
   * Rewrites one rollup to sum its bucket's committed profiles: the old rollup plus `added` when that is all that
   * changed, else from the next finer level (a day from its hour rollups, an hour from its profiles).
   */
  private async refreshRollup(
    block: string,
    key: string,
    level: RollupLevel,
    bucketMs: number,
    added?: StoredProfile,
  ): Promise<void> {
    const file = rollupFileName(level, bucketMs, key);
    const items = this.membersOf(block, key, level, bucketMs);
    if (items.length === 0) return this.removeRollup(block, file);
    const members = items.map((p) => p.id);
    const known = this.rollups.get(block)?.get(file);
    let pairs: PairCounts | undefined;
    let counted = new EventCountSums();
    let summed = members;
    if (added && known && sameMembers([...known, added.id].sort(), members)) {
      const data = await this.readBlockFile(block, file);
      let old: ReturnType<typeof decodeRollup> | undefined;
      try {
        old = data && decodeRollup(data);
      } catch {
        old = undefined; // damaged: rebuilt below
      }
      if (old && sameMembers(old.header.members, known)) {
        pairs = old.pairs;
        counted.seed(old.eventCounts);
        if (!(await addProfile(this.files, block, added.id, pairs, counted))) pairs = undefined;
      }
    }
    if (!pairs) {
      pairs = new Map();
      counted = new EventCountSums();
      const reads = planSeries(block, key, items, level === 'day' ? 'hour' : 'profile', this.files.rollups);
      const merged = await sumBlock(this.files, block, reads, pairs, undefined, undefined, counted);
      summed = members.filter((id) => merged.has(id));
    }
    const encoded = encodeRollup(
      { series: key, level, bucketMs, members: summed },
      pairs,
      counted.complete() ? counted.counts : undefined,
    );
    await writeFileReplacing(blockDir(this.dir, block), file, encoded);
    this.rollupBytes.set(`${block}/${file}`, encoded.length);
    let ofBlock = this.rollups.get(block);
    if (!ofBlock) this.rollups.set(block, (ofBlock = new Map()));
    ofBlock.set(file, summed);
  }

  private async removeRollup(block: string, file: string): Promise<void> {
    this.rollups.get(block)?.delete(file);
    await removeIfPresent(join(blockDir(this.dir, block), file));
    this.rollupBytes.delete(`${block}/${file}`);
  }

  /** Removes a block without profiles: its rollups, its dictionary, the directory (unless something foreign is in it). */
  private async removeBlockIfEmpty(block: string): Promise<void> {
    for (const p of this.index.keys()) if (blockOf(p) === block) return;
    const dir = blockDir(this.dir, block);
    for (const file of this.rollups.get(block)?.keys() ?? []) await removeIfPresent(join(dir, file));
    for (const key of [...this.rollupBytes.keys()]) if (key.startsWith(`${block}/`)) this.rollupBytes.delete(key);
    this.rollups.delete(block);
    this.dictionaries.drop(block);
    await removeIfPresent(join(dir, DICTIONARY_FILE));
    this.dictionaryFileBytes.delete(block);
    this.unchargedAfterCompaction.delete(block);
    this.removedCharges.delete(block);
    await rmdir(dir).catch(() => undefined);
  }

  get(id: string): StoredProfile | undefined {
    return this.index.get(id);
  }

  /** Stored profiles matching `filter`, oldest first. */
  list(filter: HistoryFilter = {}): StoredProfile[] {
    const selector = filter.labelSelector === undefined ? undefined : parseLabelSelector(filter.labelSelector);
    const out: StoredProfile[] = [];
    for (const p of this.index.values()) {
      if (filter.event !== undefined && p.event !== filter.event) continue;
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

  /** Counts a read in progress, for compaction to wait on. */
  private reading<T>(promise: Promise<T>): Promise<T> {
    return holdWhilePending(this.reads, promise);
  }

  /** A stored profile's pairs file; PROFILE_NOT_FOUND when it is not indexed or retention removed it meanwhile. */
  private async readPairsFile(id: string): Promise<Buffer> {
    const gone = () =>
      new PodflameError('PROFILE_NOT_FOUND', `no stored profile ${id} on this node`, { details: { id } });
    if (!this.index.has(id)) throw gone();
    const data = await this.readBlockFile(blockOf(id), `${id}${PAIRS_SUFFIX}`);
    if (!data) throw gone();
    return data;
  }

  /** The profile's folded stacks; PROFILE_NOT_FOUND when retention removed it meanwhile. */
  readStacks(id: string): Promise<FoldedStacks> {
    return this.reading(this.readStacksNow(id));
  }

  private async readStacksNow(id: string): Promise<FoldedStacks> {
    const data = await this.readPairsFile(id);
    const pairs: PairCounts = new Map();
    addPairs(new ByteReader(data), pairs);
    const dictionary = await this.dictionaries.get(blockOf(id));
    const stacks: FoldedStacks = new Map();
    for (const [stackId, count] of pairs) stacks.set(dictionary.text(stackId), count);
    return stacks;
  }

  /**
   * The profile's event counts (a lock profile's contentions per stack); undefined when it has none (another event,
   * or stored before they were kept). PROFILE_NOT_FOUND when retention removed it meanwhile.
   */
  async readEventCounts(id: string): Promise<EventCounts | undefined> {
    const block = blockOf(id);
    const reader = new ByteReader(await this.readPairsFile(id));
    addPairs(reader, new Map());
    const counts: PairCounts = new Map();
    if (!addEventCounts(reader, counts)) return undefined;
    const dictionary = await this.dictionaries.get(block);
    const out: EventCounts = new Map();
    for (const [stackId, n] of counts) out.set(dictionary.text(stackId), n);
    return out;
  }

  /**
   * The merged stacks of `items` (from `list`) and the profiles actually merged: rollups where they cover whole
   * buckets, profiles at the edges; the same stacks and counts as merging every profile's stacks one by one.
   * EVENT_MISMATCH when the items are not all of one event; PROFILE_TOO_LARGE as soon as the answer's distinct stacks
   * go past `budget` (merge-budget.ts), the rest unread. Once `signal` is aborted (its caller went away), the merge
   * stops at its next turn or read with the signal's reason.
   */
  merge(items: readonly StoredProfile[], budget?: MergeBudget, signal?: AbortSignal): Promise<MergedProfiles> {
    const events = [...new Set(items.map((p) => p.event))];
    if (events.length > 1) {
      // Bytes and samples do not add up: a caller that mixes them has a filter without an event.
      return Promise.reject(
        new PodflameError('EVENT_MISMATCH', `cannot merge profiles of different events (${events.join(', ')})`, {
          details: { events },
        }),
      );
    }
    return this.reading(mergeProfiles(this.files, items, budget, signal)).finally(() => {
      // The last reader out lets go of a day's dictionary beyond the cache's bound (issue #13, F1).
      if (this.reads.size === 0) this.dictionaries.trim();
    });
  }

  /** Bytes counted for the stored profiles: their pairs and the dictionary lines they added. */
  totalBytes(): number {
    let total = 0;
    for (const p of this.index.values()) total += p.bytes;
    return total;
  }

  /**
   * Bytes on disk no profile is counted for: rollups, metadata files, and dictionary lines of removed profiles (still
   * used by others, or not yet reclaimed).
   */
  overheadBytes(): number {
    let overhead = 0;
    for (const n of this.rollupBytes.values()) overhead += n;
    for (const n of this.metadataBytes.values()) overhead += n;
    const charged = this.chargedDictionaryBytes();
    for (const block of this.dictionaryFileBytes.keys()) {
      overhead += this.unchargedDictionaryBytes(block, charged.get(block) ?? 0);
    }
    return overhead;
  }

  /** The store's files as it knows them: what retention holds within `maxTotalBytes`. */
  diskBytes(): number {
    return this.totalBytes() + this.overheadBytes();
  }

  /** Estimated bytes of memory of the dictionaries in memory. */
  dictionaryCacheBytes(): number {
    return this.dictionaries.memoryBytes;
  }

  /**
   * Sets (or, with undefined, clears) a schedule's own age limit for the profiles it stored in `namespace`; the
   * profiles of a same-named schedule of another namespace keep theirs.
   */
  setScheduleRetention(namespace: string, schedule: string, maxAgeSeconds: number | undefined): void {
    let ofNamespace = this.scheduleMaxAge.get(namespace);
    if (maxAgeSeconds === undefined) {
      ofNamespace?.delete(schedule);
      if (ofNamespace?.size === 0) this.scheduleMaxAge.delete(namespace);
      return;
    }
    if (!ofNamespace) this.scheduleMaxAge.set(namespace, (ofNamespace = new Map()));
    ofNamespace.set(schedule, maxAgeSeconds);
  }

  policy(): RetentionPolicy {
    return {
      maxAgeSeconds: this.maxAgeSeconds,
      maxTotalBytes: this.maxTotalBytes,
      maxNamespaceBytes: this.maxNamespaceBytes,
      scheduleMaxAgeSeconds: new Map([...this.scheduleMaxAge].map(([ns, bySchedule]) => [ns, new Map(bySchedule)])),
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
    // A removal turns the dictionary lines its profile was counted for into overhead until they are reclaimed, and
    // compaction waits for enough of them (as do lines of writes a kill interrupted): so while the store is beyond
    // its total, what is reclaimable is reclaimed first, and only then are profiles chosen (a few passes at most).
    for (let pass = 0; pass < 4; pass++) {
      if (this.diskBytes() > this.maxTotalBytes) {
        await this.writes.run(async () => {
          for (const block of [...this.dictionaryFileBytes.keys()]) {
            await this.compactBlock(block, 1).catch(() => false);
          }
        });
      }
      const items = [...this.index.values()].map((p) => ({
        id: p.id,
        namespace: p.namespace,
        startMs: Date.parse(p.start),
        bytes: p.bytes,
        schedule: p.schedule,
      }));
      const evictions = selectEvictions(items, { ...this.policy(), overheadBytes: this.overheadBytes() }, this.now());
      if (evictions.length === 0) return;
      await this.writes.run(() => this.remove(evictions));
      if (this.diskBytes() <= this.maxTotalBytes) return;
    }
  }

  /** Removes profiles (markers first), then updates their rollups and drops blocks left empty. */
  private async remove(removals: readonly { id: string; reason: EvictionReason | 'deleted' }[]): Promise<void> {
    const removed: StoredProfile[] = [];
    for (const { id, reason } of removals) {
      const meta = this.index.get(id);
      if (!meta) continue;
      this.unindexProfile(id);
      removed.push(meta);
      this.holdRemovedCharge(meta);
      if (reason !== 'deleted') this.metrics?.evictions.inc({ reason });
      const dir = blockDir(this.dir, blockOf(id));
      // Marker first: once it is gone the profile no longer exists, whatever happens to the data file.
      await removeIfPresent(join(dir, `${id}${META_SUFFIX}`));
      await removeIfPresent(join(dir, `${id}${PAIRS_SUFFIX}`));
    }
    const blocks = new Set(removed.map((p) => blockOf(p.id)));
    for (const block of blocks) await fsyncDirectory(blockDir(this.dir, block));
    await this.refreshRollupsOf(removed);
    for (const block of blocks) await this.removeBlockIfEmpty(block);
    for (const block of blocks) {
      // The lines only removed profiles used: the store's disk use follows its count (a failed compaction is tried
      // again after the next removal; the lines stay counted as overhead meanwhile).
      if (this.dictionaryFileBytes.has(block)) await this.compactBlock(block).catch(() => false);
    }
  }

  /** Counts a removed profile's dictionary lines in its namespace's share until its block's next compaction. */
  private holdRemovedCharge(meta: StoredProfile): void {
    if (!meta.dictionaryBytes) return;
    const block = blockOf(meta.id);
    let ofBlock = this.removedCharges.get(block);
    if (!ofBlock) this.removedCharges.set(block, (ofBlock = new Map()));
    ofBlock.set(meta.namespace, (ofBlock.get(meta.namespace) ?? 0) + meta.dictionaryBytes);
  }

  /** Removes one profile; false when there was none. */
  async delete(id: string): Promise<boolean> {
    this.assertOpen();
    if (!this.index.has(id)) return false;
    await this.track(this.writes.run(() => this.remove([{ id, reason: 'deleted' }])));
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
    await this.writes.idle();
  }
}

/**
 * The order in which a block's profiles were stored: by the stack IDs the day had given then; profiles stored before
 * that was kept first (their lines are the oldest), by ID.
 */
function byStoreOrder(a: StoredProfile, b: StoredProfile): number {
  return (a.firstNewStackId ?? -1) - (b.firstNewStackId ?? -1) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Keeps `promise` in `set` until it settles (either way), so that whoever closes or compacts can wait for it. */
function holdWhilePending<T>(set: Set<Promise<unknown>>, promise: Promise<T>): Promise<T> {
  set.add(promise);
  const done = () => set.delete(promise);
  promise.then(done, done);
  return promise;
}
