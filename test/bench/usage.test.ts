// `npm run bench -- --help` prints the bench's usage and exits 0; an unknown flag names itself, prints the usage and
// exits 2 (it used to end in Node's parseArgs stack trace).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { requireBuild } from '../helpers/built.js';

const BENCH = join(import.meta.dirname, '../../dist/scripts/bench/main.js');

t.test('the built bench', async (t) => {
  requireBuild(); // the same npm run build writes the bench's entry point

  const help = spawnSync(process.execPath, [BENCH, '--help'], { encoding: 'utf8' });
  t.equal(help.status, 0, '--help exits 0');
  t.match(help.stdout, /^usage: npm run bench /, 'and prints the usage');
  t.match(help.stdout, /--jfr-only/, 'with the section flags');

  const bad = spawnSync(process.execPath, [BENCH, '--bogus'], { encoding: 'utf8' });
  t.equal(bad.status, 2, 'an unknown flag exits 2');
  t.match(bad.stderr, /^bench: Unknown option '--bogus'\nusage: npm run bench /, 'naming the flag, then the usage');
  t.notMatch(bad.stderr, /at parseArgs|node:internal/, 'no stack trace');
});
