/**
 * Which JFR events make which graph, with what weight, and how to find their stack and weight fields in a chunk's
 * metadata. The fields before them are skipped by type; the fields after them are never read (the event's size
 * takes the reader to the next event).
 *
 * | kind    | events                                                                | weight                          |
 * | ------- | --------------------------------------------------------------------- | ------------------------------- |
 * | `alloc` | jdk.ObjectAllocationSample (JDK 16+); else jdk.ObjectAllocationInNewTLAB, jdk.ObjectAllocationOutsideTLAB | `weight`; `tlabSize`, `allocationSize` (bytes) |
 * | `lock`  | jdk.JavaMonitorEnter, jdk.ThreadPark                                  | `duration` (ns)                 |
 * | `wall`  | jdk.ExecutionSample, jdk.NativeMethodSample                           | 1 (samples)                     |
 *
 * The TLAB events' weights are the ones JDK Mission Control and async-profiler's converter give them: a new TLAB
 * stands for the bytes the thread will allocate in it (`tlabSize`, not the one `allocationSize` that opened it), an
 * allocation outside any TLAB for its own size. jdk.ObjectAllocationSample's `weight` is the bytes its thread
 * allocated since that thread's previous sample, so a thread's first sample also carries whatever it allocated
 * before the recording (chunk-parser.ts leaves it out).
 */
import type { JfrField, JfrTypes } from './metadata.js';

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
}

export const EVENT_RULES: Readonly<Record<string, EventRule>> = {
  'jdk.ObjectAllocationSample': { kind: 'alloc', weightField: 'weight', sinceThreadsLast: true },
  'jdk.ObjectAllocationInNewTLAB': { kind: 'alloc', weightField: 'tlabSize', replacedBy: 'jdk.ObjectAllocationSample' },
  'jdk.ObjectAllocationOutsideTLAB': {
    kind: 'alloc',
    weightField: 'allocationSize',
    replacedBy: 'jdk.ObjectAllocationSample',
  },
  'jdk.JavaMonitorEnter': { kind: 'lock', weightField: 'duration', ticks: true },
  'jdk.ThreadPark': { kind: 'lock', weightField: 'duration', ticks: true },
  'jdk.ExecutionSample': { kind: 'wall' },
  'jdk.NativeMethodSample': { kind: 'wall' },
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
  /** The `eventThread` and `startTime` fields, for a weight counted since the thread's previous event; -1 otherwise. */
  threadIndex: number;
  startIndex: number;
}

const INTEGER_TYPES = new Set(['long', 'int', 'short', 'byte']);

/** Event type id → plan, for the event types of the chunk that make a graph (others are skipped by size). */
export function planEvents(types: JfrTypes): Map<number, EventPlan> {
  const names = new Set<string>();
  for (const c of types.values()) names.add(c.name);
  const plans = new Map<number, EventPlan>();
  for (const c of types.values()) {
    const rule = EVENT_RULES[c.name];
    if (rule === undefined || (rule.replacedBy !== undefined && names.has(rule.replacedBy))) continue;
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
              f.name === 'eventThread' &&
              f.constantPool &&
              !f.array &&
              types.get(f.typeId)?.name === 'java.lang.Thread',
          )
        : -1;
    const startIndex =
      rule.sinceThreadsLast === true
        ? c.fields.findIndex((f) => f.name === 'startTime' && !f.constantPool && !f.array && isLong(types, f))
        : -1;
    // A type without the fields we read is not the event we know (a custom event of the same name): skipped.
    if (stackIndex < 0 || (rule.weightField !== undefined && weightIndex < 0)) continue;
    if (rule.sinceThreadsLast === true && (threadIndex < 0 || startIndex < 0)) continue;
    plans.set(c.id, {
      name: c.name,
      kind: rule.kind,
      fields: c.fields.slice(0, Math.max(stackIndex, weightIndex, threadIndex, startIndex) + 1),
      stackIndex,
      weightIndex,
      ticks: rule.ticks === true,
      threadIndex,
      startIndex,
    });
  }
  return plans;
}

function isLong(types: JfrTypes, f: JfrField): boolean {
  return types.get(f.typeId)?.name === 'long';
}
