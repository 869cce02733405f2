// dockerode without its BuildKit session (gRPC) and SSH transport at start-up (agent/runtime/dockerode-loader.ts):
// the built agent on the Docker path loads dockerode but neither @grpc/* nor ssh2, and both files still work when
// called (loaded then), so nothing a dockerode user could reach is gone.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { deferCommonJsFunction, deferredDockerodeFiles } from '../../agent/runtime/dockerode-loader.js';
import { DIST_AGENT, requireBuild } from '../helpers/built.js';
import { PRINT_CJS_CACHE, cjsFilesFrom } from '../helpers/cjs-cache.js';

const require = createRequire(import.meta.url);
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const isGrpc = (f: string): boolean => f.includes('/node_modules/@grpc/') || f.includes('/node_modules/protobufjs/');
const isSsh2 = (f: string): boolean => f.includes('/node_modules/ssh2/');

t.test('the built agent on the Docker path starts without gRPC and ssh2', async (t) => {
  requireBuild();
  const dir = mkdtempSync(join(tmpdir(), 'podflame-loader-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // No engine at that socket: the agent starts, is not ready, and is stopped; its start-up is what is looked at.
  const agent = spawn(
    process.execPath,
    [
      ...['--import', PRINT_CJS_CACHE, DIST_AGENT],
      ...['--runtime', 'docker', '--docker-socket', join(dir, 'no-engine.sock'), '--listen', '127.0.0.1:0'],
      ...['--data-dir', join(dir, 'data'), '--node-name', 'loader-test', '--log-level', 'info'],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  agent.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  agent.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  // Listening is logged once the runtime is built (dockerode loaded) and the HTTP server is up.
  await new Promise<void>((resolve, reject) => {
    const onData = (): void => {
      if (/listening/i.test(stdout + stderr)) resolve();
    };
    agent.stdout.on('data', onData);
    agent.stderr.on('data', onData);
    agent.once('exit', (code) => reject(new Error(`the agent exited (${code}) before listening:\n${stdout}${stderr}`)));
  });
  agent.kill('SIGTERM');
  await new Promise((r) => agent.once('close', r));
  const loaded = cjsFilesFrom(stderr, agent.exitCode);
  t.ok(
    loaded.some((f) => f.includes('/node_modules/dockerode/')),
    'dockerode is loaded',
  );
  t.ok(
    loaded.some((f) => f.includes('/node_modules/docker-modem/')),
    'docker-modem is loaded',
  );
  t.same(loaded.filter(isGrpc), [], 'no file of @grpc/* or protobufjs');
  t.same(loaded.filter(isSsh2), [], 'no file of ssh2');
});

t.test("dockerode's deferred files still work when called", async (t) => {
  requireBuild();
  // A fresh process: the deferral only applies before dockerode is loaded. Both calls go to loopback port 1, which
  // refuses; what matters is that each reaches its transport, which means the real file was loaded and called.
  const program = `
    import { createRequire } from 'node:module';
    const { loadDockerode, deferredDockerodeFiles } = await import(${JSON.stringify(
      join(REPO_ROOT, 'dist/agent/runtime/dockerode-loader.js'),
    )});
    const Docker = loadDockerode();
    const cache = createRequire('/').cache;
    const loaded = () => Object.keys(cache);
    const before = { grpc: loaded().some((f) => f.includes('/@grpc/grpc-js/')), ssh2: loaded().some((f) => f.includes('/ssh2/')) };
    const [sessionFile] = deferredDockerodeFiles();
    const withSession = cache[sessionFile].exports;
    const sessionError = await new Promise((resolve) =>
      withSession(new Docker({ host: '127.0.0.1', port: 1, protocol: 'http' }), undefined, (err) => resolve(String(err))),
    );
    const sshError = await new Docker({ protocol: 'ssh', host: '127.0.0.1', port: 1, username: 'nobody' })
      .ping()
      .then(() => 'answered', (err) => String(err));
    const after = { grpc: loaded().some((f) => f.includes('/@grpc/grpc-js/')), ssh2: loaded().some((f) => f.includes('/ssh2/')) };
    process.stdout.write(JSON.stringify({ before, after, sessionError, sshError }));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', program], {
    encoding: 'utf8',
    cwd: REPO_ROOT,
    timeout: 60_000,
  });
  t.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    before: { grpc: boolean; ssh2: boolean };
    after: { grpc: boolean; ssh2: boolean };
    sessionError: string;
    sshError: string;
  };
  t.same(out.before, { grpc: false, ssh2: false }, 'neither is loaded before its first call');
  t.same(out.after, { grpc: true, ssh2: true }, 'each is loaded by its first call');
  t.match(out.sessionError, /ECONNREFUSED/, 'the session dialled the engine');
  t.match(out.sshError, /ECONNREFUSED/, 'the SSH transport connected');
});

t.test('deferCommonJsFunction', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podflame-defer-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'counted.cjs');
  writeFileSync(
    file,
    'globalThis.__podflameLoads = (globalThis.__podflameLoads ?? 0) + 1;\n' +
      'module.exports = function add(a, b) { return [this && this.tag, a + b]; };\n',
  );
  const loads = (): number => (globalThis as { __podflameLoads?: number }).__podflameLoads ?? 0;

  t.equal(deferCommonJsFunction(file), true, 'deferred');
  const fn = require(file) as (this: unknown, a: number, b: number) => [unknown, number];
  t.equal(loads(), 0, 'requiring it does not run the file');
  t.same(fn.call({ tag: 'self' }, 2, 3), ['self', 5], 'the first call runs it and passes arguments and this on');
  t.same(fn(4, 5), [undefined, 9], 'later calls go to the same function');
  t.equal(loads(), 1, 'the file ran once');
  t.equal(require(file) !== fn, true, 'the cache now holds the real module');
  t.equal(deferCommonJsFunction(file), false, 'a file already loaded is left alone');
  t.equal(deferCommonJsFunction(join(dir, 'missing.cjs')), false, 'a missing file is left alone');
  t.equal(deferredDockerodeFiles().length, 2);
  for (const f of deferredDockerodeFiles())
    t.match(f, /\/node_modules\/(dockerode|docker-modem)\/lib\/(session|ssh)\.js$/);
});
