// The profile worker's thread is stopped when idle (an idle agent does not hold its isolate and heap, issue #15) and
// started again by the next job; a collapse in progress keeps it, however long its input pauses.
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProfileWorker } from '../../agent/profiles/profile-worker.js';
import { foldedBuffer } from '../../agent/profiles/folded-bytes.js';
import type { StackLimits } from '../../agent/profiles/stack-limits.js';
import { deepStacks } from '../helpers/perf-scripts.js';
import { parseFolded, totalSamples } from '../../shared/folded.js';
import { holdsWithin } from '../helpers/wait-for.js';

const LIMITS: StackLimits = { maxStacks: 100_000, maxBytes: 4 * 1024 * 1024 };
const IDLE_STOP_MS = 50;

/** Whether the thread stops within 30 s (not a speed check: a bound against a thread that never stops). */
const stopped = (worker: ProfileWorker): Promise<boolean> => holdsWithin(() => !worker.running, 30_000, 10);

t.test('an idle thread is stopped, and the next job starts it again', async (t) => {
  const worker = new ProfileWorker({ idleStopMs: IDLE_STOP_MS });
  t.teardown(() => worker.close());
  await worker.start();
  t.equal(worker.running, true, 'started (and checked) with the agent');
  t.ok(await stopped(worker), 'stopped once idle');
  const input = [...deepStacks(50, 5, 20)];
  const result = await worker.collapse(
    (async function* () {
      yield* input;
    })(),
    LIMITS,
  );
  t.equal(totalSamples(parseFolded(foldedBuffer(result.folded).toString('utf8')).stacks), 50, 'the job ran');
  t.ok(await stopped(worker), 'and stopped again after it');
});

t.test('an open collapse keeps the thread while its input pauses beyond the idle time', async (t) => {
  const worker = new ProfileWorker({ idleStopMs: IDLE_STOP_MS });
  t.teardown(() => worker.close());
  await worker.start();
  const input = [...deepStacks(200, 5, 20)];
  let pausedWhileRunning = 0;
  const result = await worker.collapse(
    (async function* () {
      for (const [i, chunk] of input.entries()) {
        yield chunk;
        if (i === 0 || i === Math.floor(input.length / 2)) {
          // Many idle times without a job in flight: only the open session holds the thread.
          await sleep(IDLE_STOP_MS * 6);
          if (worker.running) pausedWhileRunning++;
        }
      }
    })(),
    LIMITS,
  );
  t.equal(pausedWhileRunning, 2, 'the thread ran through both pauses');
  t.equal(totalSamples(parseFolded(foldedBuffer(result.folded).toString('utf8')).stacks), 200, 'no sample lost');
  t.ok(await stopped(worker), 'stopped once the collapse ended');
});

t.test('idleStopMs 0: never stopped', async (t) => {
  const worker = new ProfileWorker({ idleStopMs: 0 });
  t.teardown(() => worker.close());
  await worker.start();
  await sleep(IDLE_STOP_MS * 6);
  t.equal(worker.running, true);
});
