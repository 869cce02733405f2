/**
 * A Flight Recorder file comes from the workload (issue #13, A2): crafted ones (test/helpers/crafted-jfr.ts) cannot
 * make the reader hold more than it counts. A stack deeper than JFR's own limit keeps its leaf-side 2048 frames under
 * `[truncated]`, names are cut at 4 KiB, and a chunk whose pools would hold more than its cap fails with
 * PROFILE_TOO_LARGE while it decodes, telling its listener as it grows. Names cannot forge folded lines or frames
 * (control characters become `?`, `;` becomes `:`), and weights stay within what a recording can hold (issue #14):
 * a duration within the recording's span, every sum within Number.MAX_SAFE_INTEGER, negative ones left out, each
 * counted and told as a warning.
 */
import t from 'tap';
import { createEventCollapser } from '../../agent/profiles/event-collapser.js';
import { foldedBuffer } from '../../agent/profiles/folded-bytes.js';
import { PodflameError } from '../../shared/errors.js';
import { JfrReader, type JfrProfile } from '../../shared/jfr/jfr-reader.js';
import { craftedJfr } from '../helpers/crafted-jfr.js';

function read(bytes: Buffer): Map<string, number> {
  return profileOf(bytes).stacks.alloc;
}

function profileOf(bytes: Buffer): JfrProfile {
  const reader = new JfrReader();
  reader.push(bytes);
  return reader.finish();
}

const total = (stacks: Map<string, number>): number => [...stacks.values()].reduce((a, b) => a + b, 0);
const NO_LIMITS = { maxStacks: 1_000_000, maxBytes: 1 << 30 };

t.test('a stack deeper than 2048 frames keeps its leaf side under [truncated]', async (t) => {
  const stacks = read(craftedJfr({ stacks: 1, frames: 200_000, nameChars: 3 }));
  t.equal(stacks.size, 1);
  const [stack, weight] = [...stacks][0] as [string, number];
  const frames = stack.split(';');
  t.equal(frames[0], '[truncated]', 'marked at its root as JFR marks a stack it cut');
  t.equal(frames.length, 2049, '2048 frames kept');
  t.equal(frames[1], 'aaa_[j]');
  t.equal(weight, 4096);
});

t.test('names are cut at 4 KiB', async (t) => {
  const stacks = read(craftedJfr({ stacks: 1, frames: 2, nameChars: 1_000_000 }));
  const [stack] = [...stacks.keys()] as [string];
  const frames = stack.split(';');
  t.equal(frames.length, 2);
  t.equal(frames[0], 'a'.repeat(4096) + '_[j]');
});

t.test('a chunk whose pools would hold more than the cap fails while it decodes, telling its listener', async (t) => {
  // 1,000 stacks of 2,000 one-byte frames: 2 MB of file, some 340 MB of decoded frames.
  const bomb = craftedJfr({ stacks: 1_000, frames: 2_000, nameChars: 1 });
  const told: number[] = [];
  const reader = new JfrReader({ maxChunkHeapBytes: 16 * 1024 * 1024, onHeap: (bytes) => told.push(bytes) });
  t.throws(() => reader.push(bomb), {
    code: 'PROFILE_TOO_LARGE',
    message: /more than 16 MiB of heap.*record a shorter duration/,
  });
  t.ok(told.length > 10, `told ${told.length} times while decoding`);
  t.ok(
    told.every((b, i) => i === 0 || b >= (told[i - 1] as number)),
    'growing',
  );
  t.ok((told.at(-1) as number) <= 16 * 1024 * 1024 + bomb.length + 1024 * 1024, 'stopped near the cap');
  // A listener that throws (the worker's budget) stops the read there with its own error.
  const stopped = new JfrReader({
    onHeap: (bytes) => {
      if (bytes > 8 * 1024 * 1024) throw new PodflameError('PROFILE_TOO_LARGE', 'budget');
    },
  });
  t.throws(() => stopped.push(bomb), { code: 'PROFILE_TOO_LARGE', message: 'budget' });
  // The same shape within the cap reads, and heapBytes() is counted, not a per-byte guess.
  const small = new JfrReader();
  small.push(craftedJfr({ stacks: 10, frames: 2_000, nameChars: 1 }));
  t.equal(small.finish().stacks.alloc.size, 1);
  t.ok(small.heapBytes() < 1024 * 1024, `${small.heapBytes()} bytes held after reading`);
});

