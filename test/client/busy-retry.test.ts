// Waiting out a busy agent (client/busy-retry.ts): which refusals are waited out, for how long, and what the caller
// sees when the wait budget runs out. The end-to-end case (two CLI captures of one container against a real agent)
// is in test/agent/e2e-cli.test.ts.
import t from 'tap';
import { retryWhileBusy, type BusyWait } from '../../client/transport/busy-retry.js';
import { PodflameError } from '../../shared/errors.js';

/** An attempt that fails with `errors` in turn, then answers 'graph'. */
function attempts(errors: PodflameError[]): { run: () => Promise<string>; calls: () => number } {
  let calls = 0;
  return {
    run: async () => {
      const err = errors[calls++];
      if (err) throw err;
      return 'graph';
    },
    calls: () => calls,
  };
}

const inProgress = (seconds?: number) =>
  new PodflameError('CAPTURE_IN_PROGRESS', 'container abc is being profiled', {
    ...(seconds !== undefined ? { details: { retryAfterSeconds: seconds } } : {}),
  });

function recorder() {
  const slept: number[] = [];
  const waits: BusyWait[] = [];
  return {
    slept,
    waits,
    options: {
      sleep: async (ms: number) => void slept.push(ms),
      onWait: (w: BusyWait) => void waits.push(w),
    },
  };
}

t.test("waits as long as the agent's retryAfterSeconds says, then answers", async (t) => {
  const r = recorder();
  const a = attempts([
    inProgress(3),
    new PodflameError('TOO_MANY_CAPTURES', 'at most 4', { details: { retryAfterSeconds: 2 } }),
  ]);
  t.equal(await retryWhileBusy(a.run, r.options), 'graph');
  t.equal(a.calls(), 3);
  t.same(r.slept, [3000, 2000]);
  t.same(
    r.waits.map((w) => [w.code, w.attempt, w.delayMs]),
    [
      ['CAPTURE_IN_PROGRESS', 1, 3000],
      ['TOO_MANY_CAPTURES', 2, 2000],
    ],
  );
  t.equal(r.waits[0]?.message, 'container abc is being profiled');
});

t.test("a namespace's capture limit is waited out too; a full schedule quota is not", async (t) => {
  const r = recorder();
  const a = attempts([
    new PodflameError('TOO_MANY_NAMESPACE_CAPTURES', 'namespace prod runs 2', {
      details: { quota: 'captures', limit: 2, namespace: 'prod', retryAfterSeconds: 4 },
    }),
  ]);
  t.equal(await retryWhileBusy(a.run, r.options), 'graph');
  t.same(r.slept, [4000]);
  const quota = attempts([new PodflameError('QUOTA_EXCEEDED', 'namespace prod has 10 schedules')]);
  await t.rejects(retryWhileBusy(quota.run, r.options), { code: 'QUOTA_EXCEEDED' });
  t.equal(quota.calls(), 1, 'no retry: waiting does not free a schedule');
});

t.test('without a retry time: 1 s, doubling, at most 10 s', async (t) => {
  const r = recorder();
  const busy = Array.from({ length: 6 }, () => new PodflameError('RATE_LIMITED', 'slow down'));
  t.equal(await retryWhileBusy(attempts(busy).run, { ...r.options, maxWaitMs: 600_000 }), 'graph');
  t.same(r.slept, [1000, 2000, 4000, 8000, 10000, 10000]);
});

t.test('other errors are not retried', async (t) => {
  const r = recorder();
  const a = attempts([new PodflameError('TARGET_NOT_FOUND', 'no such container')]);
  await t.rejects(retryWhileBusy(a.run, r.options), { code: 'TARGET_NOT_FOUND' });
  t.equal(a.calls(), 1);
  t.same(r.slept, []);
  const broken = async (): Promise<string> => {
    throw new TypeError('not a PodflameError');
  };
  await t.rejects(retryWhileBusy(broken, r.options), TypeError);
});

t.test('maxWaitMs 0 gives the agent its own refusal at once', async (t) => {
  const r = recorder();
  const err = inProgress(5);
  await t.rejects(retryWhileBusy(attempts([err]).run, { ...r.options, maxWaitMs: 0 }), err);
  t.same(r.slept, []);
});

t.test('past the budget: the last refusal, saying how long it waited', async (t) => {
  const r = recorder();
  const a = attempts([inProgress(20), inProgress(20), inProgress(20), inProgress(20)]);
  const err = await retryWhileBusy(a.run, { ...r.options, maxWaitMs: 45_000 }).then(
    () => t.fail('should not answer'),
    (e: unknown) => e,
  );
  t.ok(err instanceof PodflameError);
  t.match(err, {
    code: 'CAPTURE_IN_PROGRESS',
    message: /^container abc is being profiled \(still refused after waiting 40 s; allow longer with --busy-wait\)$/,
    details: { retryAfterSeconds: 20, waitedSeconds: 40 },
  });
  t.equal(a.calls(), 3, 'a third wait (60 s in all) would pass the 45 s budget');
  t.same(r.slept, [20000, 20000]);
});

t.test('the default sleep waits for real and stops on abort with CAPTURE_ABORTED', async (t) => {
  const quick = attempts([inProgress(0.05)]);
  const started = process.hrtime.bigint();
  t.equal(await retryWhileBusy(quick.run), 'graph');
  t.ok(process.hrtime.bigint() - started >= 40_000_000n, 'it slept about the 50 ms the agent asked for');

  const controller = new AbortController();
  const slow = attempts([inProgress(30)]);
  const pending = retryWhileBusy(slow.run, {
    signal: controller.signal,
    onWait: () => setTimeout(() => controller.abort(), 20),
  });
  await t.rejects(pending, { code: 'CAPTURE_ABORTED', message: 'cancelled while waiting for a busy agent' });
  t.equal(slow.calls(), 1);

  const already = new AbortController();
  already.abort();
  await t.rejects(retryWhileBusy(attempts([inProgress(30)]).run, { signal: already.signal }), {
    code: 'CAPTURE_ABORTED',
  });
});
