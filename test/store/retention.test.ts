import t from 'tap';
import { selectEvictions, type RetentionItem } from '../../agent/store/retention.js';

const HOUR = 3600_000;
const NOW = Date.parse('2025-11-27T12:00:00Z');

function item(
  id: string,
  hoursAgo: number,
  bytes: number,
  schedule: string | null = null,
  namespace = 'shop',
): RetentionItem {
  return { id, namespace, startMs: NOW - hoursAgo * HOUR, bytes, schedule };
}

/** No share per namespace: the store's total is the only byte budget. */
const NO_SHARE = Infinity;

t.test('age: profiles older than the limit go, the rest stay', async (t) => {
  const items = [item('a', 30, 10), item('b', 10, 10), item('c', 25, 10)];
  const ev = selectEvictions(
    items,
    { maxAgeSeconds: 24 * 3600, maxTotalBytes: 1e9, maxNamespaceBytes: NO_SHARE, scheduleMaxAgeSeconds: new Map() },
    NOW,
  );
  t.same(ev, [
    { id: 'a', reason: 'age' },
    { id: 'c', reason: 'age' },
  ]);
});

t.test('a schedule retention replaces the global age for its profiles', async (t) => {
  const items = [item('a', 3, 10, 'hourly'), item('b', 3, 10, 'daily'), item('c', 30, 10, 'daily'), item('d', 30, 10)];
  const policy = {
    maxAgeSeconds: 24 * 3600,
    maxTotalBytes: 1e9,
    maxNamespaceBytes: NO_SHARE,
    scheduleMaxAgeSeconds: new Map([
      [
        'shop',
        new Map([
          ['hourly', 2 * 3600],
          ['daily', 48 * 3600],
        ]),
      ],
    ]),
  };
  t.same(selectEvictions(items, policy, NOW), [
    { id: 'd', reason: 'age' },
    { id: 'a', reason: 'schedule_age' },
  ]);
});

t.test('bytes: the oldest go until the total fits', async (t) => {
  const items = [item('new', 1, 40), item('old', 3, 40), item('mid', 2, 40)];
  const policy = {
    maxAgeSeconds: 1e9,
    maxTotalBytes: 80,
    maxNamespaceBytes: NO_SHARE,
    scheduleMaxAgeSeconds: new Map(),
  };
  t.same(selectEvictions(items, policy, NOW), [{ id: 'old', reason: 'bytes' }]);
  t.same(selectEvictions(items, { ...policy, maxTotalBytes: 39 }, NOW), [
    { id: 'old', reason: 'bytes' },
    { id: 'mid', reason: 'bytes' },
    { id: 'new', reason: 'bytes' },
  ]);
  t.same(selectEvictions(items, { ...policy, maxTotalBytes: 120 }, NOW), []);
});

t.test('age evictions count toward the byte budget', async (t) => {
  const items = [item('stale', 50, 100), item('fresh', 1, 50)];
  const ev = selectEvictions(
    items,
    { maxAgeSeconds: 24 * 3600, maxTotalBytes: 60, maxNamespaceBytes: NO_SHARE, scheduleMaxAgeSeconds: new Map() },
    NOW,
  );
  t.same(ev, [{ id: 'stale', reason: 'age' }]);
});

t.test('a schedule retention is keyed by namespace and schedule', async (t) => {
  const items = [item('a-shop', 3, 10, 'cpu', 'shop'), item('b-billing', 3, 10, 'cpu', 'billing')];
  const policy = {
    maxAgeSeconds: 24 * 3600,
    maxTotalBytes: 1e9,
    maxNamespaceBytes: NO_SHARE,
    scheduleMaxAgeSeconds: new Map([['billing', new Map([['cpu', 1]])]]),
  };
  t.same(selectEvictions(items, policy, NOW), [{ id: 'b-billing', reason: 'schedule_age' }], "shop's cpu keeps 24 h");
});

t.test('a namespace over its share loses its own oldest; the total budget takes from the largest', async (t) => {
  const items = [
    item('billing-old', 9, 40, null, 'billing'),
    item('shop-1', 3, 40),
    item('shop-2', 2, 40),
    item('shop-3', 1, 40),
  ];
  const policy = { maxAgeSeconds: 1e9, maxTotalBytes: 1e9, maxNamespaceBytes: 80, scheduleMaxAgeSeconds: new Map() };
  t.same(selectEvictions(items, policy, NOW), [{ id: 'shop-1', reason: 'namespace_bytes' }]);
  t.same(selectEvictions(items, { ...policy, maxNamespaceBytes: NO_SHARE, maxTotalBytes: 120 }, NOW), [
    { id: 'shop-1', reason: 'bytes' },
  ]);
  t.same(
    selectEvictions(items, { ...policy, maxNamespaceBytes: NO_SHARE, maxTotalBytes: 40 }, NOW),
    [
      { id: 'billing-old', reason: 'bytes' },
      { id: 'shop-1', reason: 'bytes' },
      { id: 'shop-2', reason: 'bytes' },
    ],
    'equal shares: the namespaces pay in turn (ties by name), evictions listed oldest first',
  );
});
