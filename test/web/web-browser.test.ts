/**
 * The web page in headless Chromium against a real agent on the real engine: a JVM (test/workloads/Hot.java) in a
 * pod whose name is hostile markup, profiled on demand and by a schedule every 3 s into the node-local store, with
 * `--auth token`. The page asks for the token, then lists both profiles and the schedule's status; the hostile name
 * shows as text and runs nothing; a click shows each flame graph, which stays interactive (hover details, zoom)
 * under the page's Content-Security-Policy, and a graph script the policy does not know is blocked.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Browser, Frame, Page } from 'playwright-core';
import { launchChromium, requireChromium } from '../helpers/chromium.js';
import type { Test } from 'tap';
import { Agent } from '../../agent/agent.js';
import { historyRouter } from '../../agent/server/routes/history.js';
import { DockerRuntime } from '../../agent/runtime/docker-runtime.js';
import { captureThrough } from '../../agent/schedules/capture-adapter.js';
import { ContinuousProfiling } from '../../agent/schedules/continuous-profiling.js';
import type { StoredProfile } from '../../shared/history.js';
import { memoryLogger, testConfig } from '../agent/http.js';
import { requireDockerEnv } from '../helpers/docker-env.js';
import { JvmContainers, type StartedContainer } from '../helpers/jvm-containers.js';
import { waitFor } from '../helpers/wait-for.js';
import { testProfileWorker } from '../helpers/profile-worker.js';

t.setTimeout(300_000);

const TOKEN = `web-${randomBytes(12).toString('hex')}`;
const HOSTILE = 'shop-<img src=x onerror="window.__pwned=1">-"\'&amp;';

async function api(url: string, method: string, path: string, body?: unknown) {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: res.status, headers: res.headers, text, json: json as any };
}

/** Waits for the viewer's iframe to hold a drawn graph; returns its frame. */
async function graphFrame(page: Page): Promise<Frame> {
  const handle = await page.waitForSelector('#viewer-frame:not([hidden])');
  await waitFor(async () => (await handle.getAttribute('src'))?.startsWith('blob:') === true, 30_000, 'the blob');
  const frame = await handle.contentFrame();
  if (!frame) throw new Error('the viewer has no frame');
  await frame.waitForSelector('#frames > g');
  return frame;
}

/** The graph answers a hover with the frame's details and a click with a zoom: its script runs. */
async function checkInteractive(t: Test, frame: Frame, method: RegExp): Promise<void> {
  const titles = await frame.$$eval('#frames > g > title', (ts) => ts.map((x) => x.textContent ?? ''));
  t.ok(titles.length > 5, `${titles.length} frames drawn`);
  const index = titles.findIndex((x) => method.test(x));
  t.ok(index >= 0, `a frame of ${method}: ${titles[index]}`);
  const group = `#frames > g:nth-child(${index + 1})`;
  await frame.hover(group);
  t.equal(await frame.textContent('#details'), `Function: ${titles[index]}`, 'hover shows the details');
  t.equal(await frame.getAttribute('#unzoom', 'class'), 'hide', 'not zoomed yet');
  await frame.click(group);
  t.notOk(await frame.getAttribute('#unzoom', 'class'), 'a click zooms ("Reset Zoom" shows)');
  await frame.click('#unzoom');
}

const env = await requireDockerEnv(t, { jdk: true });

