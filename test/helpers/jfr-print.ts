/**
 * The JDK's own reading of a recording, for the JFR reader's golden tests: `jfr print --json --stack-depth 1000 --events …` (its default prints 5 frames) (JDK 17+'s
 * bin/jfr) folded into stacks per kind with the weights of shared/jfr/event-plan.ts — written from the JSON's
 * documented shape (`recording.events[].type/values`, frames leaf first, durations as ISO-8601 `PT0.057616142S`),
 * not from the reader's code, so a decoding slip in the reader shows as a difference. As the reader does, each thread's
 * first jdk.ObjectAllocationSample is left out (its weight holds what the thread allocated before the recording): the
 * one of earliest startTime, threads told apart by their OS and Java ids (one chunk a recording here). A wait counts
 * from the recording's start only (its `recordingStartNanos`, read from the file's first chunk header), in
 * nanoseconds: a park or monitor enter as lock's time blocked, and any wait (a sleep, park, monitor wait or enter) as
 * a wall graph's, each stack's nanoseconds divided by the wall period once, rounded half up.
 */
import { createReadStream } from 'node:fs';
import { normalizeJavaMethod } from '../../shared/collapse/java-names.js';

export type Kind = 'alloc' | 'lock' | 'wall';

/** The events `jfr print --events` is asked for (comma-separated). */
export const PRINTED_EVENTS = [
  'jdk.ObjectAllocationSample',
  'jdk.ObjectAllocationInNewTLAB',
  'jdk.ObjectAllocationOutsideTLAB',
  'jdk.JavaMonitorEnter',
  'jdk.ThreadPark',
  'jdk.ThreadSleep',
  'jdk.JavaMonitorWait',
  'jdk.ExecutionSample',
  'jdk.NativeMethodSample',
].join(',');

interface PrintedFrame {
  method: { type: { name: string } | null; name: string } | null;
  type: string;
}
interface PrintedEvent {
  type: string;
  values: Record<string, unknown> & {
    stackTrace: { truncated: boolean; frames: PrintedFrame[] } | null;
  };
}

/** `PT1M2.000000003S`, `PT0.057616142S`, `PT0S` → nanoseconds. */
export function isoDurationNanos(text: string): number {
  const m = /^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.(\d{1,9}))?S)?$/.exec(text);
  if (!m) throw new Error(`unexpected duration ${text}`);
  const [, h = '0', min = '0', s = '0', fraction = ''] = m;
  return ((Number(h) * 60 + Number(min)) * 60 + Number(s)) * 1e9 + Number(fraction.padEnd(9, '0'));
}

/** `2026-12-04T14:47:01.123456789Z` → nanoseconds since the epoch. */
function instantNanos(text: string): bigint {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(text);
  if (!m) throw new Error(`unexpected instant ${text}`);
  const [, seconds = '', fraction = ''] = m;
  return BigInt(Date.parse(`${seconds}Z`)) * 1_000_000n + BigInt(fraction.padEnd(9, '0'));
}

/**
 * How waits count: from when the recording began (epoch ns; lock and wall), and in wall at the period of one sample.
 */
export interface WallWaits {
  periodNanos: number;
  recordingStartNanos: bigint;
}

/** The start of a recording's first chunk (the header's i64 at byte 32), as the JDK wrote it. */
export function recordingStartNanos(recording: Uint8Array): bigint {
  return Buffer.from(recording.buffer, recording.byteOffset, 40).readBigInt64BE(32);
}

/** `2026-12-04T14:47:01.1234Z` → a key that sorts as the instant does (fractions printed without trailing zeros). */
function instantKey(text: string): string {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(.*)$/.exec(text);
  if (!m) throw new Error(`unexpected instant ${text}`);
  const [, seconds = '', fraction = '', zone = ''] = m;
  return `${zone} ${seconds}.${fraction.padEnd(9, '0')}`;
}

function frameName(frame: PrintedFrame): string {
  const method = frame.method;
  const raw = method?.type?.name;
  // JDK 17 prints hidden classes as `Outer$$Lambda$14+0x0000000800c03000`, JDK 21 as `Outer$$Lambda/0x…`.
  const cls = raw === undefined ? undefined : normalizeJavaMethod(raw.replace(/\+0x/, '/0x')).replaceAll('/', '.');
  const name = normalizeJavaMethod(cls === undefined ? (method?.name ?? '[unknown]') : `${cls}.${method?.name}`);
  return name + (frame.type === 'Inlined' ? '_[i]' : '_[j]');
}

/**
 * Folds printed events. `allocationSample`: the recording's JDK has jdk.ObjectAllocationSample (16+), whose events
 * are then the allocation graph; older JDKs' TLAB events otherwise. `waits`: how waits count in wall.
 */
export function foldJfrPrint(
  json: string,
  allocationSample: boolean,
  waits: WallWaits,
): Record<Kind, Map<string, number>> {
  const events = (JSON.parse(json) as { recording: { events: PrintedEvent[] } }).recording.events;
  const folding = new PrintFolding(allocationSample, waits);
  for (const e of events) folding.add(e);
  return folding.finish();
}

/** Folds events one at a time; each thread's first allocation sample is known only once all are seen. */
class PrintFolding {
  readonly out: Record<Kind, Map<string, number>> = { alloc: new Map(), lock: new Map(), wall: new Map() };
  /** Thread → its earliest allocation sample so far (startTime, stack, weight). */
  private readonly firstSamples = new Map<string, { start: string; stack: string; weight: number }>();
  /** Stack → nanoseconds waited within the recording. */
  private readonly waited = new Map<string, bigint>();

