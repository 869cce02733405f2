/**
 * The web page over plain HTTP, on a real agent app over the in-memory engine with captures replaying real perf
 * output: `GET /` and its files (content types, the Content-Security-Policy, no inline code, relative URLs only),
 * `GET /v1/profiles/recent` (order, fields, running and failed profiles, authorization, its schema), the policy's
 * hashes against every SVG the agent serves, and the one-profile query the page makes for a stored graph.
 */
import { Script } from 'node:vm';
import t from 'tap';
import { Ajv } from 'ajv';
import { Agent } from '../../agent/agent.js';
import { agentOpenApiDocument } from '../../agent/server/openapi.js';
import { WEB_ASSETS } from '../../agent/server/web/assets.js';
import {
  agentFlameGraphSamples,
  contentSecurityPolicies,
  cspHash,
  inlineCodeOf,
} from '../../agent/server/web/content-security-policy.js';
import type { ProfileMetadata, ResolvedTarget } from '../../shared/api.js';
import { PodflameError } from '../../shared/errors.js';
import { FakeRuntime, hexId, podContainer } from '../agent/fake-runtime.js';
import { call, memoryLogger, testConfig } from '../agent/http.js';
import { PERF_SCRIPT, addContainer, profileOnDemand, startHistoryAgent, storeProfile } from './fixture-agent.js';
import { waitFor } from '../helpers/wait-for.js';
import { testProfileWorker } from '../helpers/profile-worker.js';

