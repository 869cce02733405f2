// The package's bin files after `npm run build`: executable, with a node shebang, so that `kubectl podflame` (which
// runs kubectl-podflame from PATH) and a direct `./dist/client/cli/main.js` work; and `--version` on both binaries,
// from the one source (package.json).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DIST_AGENT, DIST_CLI, requireBuild } from '../helpers/built.js';

requireBuild();
const REPO = join(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  version: string;
  bin: Record<string, string>;
};

t.test('every bin file is 0755 and starts with a node shebang', async (t) => {
  t.same(new Set(Object.values(pkg.bin).map((f) => join(REPO, f))), new Set([DIST_CLI, DIST_AGENT]));
  for (const file of [DIST_CLI, DIST_AGENT]) {
    t.equal((statSync(file).mode & 0o777).toString(8), '755', file);
    // podflame-agent passes its Node flags (agent/node-flags.ts) with `env -S`.
    t.match(readFileSync(file, 'utf8'), /^#!\/usr\/bin\/env (node|-S node( --[a-z0-9-]+(=\S+)?)+)\n/, file);
  }
});

t.test('--version on both binaries, run as programs (not through node), prints package.json`s version', async (t) => {
  // kubectl finds a plugin by its name on PATH, as here.
  const bin = mkdtempSync(join(tmpdir(), 'podflame-bin-'));
  t.teardown(() => rmSync(bin, { recursive: true, force: true }));
  for (const [name, file] of Object.entries(pkg.bin)) symlinkSync(join(REPO, file), join(bin, name));
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` };
  for (const [name, args] of [
    ['podflame', ['--version']],
    ['kubectl-podflame', ['--version']],
    ['podflame-agent', ['--version']],
    ['podflame-agent', ['-V']],
  ] as const) {
    const r = spawnSync(name, args, { env, encoding: 'utf8' });
    t.equal(r.error, undefined, `${name}: runs (${String(r.error)})`);
    t.equal(r.status, 0, `${name} ${args.join(' ')}: ${r.stderr}`);
    t.equal(r.stdout, `${pkg.version}\n`, `${name} ${args.join(' ')}`);
  }
  const help = spawnSync(process.execPath, [DIST_AGENT, '--help'], { encoding: 'utf8' });
  t.match(help.stdout, /\n {2}-V, --version\n {6}print the version and exit\n/);
});
