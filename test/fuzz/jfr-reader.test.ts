/**
 * 10,000 truncated or mutated copies of a real recording (test/fixtures/jfr/mix-jdk21.jfr) through the JFR reader:
 * each gives a profile or a JFR_MALFORMED error (PROFILE_TOO_LARGE for a chunk size over the limit) — never another
 * exception, a weight or total beyond Number.MAX_SAFE_INTEGER, a control character in a stack, a hang (the tap
 * timeout), or memory beyond the input's (the heap is checked after every 1,000). Seeded: `FUZZ_SEED` replays a
 * run, `FUZZ_FROM` starts at a case; a failure names its seed and index.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { PodflameError } from '../../shared/errors.js';
import { JfrReader } from '../../shared/jfr/jfr-reader.js';
import { int, prng, type Rng } from './mutate.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20260414);
const FROM = Number(process.env.FUZZ_FROM ?? 0);
const CASES = 10_000;
// A broken reader hangs here rather than failing; tap ends it (about 10 ms a case when it works).
t.setTimeout(900_000);

const recording = readFileSync(join(import.meta.dirname, '..', 'fixtures', 'jfr', 'mix-jdk21.jfr'));
// The metadata and the constant pools: where a mutation reaches the most code.
const METADATA = Number(recording.readBigInt64BE(24));
const POOLS = Number(recording.readBigInt64BE(16));

/** A broken copy: cut short, bytes flipped or set to varint edges, a range zeroed, duplicated or dropped, two chunks. */
function mutate(rng: Rng): Uint8Array {
  const bytes = Buffer.from(recording);
  const near = (): number => {
    const r = rng();
    const base = r < 0.3 ? METADATA : r < 0.6 ? POOLS : r < 0.7 ? 0 : int(rng, bytes.length);
    return Math.min(bytes.length - 1, base + int(rng, r < 0.7 ? 4096 : 64));
  };
  const kind = int(rng, 7);
  switch (kind) {
    case 0:
      return bytes.subarray(0, int(rng, bytes.length));
    case 1:
      for (let i = 0, n = 1 + int(rng, 8); i < n; i++) bytes[near()] = int(rng, 256);
      return bytes;
    case 2:
      for (let i = 0, n = 1 + int(rng, 4); i < n; i++)
        bytes[near()] = [0x00, 0x7f, 0x80, 0xff, 0x01, 0x02][int(rng, 6)] as number;
      return bytes;
    case 3: {
      const at = near();
      bytes.fill(int(rng, 2) === 0 ? 0 : 0xff, at, Math.min(bytes.length, at + 1 + int(rng, 32)));
      return bytes;
    }
    case 4: {
      const at = near();
      const n = 1 + int(rng, 64);
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + n)]);
    }
    case 5: {
      const at = near();
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at, at + 1 + int(rng, 64)), bytes.subarray(at)]);
    }
    default: {
      // Header fields: sizes and offsets that lie.
      const field = [8, 16, 24, 56, 64][int(rng, 5)] as number;
      bytes.writeUInt32BE(int(rng, 2 ** 32), field + (int(rng, 2) === 0 ? 0 : 4));
      return Buffer.concat([bytes, int(rng, 2) === 0 ? recording : recording.subarray(0, int(rng, recording.length))]);
    }
  }
}

t.test(`${CASES} broken recordings: a profile or JFR_MALFORMED (seed ${SEED})`, async (t) => {
  const rng = prng(SEED);
  const outcomes = new Map<string, number>();
  const heapStart = process.memoryUsage().heapUsed;
  let maxHeapGrowth = 0;
  for (let i = 0; i < CASES; i++) {
    const input = mutate(rng);
    const pieces = int(rng, 2) === 0 ? 1 : 1 + int(rng, 50);
    if (i < FROM) continue;
    let outcome: string;
    try {
      const reader = new JfrReader({ maxChunkBytes: 4 << 20 });
      const step = Math.ceil(input.length / pieces) || 1;
      for (let at = 0; at < input.length; at += step) reader.push(input.subarray(at, at + step));
      const profile = reader.finish();
      outcome = 'profile';
      // Whatever the bytes say: weights a graph can add exactly, names that stay on their folded line (#14).
      for (const kind of ['alloc', 'lock', 'wall'] as const) {
        let total = 0;
        for (const [stack, weight] of profile.stacks[kind]) {
          total += weight;
          // eslint-disable-next-line no-control-regex -- looking for control characters is the point.
          if (!Number.isSafeInteger(weight) || weight < 0 || /[\u0000-\u001f]/.test(stack)) {
            t.fail(`case ${i} (FUZZ_SEED=${SEED} FUZZ_FROM=${i}): ${kind} ${JSON.stringify(stack)} ${weight}`);
          }
        }
        if (!Number.isSafeInteger(total))
          t.fail(`case ${i} (FUZZ_SEED=${SEED} FUZZ_FROM=${i}): ${kind} total ${total}`);
      }
    } catch (err) {
      if (err instanceof PodflameError && (err.code === 'JFR_MALFORMED' || err.code === 'PROFILE_TOO_LARGE')) {
        outcome = err.code;
      } else {
        t.fail(`case ${i} (FUZZ_SEED=${SEED} FUZZ_FROM=${i}): ${err instanceof Error ? err.stack : String(err)}`);
        outcome = 'other';
      }
    }
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    if (i % 1000 === 999) {
      maxHeapGrowth = Math.max(maxHeapGrowth, process.memoryUsage().heapUsed - heapStart);
    }
  }
  t.comment(`outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
  t.notOk(outcomes.has('other'), 'no other exception');
  t.ok((outcomes.get('profile') ?? 0) > 0 && (outcomes.get('JFR_MALFORMED') ?? 0) > 0, 'both outcomes reached');
  // Live data is one case's input and profile at a time; garbage may lag, but not by a growing amount.
  t.ok(maxHeapGrowth < 256 * 1024 * 1024, `heap grew by ${Math.round(maxHeapGrowth / 1048576)} MiB at most`);
});
