// The headers of `/v1` answers (issue #13, N5), on a real agent over the in-memory engine with captures replaying
// real perf output and a real store: every SVG answer (POST /v1/profiles, /v1/profiles/:id/flamegraph.svg,
// /v1/flamegraph, /v1/diff) carries nosniff, no-referrer, DENY and a policy that allows its own inline code by hash
// and nothing else; every other /v1 answer, refusals included, a policy that allows nothing. In headless Chromium a
// graph opened directly stays interactive (search, hover, zoom) under its policy, and a script added to its body is
// blocked.
import t, { type Test } from 'tap';
import type { Page } from 'playwright-core';
import {
  agentFlameGraphSamples,
  contentSecurityPolicies,
  cspHash,
  inlineCodeOf,
} from '../../agent/server/web/content-security-policy.js';
import { call, type Answer } from '../agent/http.js';
import { PERF_SCRIPT, addContainer, profileOnDemand, startHistoryAgent, storeProfile } from '../web/fixture-agent.js';
import type { HistoryAgent } from '../history/agent-harness.js';
import { launchChromium, requireChromium } from '../helpers/chromium.js';
import { waitFor } from '../helpers/wait-for.js';

const shop = { uid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c', name: 'shop-7d9f', namespace: 'shop' };
const POLICIES = contentSecurityPolicies(agentFlameGraphSamples());

function directives(policy: string): Map<string, string[]> {
  return new Map(
    policy.split(';').map((d) => {
      const [name, ...values] = d.trim().split(/\s+/);
      return [name as string, values];
    }),
  );
}

/** An agent with one on-demand profile and two stored ones; the paths of its SVG answers. */
async function agentWithGraphs(t: Test): Promise<{ h: HistoryAgent; id: string; graphs: Record<string, string> }> {
  const h = await startHistoryAgent(t, { nodeName: 'node-a' });
  addContainer(h, shop, 'app', 'a1');
  const id = await profileOnDemand(t, h, shop, 'app');
  await storeProfile(h, shop, 'app', 'shop-hourly', Date.now() - 60_000);
  await storeProfile(h, shop, 'app', 'shop-hourly', Date.now() - 120_000);
  return {
    h,
    id,
    graphs: {
      'an on-demand graph': `/v1/profiles/${id}/flamegraph.svg`,
      'a merged graph': '/v1/flamegraph?namespace=shop',
      'a differential graph':
        '/v1/diff?namespace=shop&baseFrom=now-1h&baseTo=now-90s&targetFrom=now-90s&targetTo=now&normalize=false',
    },
  };
}

function checkProtective(t: Test, what: string, a: Answer): void {
  t.equal(a.headers['x-content-type-options'], 'nosniff', `${what}: nosniff`);
  t.equal(a.headers['x-frame-options'], 'DENY', `${what}: DENY`);
  t.equal(a.headers['referrer-policy'], 'no-referrer', `${what}: no-referrer`);
}

/** An SVG answer: the protective headers, and a policy that allows exactly its own inline code. */
function checkGraphAnswer(t: Test, what: string, a: Answer): void {
  t.equal(a.status, 200, `${what}: ${a.status} ${a.text.slice(0, 200)}`);
  t.match(a.headers['content-type'], /^image\/svg\+xml/, `${what}: SVG`);
  checkProtective(t, what, a);
  const policy = a.headers['content-security-policy'] ?? '';
  t.equal(policy, POLICIES.flameGraph, `${what}: the flame graph policy`);
  const csp = directives(policy);
  t.same(csp.get('default-src'), ["'none'"], `${what}: nothing by default`);
  t.same(csp.get('frame-ancestors'), ["'none'"], `${what}: not framed`);
  const scripts = new Set(csp.get('script-src'));
  const styles = new Set(csp.get('style-src'));
  t.notOk(
    [...scripts, ...styles].some((s) => s === "'self'" || s === "'unsafe-inline'" || s === "'unsafe-eval'"),
    `${what}: no source but hashes`,
  );
  const code = inlineCodeOf(a.text);
  t.ok(code.scripts.length === 1 && code.styles.length === 1, `${what}: one script, one style sheet`);
  t.ok(
    [...code.scripts, ...code.handlers].every((s) => scripts.has(cspHash(s))),
    `${what}: its script and handler are allowed`,
  );
  t.ok(
    code.styles.every((s) => styles.has(cspHash(s))),
    `${what}: its style sheet is allowed`,
  );
}

t.test('every SVG answer carries the flame graph policy and the protective headers', async (t) => {
  const { h, graphs } = await agentWithGraphs(t);
  for (const [what, path] of Object.entries(graphs)) checkGraphAnswer(t, what, await call(h.url, 'GET', path));
  for (const render of [{}, { inverted: true }]) {
    const before = h.runtime.captures.length;
    const answer = call(h.url, 'POST', '/v1/profiles', {
      target: { podUid: shop.uid, container: 'app' },
      durationSeconds: 1,
      render,
    });
    await waitFor(() => h.runtime.captures.length > before, 60_000, 'the capture');
    h.runtime.captures[before]!.finish({ exitCode: 0, output: PERF_SCRIPT });
    checkGraphAnswer(t, `POST /v1/profiles ${JSON.stringify(render)}`, await answer);
  }
});

t.test('every other /v1 answer, refusals included, allows nothing', async (t) => {
  const { h, id } = await agentWithGraphs(t);
  const answers: [string, Promise<Answer>][] = [
    ['targets', call(h.url, 'GET', '/v1/targets')],
    ['profile metadata', call(h.url, 'GET', `/v1/profiles/${id}`)],
    ['folded text', call(h.url, 'GET', `/v1/profiles/${id}/folded`)],
    ['recent profiles', call(h.url, 'GET', '/v1/profiles/recent')],
    ['stored profiles', call(h.url, 'GET', '/v1/profiles')],
    ['the OpenAPI document', call(h.url, 'GET', '/v1/openapi.json')],
    ['schedules', call(h.url, 'GET', '/v1/schedules')],
    ['a merged graph as pprof', call(h.url, 'GET', '/v1/flamegraph?namespace=shop&format=pprof')],
    ['a merged graph as folded text', call(h.url, 'GET', '/v1/flamegraph?namespace=shop&format=folded')],
    ['an unknown profile (404)', call(h.url, 'GET', '/v1/profiles/nothing/flamegraph.svg')],
    ['an unknown route (404)', call(h.url, 'GET', '/v1/nothing')],
    [
      'a text/plain body (415)',
      call(h.url, 'POST', '/v1/profiles', undefined, { raw: '{}', contentType: 'text/plain' }),
    ],
  ];
  for (const [what, pending] of answers) {
    const a = await pending;
    t.notMatch(a.headers['content-type'], /svg|html/, `${what}: ${a.status} ${a.headers['content-type']}`);
    checkProtective(t, what, a);
    t.equal(a.headers['content-security-policy'], POLICIES.api, `${what}: the policy that allows nothing`);
  }
  t.equal(POLICIES.api, "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  // A refusal by a guard that runs before any route: a foreign Origin.
  const { request } = await import('undici');
  const refused = await request(`${h.url}/v1/targets`, { headers: { origin: 'https://attacker.example' } });
  await refused.body.text();
  t.equal(refused.statusCode, 403);
  t.equal(refused.headers['content-security-policy'], POLICIES.api, 'FOREIGN_ORIGIN: the policy that allows nothing');
  t.equal(refused.headers['x-content-type-options'], 'nosniff');
  // Outside /v1 the page keeps its own policy.
  t.equal((await call(h.url, 'GET', '/')).headers['content-security-policy'], POLICIES.page, 'the page: its own');
});

/** The viewer of the graph in `page` runs: init() ran, hover shows details, a click zooms. */
async function checkViewer(t: Test, page: Page, what: string): Promise<void> {
  await page.waitForSelector('#frames > g');
  t.equal(await page.evaluate('typeof fgState'), 'object', `${what}: the viewer's init() ran`);
  const frames = await page.$$eval('#frames > g', (gs) =>
    gs.map((g) => ({
      title: g.querySelector('title')?.textContent ?? '',
      width: Number(g.querySelector('rect')?.getAttribute('width')),
    })),
  );
  const widest = Math.max(...frames.map((f) => f.width));
  // A frame narrower than the root: a click on one at full width would reset the zoom instead.
  const index = frames.findIndex((f) => /^Shop\./.test(f.title) && f.width > 20 && f.width < widest * 0.9);
  t.ok(index >= 0, `${what}: a Shop frame to zoom into (${frames.length} frames)`);
  const group = `#frames > g:nth-child(${index + 1})`;
  await page.hover(group);
  t.equal(await page.textContent('#details'), `Function: ${frames[index]?.title}`, `${what}: hover shows the details`);
  await page.click(group);
  t.notOk(await page.getAttribute('#unzoom', 'class'), `${what}: a click zooms ("Reset Zoom" shows)`);
}

if (requireChromium(t, 'the answer headers browser test')) {
  t.test('in Chromium: graphs opened directly run their viewer, and only it', { timeout: 120_000 }, async (t) => {
    const { h, graphs } = await agentWithGraphs(t);
    const browser = await launchChromium(t);
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const cspReports: string[] = [];
    const pageErrors: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspReports.push(m.text());
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));

    for (const [what, path] of Object.entries(graphs)) {
      const answer = await page.goto(h.url + path);
      t.equal(answer?.status(), 200, `${what}: opened`);
      t.equal(answer?.headers()['content-security-policy'], POLICIES.flameGraph, `${what}: under its policy`);
      await checkViewer(t, page, what);
    }

    await t.test('search, from the URL and from the Search button', async (t) => {
      const path = graphs['an on-demand graph'] as string;
      await page.goto(`${h.url}${path}?s=${encodeURIComponent('^Shop\\.')}`);
      await page.waitForSelector('#frames > g');
      t.match(await page.textContent('#matched'), /^Matched: \d+(\.\d)?%$/, 'a search term in the URL is searched');
      await page.click('#search'); // "Reset Search"
      t.equal(await page.textContent('#search'), 'Search', 'reset');
      page.once('dialog', (d) => void d.accept('Shop'));
      await page.click('#search');
      t.match(await page.textContent('#matched'), /^Matched: \d+(\.\d)?%$/, 'the prompt searches');
      t.match(page.url(), /[?&]s=Shop/, 'and the term goes into the URL');
    });

    t.same(cspReports, [], 'no policy refusals for the graphs themselves');
    t.same(pageErrors, [], 'no script errors');

    await t.test('a script added to an answer is blocked by its policy', async (t) => {
      // The agent's own answer, headers and all, with a script and an event handler put into the body: what an
      // escaping bug in the renderer would let a frame name do.
      const path = graphs['an on-demand graph'] as string;
      const matches = (u: URL) => u.pathname === path;
      await page.route(matches, async (route) => {
        const response = await route.fetch();
        const svg = await response.text();
        const injected = svg.replace(
          '</svg>',
          '<script type="text/ecmascript">window.__injected = "script";</script>' +
            '<rect id="trap" width="5" height="5" onclick="window.__injected = \'handler\'"/></svg>',
        );
        t.not(injected, svg, 'the body was changed');
        await route.fulfill({ response, body: injected });
      });
      await page.goto(h.url + path);
      await page.waitForSelector('#frames > g');
      await page.dispatchEvent('#trap', 'click');
      t.equal(await page.evaluate('typeof window.__injected'), 'undefined', 'neither the script nor the handler ran');
      t.equal(await page.evaluate('typeof fgState'), 'object', 'the viewer itself still ran');
      await waitFor(() => cspReports.length >= 2, 5000, 'the refusals to be reported');
      t.ok(
        cspReports.every((r) =>
          /inline (script|event handler).*violates the following Content Security Policy/.test(r),
        ),
        `Chromium refused them: ${cspReports.join(' | ').slice(0, 400)}`,
      );
      await page.unroute(matches);
    });
  });
}