  constructor(
    private readonly allocationSample: boolean,
    private readonly waits: WallWaits,
  ) {}

  add(e: PrintedEvent): void {
    // A wait's nanoseconds after the recording began.
    let within: bigint | undefined;
    if (WAIT_EVENTS.has(e.type)) {
      const start = instantNanos(e.values['startTime'] as string);
      const duration = BigInt(isoDurationNanos(e.values['duration'] as string));
      const before = this.waits.recordingStartNanos - start;
      within = before > 0n ? (duration > before ? duration - before : 0n) : duration;
      const stack = stackOf(e);
      this.waited.set(stack, (this.waited.get(stack) ?? 0n) + within);
    }
    const folded = foldPrintedEvent(e, this.allocationSample, within);
    if (folded === undefined) return;
    const [kind, stack, weight] = folded;
    if (e.type === 'jdk.ObjectAllocationSample') {
      const thread = e.values['eventThread'] as { osThreadId: number; javaThreadId: number | null };
      const key = `${thread.osThreadId}/${thread.javaThreadId}`;
      const start = instantKey(e.values['startTime'] as string);
      const first = this.firstSamples.get(key);
      if (first === undefined || start < first.start) {
        this.firstSamples.set(key, { start, stack, weight });
        if (first === undefined) return;
        this.count(kind, first.stack, first.weight);
        return;
      }
    }
    this.count(kind, stack, weight);
  }

  finish(): Record<Kind, Map<string, number>> {
    const period = BigInt(this.waits.periodNanos);
    for (const [stack, nanos] of this.waited) {
      // Half up, in integers: (2n + p) / 2p.
      const samples = Number((2n * nanos + period) / (2n * period));
      if (samples > 0) this.count('wall', stack, samples);
    }
    this.waited.clear();
    return this.out;
  }

  private count(kind: Kind, stack: string, weight: number): void {
    this.out[kind].set(stack, (this.out[kind].get(stack) ?? 0) + weight);
  }
}

/** The events whose time waited is a wall graph's samples. */
const WAIT_EVENTS = new Set(['jdk.ThreadSleep', 'jdk.ThreadPark', 'jdk.JavaMonitorWait', 'jdk.JavaMonitorEnter']);

/** `within`: a wait's nanoseconds after the recording began, its weight in lock. */
function foldPrintedEvent(
  e: PrintedEvent,
  allocationSample: boolean,
  within: bigint | undefined,
): [Kind, string, number] | undefined {
  let kind: Kind;
  let weight: number;
  const v = e.values;
  switch (e.type) {
    case 'jdk.ObjectAllocationSample':
      if (!allocationSample) return undefined;
      [kind, weight] = ['alloc', v['weight'] as number];
      break;
    case 'jdk.ObjectAllocationInNewTLAB':
      if (allocationSample) return undefined;
      [kind, weight] = ['alloc', v['tlabSize'] as number];
      break;
    case 'jdk.ObjectAllocationOutsideTLAB':
      if (allocationSample) return undefined;
      [kind, weight] = ['alloc', v['allocationSize'] as number];
      break;
    case 'jdk.JavaMonitorEnter':
    case 'jdk.ThreadPark':
      [kind, weight] = ['lock', Number(within)];
      break;
    case 'jdk.ExecutionSample':
    case 'jdk.NativeMethodSample':
      [kind, weight] = ['wall', 1];
      break;
    default:
      return undefined;
  }
  return [kind, stackOf(e), weight];
}

function stackOf(e: PrintedEvent): string {
  const trace = e.values.stackTrace;
  if (trace === null || trace.frames.length === 0) return '[no stack]';
  const frames = trace.frames.map(frameName).reverse();
  if (trace.truncated) frames.unshift('[truncated]');
  return frames.join(';');
}

/** Folded text in a stable order, for goldens and readable differences. */
export function foldedText(stacks: Map<string, number>): string {
  return [...stacks]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([s, w]) => `${s} ${w}\n`)
    .join('');
}

/**
 * foldJfrPrint of a `jfr print --json` file, read one event object at a time. JDK 8 and 11 record every allocation outside
 * a TLAB: 3 s of AllocLoop print as 600 MB of JSON, more than one JavaScript string may hold, so the file is split at
 * the events array's elements (depth 3: root, recording, events) rather than parsed whole.
 */
export async function foldJfrPrintFile(
  path: string,
  allocationSample: boolean,
  waits: WallWaits,
): Promise<Record<Kind, Map<string, number>>> {
  const folding = new PrintFolding(allocationSample, waits);
  let pending: Buffer[] = [];
  let depth = 0;
  let inString = false;
  let escaped = false;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    let start = depth >= 4 ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (inString) {
        if (escaped) escaped = false;
        else if (c === 0x5c) escaped = true;
        else if (c === 0x22) inString = false;
        continue;
      }
      if (c === 0x22) inString = true;
      else if (c === 0x7b || c === 0x5b) {
        depth++;
        if (depth === 4 && c === 0x7b) start = i;
      } else if (c === 0x7d || c === 0x5d) {
        depth--;
        if (depth === 3 && c === 0x7d && start >= 0) {
          pending.push(chunk.subarray(start, i + 1));
          folding.add(JSON.parse(Buffer.concat(pending).toString('utf8')) as PrintedEvent);
          pending = [];
          start = -1;
        }
      }
    }
    if (start >= 0) pending.push(chunk.subarray(start));
  }
  if (depth !== 0 || pending.length > 0) throw new Error(`${path}: the JSON ends inside an event`);
  return folding.finish();
}
