// `podflame-agent` flags from outside: `--auth none` off loopback refuses to start, `--auth token` checks a token
// file's tokens, `--tls-cert/--tls-key` serve HTTPS that the DIST_CLI verifies with `--ca-file`, and `--rate-limit` gives
// each caller a bucket of requests per minute (429 RATE_LIMITED with Retry-After).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Agent as UndiciAgent, request } from 'undici';
import { requireDockerEnv } from '../helpers/docker-env.js';
import { JvmContainers } from '../helpers/jvm-containers.js';
import { runAgentToExit, startAgentProcess } from '../helpers/agent-process.js';
import { makeTestPki } from './tls-material.js';
import { waitFor } from '../helpers/wait-for.js';
import { DIST_CLI } from '../helpers/built.js';

t.setTimeout(600_000);

const ALICE = 'alice-0123456789abcdef0123';
const CAROL = 'carol-0123456789abcdef0123';
const dir = mkdtempSync(join(tmpdir(), 'podflame-token-tls-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('--auth none off loopback: the agent exits at start and says why', async (t) => {
  for (const args of [
    ['--auth', 'none', '--listen', '0.0.0.0:0'],
    ['--listen', '0.0.0.0:0'], // none is the default
    ['--auth', 'none', '--listen', '[::]:0'],
  ]) {
    const run = await runAgentToExit(args);
    t.equal(run.code, 2, args.join(' '));
    t.match(
      run.stderr,
      /--auth none is only allowed on a loopback listen address, but the agent was asked to listen on/,
    );
    t.match(run.stderr, /Use --auth kubernetes .* or --auth token --token-file FILE, or listen on 127\.0\.0\.1/);
    t.notMatch(run.stdout, /listening/, 'it never listened');
  }
  const viaEnv = await runAgentToExit([], { env: { PODFLAME_AUTH: 'none', PODFLAME_LISTEN: '0.0.0.0:7070' } });
  t.equal(viaEnv.code, 2);
  t.match(viaEnv.stderr, /--auth none is only allowed on a loopback listen address.*0\.0\.0\.0:7070/);
});

