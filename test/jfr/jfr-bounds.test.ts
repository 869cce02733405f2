/**
 * A Flight Recorder file comes from the workload (issue #13, A2): crafted ones (test/helpers/crafted-jfr.ts) cannot
 * make the reader hold more than it counts. A stack deeper than JFR's own limit keeps its leaf-side 2048 frames under
 * `[truncated]`, names are cut at 4 KiB, and a chunk whose pools would hold more than its cap fails with
 * PROFILE_TOO_LARGE while it decodes, telling its listener as it grows.
 */
import t from 'tap';
import { PodflameError } from '../../shared/errors.js';
import { JfrReader } from '../../shared/jfr/jfr-reader.js';
import { craftedJfr } from '../helpers/crafted-jfr.js';

function read(bytes: Buffer): Map<string, number> {
  const reader = new JfrReader();
  reader.push(bytes);
  return reader.finish().stacks.alloc;
}

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
