// Requests another site's page makes a browser send without an Origin (issue #13, N6): an `<img>` or a no-cors GET
// carries none, so the Origin guard lets it by, but its `Sec-Fetch-Site` says `cross-site` or `same-site`. On real
// agents over the in-memory engine: such `/v1` requests are refused 403 CROSS_SITE_REQUEST in every mode before any
// route or authentication runs, while programs (no header), the agent's own page (`same-origin`) and typed addresses
// (`none`) get in, and the probes and the page itself stay open. In headless Chromium, pages on two other loopback
// origins (another site, and the same site on another port) embedding the agent's graphs start no rendering, and
// the agent's own page still lists and draws them.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { RequestHandler } from 'express';
import { request } from 'undici';
import { Agent } from '../../agent/agent.js';
import type { AgentConfig } from '../../agent/config.js';
import { FakeRuntime, hexId, podContainer } from '../agent/fake-runtime.js';
import { memoryLogger, testConfig } from '../agent/http.js';
import { addContainer, profileOnDemand, startHistoryAgent, storeProfile } from '../web/fixture-agent.js';
import { launchChromium, requireChromium } from '../helpers/chromium.js';
import { waitFor } from '../helpers/wait-for.js';

const pod = { uid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c', name: 'shop-1', namespace: 'shop' };
const TOKEN = 'cross-site-token-0123456789';

/** Counts the requests that got past every guard and authentication to the routes. */
function routeCounter(): { middleware: RequestHandler; count: () => number } {
  let n = 0;
  return {
    middleware: (_req, _res, next) => {
      n++;
      next();
    },
    count: () => n,
  };
}

async function startAgent(t: Test, overrides: Partial<AgentConfig>, counter: RequestHandler) {
  const runtime = new FakeRuntime();
  runtime.containers = [podContainer(hexId('a1'), pod, 'app')];
  const agent = new Agent({
    config: testConfig(overrides),
    runtime,
    logger: memoryLogger().logger,
    app: { apiMiddleware: [counter] },
  });
  const { url } = await agent.start();
  t.teardown(() => agent.close());
  return url;
}

async function get(url: string, headers: Record<string, string>) {
  const res = await request(url, { headers });
  const text = await res.body.text();
  let code: string | undefined;
  let message = '';
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    code = body.error?.code;
    message = body.error?.message ?? '';
  } catch {
    // not JSON
  }
  return { status: res.statusCode, code, message };
}

t.test('Sec-Fetch-Site cross-site and same-site are refused on /v1 in every mode', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podflame-cross-site-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'tokens'), `${TOKEN},alice\n`);
  for (const mode of ['none', 'token'] as const) {
    const counter = routeCounter();
    const url = await startAgent(
      t,
      { auth: mode, ...(mode === 'token' ? { tokenFile: join(dir, 'tokens') } : {}) },
      counter.middleware,
    );
    const auth: Record<string, string> = mode === 'token' ? { authorization: `Bearer ${TOKEN}` } : {};
    for (const site of ['cross-site', 'same-site', 'Cross-Site']) {
      for (const path of ['/v1/targets', '/v1/flamegraph?namespace=shop', '/v1/openapi.json', '/v1/nothing']) {
        const r = await get(url + path, { ...auth, 'sec-fetch-site': site });
        t.equal(r.status, 403, `${mode}: ${site} ${path}: 403`);
        t.equal(r.code, 'CROSS_SITE_REQUEST', `${mode}: ${site} ${path}`);
      }
    }
    const refused = await get(`${url}/v1/targets`, { 'sec-fetch-site': 'cross-site' });
    t.match(refused.message, /Sec-Fetch-Site: cross-site/, 'the message says what the browser said');
    t.match(refused.message, /open the agent's page at \//, 'and what to do');
    t.equal(refused.code, 'CROSS_SITE_REQUEST', `${mode}: refused before authentication, even without a token`);
    t.equal(counter.count(), 0, `${mode}: no refused request reached a route`);

    for (const site of [undefined, 'same-origin', 'none']) {
      const r = await get(`${url}/v1/targets`, { ...auth, ...(site ? { 'sec-fetch-site': site } : {}) });
      t.equal(r.status, 200, `${mode}: Sec-Fetch-Site ${site ?? 'absent'}: 200`);
    }
    t.equal(counter.count(), 3, `${mode}: those three reached the route`);
    for (const path of ['/healthz', '/metrics', '/']) {
      const r = await get(url + path, { 'sec-fetch-site': 'cross-site' });
      t.equal(r.status, 200, `${mode}: ${path} is not /v1: a link from elsewhere still opens it`);
    }
  }
});

