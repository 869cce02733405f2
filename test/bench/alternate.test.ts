// The bench's side-by-side runs: podflame and perl alternate A B A B (after one warm-up of each), so that load that
// comes and goes hits both alike, and each pair gives one ratio. Only the order and the counts are checked: wall
// times belong to the bench, not to a test.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runAlternating } from '../../scripts/bench/alternate.js';
import type { RunSpec } from '../../scripts/bench/measure.js';

t.test('runs A and B in alternation, one ratio per pair', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podflame-alternate-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const order = join(dir, 'order');
  const appending = (letter: string): RunSpec => ({
    command: process.execPath,
    args: ['-e', `require('node:fs').appendFileSync(${JSON.stringify(order)}, '${letter}')`],
    stdoutFile: join(dir, `${letter}.out`),
    scratch: dir,
  });
  const lines: string[] = [];
  const result = await runAlternating(
    { name: 'A', spec: appending('a') },
    { name: 'B', spec: appending('b') },
    3,
    (l) => lines.push(l),
  );
  t.equal(readFileSync(order, 'utf8'), 'ab' + 'ababab', 'one warm-up of each, then A B A B A B');
  t.equal(result.a.length, 3);
  t.equal(result.b.length, 3);
  t.same(
    result.ratios,
    result.a.map((m, i) => (result.b[i]?.wallSeconds as number) / m.wallSeconds),
    'ratio i = B_i / A_i',
  );
  t.equal(lines.length, 3, 'one log line per pair');
});

t.test('a failed run throws with its stderr', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podflame-alternate-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const spec = (code: string): RunSpec => ({
    command: process.execPath,
    args: ['-e', code],
    stdoutFile: join(dir, 'out'),
    scratch: dir,
  });
  await t.rejects(
    runAlternating(
      { name: 'ok', spec: spec('0') },
      { name: 'perl', spec: spec("process.stderr.write('Can\\'t open perl script'); process.exit(2)") },
      2,
      () => {},
    ),
    /perl failed \(exit 2\): Can't open perl script/,
  );
});
