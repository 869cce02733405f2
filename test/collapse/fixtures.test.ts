import t from 'tap';
import { join } from 'node:path';
import { PerfCollapser } from '../../shared/collapse/perf-collapser.js';
import type { CollapseOptions } from '../../shared/collapse/options.js';
import { checkFixture } from '../helpers/fixture-check.js';

// Real captures recorded on this machine kind (see test/fixtures/perf/record.sh), each checked under every flag set
// against its golden, in 1-byte and 100-byte chunks, and twice. Goldens were written by this collapser after it
// matched stackcollapse-perf.pl on the whole conformance corpus (`BLESS=1` rewrites them).
const FIXTURES = new URL('../fixtures/perf/', import.meta.url).pathname;
// Feeding every fixture byte by byte (and, for the CLI, spawning node) is slow on a busy 2-core machine.
t.setTimeout(300_000);

const FLAG_SETS: Record<string, Partial<CollapseOptions>> = {
  default: {},
  pid: { pid: true },
  tid: { tid: true },
  kernel: { kernel: true },
  jit: { jit: true },
  all: { all: true },
  addrs: { addrs: true },
  java: { java: true },
  'java+all+tid': { java: true, all: true, tid: true },
};

const INPUTS: Record<string, readonly string[]> = {
  // JDK 17 with -XX:+PreserveFramePointer, default perf script fields (TID only, period, symbol offsets).
  'java-fp': Object.keys(FLAG_SETS),
  // The same recording with `-F comm,pid,tid,time,event,ip,sym,dso`: PID/TID pairs, no period, no offsets.
  'java-fp-pidtid': Object.keys(FLAG_SETS),
  // Without PreserveFramePointer: truncated JVM stacks.
  'java-nofp': ['default', 'pid', 'jit', 'addrs', 'java'],
  // The JIT map written before the recording: some JIT frames stay [unknown].
  'java-early-map': ['default', 'jit', 'addrs', 'java'],
  // Not ASCII: a JIT method `zählen` (UTF-8) on a thread whose 15-byte comm ends inside a UTF-8 character.
  'java-utf8': ['default', 'tid', 'java'],
  // dd: kernel frames, and two events (cpu-clock first, then task-clock).
  'dd-two-events': ['default', 'tid', 'kernel', 'all', 'addrs', 'java'],
  // A dash loop: frames without symbols.
  'sh-loop': ['default', 'pid', 'kernel', 'addrs'],
};

function collapseRun(options: Partial<CollapseOptions>) {
  return (chunks: readonly Buffer[]): Buffer => {
    const collapser = new PerfCollapser(options);
    for (const chunk of chunks) collapser.push(chunk);
    return Buffer.concat([...collapser.finish().foldedChunks()]);
  };
}

for (const [stem, flagSets] of Object.entries(INPUTS)) {
  t.test(stem, async (t) => {
    for (const flagSet of flagSets) {
      await checkFixture(t, {
        input: join(FIXTURES, `${stem}.txt`),
        golden: join(FIXTURES, `${stem}.${flagSet}.collapsed`),
        run: collapseRun(FLAG_SETS[flagSet] as Partial<CollapseOptions>),
      });
    }
  });
}

t.test('the event filter on a capture with two events', async (t) => {
  for (const event of ['cpu-clock', 'task-clock']) {
    await checkFixture(t, {
      input: join(FIXTURES, 'dd-two-events.txt'),
      golden: join(FIXTURES, `dd-two-events.event-filter-${event}.collapsed`),
      run: collapseRun({ eventFilter: event }),
    });
  }
});
