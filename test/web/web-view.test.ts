/**
 * The web page's view of the store in headless Chromium, against a real agent (real Agent, real store, the in-memory
 * engine: fixture-agent.ts) holding stored profiles of several namespaces, pods, schedules, events and ages: the
 * time range (presets and custom) and the filters change the list; the merged graph of the selection and the diff of
 * the range against the period before it render; an 800 px wide window shows a graph fitted to its width with
 * nothing over its title; a tall graph opens scrolled to its root; a running capture says that it is running.
 * Screenshots go to /tmp/webview-*.png (PODFLAME_SCREENSHOTS=DIR elsewhere).
 */
import { join } from 'node:path';
import t from 'tap';
import type { Browser, Frame, Page } from 'playwright-core';
import type { FoldedStacks } from '../../shared/folded.js';
import type { ProfileEvent } from '../../shared/profile-events.js';
import { launchChromium, requireChromium } from '../helpers/chromium.js';
import { hexId } from '../agent/fake-runtime.js';
import { call } from '../agent/http.js';
import { waitFor } from '../helpers/wait-for.js';
import { FOLDED, addContainer, startHistoryAgent, type Pod } from './fixture-agent.js';
import type { HistoryAgent } from '../history/agent-harness.js';

const SHOTS = process.env.PODFLAME_SCREENSHOTS ?? '/tmp';
const MIN = 60_000;

const shop1: Pod = { uid: '0b6f1c2a-1111-4c1e-9a8f-1d2e3f4a5b01', name: 'shop-1', namespace: 'shop' };
const shop2: Pod = { uid: '0b6f1c2a-2222-4c1e-9a8f-1d2e3f4a5b02', name: 'shop-2', namespace: 'shop' };
const pay1: Pod = { uid: '0b6f1c2a-3333-4c1e-9a8f-1d2e3f4a5b03', name: 'pay-1', namespace: 'pay' };
const deep1: Pod = { uid: '0b6f1c2a-4444-4c1e-9a8f-1d2e3f4a5b04', name: 'deep-1', namespace: 'deep' };

/** Shop.java's capture with a method that appears only after a release: what a diff shows red. */
const AFTER: FoldedStacks = new Map([...FOLDED, ['java;start_thread;Shop.main_[j];Shop.newFeature_[j]', 400]]);

/** 120 frames deep: a graph far taller than the window. */
const DEEP: FoldedStacks = new Map([
  [['java', ...Array.from({ length: 120 }, (_, i) => `Deep.level${i}_[j]`)].join(';'), 300],
  ['java;Deep.shallow_[j]', 100],
]);

function store(
  h: HistoryAgent,
  pod: Pod,
  schedule: string | null,
  startMs: number,
  stacks: FoldedStacks,
  event: ProfileEvent = 'cpu',
) {
  return h.history.store.put({
    startMs,
    namespace: pod.namespace,
    pod: pod.name,
    container: 'app',
    node: 'node-a',
    durationSeconds: 5,
    frequencyHz: 99,
    warnings: [],
    schedule,
    podUid: pod.uid,
    containerId: hexId('5e'),
    labels: { app: pod.name },
    stacks,
    event,
  });
}

/** The pods of the stored table's rows, top to bottom. */
function listedPods(page: Page): Promise<string[]> {
  return page.$$eval('#stored tbody tr .target .pod', (cells) => cells.map((c) => c.textContent ?? ''));
}