t.test('other start-up refusals name the flag', async (t) => {
  writeFileSync(join(dir, 'empty.tokens'), '# no tokens yet\n');
  const cases: [string[], RegExp][] = [
    [['--auth', 'token', '--listen', '127.0.0.1:0'], /--auth token needs --token-file FILE/],
    [['--auth', 'token', '--token-file', join(dir, 'empty.tokens')], /holds no token/],
    [['--auth', 'token', '--token-file', join(dir, 'missing.tokens')], /cannot read the token file/],
    [['--auth', 'kubernetes', '--kubeconfig', join(dir, 'missing.kubeconfig')], /cannot load the agent's kubeconfig/],
    [['--auth', 'sometimes'], /--auth must be one of kubernetes, token, none/],
    [['--tls-cert', join(dir, 'x.crt')], /HTTPS needs both --tls-cert and --tls-key/],
    [['--authz-resource', 'pods/$(id)'], /--authz-resource .* is not \[GROUP\/\]RESOURCE/],
    [['--rate-limit', 'lots'], /--rate-limit must be a whole number/],
  ];
  for (const [args, message] of cases) {
    const run = await runAgentToExit(args);
    t.equal(run.code, 2, args.join(' '));
    t.match(run.stderr, message, args.join(' '));
  }
});

const env = await requireDockerEnv(t, { jdk: true });
if (env) {
  const pki = makeTestPki(dir);
  const tokenFile = join(dir, 'agent.tokens');
  writeFileSync(tokenFile, `# user tokens\n${ALICE},alice,1001,"profilers"\n${CAROL},carol\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'alice.token'), `${ALICE}\n`, { mode: 0o600 });
  const jvms = new JvmContainers(env);
  t.teardown(() => jvms.cleanup());
  const shell = await jvms.startBusyShell();
  await jvms.waitForOutput(shell);

  const agent = await startAgentProcess([
    '--auth',
    'token',
    '--token-file',
    tokenFile,
    '--tls-cert',
    pki.certFile,
    '--tls-key',
    pki.keyFile,
    '--rate-limit',
    '6',
    '--listen',
    '127.0.0.1:0',
    '--node-name',
    `tls-${Math.random().toString(16).slice(2, 8)}`,
    '--capture-image',
    env.captureImage,
    '--docker-socket',
    env.socketPath,
  ]);
  t.teardown(() => agent.stop());
  const trusting = new UndiciAgent({ connect: { ca: readFileSync(pki.caFile) } });
  t.teardown(() => trusting.close());
  const get = async (path: string, token?: string) => {
    const res = await request(`${agent.url}${path}`, {
      dispatcher: trusting,
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text };
  };

  t.test('HTTPS: the URL is https, verified against the CA; plain HTTP and other CAs fail', async (t) => {
    t.match(agent.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    t.equal((await get('/healthz')).status, 200);
    await t.rejects(request(agent.url.replace('https:', 'http:') + '/healthz'), 'plain HTTP gets no answer');
    const untrusting = new UndiciAgent({ connect: { ca: readFileSync(pki.otherCaFile) } });
    await t.rejects(request(`${agent.url}/healthz`, { dispatcher: untrusting }), {
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
    await untrusting.close();
  });

  t.test('token mode: no token and a wrong token get 401, a listed token gets in', async (t) => {
    const none = await get('/v1/targets');
    t.equal(none.status, 401);
    t.match(none.text, /"code":"UNAUTHENTICATED".*no credentials/);
    const wrong = await get('/v1/targets', `${ALICE.slice(0, -1)}X`);
    t.equal(wrong.status, 401);
    t.match(wrong.text, /not in the agent token file/);
    const ok = await get('/v1/targets', ALICE);
    t.equal(ok.status, 200);
    t.ok((JSON.parse(ok.text) as { items: { containerId: string }[] }).items.some((i) => i.containerId === shell.id));
    // The line is written as the answer finishes; the child's stdout may arrive a moment after the answer.
    await waitFor(async () => agent.logs.some((l) => l.user === 'alice'), 30_000, 'the request log line', 200);
    const line = agent.logs.find((l) => l.msg === 'request' && l.user === 'alice' && l.path === '/v1/targets');
    t.equal(line?.auth, 'token');
    t.same(line?.groups, ['profilers']);
  });

  t.test('the DIST_CLI verifies the agent with --ca-file and sends --token-file', async (t) => {
    const out = join(dir, 'shell.folded');
    const cli = (extra: string[]) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [
          DIST_CLI,
          'profile',
          '--agent',
          agent.url,
          '--container-id',
          shell.id,
          '-d',
          '2',
          '--format',
          'folded',
          '-o',
          out,
          ...extra,
        ]);
        let stderr = '';
        child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        child.once('exit', (code) => resolve({ code, stderr }));
      });
    const ok = await cli(['--ca-file', pki.caFile, '--token-file', join(dir, 'alice.token')]);
    t.equal(ok.code, 0, ok.stderr);
    const folded = readFileSync(out, 'utf8');
    t.match(folded, /^sh;\S* \d+$/m, 'the busy shell was sampled');
    const untrusted = await cli(['--token-file', join(dir, 'alice.token')]);
    t.not(untrusted.code, 0, 'without the CA the agent is not trusted');
    t.match(untrusted.stderr, /certificate|verify/i);
    const anonymous = await cli(['--ca-file', pki.caFile]);
    t.not(anonymous.code, 0);
    t.match(anonymous.stderr, /no credentials/);
  });

  t.test('--rate-limit: each caller has a bucket of 6 requests a minute', async (t) => {
    for (let i = 1; i <= 6; i++) t.equal((await get('/v1/targets', CAROL)).status, 200, `request ${i}`);
    const limited = await get('/v1/targets', CAROL);
    t.equal(limited.status, 429);
    t.match(limited.text, /"code":"RATE_LIMITED".*at most 6 per minute/);
    const retryAfter = Number(limited.headers['retry-after']);
    t.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 10, `Retry-After ${retryAfter}`);
    t.equal((await get('/healthz', CAROL)).status, 200, 'probes are not limited');
    t.equal((await get('/v1/targets', ALICE)).status, 200, "another caller's bucket is untouched");
  });
}
