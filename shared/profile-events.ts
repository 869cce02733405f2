/**
 * What a profile counts. `cpu` is perf's samples of running code; the others are the JVM's own Flight Recorder events,
 * each weighted by what it measures, so a frame's width in the graph is bytes allocated, time blocked or time seen.
 * Everything that names, labels or converts a profile's numbers reads them from here, so a new event is one entry.
 */
import { formatBytes, formatCount, formatDuration } from './format-numbers.js';

export const PROFILE_EVENTS = ['cpu', 'alloc', 'lock', 'wall'] as const;
export type ProfileEvent = (typeof PROFILE_EVENTS)[number];

export const DEFAULT_PROFILE_EVENT: ProfileEvent = 'cpu';

/** What one unit of a stack's count is. */
export type EventUnit = 'samples' | 'bytes' | 'nanoseconds';

export interface EventKind {
  event: ProfileEvent;
  /** Where it comes from: perf, or the JVM's Flight Recorder. */
  source: 'perf' | 'jfr';
  unit: EventUnit;
  /** The JFR events it is made of, in the order they are preferred (empty for perf). */
  jfrEvents: readonly string[];
  /** One line for help texts and docs. */
  description: string;
  /** pprof's sample type of the weights (`type/unit`), as Go's and async-profiler's profiles name them. */
  pprofType: { type: string; unit: string };
  /** Pyroscope's profile type name for `/ingest?name=APP.TYPE{...}` (its Java integration's names). */
  pyroscopeType: string;
  /**
   * `/ingest?units=`: one of the units Pyroscope's ingest accepts (samples, objects, goroutines, bytes,
   * lock_nanoseconds, lock_samples); plain `nanoseconds` is not among them.
   */
  pyroscopeUnits: 'samples' | 'bytes' | 'lock_nanoseconds';
  /**
   * For an event whose stacks also carry how many events made up each weight (lock: contentions, `eventCounts`):
   * pprof's sample type of those counts, and Pyroscope's profile type and unit for them (its Java integration's
   * `lock_count` in `lock_samples`, which Pyroscope keeps as `block:contentions:count`). Absent: weights alone.
   */
  eventCounts?: { pprofType: { type: string; unit: string }; pyroscopeType: string; pyroscopeUnits: 'lock_samples' };
}

export const EVENT_KINDS: Readonly<Record<ProfileEvent, EventKind>> = Object.freeze({
  cpu: {
    event: 'cpu',
    source: 'perf',
    unit: 'samples',
    jfrEvents: [],
    description: 'where the CPU goes: perf samples of running code (any process, Java names for JVMs)',
    pprofType: { type: 'cpu', unit: 'nanoseconds' },
    pyroscopeType: 'cpu',
    pyroscopeUnits: 'samples',
  },
  alloc: {
    event: 'alloc',
    source: 'jfr',
    unit: 'bytes',
    jfrEvents: ['jdk.ObjectAllocationSample', 'jdk.ObjectAllocationInNewTLAB', 'jdk.ObjectAllocationOutsideTLAB'],
    description: 'where memory is allocated: Flight Recorder allocation samples, weighted by bytes',
    pprofType: { type: 'alloc_space', unit: 'bytes' },
    pyroscopeType: 'alloc_in_new_tlab_bytes',
    pyroscopeUnits: 'bytes',
  },
  lock: {
    event: 'lock',
    source: 'jfr',
    unit: 'nanoseconds',
    jfrEvents: ['jdk.JavaMonitorEnter', 'jdk.ThreadPark'],
    description: 'where threads wait for locks: contended monitors and parks of 1 ms or more, weighted by time blocked',
    pprofType: { type: 'delay', unit: 'nanoseconds' },
    pyroscopeType: 'lock_duration',
    pyroscopeUnits: 'lock_nanoseconds',
    eventCounts: {
      pprofType: { type: 'contentions', unit: 'count' },
      pyroscopeType: 'lock_count',
      pyroscopeUnits: 'lock_samples',
    },
  },
  wall: {
    event: 'wall',
    source: 'jfr',
    unit: 'samples',
    jfrEvents: [
      'jdk.ExecutionSample',
      'jdk.NativeMethodSample',
      'jdk.ThreadSleep',
      'jdk.ThreadPark',
      'jdk.JavaMonitorWait',
      'jdk.JavaMonitorEnter',
    ],
    // Flight Recorder samples threads running Java code and threads in native code (blocking I/O, JNI); a thread
    // blocked in the JVM (sleep, park, Object.wait, entering a monitor) is never sampled, and comes from its wait's
    // duration event instead, counted in samples of the same period (shared/jfr).
    description:
      'where Java threads are, running or waiting: Flight Recorder thread samples, and sleeps, parks, waits and ' +
      'monitor enters in samples of the same period',
    pprofType: { type: 'wall', unit: 'nanoseconds' },
    pyroscopeType: 'wall',
    pyroscopeUnits: 'samples',
  },
});

export function isProfileEvent(value: unknown): value is ProfileEvent {
  return typeof value === 'string' && (PROFILE_EVENTS as readonly string[]).includes(value);
}

/** A total of an event's weights as people read it: "1.2 GB allocated", "3.4 s blocked", "1,234 samples". */
export function describeTotal(event: ProfileEvent, total: number): string {
  switch (event) {
    case 'alloc':
      return `${formatBytes(total)} allocated`;
    case 'lock':
      return `${formatDuration(total / 1e9)} blocked`;
    default:
      return `${formatCount(total)} ${Math.round(total) === 1 ? 'sample' : 'samples'}`;
  }
}

/** The graph's name for one frame's weight, for the SVG's hover text (flamegraph.pl's --countname). */
export function countName(event: ProfileEvent): string {
  return EVENT_KINDS[event].unit;
}

/** One pprof sample value: its type and unit, and how a folded count becomes it. */
export interface PprofValue {
  type: string;
  unit: string;
  /**
   * `count`: the count as it is (samples, bytes, nanoseconds); `period`: count × the sampling period in ns;
   * `events`: the stack's event count (`eventCounts`: how many contentions made up its time), not its weight.
   */
  from: 'count' | 'period' | 'events';
}

/**
 * The pprof sample values of an event, the default (EVENT_KINDS[event].pprofType) last. Sampled events carry the
 * sample count and the time it stands for, as Go's CPU profiles do; weighted ones carry their weight alone, and a lock
 * profile whose stacks came with their event counts also carries those first (`contentions/count`, then
 * `delay/nanoseconds`, as Go's mutex and block profiles do). A lock profile without counts (stored before they were
 * kept, or merged with one that was) has its delay alone: a made-up count would mislead more than its absence.
 */
export function pprofValues(event: ProfileEvent, withEventCounts = false): readonly PprofValue[] {
  const kind = EVENT_KINDS[event];
  const { type, unit } = kind.pprofType;
  switch (event) {
    case 'cpu':
    case 'wall':
      return [
        { type: 'samples', unit: 'count', from: 'count' },
        { type, unit, from: 'period' },
      ];
    default:
      if (withEventCounts && kind.eventCounts !== undefined) {
        return [
          { ...kind.eventCounts.pprofType, from: 'events' },
          { type, unit, from: 'count' },
        ];
      }
      return [{ type, unit, from: 'count' }];
  }
}

/** What the event's events are, for messages: "cpu (samples)", "alloc (bytes)". */
export function describeEvent(event: ProfileEvent): string {
  return `${event} (${EVENT_KINDS[event].unit})`;
}
