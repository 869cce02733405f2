// What a web page can make a browser do to an agent (issue #13, finding 4), on real agents over the in-memory engine:
// a `text/plain` POST (sent cross-site without a preflight) refused 415 before it is read; with `--auth none` a Host
// that is not a loopback name (DNS rebinding) refused 403; a foreign Origin refused 403 in every mode; and in
// headless Chromium the agent's own page still calls the API from its origin while another site's page starts nothing.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { request } from 'undici';
import { Agent } from '../../agent/agent.js';
import type { AgentConfig } from '../../agent/config.js';
import { hostOfHeader, isSameOrigin } from '../../agent/server/middleware/browser-guards.js';
import { FakeRuntime, hexId, podContainer } from '../agent/fake-runtime.js';
import { memoryLogger, testConfig } from '../agent/http.js';
import { launchChromium, requireChromium } from '../helpers/chromium.js';

const pod = { uid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c', name: 'shop-1', namespace: 'shop' };
const APP = hexId('a1');
const TOKEN = 'browser-guard-token-0123456789';
const CAPTURE = JSON.stringify({ target: { podUid: pod.uid, container: 'app' }, durationSeconds: 1 });

async function startAgent(t: Test, overrides: Partial<AgentConfig> = {}) {
  const runtime = new FakeRuntime();
  runtime.containers = [podContainer(APP, pod, 'app')];
  const log = memoryLogger();
  const agent = new Agent({ config: testConfig(overrides), runtime, logger: log.logger });
  const { url } = await agent.start();
  t.teardown(() => agent.close());
  return { url, runtime, port: Number(new URL(url).port), log };
}

interface Reply {
  status: number;
  code: string | undefined;
  message: string;
}

async function send(
  url: string,
  path: string,
  options: { method?: 'GET' | 'POST' | 'PUT'; headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  const res = await request(url + path, {
    method: options.method ?? 'GET',
    headers: options.headers ?? {},
    ...(options.body !== undefined ? { body: options.body } : {}),
  });
  const text = await res.body.text();
  let json: { error?: { code?: string; message?: string } } | undefined;
  try {
    json = JSON.parse(text) as typeof json;
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, code: json?.error?.code, message: json?.error?.message ?? '' };
}

t.test('Host and Origin parsing', async (t) => {
  t.equal(hostOfHeader('127.0.0.1:7070'), '127.0.0.1');
  t.equal(hostOfHeader('LocalHost'), 'localhost');
  t.equal(hostOfHeader('[::1]:7070'), '::1');
  t.equal(hostOfHeader('rebind.attacker.example:7070'), 'rebind.attacker.example');
  for (const bad of [undefined, '', 'evil@127.0.0.1', '127.0.0.1/x', '[nonsense]:1', '127.0.0.1:7070:1', 'a b']) {
    t.equal(hostOfHeader(bad), undefined, `${String(bad)} is not a Host`);
  }
  const at = (host: string) => ({ headers: { host } });
  t.ok(isSameOrigin('http://127.0.0.1:7070', at('127.0.0.1:7070')));
  t.ok(isSameOrigin('http://[::1]:7070', at('[::1]:7070')));
  t.ok(isSameOrigin('https://api.example:443', at('api.example')), 'the default port, written or not');
  t.ok(isSameOrigin('http://localhost', at('localhost:80')));
  t.notOk(isSameOrigin('http://localhost:7070', at('127.0.0.1:7070')), 'another name is another origin');
  t.notOk(isSameOrigin('http://127.0.0.1:8080', at('127.0.0.1:7070')), 'another port is another origin');
  t.notOk(isSameOrigin('null', at('127.0.0.1:7070')), 'a sandboxed frame');
  t.notOk(isSameOrigin('chrome-extension://abc', at('abc')));
});

t.test('--auth none: a text/plain POST starts nothing (415), JSON does', async (t) => {
  const { url, runtime } = await startAgent(t);
  const bodies: [string, Record<string, string>][] = [
    ['text/plain, as a page sends it without a preflight', { 'content-type': 'text/plain;charset=UTF-8' }],
    ['form encoding, as curl -d sends it', { 'content-type': 'application/x-www-form-urlencoded' }],
    ['multipart', { 'content-type': 'multipart/form-data; boundary=x' }],
    ['no content type at all', {}],
  ];
  for (const [what, headers] of bodies) {
    const r = await send(url, '/v1/profiles?async=1', { method: 'POST', headers, body: CAPTURE });
    t.equal(r.status, 415, `${what}: 415`);
    t.equal(r.code, 'UNSUPPORTED_MEDIA_TYPE', what);
    t.match(r.message, /send|Content-Type: application\/json/, what);
  }
  const schedule = await send(url, '/v1/schedules/x', {
    method: 'PUT',
    headers: { 'content-type': 'text/plain' },
    body: '{"cron": "* * * * *"}',
  });
  t.equal(schedule.code, 'UNSUPPORTED_MEDIA_TYPE', 'PUT /v1/schedules reads no text/plain body either');
  t.equal(runtime.runCaptureCalls, 0, 'no capture started');

  const json = await send(url, '/v1/profiles?async=1', {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: CAPTURE,
  });
  t.equal(json.status, 202, 'a JSON body starts the capture');
  t.equal(runtime.runCaptureCalls, 1);
});

t.test('--auth none: only loopback names reach the agent (DNS rebinding)', async (t) => {
  const { url, port, runtime } = await startAgent(t);
  for (const host of ['rebind.attacker.example', `rebind.attacker.example:${port}`, '192.168.1.10', 'localhost.evil']) {
    for (const path of ['/v1/targets', '/', '/metrics']) {
      const r = await send(url, path, { headers: { host } });
      t.equal(r.status, 403, `Host ${host} ${path}: 403`);
      t.equal(r.code, 'HOST_NOT_ALLOWED');
    }
  }
  const rebound = await send(url, '/v1/profiles?async=1', {
    method: 'POST',
    headers: { host: `rebind.attacker.example:${port}`, 'content-type': 'application/json' },
    body: CAPTURE,
  });
  t.equal(rebound.code, 'HOST_NOT_ALLOWED');
  t.match(rebound.message, /answers only requests addressed to a loopback name/);
  t.equal(runtime.runCaptureCalls, 0, 'no capture started');

  for (const host of [
    `127.0.0.1:${port}`,
    '127.0.0.1',
    `localhost:${port}`,
    'LOCALHOST',
    `[::1]:${port}`,
    '127.8.9.10',
  ]) {
    t.equal((await send(url, '/v1/targets', { headers: { host } })).status, 200, `Host ${host}: 200`);
  }
});

t.test('a foreign Origin is refused (403) in every mode; the own origin is not', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podflame-guards-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'tokens'), `${TOKEN},alice\n`);
  for (const mode of ['none', 'token'] as const) {
    const { url, port, runtime } = await startAgent(t, {
      auth: mode,
      ...(mode === 'token' ? { tokenFile: join(dir, 'tokens') } : {}),
    });
    const auth: Record<string, string> = mode === 'token' ? { authorization: `Bearer ${TOKEN}` } : {};
    for (const origin of ['https://attacker.example', 'null', `http://localhost:${port + 1}`]) {
      const r = await send(url, '/v1/profiles?async=1', {
        method: 'POST',
        headers: { ...auth, origin, 'content-type': 'application/json' },
        body: CAPTURE,
      });
      t.equal(r.status, 403, `${mode}: Origin ${origin} 403`);
      t.equal(r.code, 'FOREIGN_ORIGIN', mode);
      t.equal((await send(url, '/v1/targets', { headers: { ...auth, origin } })).code, 'FOREIGN_ORIGIN');
    }
    t.equal(runtime.runCaptureCalls, 0, `${mode}: no capture started`);
    const own = await send(url, '/v1/profiles?async=1', {
      method: 'POST',
      headers: { ...auth, origin: `http://127.0.0.1:${port}`, 'content-type': 'application/json' },
      body: CAPTURE,
    });
    t.equal(own.status, 202, `${mode}: the agent's own origin may`);
  }
});

