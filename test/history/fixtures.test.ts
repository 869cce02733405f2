/**
 * The history fixtures' folded stacks are the project's own collapse (Java-aware, as the agent stores profiles) of
 * the recorded perf captures next to them: checked against those goldens (`BLESS=1` rewrites them), in chunks, and
 * for determinism.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { PerfCollapser } from '../../shared/collapse/perf-collapser.js';
import { serializeFolded, totalSamples } from '../../shared/folded.js';
import { checkFixture } from '../helpers/fixture-check.js';
import { FIXTURE_DIR, fixtureStacks } from './fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'podflame-history-fixtures-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

for (const release of ['before', 'after'] as const) {
  t.test(`${release}: collapsed with the agent's collapser`, async (t) => {
    const input = join(work, `${release}.perf.txt`);
    writeFileSync(input, gunzipSync(readFileSync(join(FIXTURE_DIR, `${release}.perf.txt.gz`))));
    await checkFixture(t, {
      input,
      golden: join(FIXTURE_DIR, `${release}.folded`),
      run: (chunks) => {
        const collapser = new PerfCollapser({ java: true });
        for (const c of chunks) collapser.push(c);
        return serializeFolded(collapser.finish().stacks);
      },
    });
    const stacks = fixtureStacks(release);
    t.ok(totalSamples(stacks) > 300, 'a real capture: hundreds of samples');
    t.ok(
      [...stacks.keys()].some((k) => k.includes('Shop.checkout')),
      'with the workload’s Java frames named',
    );
  });
}
