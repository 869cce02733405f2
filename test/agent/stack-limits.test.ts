// A profile's stacks within --max-stacks/--max-profile-bytes, chosen from the collapser's interned stacks without a
// string per stack (issue #13, N1): the same bytes as limitStacks on the full Map of names, written as toFoldedBytes
// wrote them, on seeded random captures (repeats, ties, inline chains, `;` and invalid UTF-8 in names, a thread named
// `[dropped stacks]`) within and beyond the limits.
import t from 'tap';
import { PerfCollapser } from '../../shared/collapse/perf-collapser.js';
import { serializeFolded, totalSamples, type FoldedStacks } from '../../shared/folded.js';
import { foldedBuffer, toFoldedBytes } from '../../agent/profiles/folded-bytes.js';
import {
  DROPPED_FRAME,
  limitFolded,
  limitInterned,
  limitStacks,
  stacksBytes,
  type StackLimits,
} from '../../agent/profiles/stack-limits.js';
import { createEventCollapser } from '../../agent/profiles/event-collapser.js';
import { prng } from '../fuzz/mutate.js';
import { randomPerfScript } from '../helpers/perf-scripts.js';

/** What the agent kept before: limitStacks on the collapser's Map, serialized. */
function expected(stacks: FoldedStacks, limits: StackLimits) {
  const limited = limitStacks(stacks, limits);
  return {
    text: serializeFolded(limited.stacks),
    foldedSamples: totalSamples(limited.stacks),
    droppedStacks: limited.droppedStacks,
    droppedSamples: limited.droppedSamples,
  };
}

function collapse(input: Buffer) {
  const collapser = new PerfCollapser({ java: true });
  // In uneven pieces, as a capture's stdout arrives.
  for (let at = 0; at < input.length; at += 997) collapser.push(input.subarray(at, at + 997));
  return collapser.finish();
}

t.test('the generated captures reach every case', async (t) => {
  const stacks = collapse(randomPerfScript(1, 3000)).stacks;
  const names = [...stacks.keys()];
  t.ok(stacks.has(DROPPED_FRAME), 'a stack named [dropped stacks]');
  t.ok(
    names.some((s) => s.startsWith('pool;worker;')),
    'a thread named with ;',
  );
  t.ok(
    names.some((s) => s.includes('inlined_b_[i]')),
    'an inline chain',
  );
  t.ok(
    names.some((s) => s.startsWith('w\uFFFD')),
    'names cut inside a UTF-8 character',
  );
  t.ok(
    names.some((s) => s.includes('søk')),
    'UTF-8 names',
  );
  const counts = new Set(stacks.values());
  t.ok(counts.size > 10, 'many different counts');
});

t.test('limitInterned keeps exactly what limitStacks keeps, byte for byte', async (t) => {
  const rand = prng(0x13);
  let beyond = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const result = collapse(randomPerfScript(seed, 50 + Math.floor(rand() * 1500)));
    const full = result.stacks;
    const bytes = stacksBytes(full);
    for (let k = 0; k < 8; k++) {
      // From far below the profile to beyond it; `maxStacks` from its minimum (2) up.
      const limits: StackLimits = {
        maxStacks: 2 + Math.floor(rand() * full.size * 1.2),
        maxBytes: Math.floor(DROPPED_FRAME.length + 16 + rand() * bytes * 1.2),
      };
      const want = expected(full, limits);
      const got = limitInterned(result.decodedStacks(), limits);
      if (want.droppedStacks > 0) beyond++;
      const same =
        foldedBuffer(got.folded).equals(Buffer.from(want.text, 'utf8')) &&
        got.foldedSamples === want.foldedSamples &&
        got.droppedStacks === want.droppedStacks &&
        got.droppedSamples === want.droppedSamples;
      if (!same) {
        t.same(
          { ...got, folded: foldedBuffer(got.folded).toString('utf8') },
          { ...want, folded: want.text },
          `seed ${seed}, limits ${JSON.stringify(limits)}`,
        );
        return;
      }
    }
  }
  t.ok(beyond > 100, `${beyond} of 480 cases beyond the limits`);
  t.pass('480 cases the same');
});

t.test('the agent collapser gives what the Map path gave, within and beyond the limits', async (t) => {
  const input = randomPerfScript(7, 2000);
  const full = collapse(input).stacks;
  for (const limits of [
    { maxStacks: 1e6, maxBytes: 1e9 },
    { maxStacks: 40, maxBytes: 1e9 },
    { maxStacks: 1e6, maxBytes: Math.floor(stacksBytes(full) / 3) },
  ]) {
    const collapser = createEventCollapser('cpu');
    collapser.push(input);
    const got = collapser.finish(limits);
    const want = expected(full, limits);
    t.equal(foldedBuffer(got.folded).toString('utf8'), want.text, JSON.stringify(limits));
    t.same(
      [got.droppedStacks, got.droppedSamples, got.foldedSamples],
      [want.droppedStacks, want.droppedSamples, want.foldedSamples],
    );
  }
});

t.test('toFoldedBytes writes what serializeFolded writes, straight into shared memory', async (t) => {
  const stacks: FoldedStacks = new Map([
    ['java;Main.main_[j];Shop.søk_[j]', 2],
    ['java;Main.main_[j];Shop.price_[j]', 3],
    ['処理;x', 1e21],
    ['lone \uD800 surrogate', 7],
    ['', 1],
    ['a;b', 0.5],
  ]);
  const bytes = toFoldedBytes(stacks);
  t.ok(bytes.buffer instanceof SharedArrayBuffer);
  t.ok(foldedBuffer(bytes).equals(Buffer.from(serializeFolded(stacks), 'utf8')));
  t.equal(toFoldedBytes(new Map()).byteLength, 0);
});

t.test("event counts keep to the kept stacks; the dropped stacks' are summed under the dropped frame", async (t) => {
  const stacks: FoldedStacks = new Map([
    ['main;holdLock', 6_000],
    ['main;park', 2_000],
    ['main;wait', 10],
    ['main;sleep', 5],
  ]);
  const counts = new Map([
    ['main;holdLock', 50],
    ['main;park', 900],
    ['main;wait', 3],
    ['main;sleep', 2],
  ]);
  const limited = limitFolded(stacks, { maxStacks: 3, maxBytes: 1 << 20 }, counts);
  t.equal(limited.droppedStacks, 2);
  t.same(
    limited.eventCounts,
    new Map([
      ['main;holdLock', 50],
      ['main;park', 900],
      [DROPPED_FRAME, 5],
    ]),
  );
  t.same(limitFolded(stacks, { maxStacks: 10, maxBytes: 1 << 20 }, counts).eventCounts, counts, 'within: all');
  t.equal(limitFolded(stacks, { maxStacks: 10, maxBytes: 1 << 20 }).eventCounts, undefined, 'none: none');
});
