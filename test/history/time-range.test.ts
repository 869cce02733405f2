import t from 'tap';
import { parseRange, parseTimePoint, rangeFromFlags, sinceRange } from '../../client/history/time-range.js';

const NOW = Date.parse('2025-11-27T12:00:00Z');
const H = 3600_000;

t.test('points, ranges and --since', async (t) => {
  t.equal(parseTimePoint('now', 'x', NOW), NOW);
  t.equal(parseTimePoint('2h', 'x', NOW), NOW - 2 * H);
  t.equal(parseTimePoint('90m', 'x', NOW), NOW - 1.5 * H);
  t.equal(parseTimePoint('now-1h', 'x', NOW), NOW - H);
  t.equal(parseTimePoint('2025-11-27T09:00:00Z', 'x', NOW), NOW - 3 * H);
  t.same(parseRange('2h..1h', '--base', NOW), { from: NOW - 2 * H, to: NOW - H });
  t.same(parseRange('1h..now', '--target', NOW), { from: NOW - H, to: NOW });
  t.same(parseRange('2025-11-27T08:00:00Z..2025-11-27T09:00:00Z', '--base', NOW), {
    from: NOW - 4 * H,
    to: NOW - 3 * H,
  });
  t.same(sinceRange('1h', NOW), { from: NOW - H, to: NOW });
  t.same(rangeFromFlags({}, NOW, undefined), undefined);
  t.same(rangeFromFlags({}, NOW, { from: 1, to: 2 }), { from: 1, to: 2 });
  t.same(rangeFromFlags({ since: '30m' }, NOW, undefined), { from: NOW - H / 2, to: NOW });
  t.same(rangeFromFlags({ from: '3h' }, NOW, undefined), { from: NOW - 3 * H });
  t.same(rangeFromFlags({ from: '3h', to: '1h' }, NOW, undefined), { from: NOW - 3 * H, to: NOW - H });
});

t.test('mistakes are usage errors that show the form', async (t) => {
  const cases: [() => unknown, RegExp][] = [
    [() => parseRange('2h', '--base', NOW), /--base must be a range FROM\.\.TO such as 2h\.\.1h/],
    [() => parseRange('1h..2h', '--base', NOW), /--base 1h\.\.2h is empty or backwards/],
    [() => parseRange('2h..', '--base', NOW), /must be a range/],
    [() => parseRange('yesterday..now', '--target', NOW), /--target \(start\) must be now, an age/],
    [() => sinceRange('an hour', NOW), /--since must be an age such as 30m/],
    [() => rangeFromFlags({ since: '1h', from: '2h' }, NOW, undefined), /either --since or --from\/--to/],
    [() => rangeFromFlags({ from: '1h', to: '2h' }, NOW, undefined), /--from must come before --to/],
  ];
  for (const [f, message] of cases) t.throws(f, { code: 'USAGE', message }, String(message));
});
