/**
 * Stack traces a chunk refers to but the chunk before holds (issue #14: "11–16% of lock time under [unknown stack]"
 * when another recording runs in the JVM). A real recording (test/fixtures/jfr/pools-jdk17.jfr.gz, record.sh `pools`:
 * LockContention on JDK 17, a lock recording beside the JVM's own `profile` one and a wall one that start and stop
 * while it runs, so the JVM rotates chunks): its second chunk's monitor enters refer to a trace written only in its
 * first. The reader looks such ids up in the previous chunk of the same recording, as the JDK's own parser does; the
 * first chunk's three enters refer to a trace written before the recording began, in no chunk of the file, and stay
 * under [unknown stack] (`jfr print` prints them without a stackTrace too).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import t from 'tap';
import { JfrReader, type JfrProfile } from '../../shared/jfr/jfr-reader.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'jfr');
const recording = gunzipSync(readFileSync(join(FIXTURES, 'pools-jdk17.jfr.gz')));
const golden = readFileSync(join(FIXTURES, 'pools-jdk17.lock.folded'), 'utf8');
const UNKNOWN = '[unknown stack]';

function lockProfile(bytes: Uint8Array): JfrProfile {
  const reader = new JfrReader({ kinds: ['lock'] });
  reader.push(bytes);
  return reader.finish();
}

/** The golden's lines (the JDK's reading, folded by helpers/jfr-print.ts): stack → nanoseconds. */
function goldenStacks(): Map<string, number> {
  const stacks = new Map<string, number>();
  for (const line of golden.trim().split('\n')) {
    const at = line.lastIndexOf(' ');
    stacks.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return stacks;
}

function sum(values: Iterable<number>): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

t.test('a stack trace of the chunk before is found there', async (t) => {
  const profile = lockProfile(recording);
  t.equal(profile.chunks, 2);
  t.equal(profile.stacksFromPreviousChunk, 1, "the second chunk's trace of the first");
  t.equal(profile.unresolvedStacks, 1, "only the first chunk's trace written before the recording is missing");
  t.equal(profile.counts.lock.get(UNKNOWN), 3, "the first chunk's three monitor enters, and no other event");
});

t.test('the same events and total time as the JDK reads, every resolved stack at least as heavy', async (t) => {
  const profile = lockProfile(recording);
  const jdk = goldenStacks();
  t.equal(sum(profile.stacks.lock.values()), sum(jdk.values()), 'lock nanoseconds, clipped to the recording');
  t.equal(sum(profile.counts.lock.values()), 184, 'events, as many as jfr print lists');
  // The JDK leaves one more enter of the second chunk without a stack ([no stack] in its fold); podflame names it.
  t.ok((profile.stacks.lock.get(UNKNOWN) ?? 0) < (jdk.get('[no stack]') ?? 0), 'fewer nanoseconds without a stack');
  for (const [stack, nanos] of jdk) {
    if (stack === '[no stack]') continue;
    t.ok((profile.stacks.lock.get(stack) ?? 0) >= nanos, `${stack.slice(-60)}: at least the JDK's ${nanos} ns`);
  }
});

t.test('a chunk of another recording is not looked into', async (t) => {
  // The first chunk twice: the second copy starts long before the first ends (another JVM's, as a capture of several
  // JVMs concatenates them), so its missing trace stays missing even though the copy before has the same ids.
  const firstSize = Number(Buffer.from(recording).readBigInt64BE(8));
  const first = recording.subarray(0, firstSize);
  const profile = lockProfile(Buffer.concat([first, first]));
  t.equal(profile.stacksFromPreviousChunk, 0);
  t.equal(profile.counts.lock.get(UNKNOWN), 6);
});

t.test("the chunk before is kept as its stacks' names, not its pools", async (t) => {
  // A 1.4 MB chunk of javac allocations counted 55 MiB of decoded pools, and keeping them until the next chunk (or
  // the end) failed a 30 s alloc capture with PROFILE_TOO_LARGE in the profile worker's heap budget.
  const firstSize = Number(Buffer.from(recording).readBigInt64BE(8));
  let decodePeak = 0;
  const reader = new JfrReader({ kinds: ['lock'], onHeap: (bytes) => (decodePeak = Math.max(decodePeak, bytes)) });
  reader.push(recording.subarray(0, firstSize));
  const held = reader.heapBytes();
  t.ok(
    held < 0.6 * decodePeak,
    `after the first chunk the reader holds ${held} bytes, well under its decoding's ${decodePeak}`,
  );
  reader.push(recording.subarray(firstSize));
  const profile = reader.finish();
  t.equal(profile.stacksFromPreviousChunk, 1, "the second chunk's trace still named from the first");
  t.equal(profile.unresolvedStacks, 1);
});
