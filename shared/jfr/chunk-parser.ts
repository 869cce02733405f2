/**
 * One whole chunk → weights per stack, per event kind. The chunk's metadata is read first (the header says where);
 * then every event from the header's end to the chunk's end, in order: checkpoints fill the constant pools, events
 * of a planned type add their weight to their stack trace id, any other type is skipped by its size. Only then are
 * the ids resolved, since pools usually come after the events that use them.
 *
 * An event is `[size][type][fields]`, its size counting itself, e.g. a JDK 21 jdk.ExecutionSample:
 * `0a 65 ...` (10 bytes, type 101: startTime, sampledThread, stackTrace, state).
 *
 * Weights are bounded as event-weights.ts says. A jdk.ObjectAllocationSample weighs the bytes its thread allocated
 * since its previous sample, and the thread's counter runs whether or not a recording does: its first sample of a
 * recording carries everything the thread allocated before (a cold test saw totals ten times the bytes allocated
 * during the capture; test/jfr/jfr-alloc-weights.test.ts saw 26 to 51 times). That share cannot be told from the rest, so
 * each thread's first sample (the one of earliest startTime) is left out, and with
 * it one interval between samples that did fall in the recording (the capture's throttle allows 150 samples a second
 * across the JVM: a thread that allocates much loses a small share; one that allocates rarely, and has a single sample,
 * all of it). Bounding the weight by the time since the recording began would need the thread's rate, which its
 * first sample is the only one to tell. Threads are told apart within a chunk, not across chunks: the capture
 * concatenates the recordings of several JVMs, whose thread ids repeat, and a chunk does not say which recording it
 * belongs to; a thread's first sample in a later chunk of the same recording is left out too, a small loss again.
 *
 * A wait in a wall graph (event-plan.ts `waited`: a sleep, park, wait or monitor enter) is kept apart, in
 * nanoseconds within the recording by folded stack: jfr-reader.ts makes them samples once the input is read.
 */
import { ByteReader } from './byte-reader.js';
import { CHUNK_HEADER_BYTES, type ChunkHeader } from './chunk-header.js';
import { readCheckpoint, type ConstantPools } from './constant-pools.js';
import { DecodeHeap, HEADER_HEAP_BYTES, SLOT_HEAP_BYTES, STRUCT_HEAP_BYTES } from './decode-heap.js';
import { JFR_EVENT_KINDS, planEvents, type EventPlan, type JfrEventKind } from './event-plan.js';
import {
  addWeight,
  boundedWeight,
  noWeightCounts,
  startsAfterWindow,
  ticksWithinRecording,
  type WeightBounds,
  type WeightCounts,
} from './event-weights.js';
import { parseMetadata, type JfrTypes } from './metadata.js';
import { StackNamer, UNKNOWN_STACK } from './stack-names.js';
import { readField, skipField } from './values.js';

const METADATA_TYPE = 0;
const CHECKPOINT_TYPE = 1;

export interface ChunkStacks {
  /** Folded stack → weight, per kind. */
  stacks: Record<JfrEventKind, Map<string, number>>;
  /** Folded stack → how many events made up its weight, per kind (a lock stack's contentions). */
  counts: Record<JfrEventKind, Map<string, number>>;
  /** Events read, by name. */
  events: Map<string, number>;
  /** Stack trace ids of events that the pools do not have (their weight goes to `[unknown stack]`). */
  unresolvedStacks: number;
  /** Stack trace ids found in the previous chunk only (ChunkReading `previousStacks`). */
  stacksFromPreviousChunk: number;
  /**
   * Every stack trace of the chunk's pool, named, for the next chunk of the recording (ChunkReading
   * `previousStacks`): names instead of the pools themselves, which hold several times more (the methods, classes,
   * symbols and frames behind them; a 1.4 MB chunk of javac allocations: 55 MiB counted).
   */
  stackNames: Map<number, string>;
  /** Heap that `stackNames` holds beyond the stacks' names the chunk's graphs keep anyway. */
  stackNamesHeapBytes: number;
  /** Allocation samples left out as their thread's first in the chunk (their weight has the time before it). */
  firstSamplesLeftOut: number;
  /** Events left out as begun after the reading's window (once per kind they would have counted in). */
  afterWindow: number;
  /** Waits of the wall graph (event-plan.ts `waited`): folded stack → nanoseconds within the recording, → events. */
  waited: StackSums<string>;
  /** Weights cut or left out (event-weights.ts). */
  weights: WeightCounts;
}

