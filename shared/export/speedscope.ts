/**
 * Folded stacks → a speedscope file (https://www.speedscope.app/file-format-schema.json): one "sampled" profile whose
 * samples are the distinct stacks (frame indexes, root first) weighted by their counts, or by the time they stand for
 * when the sampling frequency of a sampled event (cpu, wall) is known; alloc weighs bytes, lock nanoseconds blocked.
 */
import { compareBytes, type FoldedStacks } from '../folded.js';
import { DEFAULT_PROFILE_EVENT, EVENT_KINDS, type ProfileEvent } from '../profile-events.js';
import { eventPeriodNanos, framesOf, validateFrequency } from './sampling.js';

export const SPEEDSCOPE_SCHEMA_URL = 'https://www.speedscope.app/file-format-schema.json';

export interface SpeedscopeOptions {
  /** What the counts are: bytes (alloc) and nanoseconds (lock) keep their unit. Default cpu. */
  event: ProfileEvent;
  /** Name of the profile and of the file, shown in speedscope's title bar. Default 'podflame'. */
  name: string;
  /**
   * Sampling frequency in Hz, for the sampled events (cpu, wall; ignored for others). When set, weights are time in nanoseconds (count × 1e9/Hz; wall: × the whole ms Flight Recorder sampled at, eventPeriodNanos); when undefined they
   * are sample counts (unit "none"). Default undefined.
   */
  frequencyHz: number | undefined;
  /** podflame's version, written as `exporter: "podflame@VERSION"`; undefined writes just "podflame". Default undefined. */
  version: string | undefined;
}

export const DEFAULT_SPEEDSCOPE_OPTIONS: Readonly<SpeedscopeOptions> = Object.freeze({
  event: DEFAULT_PROFILE_EVENT,
  name: 'podflame',
  frequencyHz: undefined,
  version: undefined,
});

/** The subset of speedscope's FileFormat.File that podflame writes. */
export interface SpeedscopeFile {
  $schema: typeof SPEEDSCOPE_SCHEMA_URL;
  shared: { frames: { name: string }[] };
  profiles: {
    type: 'sampled';
    name: string;
    unit: 'none' | 'nanoseconds' | 'bytes';
    startValue: number;
    endValue: number;
    samples: number[][];
    weights: number[];
  }[];
  name: string;
  activeProfileIndex: number;
  exporter: string;
}

export function resolveSpeedscopeOptions(options: Partial<SpeedscopeOptions>): SpeedscopeOptions {
  const frequencyHz = options.frequencyHz ?? DEFAULT_SPEEDSCOPE_OPTIONS.frequencyHz;
  return {
    event: options.event ?? DEFAULT_SPEEDSCOPE_OPTIONS.event,
    name: options.name ?? DEFAULT_SPEEDSCOPE_OPTIONS.name,
    frequencyHz: frequencyHz === undefined ? undefined : validateFrequency(frequencyHz),
    version: options.version ?? DEFAULT_SPEEDSCOPE_OPTIONS.version,
  };
}

export function toSpeedscope(stacks: FoldedStacks, options: Partial<SpeedscopeOptions> = {}): SpeedscopeFile {
  const opts = resolveSpeedscopeOptions(options);
  const unit = EVENT_KINDS[opts.event].unit;
  const sampled = unit === 'samples' && opts.frequencyHz !== undefined;
  const scale = sampled ? eventPeriodNanos(opts.event, opts.frequencyHz as number) : 1;
  const frames: { name: string }[] = [];
  const frameIndex = new Map<string, number>();
  const indexOf = (name: string): number => {
    let i = frameIndex.get(name);
    if (i === undefined) {
      i = frames.length;
      frameIndex.set(name, i);
      frames.push({ name });
    }
    return i;
  };
  const samples: number[][] = [];
  const weights: number[] = [];
  let total = 0;
  for (const stack of [...stacks.keys()].sort(compareBytes)) {
    const weight = (stacks.get(stack) as number) * scale;
    if (!(weight > 0)) continue;
    samples.push(framesOf(stack).map(indexOf));
    weights.push(weight);
    total += weight;
  }
  return {
    $schema: SPEEDSCOPE_SCHEMA_URL,
    shared: { frames },
    profiles: [
      {
        type: 'sampled',
        name: opts.name,
        unit: unit === 'samples' ? (sampled ? 'nanoseconds' : 'none') : unit,
        startValue: 0,
        endValue: total,
        samples,
        weights,
      },
    ],
    name: opts.name,
    activeProfileIndex: 0,
    exporter: opts.version === undefined ? 'podflame' : `podflame@${opts.version}`,
  };
}
