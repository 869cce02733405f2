// The web page with profiles of other events than cpu, in headless Chromium over the in-memory engine: the stored
// table names each profile's event and gives its total in the event's unit, and an allocation profile's graph is the
// merge of that event (a merge is of cpu unless asked, so a graph URL without the event finds no profile).
import t from 'tap';
import type { Browser } from 'playwright-core';
import { launchChromium, requireChromium } from '../helpers/chromium.js';
import { FOLDED, startHistoryAgent, storeProfile } from './fixture-agent.js';
import { waitFor } from '../helpers/wait-for.js';

const pod = { uid: '7a1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c', name: 'alloc-1', namespace: 'shop' };
const total = [...FOLDED.values()].reduce((a, b) => a + b, 0);

if (requireChromium(t, 'the web page events test')) {
  t.test('profiles of each event on the page', { timeout: 120_000 }, async (t) => {
    const h = await startHistoryAgent(t);
    const now = Date.now();
    const cpu = await storeProfile(h, pod, 'app', 'cpu-nightly', now - 120_000);
    const alloc = await storeProfile(h, pod, 'app', 'alloc-nightly', now - 60_000, 'node-a', 'alloc');
    t.equal(alloc.event, 'alloc', 'the store kept the event');

    const browser: Browser = await launchChromium(t);
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${h.url}/`);
    await page.waitForSelector('#stored tbody tr:nth-child(2)');

    const cells = (id: string) =>
      page.$$eval(`#stored tr[data-key="stored:${id}"] td`, (tds) => tds.map((td) => (td.textContent ?? '').trim()));
    const headers = await page.$$eval('#stored thead th', (ths) => ths.map((th) => (th.textContent ?? '').trim()));
    const eventColumn = headers.indexOf('Event');
    const totalColumn = headers.indexOf('Total');
    t.ok(eventColumn > 0 && totalColumn > 0, `the table has Event and Total columns: ${headers.join(' | ')}`);
    const allocRow = await cells(alloc.id);
    const cpuRow = await cells(cpu.id);
    t.equal(allocRow[eventColumn], 'alloc');
    t.equal(cpuRow[eventColumn], 'cpu');
    t.equal(cpuRow[totalColumn], total.toLocaleString('en-US'), 'cpu: a count of samples');
    t.equal(allocRow[totalColumn], `${total} B`, 'alloc: bytes, with their unit');

    await page.click(`#stored tr[data-key="stored:${alloc.id}"] button.graph`);
    await waitFor(
      async () => (await page.getAttribute(`#stored tr[data-key="stored:${alloc.id}"]`, 'class')) === 'selected',
      10_000,
      'the selection',
    );
    await page.waitForSelector('#viewer-frame:not([hidden])', { timeout: 20_000 });
    const frame = page.frameLocator('#viewer-frame');
    const subtitle = await frame.locator('#subtitle').textContent({ timeout: 20_000 });
    t.match(subtitle, /^1 profile of 1 pod on 1 node/, 'the allocation profile, alone');
    t.match(subtitle, /allocated/, `in bytes allocated: ${subtitle}`);
    t.same(pageErrors, [], 'no script errors');
  });
}