/** What reading one chunk's events counts besides the weights. */
interface EventTally {
  events: Map<string, number>;
  /**
   * Thread → its earliest allocation sample of the chunk so far (event-plan.ts `sinceThreadsLast`), not counted: by
   * startTime, not by place in the file (JDK 25 writes a thread's first sample after later ones).
   */
  firstSamples: Map<number, { start: number; stackId: number; weight: number }>;
  /** Events (per plan) left out as begun after the reading's window. */
  afterWindow: number;
  weights: WeightCounts;
}

/**
 * The last chunk's metadata, as bytes and as types: the chunks of one recording repeat the same metadata (hundreds
 * of KB), so an equal copy is compared, not parsed again. Owned by one reader, never shared between readers.
 */
export interface MetadataCache {
  bytes?: Uint8Array;
  compressed?: boolean;
  types?: JfrTypes;
  /** What parsing `types` counted (they are kept for the next chunks). */
  heapBytes?: number;
}

/** What the reader tells each chunk about the reading. */
export interface ChunkReading {
  /** The kinds whose events are read; the others' are skipped by size. */
  kinds: readonly JfrEventKind[];
  /**
   * When the recording began (epoch ns, as chunk headers say it: the start of the input's first chunk): no event of
   * the chunk lasts from before it, nor, for a wait (lock or wall: event-plan.ts `sinceRecording`), counts its time
   * before it.
   */
  recordingStartNanos: number;
  /**
   * The graph's window, in nanoseconds from the recording's start: a wait counts its time before the window's end
   * only, and an event that began after it counts nothing. Default: no window, the whole recording. Relative, not an
   * epoch time: epoch nanoseconds as doubles are 256 ns apart.
   */
  windowNanos?: number;
  /**
   * The named stack traces of the chunk before, when it is the same recording's (jfr-reader.ts tells): a stack trace
   * id this chunk's pools lack is looked up there. When another recording runs beside, JDK 17 rotates chunks as
   * recordings start and stop, and events of the new chunk refer to traces written only in the one before (seen:
   * 3 of 285 lock events per chunk, test/fixtures/jfr/record.sh `pools`); the JDK's own parser (`jfr print`) resolves
   * them from the previous chunk of the file the same way, and leaves the first chunk's without a stack.
   */
  previousStacks?: ReadonlyMap<number, string>;
}

/**
 * Reads a chunk (`bytes` is exactly the chunk; `base` its offset in the input), counting what it decodes in `heap`
 * (unbounded by default), which stops it with PROFILE_TOO_LARGE beyond its cap.
 */