const shop = { uid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c', name: 'shop-7d9f', namespace: 'shop' };
const billing = { uid: '9a8f1d2e-5b7d-4c1e-3f1c-2a9e3f4a5b6c', name: 'billing-0', namespace: 'billing' };

function directives(policy: string): Map<string, string[]> {
  return new Map(
    policy.split(';').map((d) => {
      const [name, ...values] = d.trim().split(/\s+/);
      return [name as string, values];
    }),
  );
}

t.test('GET / and its files', async (t) => {
  const h = await startHistoryAgent(t);
  const page = await call(h.url, 'GET', '/');
  t.equal(page.status, 200);
  t.match(page.headers['content-type'], /^text\/html; charset=utf-8/);
  const policy = page.headers['content-security-policy'] as string;
  t.ok(policy, 'a Content-Security-Policy header');
  const csp = directives(policy);
  t.same(csp.get('default-src'), ["'none'"]);
  t.same(csp.get('connect-src'), ["'self'"], 'data only from the agent');
  t.same(csp.get('frame-src'), ['blob:'], 'frames only from the graphs the page fetched');
  t.same(csp.get('frame-ancestors'), ["'none'"]);
  t.same(csp.get('base-uri'), ["'none'"]);
  t.same(csp.get('form-action'), ["'none'"]);
  const scriptSrc = csp.get('script-src') ?? [];
  t.equal(scriptSrc[0], "'self'");
  t.notOk(
    scriptSrc.some((s) => s === "'unsafe-inline'" || s === "'unsafe-eval'" || s === '*' || s.endsWith(':')),
    `no inline or foreign script: ${scriptSrc.join(' ')}`,
  );
  t.ok(
    scriptSrc.slice(1).every((s) => s === "'unsafe-hashes'" || /^'sha256-[A-Za-z0-9+/]{43}='$/.test(s)),
    'beyond self, only hashes',
  );
  t.notOk((csp.get('style-src') ?? []).includes("'unsafe-inline'"));
  t.equal(page.headers['x-content-type-options'], 'nosniff');
  t.equal(page.headers['x-frame-options'], 'DENY');
  t.equal(page.headers['referrer-policy'], 'no-referrer');

  // No inline code in the page itself: its scripts and styles come from its own files.
  const html = page.text;
  t.same(
    [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)].map((m) => [m[1]?.trim(), m[2]]),
    [[`src="${WEB_ASSETS.script.path.slice(1)}" defer`, '']],
    'one script element, from the page script file',
  );
  t.notMatch(html, /<style\b|\sstyle=|\son[a-z]+=/i, 'no inline style or event handler');
  // Relative URLs only (the page also works under the API server's pod proxy prefix).
  const urls = [...html.matchAll(/\s(?:href|src)="([^"]*)"/g)].map((m) => m[1] as string);
  t.ok(urls.length >= 5, `${urls.length} URLs`);
  t.ok(
    urls.every((u) => !u.startsWith('/') && !/^[a-z]+:\/\//i.test(u)),
    `all relative: ${urls.join(' ')}`,
  );

  for (const asset of Object.values(WEB_ASSETS)) {
    const res = await call(h.url, 'GET', asset.path);
    t.equal(res.status, 200, asset.path);
    t.equal(res.headers['content-type'], asset.contentType);
    t.equal(res.headers['content-security-policy'], policy);
    t.equal(res.text, asset.body);
  }
  t.doesNotThrow(() => new Script(WEB_ASSETS.script.body, { filename: 'podflame.js' }), 'the page script parses');
  const head = await call(h.url, 'GET', '/ui/nothing.js');
  t.equal(head.status, 404, 'other paths stay JSON 404s');
  t.equal(head.json.error.code, 'ROUTE_NOT_FOUND');
});

t.test('GET /v1/profiles/recent', async (t) => {
  const h = await startHistoryAgent(t, { nodeName: 'node-a' });
  const empty = await call(h.url, 'GET', '/v1/profiles/recent');
  t.equal(empty.status, 200);
  t.same(empty.json, { node: 'node-a', items: [] });

  addContainer(h, shop, 'app', 'a1');
  addContainer(h, billing, 'app', 'b2');
  const first = await profileOnDemand(t, h, shop, 'app');
  // ids order only by time to the second (startedAt is ms); keep the two apart.
  await new Promise((r) => setTimeout(r, 5));
  const second = await profileOnDemand(t, h, billing, 'app');
  const list = await call(h.url, 'GET', '/v1/profiles/recent');
  t.equal(list.status, 200);
  const items = list.json.items as ProfileMetadata[];
  t.same(
    items.map((i) => i.id),
    [second, first],
    'newest first',
  );
  const one = items[1] as ProfileMetadata;
  t.match(one, {
    id: first,
    status: 'done',
    node: 'node-a',
    target: { containerId: hexId('a1'), podUid: shop.uid, podName: shop.name, namespace: 'shop', containerName: 'app' },
    durationSeconds: 2,
    frequencyHz: 49,
    warnings: [],
  });
  t.ok(one.samples > 100, `${one.samples} samples from the recorded capture`);
  t.ok(Date.parse(one.finishedAt as string) >= Date.parse(one.startedAt));
  t.same(one, (await call(h.url, 'GET', `/v1/profiles/${first}`)).json, 'each item is what GET /v1/profiles/:id says');

  // A running one is listed as running; a failed one with its error.
  const running = await call(h.url, 'POST', '/v1/profiles?async=1', { target: { podUid: shop.uid, container: 'app' } });
  await waitFor(() => h.runtime.captures.length === 3, 60_000, 'the third capture');
  let now = (await call(h.url, 'GET', '/v1/profiles/recent')).json.items as ProfileMetadata[];
  t.match(now[0], { id: running.json.id, status: 'running' });
  h.runtime.captures[2]!.finish({ exitCode: 3, stderrTail: 'podflame-capture: no processes found\n' });
  await waitFor(() => h.agent.registry.get(running.json.id)?.metadata.status === 'failed', 60_000, 'the failure');
  now = (await call(h.url, 'GET', '/v1/profiles/recent')).json.items as ProfileMetadata[];
  t.match(now[0], { id: running.json.id, status: 'failed', error: { code: String } });

  const validate = new Ajv({ strict: false, allErrors: true, validateFormats: false })
    .addSchema({ $id: 'openapi', components: (agentOpenApiDocument() as { components: object }).components })
    .compile({ $ref: 'openapi#/components/schemas/RecentProfilesResponse' });
  t.ok(validate(list.json), `matches the OpenAPI schema ${JSON.stringify(validate.errors)}`);
  t.notOk(validate({ node: 'n', items: [{ id: 'x' }] }), 'the schema rejects an incomplete item');

  const bad = await call(h.url, 'GET', '/v1/profiles/recent?limit=5');
  t.equal(bad.status, 400);
  t.match(bad.json.error, { code: 'INVALID_REQUEST', message: /limit/ });
  const post = await call(h.url, 'POST', '/v1/profiles/recent', {});
  t.equal(post.status, 404, 'only GET');
});

t.test('the recent list shows a caller only the profiles they may read', async (t) => {
  const runtime = new FakeRuntime();
  runtime.images.add('podflame-perf:latest');
  runtime.containers = [podContainer(hexId('a1'), shop, 'app'), podContainer(hexId('b2'), billing, 'app')];
  for (const c of runtime.containers) runtime.processes.set(c.id, ['java -cp /app Shop']);
  const checked: string[] = [];
  let apiServerDown = false;
  const agent = new Agent({
    worker: testProfileWorker(),
    config: testConfig({ nodeName: 'node-a' }),
    runtime,
    logger: memoryLogger().logger,
    app: {
      authorizeTarget: async (req, target: ResolvedTarget) => {
        // Captures are allowed; reads follow the rule the caller's header names (a stand-in for RBAC).
        if (req.method === 'POST') return;
        checked.push(target.namespace ?? '');
        if (apiServerDown) throw new PodflameError('KUBERNETES_API_ERROR', 'the API server did not answer');
        if (target.namespace === 'billing') throw new PodflameError('FORBIDDEN', 'not billing');
      },
    },
  });
  const { url } = await agent.start();
  t.teardown(() => agent.close());
  for (const [i, pod] of [shop, billing, shop].entries()) {
    const res = await call(url, 'POST', '/v1/profiles?async=1', { target: { podUid: pod.uid, container: 'app' } });
    t.equal(res.status, 202);
    await waitFor(() => runtime.captures.length > i, 60_000, 'the capture');
    runtime.captures[i]!.finish({ exitCode: 0, output: PERF_SCRIPT });
    await waitFor(() => agent.registry.get(res.json.id)?.metadata.status === 'done', 60_000, 'done');
  }
  const list = await call(url, 'GET', '/v1/profiles/recent');
  t.equal(list.status, 200);
  t.same(
    (list.json.items as ProfileMetadata[]).map((i) => i.target.namespace),
    ['shop', 'shop'],
    'the billing profile is left out',
  );
  t.same(checked.sort(), ['billing', 'shop'], 'one decision per target, not per profile');
  apiServerDown = true;
  const down = await call(url, 'GET', '/v1/profiles/recent');
  t.equal(down.status, 502, 'an authorizer that cannot answer is an error, not an empty list');
  t.equal(down.json.error.code, 'KUBERNETES_API_ERROR');
});

t.test('the policy allows exactly the inline code of the SVGs the agent serves', async (t) => {
  const h = await startHistoryAgent(t, { nodeName: 'node-a' });
  addContainer(h, shop, 'app', 'a1');
  const policy = (await call(h.url, 'GET', '/')).headers['content-security-policy'] as string;
  const allowed = new Set(directives(policy).get('script-src'));
  const styles = new Set(directives(policy).get('style-src'));
  const check = (what: string, svg: string) => {
    const code = inlineCodeOf(svg);
    t.equal(code.scripts.length, 1, `${what}: one script`);
    t.equal(code.styles.length, 1, `${what}: one style sheet`);
    t.same(code.handlers, ['init(evt)'], `${what}: one event handler`);
    t.ok(
      [...code.scripts, ...code.handlers].every((s) => allowed.has(cspHash(s))),
      `${what}: its script and handler are allowed`,
    );
    t.ok(
      code.styles.every((s) => styles.has(cspHash(s))),
      `${what}: its style sheet is allowed`,
    );
  };
  const id = await profileOnDemand(t, h, shop, 'app');
  check('an on-demand graph', (await call(h.url, 'GET', `/v1/profiles/${id}/flamegraph.svg`)).text);
  // Every render option a request may set.
  for (const render of [
    { inverted: true },
    { reverse: true, hash: true, colors: 'hot', width: 800, minwidth: '0.5%', title: 'x', subtitle: 'y' },
    { inverted: true, reverse: true, colors: 'mem', width: 3000, minwidth: 2 },
  ]) {
    const sync = h.runtime.captures.length;
    const answer = call(h.url, 'POST', '/v1/profiles', { target: { podUid: shop.uid, container: 'app' }, render });
    await waitFor(() => h.runtime.captures.length > sync, 60_000, 'the capture');
    h.runtime.captures[sync]!.finish({ exitCode: 0, output: PERF_SCRIPT });
    const svg = await answer;
    t.equal(svg.status, 200);
    check(`render ${JSON.stringify(render)}`, svg.text);
  }
  const stored = await storeProfile(h, shop, 'app', 'shop-hourly', Date.now() - 60_000);
  await storeProfile(h, shop, 'app', 'shop-hourly', Date.now() - 120_000);
  check('a merged graph', (await call(h.url, 'GET', '/v1/flamegraph?namespace=shop')).text);
  check(
    'a differential graph',
    (
      await call(
        h.url,
        'GET',
        `/v1/diff?namespace=shop&baseFrom=now-1h&baseTo=now-90s&targetFrom=now-90s&targetTo=now&normalize=false`,
      )
    ).text,
  );

  // The page's query for one stored profile: its pod, container and schedule, from its start to 1 ms later.
  const q = new URLSearchParams({
    namespace: stored.namespace,
    pod: stored.pod,
    container: stored.container,
    schedule: stored.schedule as string,
    from: stored.start,
    to: new Date(Date.parse(stored.start) + 1).toISOString(),
  });
  const one = await call(h.url, 'GET', `/v1/flamegraph?${q.toString()}`);
  t.equal(one.status, 200);
  t.equal(one.headers['x-podflame-profiles'], '1', 'exactly that profile');
  t.equal(one.headers['x-podflame-samples'], String(stored.samples));
  check('one stored profile', one.text);

  // A script the policy does not know is not allowed: the check above can fail.
  const altered = inlineCodeOf(one.text).scripts[0] + '\n// changed';
  t.notOk(allowed.has(cspHash(altered)));
  t.equal(
    contentSecurityPolicies(agentFlameGraphSamples()).page,
    policy,
    'the served policy is the one built from the samples',
  );
});