t.test('a name with newlines, control characters or ";" forges no folded line and no frame', async (t) => {
  // As a class or method name of the file could be: a line of its own with a count, an escape sequence, a frame.
  const name = 'evil\nforged;frame 999999999\r\u0000\u001b[2J\u007f\u0085\t;x';
  const stacks = read(craftedJfr({ stacks: 1, frames: 3, nameChars: 0, name }));
  t.equal(stacks.size, 1);
  const [stack, weight] = [...stacks][0] as [string, number];
  // eslint-disable-next-line no-control-regex -- looking for control characters is the point.
  t.notMatch(stack, /[\u0000-\u001f\u007f-\u009f]/, 'no control character left');
  const frame = 'evil?forged:frame 999999999???[2J???:x_[j]';
  t.equal(stack, [frame, frame, frame].join(';'), 'three frames, each the name made safe');
  t.equal(weight, 4096);
  // Through the agent's collapser, the folded text is one line.
  const collapser = createEventCollapser('alloc');
  collapser.push(craftedJfr({ stacks: 1, frames: 3, nameChars: 0, name }));
  const text = foldedBuffer(collapser.finish(NO_LIMITS).folded).toString('utf8');
  t.equal(text.split('\n').filter((l) => l !== '').length, 1, 'one folded line');
});

t.test('a duration beyond the recording is cut to it, counted and told', async (t) => {
  // A clock of 1 tick a second: 1,000 ticks claim 1,000 s, 2^62 ticks claim 146 billion years, in a 1 s chunk.
  const bytes = craftedJfr({ stacks: 1, frames: 1, nameChars: 1, ticksPerSecond: 1, lockTicks: [1000, 2n ** 62n] });
  const profile = profileOf(bytes);
  t.equal(total(profile.stacks.lock), 2 * 1e9, 'each wait at most the 1 s the chunk lasts');
  t.equal(profile.clampedWeights, 2);
  // Within the chunk's duration, a wait counts as written: 250 ms at 1,000 ticks a second.
  const fine = profileOf(craftedJfr({ stacks: 1, frames: 1, nameChars: 1, ticksPerSecond: 1000, lockTicks: [250] }));
  t.equal(total(fine.stacks.lock), 250e6);
  t.equal(fine.clampedWeights, 0);
  const collapser = createEventCollapser('lock');
  collapser.push(bytes);
  const result = collapser.finish(NO_LIMITS);
  t.equal(result.samples, 2e9);
  t.match(result.warnings.join('\n'), /2 weights of the recording were beyond what it can hold .* cut/);
});

t.test('weights beyond 2^53 stay exact: each and every sum at most Number.MAX_SAFE_INTEGER', async (t) => {
  // Three samples of 2^60 bytes on stacks of one name.
  const profile = profileOf(craftedJfr({ stacks: 3, frames: 1, nameChars: 1, weight: 2n ** 60n }));
  t.same([...profile.stacks.alloc.values()], [Number.MAX_SAFE_INTEGER]);
  t.ok(profile.clampedWeights >= 3, `${profile.clampedWeights} weights cut`);
  // Across chunks: the kind's total stays within the bound too.
  const two = profileOf(
    Buffer.concat([craftedJfr({ stacks: 1, frames: 1, nameChars: 1, weight: 2 ** 52 })].flatMap((b) => [b, b, b])),
  );
  t.equal(total(two.stacks.alloc), Number.MAX_SAFE_INTEGER, 'three chunks of 2^52: the total stops at the bound');
  t.ok(Number.isSafeInteger(total(two.stacks.alloc)));
});

t.test('negative weights are left out and counted', async (t) => {
  const profile = profileOf(craftedJfr({ stacks: 2, frames: 1, nameChars: 1, weight: -5 }));
  t.equal(profile.stacks.alloc.size, 0);
  t.equal(profile.rejectedWeights, 2);
  const collapser = createEventCollapser('alloc');
  collapser.push(craftedJfr({ stacks: 2, frames: 1, nameChars: 1, weight: -5 }));
  t.match(collapser.finish(NO_LIMITS).warnings.join('\n'), /2 events of the recording had a negative weight/);
});

t.test("each thread's first allocation sample (its history before the recording) is left out", async (t) => {
  // craftedJfr's thread 1 samples once with no stack and weight 1 before its samples on the stacks.
  const profile = profileOf(craftedJfr({ stacks: 2, frames: 1, nameChars: 1 }));
  t.same([...profile.stacks.alloc], [['a_[j]', 2 * 4096]], 'no [no stack] sample');
  t.equal(profile.firstSamplesLeftOut, 1);
  t.equal(profile.events.get('jdk.ObjectAllocationSample'), 2);
  // The first in time, wherever the file has it: JDK 25 writes a thread's history sample after later ones.
  const late = profileOf(craftedJfr({ stacks: 2, frames: 1, nameChars: 1, historyLast: true }));
  t.same([...late.stacks.alloc], [['a_[j]', 2 * 4096]], 'the earliest sample left out, not the first in the file');
  t.equal(late.firstSamplesLeftOut, 1);
});
