/**
 * A capture's graph covers its requested duration from the recording's start (issue #14: "5.51 s blocked by 2
 * threads in 2 s", 852 sleep samples of 2 threads in 3 s at 99 Hz): the recording runs on until JFR.stop's dump is
 * done, 0.7 to 1.8 s later under load, so the reader is given a window (JfrReadOptions `windowNanos`). Crafted
 * recordings (helpers/crafted-jfr.ts, a clock of one tick per nanosecond from tick 0) for the arithmetic: a wait
 * across the window's end is cut there, one begun after it counts nothing, and so does a sample; without a window
 * nothing changes. The real wall recording (fixtures/jfr/waits-jdk21.jfr) shows the main thread's 2 s sleep cut to
 * the window.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { createEventCollapser } from '../../agent/profiles/event-collapser.js';
import { JfrReader, type JfrProfile, type JfrReadOptions } from '../../shared/jfr/jfr-reader.js';
import { craftedJfr, type CraftedJfr } from '../helpers/crafted-jfr.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'jfr');
const NO_LIMITS = { maxStacks: 1_000_000, maxBytes: 1 << 30 };
const MS = 1_000_000;

function profileOf(bytes: Uint8Array, options: JfrReadOptions = {}): JfrProfile {
  const reader = new JfrReader(options);
  reader.push(bytes);
  return reader.finish();
}

/** A chunk of 1 s at 10^9 ticks per second from tick 0, with 4 allocation samples besides the thread's first. */
function crafted(more: Partial<CraftedJfr>): Buffer {
  return craftedJfr({ stacks: 4, frames: 1, nameChars: 1, ...more });
}

/** The sum of a kind's weights (the crafted stacks are all one method's frames: they fold into one stack). */
function total(stacks: Map<string, number>): number {
  let n = 0;
  for (const w of stacks.values()) n += w;
  return n;
}

t.test('lock: a park across the window end is cut there; one begun after it counts nothing', async (t) => {
  const parks = crafted({
    parks: [
      { start: 100 * MS, ticks: 200 * MS, stack: 1 }, // within a 500 ms window: 200 ms
      { start: 400 * MS, ticks: 300 * MS, stack: 2 }, // across its end: 100 ms of it
      { start: 600 * MS, ticks: 100 * MS, stack: 3 }, // after it: nothing, not a contention
    ],
  });
  const whole = profileOf(parks, { kinds: ['lock'] });
  const windowed = profileOf(parks, { kinds: ['lock'], windowNanos: 500 * MS });
  t.equal(total(whole.stacks.lock), 600 * MS, 'without a window: every park whole');
  t.equal(total(whole.counts.lock), 3);
  t.equal(whole.afterWindow, 0);
  t.equal(total(windowed.stacks.lock), 300 * MS, 'with a 500 ms window: 200 ms + 100 ms');
  t.equal(total(windowed.counts.lock), 2, 'two contentions: the park after the window is not one');
  t.equal(windowed.events.get('jdk.ThreadPark'), 2, 'two parks counted');
  t.equal(windowed.afterWindow, 1, 'one left out, and told');
  t.equal(windowed.clampedWeights, 0);
});

t.test('a park begun before the recording and lasting past the window counts the window only', async (t) => {
  // The recording starts at tick 1 s: the park from 0.5 s for 3 s overlaps [1 s, 1.2 s] by 200 ms.
  const bytes = crafted({
    startTicks: 1000 * MS,
    parks: [{ start: 500 * MS, ticks: 3000 * MS }],
    durationNanos: 3000 * MS,
  });
  t.equal(total(profileOf(bytes, { kinds: ['lock'] }).stacks.lock), 2500 * MS, 'without: from the start');
  t.equal(total(profileOf(bytes, { kinds: ['lock'], windowNanos: 200 * MS }).stacks.lock), 200 * MS);
});