if (requireChromium(t, 'the browser guard test')) {
  t.test('in Chromium: the own page calls the API, another site starts nothing', { timeout: 120_000 }, async (t) => {
    const { url, port, runtime, log } = await startAgent(t);
    // Another site on this machine: a page that tries to start a capture on the agent the way a page can.
    const attacker = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>elsewhere</title>');
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    t.teardown(() => new Promise<void>((resolve) => attacker.close(() => resolve())));
    const attackerUrl = `http://localhost:${(attacker.address() as AddressInfo).port}/`;

    const browser = await launchChromium(t);
    const other = await browser.newPage();
    await other.goto(attackerUrl);
    const tries = await other.evaluate(
      async ({ agent, body }) => {
        const out: string[] = [];
        for (const [what, path, init] of [
          [
            'text/plain no-cors',
            '/v1/profiles?async=1',
            { mode: 'no-cors', method: 'POST', headers: { 'content-type': 'text/plain' }, body },
          ],
          [
            'json cors',
            '/v1/profiles?async=1',
            { method: 'POST', headers: { 'content-type': 'application/json' }, body },
          ],
          ['get targets', '/v1/targets', { method: 'GET' }],
        ] as [string, string, RequestInit][]) {
          try {
            const res = await fetch(agent + path, init);
            out.push(`${what}: ${res.type} ${res.status}`);
          } catch (err) {
            out.push(`${what}: ${(err as Error).name}`);
          }
        }
        return out;
      },
      { agent: `http://127.0.0.1:${port}`, body: CAPTURE },
    );
    t.ok(tries.length === 3, tries.join('; '));
    t.equal(runtime.runCaptureCalls, 0, 'the other site started no capture');
    const page = await browser.newPage();
    await page.goto(`${url}/`);
    await page.waitForSelector('#recent');
    const own = await page.evaluate(async (body) => {
      const res = await fetch('/v1/profiles?async=1', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      return res.status;
    }, CAPTURE);
    t.equal(own, 202, 'the page the agent serves starts a capture from its own origin');
    t.equal(runtime.runCaptureCalls, 1);

    const refused = log
      .lines()
      .filter((l) => l.msg === 'request' && l.outcome === 'FOREIGN_ORIGIN')
      .map((l) => l.method);
    t.ok(refused.includes('POST'), `the agent refused the other site's POST as FOREIGN_ORIGIN (${refused.join(', ')})`);
  });
}
