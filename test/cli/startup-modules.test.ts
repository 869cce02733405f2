// What `podflame profile` loads before its request: not yaml, which only install and uninstall use (about 50 ms of
// CPU at every start on a busy 2-CPU machine). CommonJS packages, which yaml is, land in Node's require cache even when
// imported from ESM; the built CLI is run with a hook that prints that cache's files at exit.
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { DIST_CLI, requireBuild } from '../helpers/built.js';
import { PRINT_CJS_CACHE, cjsFilesFrom } from '../helpers/cjs-cache.js';

function cjsLoadedBy(args: string[]): string[] {
  const r = spawnSync(process.execPath, ['--import', PRINT_CJS_CACHE, DIST_CLI, ...args], { encoding: 'utf8' });
  return cjsFilesFrom(r.stderr, r.status);
}

t.test('podflame profile starts without yaml', async (t) => {
  requireBuild();
  // A closed port on loopback: the command fails after its start-up, which is what is looked at.
  const loaded = cjsLoadedBy([
    ...['profile', '--agent', 'http://127.0.0.1:1', '--pod-uid', '00000000-0000-0000-0000-000000000000'],
    ...['-c', 'app', '-d', '1', '-o', '/dev/null'],
  ]);
  t.ok(
    loaded.some((f) => f.includes('/node_modules/commander/')),
    'the list holds the CommonJS packages loaded (commander)',
  );
  t.same(
    loaded.filter((f) => f.includes('/node_modules/yaml/')),
    [],
    'no file of yaml',
  );
});

t.test('podflame install --dry-run still writes YAML (yaml loaded on use)', async (t) => {
  requireBuild();
  const r = spawnSync(process.execPath, [DIST_CLI, 'install', '--dry-run'], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^kind: DaemonSet$/m);
});
