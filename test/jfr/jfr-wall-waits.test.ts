/**
 * Threads that sleep, park, wait or block entering a monitor in wall graphs (issue #14): HotSpot's thread sampler
 * never samples them, so their Flight Recorder duration events are turned into the samples it would have taken, at
 * the wall period. A real recording made with a wall capture's own settings (test/fixtures/jfr/waits-jdk21.jfr,
 * record.sh: Sleeper on JDK 21) read as the JDK's own `jfr print --json` reads it (goldens folded by
 * helpers/jfr-print.ts), each waiting method with its threads' time; and crafted recordings
 * (helpers/crafted-jfr.ts) for the arithmetic: rounded once per stack, a wait's part before the recording left out,
 * one beyond it cut and told. A lock capture clips the same parks and monitor enters to the recording the same way, in
 * nanoseconds blocked (issue #14: "6.3 s blocked in 2 s"), and so does the golden's reader, helpers/jfr-print.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { createEventCollapser } from '../../agent/profiles/event-collapser.js';
import { parseFoldedBytes } from '../../agent/profiles/folded-bytes.js';
import { JfrReader, type JfrProfile, type JfrReadOptions } from '../../shared/jfr/jfr-reader.js';
import { craftedJfr, type CraftedJfr } from '../helpers/crafted-jfr.js';
import { foldJfrPrint, foldedText } from '../helpers/jfr-print.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'jfr');
const recording = readFileSync(join(FIXTURES, 'waits-jdk21.jfr'));
const NO_LIMITS = { maxStacks: 1_000_000, maxBytes: 1 << 30 };

function profileOf(bytes: Uint8Array, options: JfrReadOptions = {}): JfrProfile {
  const reader = new JfrReader(options);
  reader.push(bytes);
  return reader.finish();
}

/** The samples of the stacks whose frames include `method`. */
function samplesIn(stacks: Map<string, number>, method: RegExp): number {
  let n = 0;
  for (const [stack, weight] of stacks) if (stack.split(';').some((f) => method.test(f))) n += weight;
  return n;
}

/** Sleeps on one stack at a clock of one tick per millisecond, in a chunk of 1 s: the period is 10 ticks. */
function sleeps(list: CraftedJfr['sleeps'], more: Partial<CraftedJfr> = {}): Buffer {
  return craftedJfr({ stacks: 1, frames: 1, nameChars: 1, ticksPerSecond: 1000, sleeps: list, ...more });
}

t.test('a recording of a wall capture: the same stacks and samples as the JDK prints', async (t) => {
  const golden = (kind: string): string => readFileSync(join(FIXTURES, `waits-jdk21.${kind}.folded`), 'utf8');
  const wall = profileOf(recording, { kinds: ['wall'] });
  t.equal(foldedText(wall.stacks.wall), golden('wall'), 'wall: samples and waits at 10 ms, as jfr print reads them');
  for (const name of ['jdk.ThreadSleep', 'jdk.ThreadPark', 'jdk.JavaMonitorWait', 'jdk.ExecutionSample']) {
    t.ok(wall.events.get(name), `${name} read`);
  }
  t.equal(wall.stacks.lock.size, 0, 'a wall capture has no lock graph');
  // The same parks in a lock capture's reading are nanoseconds blocked; sleeps and monitor waits are not locks.
  const lock = profileOf(recording, { kinds: ['lock'] });
  t.equal(foldedText(lock.stacks.lock), golden('lock'), 'lock: the parks, in nanoseconds');
  t.notOk(lock.events.has('jdk.ThreadSleep'), 'sleeps are not read for lock');
  t.equal(lock.stacks.wall.size, 0);
  const both = profileOf(recording);
  t.same([foldedText(both.stacks.lock), foldedText(both.stacks.wall)], [golden('lock'), golden('wall')], 'both kinds');
  t.equal(both.events.get('jdk.ThreadPark'), wall.events.get('jdk.ThreadPark'), 'a park read for both counts once');
});