export function parseChunk(
  bytes: Uint8Array,
  base: number,
  header: ChunkHeader,
  reading: ChunkReading,
  cache: MetadataCache = {},
  heap: DecodeHeap = new DecodeHeap(Infinity, undefined),
): ChunkStacks {
  const reader = new ByteReader(bytes, base, header.compressedIntegers);
  const types = metadataOf(reader, header, cache, heap);
  const plans = planEvents(types, reading.kinds);
  const pools: ConstantPools = new Map();
  const weights = new Map<JfrEventKind, Map<number, number>>(JFR_EVENT_KINDS.map((k) => [k, new Map()]));
  const eventCounts = new Map<JfrEventKind, Map<number, number>>(JFR_EVENT_KINDS.map((k) => [k, new Map()]));
  // Waits in the wall graph, by stack trace id: nanoseconds and events.
  const waited = { weights: new Map<number, number>(), counts: new Map<number, number>() };
  const tally: EventTally = {
    events: new Map(),
    firstSamples: new Map(),
    afterWindow: 0,
    weights: noWeightCounts(),
  };
  // The chunk's clock behind the recording's start (epoch nanoseconds as doubles: their difference is what counts).
  const sinceRecordingStart = header.startNanos - reading.recordingStartNanos;
  // An event ends within its chunk: it can have lasted from the recording's start to the chunk's end at most.
  const maxDurationNanos = Math.max(0, sinceRecordingStart + header.durationNanos);
  const recordingStartTicks = header.startTicks - (sinceRecordingStart * header.ticksPerSecond) / 1e9;
  const windowEndTicks =
    reading.windowNanos === undefined
      ? Infinity
      : recordingStartTicks + (reading.windowNanos * header.ticksPerSecond) / 1e9;
  const bounds = { maxDurationNanos, recordingStartTicks, windowEndTicks };
  const ticks: WeightBounds = { nanosPerTick: 1e9 / header.ticksPerSecond, ...bounds };
  const asWritten: WeightBounds = { nanosPerTick: undefined, ...bounds };

  let pos = CHUNK_HEADER_BYTES;
  while (pos < bytes.length) {
    reader.limit = bytes.length;
    reader.pos = pos;
    const size = reader.varlong();
    // At least the size and a type byte: a size of 0 would never move on.
    if (size < reader.pos - pos + 1 || size > bytes.length - pos) {
      reader.fail(`event size ${size} does not fit the ${bytes.length - pos} bytes left of the chunk`, pos);
    }
    const end = pos + size;
    reader.limit = end;
    const type = reader.varlong();
    if (type === CHECKPOINT_TYPE) {
      readCheckpoint(reader, types, pools, heap);
    } else if (type !== METADATA_TYPE) {
      const typePlans = plans.get(type);
      if (typePlans !== undefined) {
        // One event may make several graphs (a park: lock and wall), each plan reading it from its first field.
        const fieldsAt = reader.pos;
        let counted = false;
        for (const plan of typePlans) {
          reader.pos = fieldsAt;
          const sums: StackSums = plan.waited
            ? waited
            : {
                weights: weights.get(plan.kind) as Map<number, number>,
                counts: eventCounts.get(plan.kind) as Map<number, number>,
              };
          if (readEvent(reader, types, plan, sums, plan.ticks ? ticks : asWritten, tally, heap)) counted = true;
        }
        const name = (typePlans[0] as EventPlan).name;
        if (counted) tally.events.set(name, (tally.events.get(name) ?? 0) + 1);
      }
    }
    pos = end;
  }
  const { events, firstSamples, afterWindow, weights: counts } = tally;
  return {
    ...resolve(pools, reading.previousStacks, weights, eventCounts, waited, counts, heap),
    events,
    firstSamplesLeftOut: firstSamples.size,
    afterWindow,
    weights: counts,
  };
}

function metadataOf(reader: ByteReader, header: ChunkHeader, cache: MetadataCache, heap: DecodeHeap): JfrTypes {
  reader.pos = header.metadataOffset;
  const size = reader.varlong();
  const start = header.metadataOffset;
  const end = start + size;
  if (end <= reader.bytes.length && cache.types !== undefined && cache.compressed === header.compressedIntegers) {
    const raw = reader.bytes.subarray(start, end);
    if (cache.bytes !== undefined && Buffer.from(raw.buffer, raw.byteOffset, raw.length).equals(cache.bytes)) {
      return cache.types;
    }
  }
  reader.pos = start;
  const before = heap.bytes;
  const types = parseMetadata(reader, heap);
  cache.heapBytes = heap.bytes - before;
  // A copy: the chunk's buffer is reused for the next chunk.
  cache.bytes = Buffer.from(reader.bytes.subarray(start, end));
  cache.compressed = header.compressedIntegers;
  cache.types = types;
  return types;
}

/** Stack (trace id, or folded name) → summed weight, and → how many events made it up. */
export interface StackSums<K = number> {
  weights: Map<K, number>;
  counts: Map<K, number>;
}