if (env && requireChromium(t, 'the web page test')) {
  t.test('the web page on a real agent', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'podflame-web-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'tokens'), `${TOKEN},web-tester\n`, { mode: 0o600 });

    // A pod whose name is markup: kubelet would never allow it, Docker labels do, and the page must not care.
    const jvms = new JvmContainers(env);
    const run = randomBytes(3).toString('hex');
    const pod = { uid: randomUUID(), name: HOSTILE, namespace: `web-${run}` };
    const created: string[] = [];
    t.teardown(() =>
      Promise.all(
        created.map((id) =>
          env.docker
            .getContainer(id)
            .remove({ force: true })
            .catch(() => undefined),
        ),
      ),
    );
    const start = async (name: string, containerName: string, type: 'container' | 'podsandbox', cmd: string[]) => {
      const c = await env.docker.createContainer({
        name: `podflame-web-${run}-${name}`,
        Image: env.jdkImage as string,
        Cmd: cmd,
        Labels: jvms.labels(pod, containerName, type),
        HostConfig: { NetworkMode: 'none', Memory: 512 * 1024 * 1024 },
      });
      created.push(c.id);
      await c.start();
      return c.id;
    };
    await start('pod', 'POD', 'podsandbox', ['sleep', 'infinity']);
    const appId = await start('app', 'app', 'container', [
      'java',
      '-Xmx128m',
      '-XX:+PreserveFramePointer',
      '-cp',
      '/app',
      'Hot',
    ]);
    const app: StartedContainer = { id: appId, name: '', pod, containerName: 'app', readyText: 'Hot: started' };
    await jvms.waitForWarmup(app);

    const nodeName = `web-${run}`;
    const { logger } = memoryLogger();
    const holder: { agent?: Agent } = {};
    const history = new ContinuousProfiling({
      dataDir: join(dir, 'data'),
      nodeName,
      capture: (request) => captureThrough((holder.agent as Agent).captures)(request),
      containers: new DockerRuntime({ captureImage: env.captureImage, socketPath: env.socketPath }),
      logger,
      schedulesReloadMs: 0,
      maxJitterMs: 0,
    });
    const agent = new Agent({
      worker: testProfileWorker(),
      config: testConfig({
        nodeName,
        captureImage: env.captureImage,
        dockerSocket: env.socketPath,
        auth: 'token',
        tokenFile: join(dir, 'tokens'),
        rateLimitPerMinute: 0,
      }),
      runtime: new DockerRuntime({ captureImage: env.captureImage, socketPath: env.socketPath }),
      logger,
      app: { routers: [historyRouter(history.routes)] },
    });
    holder.agent = agent;
    const { url } = await agent.start();
    await history.start();
    t.teardown(async () => {
      await history.close();
      await agent.close();
    });

    // On demand: a 2 s capture of the JVM.
    const onDemand = await api(url, 'POST', '/v1/profiles', {
      target: { podUid: pod.uid, container: 'app' },
      durationSeconds: 2,
      frequencyHz: 99,
    });
    t.equal(onDemand.status, 200, `on-demand capture: ${onDemand.text.slice(0, 300)}`);
    t.match(onDemand.text, /Hot\.hot/, 'the capture names the JVM methods');
    const onDemandId = onDemand.headers.get('x-podflame-profile-id') as string;

    // By a schedule: every 3 s, 1 s each, until its first run is done; then once a year, so that scheduled captures
    // do not push the on-demand one out of the agent's memory (--profile-retention) while the page is looked at.
    const schedule = { namespace: pod.namespace, durationSeconds: 1, frequencyHz: 99 };
    const put = await api(url, 'PUT', '/v1/schedules/web-schedule', { cron: '*/3 * * * * *', ...schedule });
    t.equal(put.status, 201, put.text);
    await waitFor(
      async () => {
        const s = (await api(url, 'GET', '/v1/schedules/web-schedule')).json;
        return s?.lastRun && !s.running ? s : undefined;
      },
      120_000,
      'the first scheduled run',
      1000,
    );
    t.equal((await api(url, 'PUT', '/v1/schedules/web-schedule', { cron: '0 0 1 1 *', ...schedule })).status, 200);
    const stored = (await api(url, 'GET', '/v1/profiles')).json.items as StoredProfile[];
    t.ok(stored.length >= 1, `${stored.length} stored profiles`);
    t.match(stored[0], { pod: HOSTILE, container: 'app', schedule: 'web-schedule' });

    const browser: Browser = await launchChromium(t);
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const pageErrors: string[] = [];
    const cspReports: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspReports.push(m.text());
    });
    const answer = await page.goto(`${url}/`);
    t.equal(answer?.status(), 200, 'the page itself is open');
    const policy = answer?.headers()['content-security-policy'] ?? '';
    t.match(policy, /script-src 'self'/, `the page has its policy: ${policy.slice(0, 80)}…`);

    await t.test('without a token the page says what it needs', async (t) => {
      await page.waitForSelector('#banner:not([hidden])');
      t.match(await page.textContent('#banner'), /asks for a token/);
      t.match(await page.textContent('#recent .state'), /UNAUTHENTICATED/);
    });

    await t.test('with the token, both profiles and the schedule are listed', async (t) => {
      await page.fill('#token', TOKEN);
      await page.click('#token-form button[type=submit]');
      await page.waitForSelector('#recent tbody tr');
      await page.waitForSelector('#stored tbody tr');
      await page.waitForSelector('#schedules tbody tr');
      t.ok(await page.isHidden('#banner'), 'the banner is gone');
      t.equal(await page.evaluate("sessionStorage.getItem('podflame.token')"), TOKEN, 'the token is kept for the tab');
      t.equal(await page.inputValue('#token'), '', 'and not shown');
      t.equal(await page.textContent('#node'), `node ${nodeName}`);
      const recent = await page.$$eval('#recent tbody tr', (rows) =>
        rows.map((r) => ({ key: r.getAttribute('data-key'), text: r.textContent ?? '' })),
      );
      const mine = recent.find((r) => r.key === `recent:${onDemandId}`);
      t.ok(mine, `the on-demand profile is listed (${recent.length} rows)`);
      t.match(mine?.text, `${pod.namespace}/${HOSTILE}`, 'its pod, the hostile name as text');
      t.match(mine?.text, /done/);
      t.match(mine?.text, /2 s/);
      t.match(mine?.text, /99 Hz/);
      const storedRows = await page.$$eval('#stored tbody tr', (rows) => rows.map((r) => r.textContent ?? ''));
      t.ok(storedRows.length >= 1, `${storedRows.length} stored profiles listed`);
      t.match(storedRows[0], 'web-schedule', 'with their schedule');
      t.match(storedRows[0], HOSTILE);
      const status = (await page.textContent('#schedules tbody tr')) ?? '';
      t.match(status, 'web-schedule');
      t.match(status, `namespace ${pod.namespace}`);
      t.match(status, '0 0 1 1 *');
      t.match(status, /\bok\b/, 'the last outcome');
      t.match(status, /1 profile of 1 target/);
      t.match(status, /\d+ runs?/, 'the counts');
      const scheduled = recent.filter((r) => r.key !== `recent:${onDemandId}`);
      t.ok(scheduled.length >= 1, 'the scheduled capture is among the recent ones');
      t.match(scheduled[0]?.text, 'schedule web-schedule', 'named by its schedule');
      t.notMatch(mine?.text, 'schedule', 'the on-demand one names none');
      t.match(await page.textContent('#schedules tbody tr td:nth-child(5)'), /\d{4}-\d\d-\d\d/, 'the next run');
    });

    await t.test('hostile names are text', async (t) => {
      t.equal(await page.evaluate('typeof window.__pwned'), 'undefined');
      t.equal(await page.$$eval('img', (imgs) => imgs.length), 0, 'no element made from a name');
      const shown = await page.$$eval('#recent .target .pod', (cells) => cells.map((c) => c.textContent));
      t.ok(shown.includes(`${pod.namespace}/${HOSTILE}`), 'the name exactly as the API gave it');
    });

    await t.test('an on-demand profile shows its flame graph, interactive', async (t) => {
      await page.click(`#recent tr[data-key="recent:${onDemandId}"] button.graph`);
      const frame = await graphFrame(page);
      t.equal(await page.textContent('#viewer-title'), `${pod.namespace}/${HOSTILE}/app`);
      t.match(await frame.textContent('#title'), HOSTILE, 'the graph is titled with the target, as text');
      await checkInteractive(t, frame, /^Hot\.hot/);
      t.equal(await page.getAttribute(`#recent tr[data-key="recent:${onDemandId}"]`, 'class'), 'selected');
      const height = (await page.locator('#viewer-frame').boundingBox())?.height ?? 0;
      t.ok(height > 100, `the frame fits the graph (${height} px)`);
    });

    await t.test("a scheduled capture's note names its schedule", async (t) => {
      const key = await page.$$eval(
        '#recent tbody tr',
        (rows, mine) => rows.map((r) => r.getAttribute('data-key')).find((k) => k !== mine),
        `recent:${onDemandId}`,
      );
      await page.click(`#recent tr[data-key="${key}"] button.graph`);
      await graphFrame(page);
      t.match(await page.textContent('#viewer-note'), /^Scheduled profile .* of schedule [^ ]+\/web-schedule, started/);
      await page.click(`#recent tr[data-key="recent:${onDemandId}"] button.graph`);
      await graphFrame(page);
      t.match(await page.textContent('#viewer-note'), /^On-demand profile /);
    });

    await t.test('a stored profile shows its flame graph, interactive', async (t) => {
      const key = await page.getAttribute('#stored tbody tr', 'data-key');
      await page.click(`#stored tr[data-key="${key}"] button.graph`);
      await waitFor(
        async () => (await page.getAttribute(`#stored tr[data-key="${key}"]`, 'class')) === 'selected',
        10_000,
        'the selection',
      );
      const frame = await graphFrame(page);
      t.match(await page.textContent('#viewer-note'), /of schedule web-schedule/);
      t.match(await frame.textContent('#subtitle'), /^1 profile of 1 pod on 1 node/, 'exactly one stored profile');
      await checkInteractive(t, frame, /^Hot\.hot/);
      if (process.env.PODFLAME_WEB_SCREENSHOT) {
        await page.screenshot({ path: process.env.PODFLAME_WEB_SCREENSHOT, fullPage: true });
      }
    });

    await t.test('the policy blocks a graph script it does not know', async (t) => {
      // The same SVG with one changed byte in its script, shown the way the page shows graphs: it must not run.
      // A string: the page's DOM types are not in this project's type library.
      const ran = (await page.evaluate(`(async () => {
        const current = document.getElementById('viewer-frame');
        const text = new XMLSerializer().serializeToString(current.contentDocument);
        const changed = text.replace('<![CDATA[', '<![CDATA[ ');
        const frame = document.createElement('iframe');
        frame.src = URL.createObjectURL(new Blob([changed], { type: 'image/svg+xml' }));
        const loaded = new Promise((r) => frame.addEventListener('load', r, { once: true }));
        document.body.appendChild(frame);
        await loaded;
        const result = { changed: changed !== text, init: typeof frame.contentWindow.init,
          state: typeof frame.contentWindow.fgState, frames: frame.contentDocument.querySelectorAll('#frames > g').length };
        frame.remove();
        return result;
      })()`)) as { changed: boolean; init: string; state: string; frames: number };
      t.ok(ran.changed, 'the script was changed');
      t.ok(ran.frames > 5, 'the document loaded');
      t.same([ran.init, ran.state], ['undefined', 'undefined'], 'and its script did not run');
      t.ok(cspReports.length > 0, 'Chromium reported the refusal');
      cspReports.length = 0;
      // Its hashed onload handler still ran, and found no init(): the script alone was refused.
      await waitFor(() => pageErrors.length > 0, 5000, 'the handler error');
      t.same(pageErrors.splice(0), ['init is not defined']);
    });

    t.same(cspReports, [], 'no other policy refusals');
    t.same(pageErrors, [], 'no script errors');
  });
}