t.test('each waiting method weighs its threads time ÷ the period', async (t) => {
  const wall = profileOf(recording, { kinds: ['wall'] }).stacks.wall;
  // Sleeper's main thread sleeps 2 s in one Thread.sleep while the recording runs (and the JVM exits after it):
  // 2,000 ms / 10 ms = 200 samples, a little more as a sleep ends late, never early.
  const main = samplesIn(wall, /^Sleeper\.main_/);
  t.ok(main >= 200 && main <= 210, `the main thread's 2 s sleep: ${main} samples`);
  // Its waiting threads wait all of those 2 s but for their last wait, cut by the exit (at most NAP_MS = 100 ms,
  // 10 samples) and the moments between waits when they run: within 90% and 100% of the main thread's samples.
  for (const [method, threads] of [
    ['nap', 2],
    ['parkBriefly', 1],
    ['waitBriefly', 1],
  ] as const) {
    const n = samplesIn(wall, new RegExp(`^Sleeper\\.${method}_`));
    t.ok(
      n >= 0.9 * threads * main && n <= threads * main,
      `Sleeper.${method}: ${n} samples for ${threads} thread(s), within 90-100% of ${main} each`,
    );
  }
  t.ok(samplesIn(wall, /^Sleeper\.awaitConnection_/) > 0, 'the threads in a native accept are sampled');
  t.ok(samplesIn(wall, /^Sleeper\.spin_/) > 0, 'the running thread is sampled');
  // At 50 Hz a capture samples every 20 ms: the waits weigh half as many samples, give or take one per stack.
  const halved = createEventCollapser('wall', { frequencyHz: 50 });
  halved.push(recording);
  const at50 = parseFoldedBytes(halved.finish(NO_LIMITS).folded);
  const main50 = samplesIn(at50, /^Sleeper\.main_/);
  t.ok(Math.abs(main50 - main / 2) <= 1, `at 50 Hz the 2 s sleep is ${main50} samples`);
});

t.test('waits become samples once per stack, rounded to the nearest', async (t) => {
  // 100 waits of 1.4 periods: 140 samples, where rounding each would say 100; 100 of 1.6: 160, not 200.
  const ofTicks = (ticks: number, n = 100) => Array.from({ length: n }, (_, i) => ({ start: i, ticks }));
  const wallOf = (bytes: Buffer, options: JfrReadOptions = {}) => profileOf(bytes, options).stacks.wall;
  t.same([...wallOf(sleeps(ofTicks(14))).values()], [140], '100 × 14 ms at 10 ms');
  t.same([...wallOf(sleeps(ofTicks(16))).values()], [160], '100 × 16 ms at 10 ms');
  t.same([...wallOf(sleeps(ofTicks(14)), { wallPeriodNanos: 20_000_000 }).values()], [70], '100 × 14 ms at 20 ms');
  t.same([...wallOf(sleeps([{ start: 0, ticks: 15 }])).values()], [2], 'half a period rounds up');
  const short = profileOf(sleeps([{ start: 0, ticks: 4 }]));
  t.equal(short.stacks.wall.size, 0, 'a wait under half a period is no sample');
  t.equal(short.events.get('jdk.ThreadSleep'), 1, 'but was read');
  t.equal(profileOf(sleeps(ofTicks(14))).counts.wall.get('a_[j]'), 100, 'the stack counts its 100 waits');
  t.throws(() => new JfrReader({ wallPeriodNanos: 0 }), { code: 'INVALID_INPUT' }, 'a period of 0 is refused');
});

t.test('a wait that began before the recording counts from its start only', async (t) => {
  // The chunk starts at tick 1000: a sleep from 500 to 1300 was 300 ms of the recording, 30 samples, not 80.
  const before = profileOf(sleeps([{ start: 500, ticks: 800 }], { startTicks: 1000 }));
  t.same([...before.stacks.wall.values()], [30]);
  t.equal(before.clampedWeights, 0, 'not a weight to warn about: the recording began while it slept');
  // Ended before the recording: nothing of it was.
  t.equal(profileOf(sleeps([{ start: 100, ticks: 400 }], { startTicks: 1000 })).stacks.wall.size, 0);
  // A later chunk of the same input: the recording began at the first chunk's start, 1 s earlier, so a wait
  // begun between the two starts counts whole.
  const first = sleeps([], { startTicks: 1000 });
  const second = Buffer.from(sleeps([{ start: 1500, ticks: 800 }], { startTicks: 2000 }));
  second.writeBigInt64BE(second.readBigInt64BE(32) + 1_000_000_000n, 32);
  t.same([...profileOf(Buffer.concat([first, second])).stacks.wall.values()], [80], 'the second chunk: all 800 ms');
});

