/**
 * Folded stacks → pprof (gzipped profile.proto), the format of `go tool pprof`, Pyroscope and Parca. Each distinct
 * frame name becomes one Function and one Location; each distinct stack one Sample whose values are the event's
 * (profile-events.ts `pprofValues`): for cpu the sample count (`samples/count`) and the CPU time it stands for
 * (`cpu/nanoseconds`, count × 1e9/Hz); for wall the same with `wall/nanoseconds`, count × the period Flight
 * Recorder sampled at (whole ms, at least 10: 99 Hz is 10 ms); for alloc the bytes (`alloc_space/bytes`); for lock
 * the contentions and the time blocked (`contentions/count`, `delay/nanoseconds`, the default), when the stacks come
 * with their event counts (folded.ts `EventCounts`), else the time alone.
 */
import { gzipSync } from 'node:zlib';
import { Function as PprofFunction, Location, Profile, Sample, StringTable, ValueType } from 'pprof-format';
import { PodflameError } from '../errors.js';
import { compareBytes, type EventCounts, type FoldedStacks } from '../folded.js';
import { DEFAULT_PROFILE_EVENT, pprofValues, type ProfileEvent } from '../profile-events.js';
import {
  DEFAULT_SAMPLING_OPTIONS,
  framesOf,
  eventPeriodNanos,
  validateFrequency,
  type SamplingOptions,
} from './sampling.js';

export interface PprofOptions extends SamplingOptions {
  /** What the counts are, which picks the sample types. Default cpu. */
  event: ProfileEvent;
  /** Capture length in seconds, written as the profile's duration. Default 0 (unknown). */
  durationSeconds: number;
  /** Capture start, ms since the epoch, written as the profile's time. Default 0 (unset, keeps output reproducible). */
  startTimeMs: number;
}

export const DEFAULT_PPROF_OPTIONS: Readonly<PprofOptions> = Object.freeze({
  ...DEFAULT_SAMPLING_OPTIONS,
  event: DEFAULT_PROFILE_EVENT,
  durationSeconds: 0,
  startTimeMs: 0,
});

export function resolvePprofOptions(options: Partial<PprofOptions>): PprofOptions {
  const resolved: PprofOptions = {
    event: options.event ?? DEFAULT_PPROF_OPTIONS.event,
    frequencyHz: validateFrequency(options.frequencyHz ?? DEFAULT_PPROF_OPTIONS.frequencyHz),
    durationSeconds: options.durationSeconds ?? DEFAULT_PPROF_OPTIONS.durationSeconds,
    startTimeMs: options.startTimeMs ?? DEFAULT_PPROF_OPTIONS.startTimeMs,
  };
  return resolved;
}

/**
 * Builds the pprof Profile; stacks are visited in byte order so the same input always gives the same bytes.
 * `eventCounts`, for an event that has them (lock), adds their sample type (profile-events.ts `pprofValues`).
 */
export function buildPprofProfile(
  stacks: FoldedStacks,
  options: Partial<PprofOptions> = {},
  eventCounts?: EventCounts,
): Profile {
  const opts = resolvePprofOptions(options);
  const period = eventPeriodNanos(opts.event, opts.frequencyHz);
  const strings = new StringTable();
  const values = pprofValues(opts.event, eventCounts !== undefined);
  const sampleType = values.map((v) => new ValueType({ type: strings.dedup(v.type), unit: strings.dedup(v.unit) }));
  const main = values[values.length - 1] as (typeof values)[number];
  // A period only where the counts are samples taken at a frequency; weights (bytes, ns blocked) have none.
  const sampled = main.from === 'period';

  const functions: PprofFunction[] = [];
  const locations: Location[] = [];
  const locationIdByName = new Map<string, number>();
  const locationIdOf = (name: string): number => {
    let id = locationIdByName.get(name);
    if (id === undefined) {
      id = locationIdByName.size + 1;
      locationIdByName.set(name, id);
      const nameIndex = strings.dedup(name);
      functions.push(new PprofFunction({ id, name: nameIndex, systemName: nameIndex }));
      locations.push(new Location({ id, line: [{ functionId: id }] }));
    }
    return id;
  };

  const samples: Sample[] = [];
  for (const stack of [...stacks.keys()].sort(compareBytes)) {
    const count = Math.round(stacks.get(stack) as number);
    if (count <= 0) continue;
    // pprof lists a sample's locations leaf first; folded stacks are root first.
    const locationId = framesOf(stack).map(locationIdOf).reverse();
    const value = values.map((v) =>
      v.from === 'period'
        ? cpuNanos(count, period)
        : toInt64(v.from === 'events' ? Math.round(eventCounts?.get(stack) ?? 0) : count),
    );
    samples.push(new Sample({ locationId, value }));
  }

  return new Profile({
    sampleType,
    sample: samples,
    location: locations,
    function: functions,
    stringTable: strings,
    periodType: new ValueType({ type: strings.dedup(main.type), unit: strings.dedup(main.unit) }),
    period: sampled ? period : 0,
    durationNanos: toInt64(Math.round(opts.durationSeconds * 1e9)),
    timeNanos: BigInt(Math.round(opts.startTimeMs)) * 1_000_000n,
    defaultSampleType: strings.dedup(main.type),
  });
}

/** The gzipped profile.proto bytes, as `pprof` tools and Pyroscope's `format=pprof` ingest take them. */
export function toPprof(stacks: FoldedStacks, options: Partial<PprofOptions> = {}, eventCounts?: EventCounts): Buffer {
  return gzipSync(buildPprofProfile(stacks, options, eventCounts).encode());
}

const INT64_MAX = 2n ** 63n - 1n;

/** count × period, exact past 2^53 (a double would round the product). */
function cpuNanos(count: number, period: number): number | bigint {
  const product = count * period;
  if (Number.isSafeInteger(product)) return product;
  const exact = BigInt(toInt64(count)) * BigInt(period);
  if (exact > INT64_MAX) {
    throw new PodflameError('INVALID_INPUT', `${count} samples × ${period} ns does not fit pprof's 64-bit values`);
  }
  return exact;
}

function toInt64(value: number): number | bigint {
  if (Number.isSafeInteger(value)) return value;
  const big = Number.isFinite(value) ? BigInt(Math.round(value)) : undefined;
  if (big === undefined || big > INT64_MAX || big < -INT64_MAX) {
    throw new PodflameError('INVALID_INPUT', `a count of ${value} does not fit pprof's 64-bit sample values`);
  }
  return big;
}
