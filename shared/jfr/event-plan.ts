/**
 * Which JFR events make which graph, with what weight, and how to find their stack and weight fields in a chunk's
 * metadata. The fields before them are skipped by type; the fields after them are never read (the event's size
 * takes the reader to the next event).
 *
 * | kind    | events                                                                | weight                          |
 * | ------- | --------------------------------------------------------------------- | ------------------------------- |
 * | `alloc` | jdk.ObjectAllocationSample (JDK 16+); else jdk.ObjectAllocationInNewTLAB, jdk.ObjectAllocationOutsideTLAB | `weight`; `tlabSize`, `allocationSize` (bytes) |
 * | `lock`  | jdk.JavaMonitorEnter, jdk.ThreadPark                                  | `duration` within the recording (ns) |
 * | `wall`  | jdk.ExecutionSample, jdk.NativeMethodSample                           | 1 (samples)                     |
 * | `wall`  | jdk.ThreadSleep, jdk.ThreadPark, jdk.JavaMonitorWait, jdk.JavaMonitorEnter | `duration` within the recording ÷ the wall period (samples) |
 *
 * The TLAB events' weights are the ones JDK Mission Control and async-profiler's converter give them: a new TLAB
 * stands for the bytes the thread will allocate in it (`tlabSize`, not the one `allocationSize` that opened it), an
 * allocation outside any TLAB for its own size. jdk.ObjectAllocationSample's `weight` is the bytes its thread
 * allocated since that thread's previous sample, so a thread's first sample also carries whatever it allocated
 * before the recording (chunk-parser.ts leaves it out).
 *
 * HotSpot's thread sampler takes jdk.ExecutionSample from threads running Java code and jdk.NativeMethodSample from
 * threads in native code, never from a thread that sleeps, parks, waits or is blocked entering a monitor: those
 * threads are in `wall` through the duration events that Flight Recorder writes when such a wait ends, each turned
 * into the samples the sampler would have taken of it at the wall period (chunk-parser.ts rounds them). The same
 * jdk.ThreadPark or jdk.JavaMonitorEnter event is a lock capture's time blocked and a wall capture's waiting
 * thread: a capture records one kind, and the reader is told which kinds to read. Either way only its time after the
 * recording began counts (by its `startTime`): a thread parked for seconds before a 2 s capture began would otherwise
 * count seconds blocked in those 2 s. Given a window (jfr-reader.ts `windowNanos`), its time after the window's end
 * is left out too, and any event (a wait, a sample, an allocation) that began after the window's end counts nothing.
 */
import type { JfrClass, JfrField, JfrTypes } from './metadata.js';

export const JFR_EVENT_KINDS = ['alloc', 'lock', 'wall'] as const;
export type JfrEventKind = (typeof JFR_EVENT_KINDS)[number];

interface EventRule {
  kind: JfrEventKind;
  /** The field whose value is the weight; none: each event weighs 1. */
  weightField?: string;
  /** The weight is in ticks of the chunk's clock, reported in nanoseconds. */
  ticks?: boolean;
  /** Not read when the chunk's metadata has this event type (the same allocations, sampled another way). */
  replacedBy?: string;
  /** The weight counts from the thread's previous event of this type: its first one's is left out (by thread). */
  sinceThreadsLast?: boolean;
  /**
   * The weight is a duration in ticks whose part before the recording began is left out, by the event's `startTime`
   * (an event type without one, which no JDK writes, counts its whole duration, within the recording's span).
   */
  sinceRecording?: boolean;
  /**
   * The weight is time a thread waited (a duration in ticks, since the recording began: `startTime` required), which
   * becomes samples at the wall period.
   */
  waited?: boolean;
}

/** A wait as the lock graph counts it: nanoseconds blocked within the recording. */
const BLOCKED: EventRule = { kind: 'lock', weightField: 'duration', ticks: true, sinceRecording: true };
/** A wait as the wall graph counts it: the samples of a thread that was not running. */
const WAITED: EventRule = { kind: 'wall', weightField: 'duration', ticks: true, sinceRecording: true, waited: true };