t.test('a wait longer than the recording can hold is cut to it and told', async (t) => {
  // A 5 s sleep that began with the 1 s chunk: at most its 1 s, 100 samples.
  const profile = profileOf(sleeps([{ start: 0, ticks: 5000 }]));
  t.same([...profile.stacks.wall.values()], [100]);
  t.equal(profile.clampedWeights, 1);
});

t.test('a lock wait that began before the recording counts from its start only', async (t) => {
  // The chunk starts at tick 1000 (1 tick a ms): a park from 500 to 1300 blocked 300 ms of the recording, not 800;
  // one from 1200 to 1450 counts whole, 250 ms.
  const parks = [
    { start: 500, ticks: 800 },
    { start: 1200, ticks: 250 },
  ];
  const profile = profileOf(sleeps([], { startTicks: 1000, parks }));
  t.same([...profile.stacks.lock], [['a_[j]', 550e6]], 'lock: 300 ms + 250 ms');
  t.same([...profile.counts.lock], [['a_[j]', 2]], 'both parks are contentions');
  t.equal(profile.clampedWeights, 0, 'not a weight to warn about: the recording began while it was parked');
  t.same([...profile.stacks.wall], [['a_[j]', 55]], 'wall: the same 550 ms, in samples at 10 ms');
  // A later chunk of the same input: the recording began 1 s before it, so a park begun in the first chunk counts
  // whole, one begun before the first chunk from the first chunk's start.
  const first = sleeps([], { startTicks: 1000 });
  const second = Buffer.from(
    sleeps([], {
      startTicks: 2000,
      parks: [
        { start: 1500, ticks: 800 },
        { start: 400, ticks: 1700 },
      ],
    }),
  );
  second.writeBigInt64BE(second.readBigInt64BE(32) + 1_000_000_000n, 32);
  const later = profileOf(Buffer.concat([first, second]), { kinds: ['lock'] });
  t.same([...later.stacks.lock.values()], [800e6 + 1100e6], 'the second chunk: 800 ms, and 1,100 of 1,700 ms');
  // A monitor enter without a startTime field (a custom event of that name) cannot be clipped: its duration
  // counts, within the recording's span (jfr-bounds.test.ts).
  const noStart = profileOf(sleeps([], { startTicks: 1000, lockTicks: [800] }));
  t.same([...noStart.stacks.lock.values()], [800e6]);
});

t.test("the golden's reader (helpers/jfr-print.ts) clips lock waits as the reader does", async (t) => {
  // A park that began 0.3 s before the recording and lasted 0.8 s, and a monitor enter within it, as `jfr print
  // --json` prints them.
  const event = (type: string, startTime: string, duration: string) => ({
    type,
    values: {
      startTime,
      duration,
      stackTrace: {
        truncated: false,
        frames: [{ method: { type: { name: 'Demo' }, name: 'waitHere' }, type: 'JIT compiled' }],
      },
    },
  });
  const json = JSON.stringify({
    recording: {
      events: [
        event('jdk.ThreadPark', '2023-11-14T22:13:19.700000000Z', 'PT0.8S'),
        event('jdk.JavaMonitorEnter', '2023-11-14T22:13:20.1Z', 'PT0.25S'),
      ],
    },
  });
  const recordingStartNanos = BigInt(Date.parse('2023-11-14T22:13:20Z')) * 1_000_000n;
  const printed = foldJfrPrint(json, true, { periodNanos: 10_000_000, recordingStartNanos });
  t.same([...printed.lock], [['Demo.waitHere_[j]', 500e6 + 250e6]], 'lock: 0.5 s of the park, all of the enter');
  t.same([...printed.wall], [['Demo.waitHere_[j]', 75]], 'wall: the same, in samples');
});
