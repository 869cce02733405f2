import t from 'tap';
import { parseAgeSeconds, parseTimeParam } from '../../shared/history.js';

const NOW = Date.parse('2025-11-27T12:00:00Z');

t.test('absolute, unix and relative times', async (t) => {
  t.equal(parseTimeParam('2025-11-27T10:00:00Z', 'from', NOW), Date.parse('2025-11-27T10:00:00Z'));
  t.equal(parseTimeParam('2025-11-27T11:00:00.5+01:00', 'from', NOW), Date.parse('2025-11-27T10:00:00.500Z'));
  t.equal(parseTimeParam('1764237600', 'from', NOW), 1764237600_000);
  t.equal(parseTimeParam('now', 'to', NOW), NOW);
  t.equal(parseTimeParam('now-90m', 'from', NOW), NOW - 90 * 60_000);
  t.equal(parseTimeParam(' now-2h ', 'from', NOW), NOW - 2 * 3600_000);
  t.equal(parseTimeParam('now-7d', 'from', NOW), NOW - 7 * 86400_000);
  for (const bad of ['2025', 'yesterday', 'now+1h', '2025-11-27', '12', 'now-1y']) {
    t.throws(
      () => parseTimeParam(bad, 'baseFrom', NOW),
      { code: 'INVALID_REQUEST', message: /^baseFrom must be a time/ },
      bad,
    );
  }
});

t.test('ages', async (t) => {
  t.equal(parseAgeSeconds('90s', 'retention'), 90);
  t.equal(parseAgeSeconds('2h', 'retention'), 7200);
  t.equal(parseAgeSeconds('7d', 'retention'), 604800);
  t.equal(parseAgeSeconds('1w', 'retention'), 604800);
  for (const bad of ['0h', '7', 'd', '-1h'])
    t.throws(() => parseAgeSeconds(bad, 'retention'), { code: 'INVALID_REQUEST' });
});