/** Waits until the stored table lists exactly `pods` (in any order); returns them as listed. */
async function waitForList(page: Page, pods: string[]): Promise<string[]> {
  const want = pods.slice().sort().join(',');
  let last: string[] = [];
  try {
    await waitFor(
      async () => {
        last = (await page.isHidden('#stored table')) ? [] : await listedPods(page);
        return last.slice().sort().join(',') === want;
      },
      10_000,
      `the list ${want}`,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}; listed: ${last.join(',') || 'nothing'}`, { cause: e });
  }
  return last;
}

/** Waits for the viewer's frame to hold a drawn graph, fitted and scrolled (the page's load handler has run). */
async function openedGraph(page: Page): Promise<Frame> {
  const handle = await page.waitForSelector('#viewer-frame:not([hidden])');
  await waitFor(async () => (await handle.getAttribute('src'))?.startsWith('blob:') === true, 30_000, 'the blob');
  const frame = await handle.contentFrame();
  if (!frame) throw new Error('the viewer has no frame');
  await frame.waitForSelector('#frames > g');
  // The page sizes the frame (an inline height) when the graph has loaded: the sign that its load handler ran.
  await waitFor(
    async () => (await page.evaluate<string>("document.getElementById('viewer-frame').style.height")) !== '',
    10_000,
    'the fit',
  );
  return frame;
}

/** Opens the graph of the stored profile of `pod` (the first such row) with its own button. */
async function openStored(page: Page, pod: string): Promise<Frame> {
  const pods = await listedPods(page);
  const row = pods.indexOf(pod);
  if (row < 0) throw new Error(`no row of ${pod} in ${pods.join(',')}`);
  await page.click(`#stored tbody tr:nth-child(${row + 1}) button.graph`);
  return openedGraph(page);
}

/** A rectangle of the graph in the page's viewport coordinates (the frame's offset plus its place in the frame). */
async function inPage(page: Page, frame: Frame, selector: string) {
  const box = await (await frame.waitForSelector(selector)).boundingBox();
  if (!box) throw new Error(`${selector} is not drawn`);
  // boundingBox() is already in the main page's viewport coordinates (Playwright adds the frame's offset).
  const scrollY = await page.evaluate<number>('window.scrollY');
  return { ...box, bottom: box.y + box.height, scrollY };
}

if (requireChromium(t, 'the web view test')) {
  t.test('the web view of the store', { timeout: 180_000 }, async (t) => {
    const h = await startHistoryAgent(t);
    const now = Date.now();
    await store(h, shop1, 'checkout', now - 5 * MIN, AFTER);
    await store(h, shop1, 'checkout', now - 70 * MIN, FOLDED);
    await store(h, shop2, 'nightly', now - 180 * MIN, FOLDED);
    await store(h, deep1, 'deep', now - 10 * MIN, DEEP);
    // Another namespace's schedule of the same name, and of another event.
    await store(h, pay1, 'checkout', now - 3 * 24 * 60 * MIN, FOLDED, 'alloc');

    const browser: Browser = await launchChromium(t);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const pageErrors: string[] = [];
    const policyReports: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) policyReports.push(m.text());
    });
    await page.goto(`${h.url}/`);

    await t.test('a running capture says it is running', async (t) => {
      addContainer(h, shop1, 'app', 'a1');
      const res = await call(h.url, 'POST', '/v1/profiles?async=1', {
        target: { podUid: shop1.uid, container: 'app' },
        durationSeconds: 2,
        frequencyHz: 49,
      });
      t.equal(res.status, 202, res.text);
      await waitFor(() => h.runtime.captures.length > 0, 60_000, 'the capture to start');
      t.teardown(() => h.runtime.captures[0]?.finish({ exitCode: 0, output: '' }));
      await page.click('#refresh');
      await page.waitForSelector('#recent tbody tr');
      const total = await page.textContent('#recent tbody tr:nth-child(1) td:nth-child(7)');
      t.equal(total, 'running…', 'not a total of 0');
      await page.screenshot({ path: join(SHOTS, 'webview-running.png') });
    });

    await t.test('an 800 px window shows the graph fitted, nothing over its title', async (t) => {
      const narrow = await browser.newPage({ viewport: { width: 800, height: 900 } });
      narrow.on('pageerror', (e) => pageErrors.push(e.message));
      await narrow.goto(`${h.url}/`);
      await waitForList(narrow, ['shop/shop-1', 'shop/shop-1', 'deep/deep-1', 'shop/shop-2']);
      const frame = await openStored(narrow, 'shop/shop-2');
      // Expressions as text: this program has no DOM types (the browser's are its own).
      const sizes = await narrow.evaluate<{ page: number; window: number; frame: number }>(
        "({ page: document.documentElement.scrollWidth, window: window.innerWidth, frame: document.getElementById('viewer-frame').clientWidth })",
      );
      t.ok(sizes.page <= sizes.window, `no sideways scrolling: the page is ${sizes.page} px wide`);
      // In a window narrower than the tables, they scroll sideways in their cards: every row's button stays in view.
      await narrow.setViewportSize({ width: 600, height: 900 });
      const buttons = await narrow.evaluate<number[]>(
        "[...document.querySelectorAll('#stored tbody button.graph')].map((b) => Math.round(b.getBoundingClientRect().right))",
      );
      t.ok(buttons.length > 0, `${buttons.length} stored profiles' buttons`);
      t.ok(
        buttons.every((right) => right <= 600),
        `at 600 px every Flame graph button is within the window: right edges ${buttons.join(', ')} px`,
      );
      await narrow.setViewportSize({ width: 800, height: 900 });
      t.ok(sizes.frame < 800, `the frame fits the window: ${sizes.frame} px`);
      const svg = await frame.evaluate<{ width: number; attribute: string }>(
        "({ width: document.documentElement.getBoundingClientRect().width, attribute: document.documentElement.getAttribute('width') })",
      );
      t.equal(svg.attribute, '1200', 'drawn at 1200 units (what its viewer script zooms in)');
      t.ok(Math.abs(svg.width - sizes.frame) <= 1, `and scaled to the frame: ${svg.width} px`);
      const graphTitle = await inPage(narrow, frame, '#title');
      const header = {
        bottom: await narrow.evaluate<number>("document.querySelector('header.bar').getBoundingClientRect().bottom"),
      };
      t.ok(graphTitle.y >= 0 && graphTitle.bottom <= 900, `the graph's title is in the window (${graphTitle.y} px)`);
      t.ok(graphTitle.y >= header.bottom, `below the header (${header.bottom} px), not under it`);
      const atTitle = await narrow.evaluate<string>(
        `document.elementFromPoint(${graphTitle.x + graphTitle.width / 2}, ${graphTitle.y + graphTitle.height / 2})?.id ?? ''`,
      );
      t.equal(atTitle, 'viewer-frame', 'what is at the title is the graph, nothing over it');
      const cardTitle = await narrow.evaluate<number>(
        "document.getElementById('viewer-title').getBoundingClientRect().top",
      );
      t.ok(cardTitle >= header.bottom, `the card's title too (${cardTitle} px)`);
      await narrow.screenshot({ path: join(SHOTS, 'webview-800.png') });
      // The frame follows the window's width.
      await narrow.setViewportSize({ width: 1000, height: 900 });
      await waitFor(
        () =>
          // The window's width (less the page's margins), and as tall as that width draws it.
          frame.evaluate<boolean>(`(() => {
            const r = document.documentElement.getBoundingClientRect();
            const height = parseFloat(document.documentElement.getAttribute('height'));
            return r.width > 900 && r.width < 1000 && Math.abs(r.height - (r.width * height) / 1200) < 2;
          })()`),
        5000,
        'the graph to widen with the window',
      );
      t.pass('it widens with the window');
      await narrow.close();
    });

    await t.test('a tall graph opens at its root', async (t) => {
      await waitForList(page, ['shop/shop-1', 'shop/shop-1', 'deep/deep-1', 'shop/shop-2']);
      const frame = await openStored(page, 'deep/deep-1');
      const frameHeight = await page.evaluate<number>(
        "document.getElementById('viewer-frame').getBoundingClientRect().height",
      );
      t.ok(frameHeight > 900, `the graph is taller than the window: ${frameHeight} px`);
      const rootIndex = await frame.$$eval('#frames > g > title', (ts) =>
        ts.findIndex((x) => (x.textContent ?? '').startsWith('all ')),
      );
      t.ok(rootIndex >= 0, 'the root frame');
      const root = await inPage(page, frame, `#frames > g:nth-child(${rootIndex + 1}) > rect`);
      t.ok(root.y >= 0 && root.bottom <= 900, `the root is in the window: ${root.y}..${root.bottom} px`);
      t.ok(root.scrollY > 0, `scrolled down to it (${root.scrollY} px)`);
      await page.screenshot({ path: join(SHOTS, 'webview-tall.png') });
      await page.click('#viewer-close');
    });

    await t.test('the time range changes the list', async (t) => {
      t.same(
        await listedPods(page),
        ['shop/shop-1', 'deep/deep-1', 'shop/shop-1', 'shop/shop-2'],
        'the last 24 hours by default, newest first',
      );
      await page.selectOption('#q-range', '7d');
      await waitForList(page, ['shop/shop-1', 'shop/shop-1', 'deep/deep-1', 'shop/shop-2', 'pay/pay-1']);
      await page.selectOption('#q-range', '15m');
      await waitForList(page, ['shop/shop-1', 'deep/deep-1']);
      await page.selectOption('#q-range', '1h');
      await waitForList(page, ['shop/shop-1', 'deep/deep-1']);

      // Custom: 4 h ago to 2 h ago holds shop-2's profile alone. The inputs are local time, as the browser's.
      await page.selectOption('#q-range', 'custom');
      t.ok(await page.isVisible('#q-from'), 'a custom range shows its inputs');
      const local = (ms: number) => {
        const d = new Date(ms);
        const p = (n: number) => String(n).padStart(2, '0');
        return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
      };
      await page.fill('#q-from', local(now - 240 * MIN));
      await page.fill('#q-to', local(now - 120 * MIN));
      await waitForList(page, ['shop/shop-2']);
      await page.fill('#q-to', local(now - 90 * MIN));
      await waitForList(page, ['shop/shop-2']);
      await page.fill('#q-from', local(now - 100 * MIN));
      await waitForList(page, []);
      t.match(await page.textContent('#stored .state'), /^No stored profiles of \S+ \S+ to \S+ \S+: they appear after/);
      await page.fill('#q-to', local(now - 110 * MIN));
      await waitFor(
        async () => (await page.textContent('#stored .state'))?.includes('starts after it ends'),
        5000,
        'the backwards range to be named',
      );
      t.pass('a backwards range says so');
      await page.selectOption('#q-range', '7d');
      t.ok(await page.isHidden('#q-from'), 'a preset hides them');
      await waitForList(page, ['shop/shop-1', 'shop/shop-1', 'deep/deep-1', 'shop/shop-2', 'pay/pay-1']);
      await page.screenshot({ path: join(SHOTS, 'webview-range.png'), fullPage: true });
    });

    await t.test('the filters change the list', async (t) => {
      const options = await page.$$eval('#q-namespace option', (os) => os.map((o) => o.textContent));
      t.same(options, ['all', 'deep', 'pay', 'shop'], 'namespaces of the range');
      await page.selectOption('#q-namespace', 'shop');
      await waitForList(page, ['shop/shop-1', 'shop/shop-1', 'shop/shop-2']);
      t.same(
        await page.$$eval('#q-pod option', (os) => os.map((o) => o.textContent)),
        ['all', 'shop-1', 'shop-2'],
        'the pods of the namespace',
      );
      await page.selectOption('#q-pod', 'shop-2');
      await waitForList(page, ['shop/shop-2']);
      await page.selectOption('#q-pod', '');
      await page.selectOption('#q-schedule', 'shop/checkout');
      await waitForList(page, ['shop/shop-1', 'shop/shop-1']);
      await page.selectOption('#q-namespace', '');
      await waitForList(page, ['shop/shop-1', 'shop/shop-1', 'deep/deep-1', 'shop/shop-2', 'pay/pay-1']);
      t.same(
        await page.$$eval('#q-schedule option', (os) => os.map((o) => o.textContent)),
        ['all', 'checkout (pay)', 'checkout (shop)', 'deep (deep)', 'nightly (shop)'],
        'schedules by namespace: two of the same name stay apart',
      );
      await page.selectOption('#q-schedule', 'pay/checkout');
      await waitForList(page, ['pay/pay-1']);
      await page.selectOption('#q-schedule', '');
      await page.selectOption('#q-event', 'alloc');
      await waitForList(page, ['pay/pay-1']);
      await page.selectOption('#q-event', '');
      await waitForList(page, ['shop/shop-1', 'shop/shop-1', 'deep/deep-1', 'shop/shop-2', 'pay/pay-1']);
    });

    await t.test('the merged graph of the selection renders', async (t) => {
      await page.selectOption('#q-range', '24h');
      await page.selectOption('#q-namespace', 'shop');
      await waitForList(page, ['shop/shop-1', 'shop/shop-1', 'shop/shop-2']);
      const asked = page.waitForRequest((r) => r.url().includes('/v1/flamegraph?'));
      await page.click('#q-merge');
      const url = new URL((await asked).url());
      t.equal(url.searchParams.get('namespace'), 'shop');
      t.equal(url.searchParams.get('event'), 'cpu');
      t.ok(url.searchParams.get('from') && url.searchParams.get('to'), 'the range, as the list has it');
      const frame = await openedGraph(page);
      const titles = await frame.$$eval('#frames > g > title', (ts) => ts.map((x) => x.textContent ?? ''));
      // Three profiles: 380 + 380 + 380 + 400 samples.
      t.match(titles.find((x) => x.startsWith('all ')) ?? '', /^all \(1,540 samples, 100(\.00)?%\)$/, 'every sample');
      t.ok(
        titles.some((x) => x.includes('Shop.newFeature')),
        'the newest profile is in it',
      );
      t.match(await page.textContent('#viewer-note'), /^3 cpu profiles of last 24 hours/);
      t.match(await page.textContent('#viewer-title'), 'Merged cpu graph: namespace shop');
      await page.screenshot({ path: join(SHOTS, 'webview-merged.png') });
    });

    await t.test('a diff of two ranges renders', async (t) => {
      // The last hour (shop-1 after the release) against the hour before (shop-1 before it).
      await page.selectOption('#q-range', '1h');
      await waitForList(page, ['shop/shop-1']);
      const asked = page.waitForRequest((r) => r.url().includes('/v1/diff?'));
      await page.click('#q-diff');
      const url = new URL((await asked).url());
      const ms = (p: string) => new Date(url.searchParams.get(p) as string).getTime();
      t.equal(ms('baseTo'), ms('targetFrom'), 'the baseline ends where the comparison starts');
      t.equal(ms('targetTo') - ms('targetFrom'), 60 * MIN, 'the comparison is the range');
      t.equal(ms('baseTo') - ms('baseFrom'), 60 * MIN, 'the baseline is as long');
      const frame = await openedGraph(page);
      const grown = await frame.$$eval('#frames > g', (gs) =>
        gs
          .filter((g) => (g.querySelector('title')?.textContent ?? '').startsWith('Shop.newFeature'))
          .map((g) => g.querySelector('rect')?.getAttribute('fill') ?? ''),
      );
      t.equal(grown.length, 1, 'the new method is drawn');
      t.match(grown[0], /^rgb\(255,/, `and red: it grew (${grown[0]})`);
      t.match(await page.textContent('#viewer-title'), 'Diff of cpu: namespace shop');
      await page.screenshot({ path: join(SHOTS, 'webview-diff.png') });

      // A custom baseline.
      await page.selectOption('#q-base', 'custom');
      t.ok(await page.isVisible('#q-base-from'), 'its inputs show, filled with the period before');
      const again = page.waitForRequest((r) => r.url().includes('/v1/diff?'));
      await page.click('#q-diff');
      const custom = new URL((await again).url());
      t.ok(custom.searchParams.get('baseFrom'), 'asked with the custom baseline');
      await openedGraph(page);
      await page.selectOption('#q-base', 'previous');
      await page.click('#viewer-close');
    });

    t.same(pageErrors, [], 'no script errors');
    t.same(policyReports, [], 'nothing blocked by the policy');
  });
}