t.test('wall: execution samples after the window are dropped, waits are cut', async (t) => {
  const bytes = crafted({
    ticksPerSecond: 1000, // one tick per ms: the 10 ms period is 10 ticks
    executionSamples: [{ start: 100 }, { start: 200 }, { start: 600 }, { start: 900 }],
    sleeps: [{ start: 300, ticks: 400, stack: 2 }], // 400 ms, 200 of them within a 500 ms window
  });
  const whole = profileOf(bytes, { kinds: ['wall'] });
  t.equal(total(whole.stacks.wall), 44, 'without a window: 4 samples and a 40-sample sleep');
  t.equal(whole.events.get('jdk.ExecutionSample'), 4);
  const windowed = profileOf(bytes, { kinds: ['wall'], windowNanos: 500 * MS });
  t.equal(total(windowed.stacks.wall), 22, 'with a 500 ms window: 2 samples and 20 of the sleep');
  t.equal(windowed.events.get('jdk.ExecutionSample'), 2, 'the samples at 600 and 900 ms dropped');
  t.equal(windowed.events.get('jdk.ThreadSleep'), 1);
  t.equal(windowed.afterWindow, 2);
});

t.test('alloc: samples after the window are dropped', async (t) => {
  // The thread's history sample at tick 1 (left out as ever), then one sample per stack at ticks 2, 3, 4, 5.
  const bytes = crafted({ weight: 4096 });
  t.equal(total(profileOf(bytes, { kinds: ['alloc'] }).stacks.alloc), 4 * 4096);
  const windowed = profileOf(bytes, { kinds: ['alloc'], windowNanos: 3 });
  t.equal(total(windowed.stacks.alloc), 2 * 4096, 'ticks 2 and 3 are within 3 ns of the start');
  t.equal(windowed.afterWindow, 2);
  t.equal(windowed.firstSamplesLeftOut, 1, 'the history sample still left out');
});

t.test('a window must be a whole positive number of nanoseconds', async (t) => {
  for (const windowNanos of [0, -1, 1.5, NaN]) {
    t.throws(() => new JfrReader({ windowNanos }), { code: 'INVALID_INPUT' }, String(windowNanos));
  }
});

t.test('the agent collapses a capture within its requested duration', async (t) => {
  const parks = crafted({
    parks: [
      { start: 0, ticks: 900 * MS, stack: 1 },
      { start: 0, ticks: 900 * MS, stack: 2 },
    ],
  });
  const samplesOf = (durationSeconds?: number): number => {
    const collapser = createEventCollapser('lock', durationSeconds === undefined ? {} : { durationSeconds });
    collapser.push(parks);
    return collapser.finish(NO_LIMITS).samples;
  };
  t.equal(samplesOf(), 1800 * MS, 'without a duration: the whole recording');
  t.equal(samplesOf(0.5), 1000 * MS, '2 threads blocked throughout 0.5 s: 1 s, not 1.8 s');
});

t.test('a real wall recording: the main thread 2 s sleep cut to a 1 s window', async (t) => {
  const recording = readFileSync(join(FIXTURES, 'waits-jdk21.jfr'));
  const mainSamples = (options: JfrReadOptions): number => {
    let n = 0;
    for (const [stack, w] of profileOf(recording, { kinds: ['wall'], ...options }).stacks.wall) {
      if (stack.split(';').some((f) => /^Sleeper\.main_/.test(f))) n += w;
    }
    return n;
  };
  const whole = mainSamples({});
  const windowed = mainSamples({ windowNanos: 1000 * MS });
  t.ok(whole >= 200, `the whole recording: ${whole} samples`);
  // The 2 s sleep begins after the recording does (the JVM starting): at most 100 samples of 10 ms fit in 1 s, and
  // at least its last second is cut.
  t.ok(windowed > 0 && windowed <= 100, `a 1 s window: ${windowed} samples`);
  t.ok(whole - windowed >= 100, `cut by ${whole - windowed} samples`);
});
