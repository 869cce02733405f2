// A real lock recording (JfrMix on JDK 21: test/fixtures/jfr/record.sh) through the agent's event collapser and out
// as pprof: each stack's `contentions/count` is the number of Flight Recorder events that made it up. The recording's
// two lock stacks are one event type each (LockContention.holdLock: jdk.JavaMonitorEnter; parkBriefly:
// jdk.ThreadPark), so the reader's tally per event type is each stack's count.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import { createEventCollapser } from '../../agent/profiles/event-collapser.js';
import { parseFoldedBytes } from '../../agent/profiles/folded-bytes.js';
import { toPprof } from '../../shared/export/pprof.js';
import { JfrReader } from '../../shared/jfr/jfr-reader.js';

const RECORDING = readFileSync(new URL('../fixtures/jfr/mix-jdk21.jfr', import.meta.url));

t.test('a real lock recording as pprof: contentions per stack are its events', async (t) => {
  const collapser = createEventCollapser('lock');
  collapser.push(RECORDING);
  const result = collapser.finish({ maxStacks: 1000, maxBytes: 1 << 24 });
  const reader = new JfrReader({ kinds: ['lock'] });
  reader.push(RECORDING);
  const events = reader.finish().events;

  const stacks = parseFoldedBytes(result.folded);
  const profile = Profile.decode(
    gunzipSync(toPprof(stacks, { event: 'lock', durationSeconds: 3 }, result.eventCounts)),
  );
  const str = (i: number | bigint) => profile.stringTable.strings[Number(i)] as string;
  t.same(
    profile.sampleType.map((v) => `${str(v.type)}/${str(v.unit)}`),
    ['contentions/count', 'delay/nanoseconds'],
  );
  const names = new Map(profile.function.map((f) => [Number(f.id), str(f.name)]));
  const byLeaf = new Map(
    profile.sample.map((s) => [names.get(Number(s.locationId[0])) as string, s.value.map(Number)]),
  );
  t.same(byLeaf.get('LockContention.holdLock_[j]')?.[0], events.get('jdk.JavaMonitorEnter'), 'monitor enters');
  t.same(byLeaf.get('jdk.internal.misc.Unsafe.park_[j]')?.[0], events.get('jdk.ThreadPark'), 'parks');
});