/** Event name → its rules, one per kind it makes a graph of. */
export const EVENT_RULES: Readonly<Record<string, readonly EventRule[]>> = {
  'jdk.ObjectAllocationSample': [{ kind: 'alloc', weightField: 'weight', sinceThreadsLast: true }],
  'jdk.ObjectAllocationInNewTLAB': [
    { kind: 'alloc', weightField: 'tlabSize', replacedBy: 'jdk.ObjectAllocationSample' },
  ],
  'jdk.ObjectAllocationOutsideTLAB': [
    { kind: 'alloc', weightField: 'allocationSize', replacedBy: 'jdk.ObjectAllocationSample' },
  ],
  'jdk.JavaMonitorEnter': [BLOCKED, WAITED],
  'jdk.ThreadPark': [BLOCKED, WAITED],
  'jdk.ThreadSleep': [WAITED],
  'jdk.JavaMonitorWait': [WAITED],
  'jdk.ExecutionSample': [{ kind: 'wall' }],
  'jdk.NativeMethodSample': [{ kind: 'wall' }],
};

/** How one event type of one chunk is read. */
export interface EventPlan {
  name: string;
  kind: JfrEventKind;
  /** The event's fields up to and including the last one read. */
  fields: JfrField[];
  stackIndex: number;
  /** -1: weight 1. */
  weightIndex: number;
  ticks: boolean;
  /** The weight's part before the recording began is left out, by the `startTime` field (EventRule `sinceRecording`). */
  sinceRecording: boolean;
  /** The weight is time waited, counted in wall samples (EventRule `waited`). */
  waited: boolean;
  /** The `eventThread` field, for a weight counted since the thread's previous event; -1 otherwise. */
  threadIndex: number;
  /**
   * The `startTime` field (for a weight counted since the thread's previous event or the recording, and for the
   * reading's window); -1 when the type has none.
   */
  startIndex: number;
}

const INTEGER_TYPES = new Set(['long', 'int', 'short', 'byte']);

/**
 * Event type id → its plans, one per kind of `kinds` it makes a graph of, for the event types of the chunk that make
 * one (others are skipped by size).
 */
export function planEvents(types: JfrTypes, kinds: readonly JfrEventKind[]): Map<number, EventPlan[]> {
  const names = new Set<string>();
  for (const c of types.values()) names.add(c.name);
  const plans = new Map<number, EventPlan[]>();
  for (const c of types.values()) {
    for (const rule of EVENT_RULES[c.name] ?? []) {
      if (!kinds.includes(rule.kind) || (rule.replacedBy !== undefined && names.has(rule.replacedBy))) continue;
      const plan = planEvent(types, c, rule);
      if (plan === undefined) continue;
      plans.set(c.id, [...(plans.get(c.id) ?? []), plan]);
    }
  }
  return plans;
}

function planEvent(types: JfrTypes, c: JfrClass, rule: EventRule): EventPlan | undefined {
  const stackIndex = c.fields.findIndex(
    (f) =>
      f.name === 'stackTrace' && f.constantPool && !f.array && types.get(f.typeId)?.name === 'jdk.types.StackTrace',
  );
  const weightIndex =
    rule.weightField === undefined
      ? -1
      : c.fields.findIndex(
          (f) =>
            f.name === rule.weightField &&
            !f.constantPool &&
            !f.array &&
            INTEGER_TYPES.has(types.get(f.typeId)?.name ?? ''),
        );
  const threadIndex =
    rule.sinceThreadsLast === true
      ? c.fields.findIndex(
          (f) =>
            f.name === 'eventThread' && f.constantPool && !f.array && types.get(f.typeId)?.name === 'java.lang.Thread',
        )
      : -1;
  const needsStart = rule.sinceThreadsLast === true || rule.waited === true;
  // Read for every event that has one: an event that began after the reading's window counts nothing (jfr-reader.ts).
  const startIndex = c.fields.findIndex(
    (f) => f.name === 'startTime' && !f.constantPool && !f.array && isLong(types, f),
  );
  // A type without the fields we read is not the event we know (a custom event of the same name): skipped.
  if (stackIndex < 0 || (rule.weightField !== undefined && weightIndex < 0)) return undefined;
  if (rule.sinceThreadsLast === true && threadIndex < 0) return undefined;
  if (needsStart && startIndex < 0) return undefined;
  return {
    name: c.name,
    kind: rule.kind,
    fields: c.fields.slice(0, Math.max(stackIndex, weightIndex, threadIndex, startIndex) + 1),
    stackIndex,
    weightIndex,
    ticks: rule.ticks === true,
    sinceRecording: rule.sinceRecording === true && startIndex >= 0,
    waited: rule.waited === true,
    threadIndex,
    startIndex,
  };
}

function isLong(types: JfrTypes, f: JfrField): boolean {
  return types.get(f.typeId)?.name === 'long';
}
