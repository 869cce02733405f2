// The JFR reader on recordings made here by every JDK of the multi-JDK image (8, 11, 17, 21, 25): JfrMix --waiters
// (test/workloads/jdks/: AllocLoop, LockContention, Sleeper) records itself for 3 s with the profile settings, one
// container per JDK, network none; JDK 21's `jfr print --json` prints each recording, and the reader must find the
// same stacks with the same weights as that print, folded by test/helpers/jfr-print.ts — and each known method on
// top of its event's graph.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { readJfr } from '../../shared/jfr/jfr-reader.js';
import { JDK_MAJORS, TEST_LABEL, javaBinaryFor, requireDockerEnv } from '../helpers/docker-env.js';
import { PRINTED_EVENTS, foldJfrPrintFile, foldedText, recordingStartNanos } from '../helpers/jfr-print.js';

// Includes the first build of the image (five JDKs, a few minutes when uncached), then a JVM per JDK.
t.setTimeout(900_000);
const env = await requireDockerEnv(t, { jdks: true });

const JFR = javaBinaryFor(21).replace(/java$/, 'jfr');
/** The profile settings sample running threads every 10 ms: waits count in wall at that period. */
const WALL_PERIOD_NANOS = 10_000_000;

if (env) {
  const dir = mkdtempSync(join(tmpdir(), 'podflame-jfr-jdks-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  for (const major of JDK_MAJORS) {
    t.test(`JDK ${major}: the reader agrees with jfr print`, async (tt) => {
      const file = `/out/mix${major}.jfr`;
      const script =
        `${javaBinaryFor(major)} -XX:StartFlightRecording=settings=profile,filename=${file} -cp /app JfrMix 3 --waiters >/dev/null` +
        ` && ${JFR} print --json --stack-depth 1000 --events ${PRINTED_EVENTS} ${file} >/out/print${major}.json`;
      const container = await env.docker.createContainer({
        Image: env.jdksImage,
        Cmd: ['sh', '-c', script],
        Labels: { [TEST_LABEL]: 'jfr-jdks' },
        HostConfig: { NetworkMode: 'none', Binds: [`${dir}:/out`] },
      });
      try {
        await container.start();
        const { StatusCode } = (await container.wait()) as { StatusCode: number };
        tt.equal(StatusCode, 0, 'recorded and printed');
      } finally {
        await container.remove({ force: true });
      }
      const recording = readFileSync(join(dir, `mix${major}.jfr`));
      const profile = await readJfr([recording], { wallPeriodNanos: WALL_PERIOD_NANOS });
      const printed = await foldJfrPrintFile(join(dir, `print${major}.json`), major >= 16, {
        periodNanos: WALL_PERIOD_NANOS,
        recordingStartNanos: recordingStartNanos(recording),
      });
      tt.equal(profile.unresolvedStacks, 0, 'every stack resolved');
      for (const kind of ['alloc', 'lock', 'wall'] as const) {
        tt.ok(printed[kind].size > 0, `${kind}: the JDK recorded events`);
        tt.equal(foldedText(profile.stacks[kind]), foldedText(printed[kind]), `${kind}: the same stacks and weights`);
      }
      const heaviest = (kind: 'alloc' | 'lock' | 'wall'): string =>
        [...profile.stacks[kind]].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '';
      tt.match(heaviest('alloc'), /;AllocLoop\.allocateBuffers_\[[ji]\]$/, 'alloc: AllocLoop.allocateBuffers on top');
      tt.match(heaviest('lock'), /;LockContention\.holdLock_\[[ji]\]$/, 'lock: LockContention.holdLock on top');
      // The accept is sampled (JDK 8 samples threads in native code every 20 ms, and one a period at most), and each
      // of Sleeper's waits is in wall, where only its duration event can put it.
      for (const method of ['awaitConnection', 'nap', 'parkBriefly', 'waitBriefly']) {
        const samples = [...profile.stacks.wall]
          .filter(([stack]) => stack.includes(`;Sleeper.${method}_[j]`))
          .reduce((sum, [, w]) => sum + w, 0);
        tt.ok(samples > 0, `wall: Sleeper.${method} (${samples} samples)`);
      }
      for (const name of ['jdk.ThreadSleep', 'jdk.ThreadPark', 'jdk.JavaMonitorWait', 'jdk.JavaMonitorEnter']) {
        tt.ok(profile.events.get(name), `${name} read`);
      }
      const allocEvents = major >= 16 ? ['jdk.ObjectAllocationSample'] : ['jdk.ObjectAllocationInNewTLAB'];
      for (const name of allocEvents) tt.ok(profile.events.get(name), `${name} read`);
    });
  }
}
