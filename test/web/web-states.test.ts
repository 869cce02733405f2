/**
 * The web page's states in headless Chromium, on agents over the in-memory engine (no Docker needed): the empty
 * states of an agent without a store, a refresh that picks up new captures (one done, one failed), an error from the
 * API shown in its section, and closing the graph. The full path on the real engine is web-browser.test.ts.
 */
import { Router } from 'express';
import t from 'tap';
import type { Browser } from 'playwright-core';
import { launchChromium, requireChromium } from '../helpers/chromium.js';
import { Agent } from '../../agent/agent.js';
import { historyRouter } from '../../agent/server/routes/history.js';
import { PodflameError } from '../../shared/errors.js';
import { FakeRuntime, hexId, podContainer } from '../agent/fake-runtime.js';
import { call, memoryLogger, testConfig } from '../agent/http.js';
import { PERF_SCRIPT } from './fixture-agent.js';
import { waitFor } from '../helpers/wait-for.js';
import { testProfileWorker } from '../helpers/profile-worker.js';

const pod = { uid: '3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c', name: 'shop-1', namespace: 'shop' };

if (requireChromium(t, 'the web page states test')) {
  t.test('states of the page', { timeout: 120_000 }, async (t) => {
    const runtime = new FakeRuntime();
    runtime.containers = [podContainer(hexId('a1'), pod, 'app')];
    runtime.processes.set(hexId('a1'), ['java -cp /app Shop']);
    let refuseReads = false;
    // As main.ts mounts the history routes of an agent started without --data-dir.
    const history = Router().use(historyRouter({ nodeName: 'node-b' }));
    const agent = new Agent({
      worker: testProfileWorker(),
      config: testConfig({ nodeName: 'node-b' }),
      runtime,
      logger: memoryLogger().logger,
      app: {
        routers: [history],
        authorizeTarget: async (req) => {
          if (refuseReads && req.method === 'GET') {
            throw new PodflameError('KUBERNETES_API_ERROR', 'the API server did not answer the access review');
          }
        },
      },
    });
    const { url } = await agent.start();
    t.teardown(() => agent.close());

    const browser: Browser = await launchChromium(t);
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${url}/`);

    await t.test('empty states say what to do', async (t) => {
      await page.waitForSelector('#recent .state.empty');
      t.match(await page.textContent('#recent .state'), /No captures yet — run podflame profile POD/);
      t.match(await page.textContent('#stored .state'), /keeps no stored profiles: start it with --data-dir DIR/);
      t.match(await page.textContent('#schedules .state'), /No schedules: this agent runs without --data-dir/);
      t.ok(await page.isHidden('#recent table'), 'no empty table');
      t.ok(await page.isHidden('#banner'), 'no banner: --auth none on loopback needs no token');
      t.equal(await page.textContent('#node'), 'node node-b');
    });

    await t.test('a refresh shows new captures, done and failed', async (t) => {
      for (const [i, exit] of [
        { exitCode: 0, output: PERF_SCRIPT },
        { exitCode: 3, stderrTail: 'podflame-capture: no processes found\n' },
      ].entries()) {
        const res = await call(url, 'POST', '/v1/profiles?async=1', { target: { podUid: pod.uid, container: 'app' } });
        t.equal(res.status, 202);
        await waitFor(() => runtime.captures.length > i, 60_000, 'the capture');
        runtime.captures[i]!.finish(exit);
        await waitFor(() => agent.registry.get(res.json.id)?.metadata.status !== 'running', 60_000, 'the end');
      }
      await page.click('#refresh');
      await page.waitForSelector('#recent tbody tr:nth-child(2)');
      t.ok(await page.isHidden('#recent .state'), 'no empty state');
      const rows = await page.$$eval('#recent tbody tr', (trs) => trs.map((tr) => tr.textContent ?? ''));
      t.match(rows[0], /failed/);
      t.match(rows[0], /no graph/, 'a failed capture has no graph to show');
      t.match(rows[1], /done/);
      t.ok(await page.isDisabled('#recent tbody tr:nth-child(1) button'));
      await page.click('#recent tbody tr:nth-child(2) button.graph');
      const frame = await (await page.waitForSelector('#viewer-frame:not([hidden])')).contentFrame();
      await frame?.waitForSelector('#frames > g');
      t.match(await frame?.textContent('#frames'), /Shop\.checkout/, 'the graph of the replayed capture');
      await page.click('#viewer-close');
      t.ok(await page.isHidden('#viewer'), 'closed');
      t.equal(await page.$$eval('tr.selected', (trs) => trs.length), 0, 'nothing selected');
    });

    await t.test('an API error shows in its section', async (t) => {
      refuseReads = true;
      await page.click('#refresh');
      await page.waitForSelector('#recent .state.error');
      t.match(
        await page.textContent('#recent .state'),
        'KUBERNETES_API_ERROR: the API server did not answer the access review',
      );
      t.ok(await page.isHidden('#recent table'));
      refuseReads = false;
      await page.click('#refresh');
      await page.waitForSelector('#recent tbody tr');
      t.ok(await page.isHidden('#recent .state'), 'and goes when the API answers again');
    });

    await t.test('a container outside any pod is named once as a container', async (t) => {
      runtime.containers.push({ id: hexId('c3'), name: 'nu-shop', image: 'app:1', state: 'running', labels: {} });
      runtime.processes.set(hexId('c3'), ['java -cp /app Shop']);
      const res = await call(url, 'POST', '/v1/profiles?async=1', { target: { containerId: hexId('c3') } });
      t.equal(res.status, 202);
      await waitFor(() => runtime.captures.length > 2, 60_000, 'the capture');
      runtime.captures[2]!.finish({ exitCode: 0, output: PERF_SCRIPT });
      await waitFor(() => agent.registry.get(res.json.id)?.metadata.status !== 'running', 60_000, 'the end');
      await page.click('#refresh');
      await page.waitForSelector('#recent tbody tr:nth-child(3)');
      t.equal(
        await page.textContent('#recent tbody tr:nth-child(1) .target .pod'),
        `container nu-shop · ${'c3'.repeat(6)}`,
      );
    });

    t.same(pageErrors, [], 'no script errors');
  });
}
