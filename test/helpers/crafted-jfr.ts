/**
 * Crafted Flight Recorder files, as a hostile workload could write them (issue #13, A2; after attack-3's
 * gen-jfr-bomb.mjs): one chunk, compressed integers, a `Symbol` of `nameChars` latin1 chars (or `name`) named by one
 * `Method`, `stacks` stack traces of `frames` one-byte frames each (every frame that method), and one allocation
 * sample per stack trace, all of thread 1, after the thread's first sample (weight 1, no stack, the earliest
 * startTime; last in the file when `historyLast`), which the reader leaves out as the thread's history. A few input bytes per frame, each a decoded struct and a name in the folded
 * stack. `lockTicks` adds jdk.JavaMonitorEnter events of those durations on stack 1 (without a startTime field, as a
 * custom event of that name may be), `sleeps` jdk.ThreadSleep events and `parks` jdk.ThreadPark events (start and
 * duration in ticks) on stack `stack` (default 1), `executionSamples` jdk.ExecutionSample events (start in ticks,
 * thread 1) on stack `stack` (default 1), `ticksPerSecond` and `durationNanos` set the chunk's
 * clock and length (default 10^9 each), `startTicks` its clock at its start (default 0), `weight` each sample's (any
 * 64-bit value).
 */
const varint = (v: number | bigint): number[] => {
  const out: number[] = [];
  // Two's complement, as JFR writes a negative long.
  let x = BigInt.asUintN(64, BigInt(v));
  for (let i = 0; i < 8 && x >= 128n; i++) {
    out.push(Number(x & 127n) | 128);
    x >>= 7n;
  }
  out.push(Number(x));
  return out;
};

function withSize(body: number[] | Buffer): Buffer {
  let n = body.length + 1;
  for (;;) {
    const s = varint(n);
    if (s.length + body.length === n) return Buffer.concat([Buffer.from(s), Buffer.from(body)]);
    n = s.length + body.length;
  }
}

/** A duration event: its startTime and duration in ticks of the chunk's clock, on stack trace `stack` (default 1). */
export interface CraftedWait {
  start: number | bigint;
  ticks: number | bigint;
  stack?: number;
}

export interface CraftedJfr {
  stacks: number;
  frames: number;
  nameChars: number;
  name?: string;
  weight?: number | bigint;
  lockTicks?: (number | bigint)[];
  sleeps?: CraftedWait[];
  parks?: CraftedWait[];
  executionSamples?: Omit<CraftedWait, 'ticks'>[];
  ticksPerSecond?: number;
  startTicks?: number;
  durationNanos?: number;
  historyLast?: boolean;
}

