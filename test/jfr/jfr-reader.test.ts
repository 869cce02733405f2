/**
 * The JFR reader on a real recording (test/fixtures/jfr/mix-jdk21.jfr, JDK 21, record.sh) against the JDK's own
 * reading of it (`jfr print --json`, folded into the goldens next to it): the same stacks with the same weights, fed
 * whole, in 1-byte, 7-byte and random pieces; several chunks; and the clear errors of broken inputs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { PodflameError } from '../../shared/errors.js';
import { JfrReader, type JfrProfile } from '../../shared/jfr/jfr-reader.js';
import { foldedText } from '../helpers/jfr-print.js';
import { prng } from '../fuzz/mutate.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'jfr');
const recording = readFileSync(join(FIXTURES, 'mix-jdk21.jfr'));
const KINDS = ['alloc', 'lock', 'wall'] as const;

function readInPieces(bytes: Uint8Array, pieceSize: (i: number) => number): JfrProfile {
  const reader = new JfrReader();
  // One reused buffer, as a file reader would pass: the reader must copy what it keeps.
  const scratch = new Uint8Array(bytes.length);
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = Math.min(Math.max(1, pieceSize(i)), bytes.length - at);
    scratch.set(bytes.subarray(at, at + n));
    reader.push(scratch.subarray(0, n));
    scratch.fill(0xee, 0, n);
    at += n;
  }
  return reader.finish();
}

function expectError(t: Test, bytes: Uint8Array, code: string, offset: number | undefined, what: string): void {
  try {
    const reader = new JfrReader({ maxChunkBytes: 1 << 20 });
    reader.push(bytes);
    reader.finish();
    t.fail(`${what}: no error`);
  } catch (err) {
    t.ok(err instanceof PodflameError, `${what}: a PodflameError`);
    t.equal((err as PodflameError).code, code, `${what}: ${code}`);
    if (offset !== undefined) t.equal((err as PodflameError).details?.['offset'], offset, `${what}: at byte ${offset}`);
    t.match((err as Error).message, /record it again|smaller maxchunksize/, `${what}: says what to do`);
  }
}

t.test('the same stacks and weights as the JDK prints, fed in any pieces', async (t) => {
  const feeds: [string, (i: number) => number][] = [
    ['whole', () => recording.length],
    ['1-byte pieces', () => 1],
    ['7-byte pieces', () => 7],
    [
      'random pieces (seed 14)',
      (() => {
        const rng = prng(14);
        return () => 1 + Math.floor(rng() * 9000);
      })(),
    ],
  ];
  for (const [name, size] of feeds) {
    const profile = readInPieces(recording, size);
    t.equal(profile.chunks, 1, `${name}: one chunk`);
    t.equal(profile.unresolvedStacks, 0, `${name}: every stack resolved`);
    for (const kind of KINDS) {
      const golden = readFileSync(join(FIXTURES, `mix-jdk21.${kind}.folded`), 'utf8');
      t.equal(foldedText(profile.stacks[kind]), golden, `${name}: ${kind} as jfr print --json reads it`);
    }
  }
});

t.test('the known methods on top of their graphs', async (t) => {
  const profile = readInPieces(recording, () => recording.length);
  const heaviest = (kind: (typeof KINDS)[number]): string =>
    [...profile.stacks[kind]].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '';
  t.match(heaviest('alloc'), /;AllocLoop\.allocateBuffers_\[[ji]\]$/, 'alloc: AllocLoop.allocateBuffers on top');
  t.match(heaviest('lock'), /;LockContention\.holdLock_\[[ji]\]$/, 'lock: LockContention.holdLock on top');
  // Three of LockContention's four threads wait to enter its monitor at any time: in wall through their
  // jdk.JavaMonitorEnter events, which outweigh the two threads in a native accept (sampled every 20 ms here).
  t.match(heaviest('wall'), /;LockContention\.holdLock_\[j\]$/, 'wall: the threads blocked in LockContention.holdLock');
  t.ok(
    [...profile.stacks.wall.keys()].some((s) => /;Sleeper\.awaitConnection_\[j\];/.test(s)),
    'wall: the accept in Sleeper.awaitConnection',
  );
  t.ok(profile.events.get('jdk.ObjectAllocationSample'), 'allocation samples read');
  t.notOk(profile.events.has('jdk.ObjectAllocationInNewTLAB'), 'TLAB events give way to allocation samples');
});

t.test('a file of several chunks adds them up', async (t) => {
  const one = readInPieces(recording, () => recording.length);
  const three = readInPieces(Buffer.concat([recording, recording, recording]), () => 65536);
  t.equal(three.chunks, 3);
  for (const kind of ['alloc', 'lock'] as const) {
    const tripled = new Map([...one.stacks[kind]].map(([s, w]) => [s, w * 3]));
    t.same(three.stacks[kind], tripled, `${kind}: three times each weight`);
  }
  // A wait's samples are its stack's nanoseconds over the whole input ÷ the period, rounded once: three times the
  // nanoseconds round to three times the samples of one, give or take one.
  t.same([...three.stacks.wall.keys()].sort(), [...one.stacks.wall.keys()].sort(), 'wall: the same stacks');
  const off = [...one.stacks.wall].filter(([s, w]) => Math.abs((three.stacks.wall.get(s) ?? 0) - 3 * w) > 1);
  t.same(off, [], 'wall: three times each weight, within a sample');
});

t.test('broken inputs end in JFR_MALFORMED with the offset', async (t) => {
  const copy = (): Buffer => Buffer.from(recording);
  expectError(t, new Uint8Array(0), 'JFR_MALFORMED', 0, 'empty');
  expectError(
    t,
    Buffer.from('not a recording at all, longer than a chunk header of sixty-eight bytes.....'),
    'JFR_MALFORMED',
    0,
    'not JFR',
  );
  const v1 = copy();
  v1.writeUInt16BE(1, 4);
  expectError(t, v1, 'JFR_MALFORMED', 4, 'format 1 (JDK 9/10)');
  expectError(t, recording.subarray(0, 40), 'JFR_MALFORMED', 40, 'cut inside the header');
  expectError(t, recording.subarray(0, 100_000), 'JFR_MALFORMED', 100_000, 'cut inside the chunk');
  expectError(
    t,
    Buffer.concat([recording, recording.subarray(0, 10)]),
    'JFR_MALFORMED',
    recording.length + 10,
    'cut in the second chunk',
  );
  const unfinished = copy();
  unfinished.writeBigInt64BE(0n, 24);
  expectError(t, unfinished, 'JFR_MALFORMED', 16, 'a chunk still being written (no metadata offset)');
  const zeroSize = copy();
  zeroSize[68] = 0;
  expectError(t, zeroSize, 'JFR_MALFORMED', 68, 'an event of size 0');
  const oversized = copy();
  oversized.writeBigInt64BE(BigInt(recording.length) * 100n, 8);
  expectError(t, oversized, 'PROFILE_TOO_LARGE', undefined, 'a chunk beyond maxChunkBytes');
  const badMetadata = copy();
  badMetadata.writeBigInt64BE(70n, 24);
  expectError(t, badMetadata, 'JFR_MALFORMED', undefined, 'a metadata offset that points at another event');
});

t.test('after an error the reader stays failed', async (t) => {
  const reader = new JfrReader();
  t.throws(() => reader.push(Buffer.from('XXXX'.repeat(20))), { code: 'JFR_MALFORMED' });
  t.throws(() => reader.push(recording), { code: 'JFR_MALFORMED' }, 'later pushes fail the same way');
  t.throws(() => reader.finish(), { code: 'JFR_MALFORMED' });
});
