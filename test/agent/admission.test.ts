import t from 'tap';
import { CaptureAdmission } from '../../agent/profiles/admission.js';
import { ProfileRegistry, type ProfileRecord } from '../../agent/profiles/profile-registry.js';
import { PodflameError } from '../../shared/errors.js';

function refusal(fn: () => unknown): PodflameError {
  try {
    fn();
  } catch (err) {
    if (err instanceof PodflameError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

t.test('one capture per container, Retry-After from its expected end', async (t) => {
  let now = 1_000_000;
  const a = new CaptureAdmission({ maxConcurrent: 4 }, () => now);
  const slot = a.admit('c1', now + 30_500);
  const busy = refusal(() => a.admit('c1', now + 10_000));
  t.equal(busy.code, 'CAPTURE_IN_PROGRESS');
  t.equal(busy.httpStatus, 409);
  t.equal(busy.details?.retryAfterSeconds, 31);
  now += 40_000;
  t.equal(refusal(() => a.admit('c1', now)).details?.retryAfterSeconds, 1, 'never less than 1 s');
  slot.release();
  slot.release();
  t.equal(a.inFlight, 0);
  a.admit('c1', now).release();
});

t.test('captures of different events of one container run side by side; the same event twice does not', async (t) => {
  const now = 0;
  const a = new CaptureAdmission({ maxConcurrent: 8 }, () => now);
  // Two schedules of one pod, alloc and lock, firing at the same minute (issue #14), and an on-demand cpu capture.
  const alloc = a.admit('c1', 30_000, 'shop', 'alloc');
  const lock = a.admit('c1', 30_000, 'shop', 'lock');
  const cpu = a.admit('c1', 30_000, 'shop', 'cpu');
  t.equal(a.inFlight, 3);
  const again = refusal(() => a.admit('c1', 10_000, 'shop', 'alloc'));
  t.equal(again.code, 'CAPTURE_IN_PROGRESS');
  t.match(again.message, /capture of alloc in container c1 is already running/);
  t.same(again.details, { containerId: 'c1', event: 'alloc', retryAfterSeconds: 30 });
  t.equal(refusal(() => a.admit('c1', 10_000)).code, 'CAPTURE_IN_PROGRESS', 'no event given: cpu, busy too');
  alloc.release();
  a.admit('c1', 10_000, 'shop', 'alloc').release();
  lock.release();
  cpu.release();
  t.equal(a.inFlight, 0);
});

t.test('a global limit, refused with 429 and the soonest end', async (t) => {
  const now = 0;
  const a = new CaptureAdmission({ maxConcurrent: 2 }, () => now);
  const s1 = a.admit('c1', 20_000);
  a.admit('c2', 5_000);
  const full = refusal(() => a.admit('c3', 1_000));
  t.equal(full.code, 'TOO_MANY_CAPTURES');
  t.equal(full.httpStatus, 429);
  t.equal(full.details?.retryAfterSeconds, 5);
  t.equal(full.details?.limit, 2);
  t.equal(refusal(() => a.admit('c2', 0)).code, 'CAPTURE_IN_PROGRESS', 'the per-container rule is checked first');
  s1.release();
  t.equal(a.inFlight, 1);
  a.admit('c3', 1_000);
  t.throws(() => new CaptureAdmission({ maxConcurrent: 0 }));
});

t.test(
  'a namespace limit, refused with 429 TOO_MANY_NAMESPACE_CAPTURES while other namespaces are admitted',
  async (t) => {
    const now = 0;
    const a = new CaptureAdmission({ maxConcurrent: 4, maxPerNamespace: 2 }, () => now);
    const s1 = a.admit('shop-1', 20_000, 'shop');
    a.admit('shop-2', 8_000, 'shop');
    const full = refusal(() => a.admit('shop-3', 1_000, 'shop'));
    t.equal(full.code, 'TOO_MANY_NAMESPACE_CAPTURES');
    t.equal(full.httpStatus, 429);
    t.same(full.details, { quota: 'captures', limit: 2, namespace: 'shop', retryAfterSeconds: 8 });
    a.admit('billing-1', 1_000, 'billing');
    a.admit('host-1', 1_000);
    t.equal(a.inFlight, 4);
    t.equal(refusal(() => a.admit('billing-2', 1_000, 'billing')).code, 'TOO_MANY_CAPTURES', 'the agent limit first');
    s1.release();
    a.admit('shop-3', 1_000, 'shop');
    t.throws(() => new CaptureAdmission({ maxConcurrent: 2, maxPerNamespace: 0 }));
  },
);

function record(id: string, status: 'running' | 'done'): ProfileRecord {
  return {
    metadata: {
      id,
      status,
      node: 'n',
      target: { containerId: id },
      startedAt: '',
      durationSeconds: 1,
      frequencyHz: 1,
      java: { inlined: false },
      event: 'cpu',
      samples: 0,
      jitResolved: null,
      warnings: [],
    },
    render: {},
    settled: Promise.resolve(),
    abort: () => undefined,
  };
}

t.test('the registry keeps running profiles and the latest finished ones', async (t) => {
  const r = new ProfileRegistry(2);
  for (const id of ['a', 'b', 'c', 'd']) r.add(record(id, 'running'));
  t.equal(r.size, 4);
  for (const id of ['a', 'b', 'c']) {
    (r.get(id) as ProfileRecord).metadata.status = 'done';
    r.markFinished(id);
  }
  t.equal(r.get('a'), undefined, 'the oldest finished profile is evicted');
  t.ok(r.get('b'));
  t.ok(r.get('c'));
  t.ok(r.get('d'), 'a running profile is never evicted');
  t.same(
    r.running().map((x) => x.metadata.id),
    ['d'],
  );
  r.markFinished('zzz');
  t.throws(() => new ProfileRegistry(0));
});