if (requireChromium(t, 'the cross-site browser test')) {
  t.test('in Chromium: other pages embedding the agent render nothing; its own page works', async (t) => {
    const counter = routeCounter();
    const h = await startHistoryAgent(t, { nodeName: 'node-a', app: { apiMiddleware: [counter.middleware] } });
    addContainer(h, pod, 'app', 'a1');
    const id = await profileOnDemand(t, h, pod, 'app');
    await storeProfile(h, pod, 'app', 'shop-hourly', Date.now() - 60_000);
    const reached = counter.count();
    const agent = h.url; // http://127.0.0.1:PORT
    const targets = [`/v1/profiles/${id}/flamegraph.svg`, '/v1/flamegraph?namespace=shop', '/v1/targets'];

    // Another site's page: <img> tags pointing at the agent, as any page on the web could carry.
    const other = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!doctype html><title>elsewhere</title>${targets.map((p) => `<img src="${agent}${p}">`).join('')}`);
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    t.teardown(() => new Promise<void>((resolve) => other.close(() => resolve())));
    const port = (other.address() as AddressInfo).port;

    const browser = await launchChromium(t);
    const refusals = () => h.logLines().filter((l) => l.msg === 'request' && l.outcome === 'CROSS_SITE_REQUEST');
    const refusedBefore = () => refusals().length;
    // localhost is another site than 127.0.0.1; 127.0.0.1 on another port is the same site, another origin.
    for (const [what, origin, site] of [
      ['another site', `http://localhost:${port}`, 'cross-site'],
      ['the same site on another port', `http://127.0.0.1:${port}`, 'same-site'],
    ] as const) {
      const before = refusedBefore();
      const page = await browser.newPage();
      await page.goto(`${origin}/`);
      await page.waitForFunction('[...document.images].every((i) => i.complete)');
      const images = await page.$$eval('img', (imgs) => imgs.map((i) => i.naturalWidth));
      t.same(images, [0, 0, 0], `${what}: no image loaded`);
      const fetched = await page.evaluate(
        async ({ base, paths }) =>
          Promise.all(
            paths.map(async (p) => {
              try {
                return (await fetch(base + p, { mode: 'no-cors' })).type;
              } catch (err) {
                return (err as Error).name;
              }
            }),
          ),
        { base: agent, paths: targets },
      );
      t.same(fetched, ['opaque', 'opaque', 'opaque'], `${what}: no-cors fetches sent (their answers unreadable)`);
      await waitFor(() => refusedBefore() - before >= 6, 60_000, `${what}: the agent to answer all six`);
      t.equal(refusedBefore() - before, 6, `${what}: all six refused as CROSS_SITE_REQUEST`);
      t.ok(
        refusals()
          .slice(before)
          .every((l) => String(l.error).includes(`Sec-Fetch-Site: ${site},`)),
        `${what}: Chromium said ${site}`,
      );
      t.equal(counter.count(), reached, `${what}: none reached a route, nothing rendered`);
      await page.close();
    }

    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`${agent}/`);
    await page.waitForSelector('#stored tbody tr');
    await page.waitForSelector(`#recent tr[data-key="recent:${id}"]`);
    await page.click('#stored tbody tr button.graph');
    const handle = await page.waitForSelector('#viewer-frame:not([hidden])');
    await waitFor(async () => (await handle.getAttribute('src'))?.startsWith('blob:') === true, 30_000, 'the graph');
    const frame = await handle.contentFrame();
    await frame?.waitForSelector('#frames > g');
    t.ok(counter.count() > reached + 3, `the agent's own page reached the routes (${counter.count() - reached})`);
    t.equal(await page.isHidden('#banner'), true, 'no error banner');
  });
}