export function craftedJfr(options: CraftedJfr): Buffer {
  const { stacks, frames, nameChars, weight = 4096, lockTicks = [] } = options;
  const name = Buffer.from(options.name ?? 'a'.repeat(nameChars), 'latin1');
  const strings: string[] = [];
  const si = (s: string): number => {
    let i = strings.indexOf(s);
    if (i < 0) {
      i = strings.length;
      strings.push(s);
    }
    return i;
  };
  const el = (name: string, attrs: Record<string, string | number>, children: number[][] = []): number[] => {
    const out = [...varint(si(name)), ...varint(Object.keys(attrs).length)];
    for (const [k, v] of Object.entries(attrs)) out.push(...varint(si(k)), ...varint(si(String(v))));
    out.push(...varint(children.length));
    for (const c of children) out.push(...c);
    return out;
  };
  const field = (name: string, cls: number, extra: Record<string, string | number> = {}): number[] =>
    el('field', { name, class: cls, ...extra });
  const root = el('root', {}, [
    el('class', { id: 10, name: 'long' }),
    el('class', { id: 12, name: 'java.lang.String' }),
    el('class', { id: 13, name: 'boolean' }),
    el('class', { id: 20, name: 'jdk.types.StackTrace' }, [
      field('truncated', 13),
      field('frames', 21, { dimension: 1 }),
    ]),
    el('class', { id: 21, name: 'jdk.types.StackFrame' }, [field('method', 22, { constantPool: 'true' })]),
    el('class', { id: 22, name: 'jdk.types.Method' }, [field('name', 23, { constantPool: 'true' })]),
    el('class', { id: 23, name: 'jdk.types.Symbol' }, [field('string', 12)]),
    el('class', { id: 24, name: 'java.lang.Thread' }, [field('javaThreadId', 10)]),
    el('class', { id: 30, name: 'jdk.ObjectAllocationSample', superType: 'jdk.jfr.Event' }, [
      field('startTime', 10),
      field('eventThread', 24, { constantPool: 'true' }),
      field('stackTrace', 20, { constantPool: 'true' }),
      field('weight', 10),
    ]),
    el('class', { id: 31, name: 'jdk.JavaMonitorEnter', superType: 'jdk.jfr.Event' }, [
      field('duration', 10),
      field('stackTrace', 20, { constantPool: 'true' }),
    ]),
    el('class', { id: 32, name: 'jdk.ThreadSleep', superType: 'jdk.jfr.Event' }, [
      field('startTime', 10),
      field('duration', 10),
      field('stackTrace', 20, { constantPool: 'true' }),
    ]),
    el('class', { id: 33, name: 'jdk.ThreadPark', superType: 'jdk.jfr.Event' }, [
      field('startTime', 10),
      field('duration', 10),
      field('stackTrace', 20, { constantPool: 'true' }),
    ]),
    el('class', { id: 34, name: 'jdk.ExecutionSample', superType: 'jdk.jfr.Event' }, [
      field('startTime', 10),
      field('sampledThread', 24, { constantPool: 'true' }),
      field('stackTrace', 20, { constantPool: 'true' }),
    ]),
  ]);
  const stringBytes = strings.flatMap((s) => [3, ...varint(Buffer.byteLength(s)), ...Buffer.from(s)]);
  const meta = withSize([0, 0, 0, 0, ...varint(strings.length), ...stringBytes, ...root]);
  // Each sample [size, type, startTime, thread, stack, weight]: the thread's history first in time, not in the file
  // when `historyLast` (as JDK 25 may write it).
  const history = withSize([30, 1, 1, 0, 1]);
  const events: Buffer[] = options.historyLast === true ? [] : [history];
  for (let i = 1; i <= stacks; i++) events.push(withSize([30, ...varint(1 + i), 1, ...varint(i), ...varint(weight)]));
  if (options.historyLast === true) events.push(history);
  for (const ticks of lockTicks) events.push(withSize([31, ...varint(ticks), 1]));
  for (const [type, waits] of [
    [32, options.sleeps],
    [33, options.parks],
  ] as const) {
    for (const { start, ticks, stack = 1 } of waits ?? []) {
      events.push(withSize([type, ...varint(start), ...varint(ticks), ...varint(stack)]));
    }
  }
  for (const { start, stack = 1 } of options.executionSamples ?? []) {
    events.push(withSize([34, ...varint(start), 1, ...varint(stack)]));
  }
  // Pools: the symbol (latin1, encoding 5), the method, then the stack traces.
  const pools: Buffer[] = [Buffer.from([1, 0, 0, 0, 0, 3])];
  pools.push(Buffer.from([23, 1, 1, 5, ...varint(name.length)]), name);
  pools.push(Buffer.from([22, 1, 1, 1]));
  pools.push(Buffer.from([20, ...varint(stacks)]));
  const frameBytes = Buffer.alloc(frames, 1);
  for (let i = 1; i <= stacks; i++) pools.push(Buffer.from([...varint(i), 0, ...varint(frames)]), frameBytes);
  const checkpoint = withSize(Buffer.concat(pools));
  const body = Buffer.concat([...events, checkpoint]);
  const cpOffset = 68 + body.length - checkpoint.length;
  const metaOffset = 68 + body.length;
  const size = metaOffset + meta.length;
  const h = Buffer.alloc(68);
  h.write('FLR\0', 0, 'latin1');
  h.writeUInt16BE(2, 4);
  h.writeUInt16BE(1, 6);
  h.writeBigInt64BE(BigInt(size), 8);
  h.writeBigInt64BE(BigInt(cpOffset), 16);
  h.writeBigInt64BE(BigInt(metaOffset), 24);
  h.writeBigInt64BE(1_700_000_000_000_000_000n, 32);
  h.writeBigInt64BE(BigInt(options.durationNanos ?? 1_000_000_000), 40);
  h.writeBigInt64BE(BigInt(options.startTicks ?? 0), 48);
  h.writeBigInt64BE(BigInt(options.ticksPerSecond ?? 1_000_000_000), 56);
  h.writeInt32BE(3, 64);
  return Buffer.concat([h, body, meta]);
}