/** Adds one event's weight to its stack's in `sums`; false when it is not counted (left out, or held back). */
function readEvent(
  reader: ByteReader,
  types: JfrTypes,
  plan: EventPlan,
  sums: StackSums,
  bounds: WeightBounds,
  tally: EventTally,
  heap: DecodeHeap,
): boolean {
  let stackId = 0;
  let threadId = 0;
  let start = 0;
  let raw = 1;
  const fields = plan.fields;
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i] as (typeof fields)[number];
    if (i === plan.stackIndex) {
      stackId = reader.varlong();
    } else if (i === plan.threadIndex) {
      threadId = reader.varlong();
    } else if (i === plan.startIndex) {
      start = readField(reader, types, field) as number;
    } else if (i === plan.weightIndex) {
      raw = readField(reader, types, field) as number;
    } else {
      skipField(reader, types, field);
    }
  }
  // Begun after the window (the recording runs on until its dump is done): no part of it is in the graph. Before
  // the first-sample logic, so an allocation sample after the window neither counts nor stands for its thread's first.
  if (plan.startIndex >= 0 && startsAfterWindow(start, bounds)) {
    tally.afterWindow++;
    return false;
  }
  const sinceRecording = plan.sinceRecording ? ticksWithinRecording(raw, start, bounds) : raw;
  let weight = boundedWeight(sinceRecording, bounds, tally.weights);
  if (weight === undefined) return false;
  if (plan.threadIndex >= 0) {
    // The thread's history before the recording (see above) is in its earliest sample: held back until a yet
    // earlier one of the thread takes its place, and left out at the chunk's end.
    const first = tally.firstSamples.get(threadId);
    if (first === undefined) heap.charge(STRUCT_HEAP_BYTES);
    if (first === undefined || start < first.start) {
      tally.firstSamples.set(threadId, { start, stackId, weight });
      if (first === undefined) return false;
      ({ stackId, weight } = first);
    }
  }
  addWeight(sums.weights, stackId, weight, tally.weights);
  sums.counts.set(stackId, (sums.counts.get(stackId) ?? 0) + 1);
  return true;
}

function resolve(
  pools: ConstantPools,
  previousStacks: ReadonlyMap<number, string> | undefined,
  weights: Map<JfrEventKind, Map<number, number>>,
  eventCounts: Map<JfrEventKind, Map<number, number>>,
  waited: StackSums,
  counts: WeightCounts,
  heap: DecodeHeap,
): Pick<
  ChunkStacks,
  'stacks' | 'counts' | 'waited' | 'unresolvedStacks' | 'stacksFromPreviousChunk' | 'stackNames' | 'stackNamesHeapBytes'
> {
  const namer = new StackNamer(pools);
  const names = new Map<number, string>();
  let unresolvedStacks = 0;
  let stacksFromPreviousChunk = 0;
  const nameOf = (id: number): string => {
    let name = names.get(id);
    if (name === undefined) {
      name = namer.stack(id);
      if (name === undefined) {
        name = previousStacks?.get(id);
        if (name === undefined) {
          unresolvedStacks++;
          return UNKNOWN_STACK;
        }
        stacksFromPreviousChunk++;
      }
      names.set(id, name);
      // Named once per id, kept in `names` and in `folded`: up to MAX_STACK_FRAMES × MAX_STRING_CHARS each.
      heap.charge(HEADER_HEAP_BYTES + 2 * SLOT_HEAP_BYTES + 2 * name.length);
    }
    return name;
  };
  /** Sums by id → sums by name: two ids of one name (an unresolved id and another) add up, within bounds too. */
  const byName = (sums: StackSums): StackSums<string> => {
    const out: StackSums<string> = { weights: new Map(), counts: new Map() };
    for (const [id, weight] of sums.weights) {
      const name = nameOf(id);
      addWeight(out.weights, name, weight, counts);
      out.counts.set(name, (out.counts.get(name) ?? 0) + (sums.counts.get(id) ?? 0));
    }
    return out;
  };
  const stacks = {} as Record<JfrEventKind, Map<string, number>>;
  const foldedCounts = {} as Record<JfrEventKind, Map<string, number>>;
  for (const kind of JFR_EVENT_KINDS) {
    const folded = byName({
      weights: weights.get(kind) as Map<number, number>,
      counts: eventCounts.get(kind) as Map<number, number>,
    });
    stacks[kind] = folded.weights;
    foldedCounts[kind] = folded.counts;
  }
  const waitedByName = byName(waited);
  // The traces no event of this chunk used are named too: the next chunk's first events may refer to them (written
  // here, their events flushed after the rotation). Those used are named already, their strings shared.
  let stackNamesHeapBytes = names.size * 2 * SLOT_HEAP_BYTES;
  for (const id of pools.get('jdk.types.StackTrace')?.keys() ?? []) {
    if (typeof id !== 'number' || names.has(id)) continue;
    const name = namer.stack(id);
    if (name === undefined) continue;
    names.set(id, name);
    const bytes = HEADER_HEAP_BYTES + 2 * SLOT_HEAP_BYTES + 2 * name.length;
    heap.charge(bytes);
    stackNamesHeapBytes += bytes;
  }
  return {
    stacks,
    counts: foldedCounts,
    waited: waitedByName,
    unresolvedStacks,
    stacksFromPreviousChunk,
    stackNames: names,
    stackNamesHeapBytes,
  };
}
