// A recording whose first chunk refers to a stack trace the JVM wrote before the recording began (the real JDK 17
// recording of test/jfr/jfr-pools.test.ts): the capture's warning has its own code, UNKNOWN_STACKS, and says how
// many traces, what share of the weight, why, and what helps; not the generic COLLAPSE with pool jargon.
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import t from 'tap';
import { collapseCaptureStream } from '../../agent/profiles/pipeline.js';
import { parseFoldedBytes } from '../../agent/profiles/folded-bytes.js';

const RECORDING = gunzipSync(readFileSync(new URL('../fixtures/jfr/pools-jdk17.jfr.gz', import.meta.url)));

t.test('stacks written before the recording: an UNKNOWN_STACKS warning with their share', async (t) => {
  const result = await collapseCaptureStream(Readable.from([RECORDING]), {
    maxBytes: 1 << 30,
    onTooLarge: () => t.fail('not too large'),
    limits: { maxStacks: 100_000, maxBytes: 1 << 26 },
    event: 'lock',
  });
  const stacks = parseFoldedBytes(result.folded);
  let total = 0;
  for (const weight of stacks.values()) total += weight;
  const unknown = stacks.get('[unknown stack]') ?? 0;
  t.ok(unknown > 0 && unknown < total, `some of the weight is unknown (${unknown} of ${total} ns)`);
  const share = ((100 * unknown) / total).toFixed(1);
  t.same(
    result.warnings.map((w) => w.code),
    ['UNKNOWN_STACKS'],
    'its own code, nothing else to say of this recording',
  );
  t.equal(
    result.warnings[0]?.message,
    `1 of the recording's stack traces (${share}% of its weight) could not be named: the JVM wrote it before ` +
      'this capture began (a wait already in progress, or a stack another recording of the JVM saw first); their ' +
      'weight is under [unknown stack], and a longer capture makes its share smaller.',
  );
});
