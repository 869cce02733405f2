// The viewer embedded in every SVG, driven in headless Chromium: hover details, click to zoom, reset, regex search
// with "Matched: N%", the case toggle, and the state kept in the URL (reload restores it).
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, requireChromium } from '../helpers/chromium.js';
import { renderFlameGraph } from '../../shared/render/index.js';

const FIXTURE = join(import.meta.dirname, '../fixtures/folded/java-slow.folded');

if (requireChromium(t, 'the browser test')) {
  t.test('viewer', { timeout: 120_000 }, async (t) => {
    const svg = renderFlameGraph(readFileSync(FIXTURE, 'utf8').split('\n'), { colors: 'java', hash: true }).svg;
    const server = await serve(svg);
    t.teardown(() => new Promise<void>((done) => server.close(() => done())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graph.svg`;
    const browser: Browser = await launchChromium(t);
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(url);
    await page.waitForSelector('#frames');

    await t.test('the document is well-formed SVG for the browser too', async (t) => {
      const errors = await page.evaluate(async (u) => {
        const text = await (await fetch(u)).text();
        // The browser's own parser (this runs in the page; the project's type library has no DOM).
        const { DOMParser } = globalThis as unknown as {
          DOMParser: new () => {
            parseFromString(s: string, type: string): { getElementsByTagName(name: string): { length: number } };
          };
        };
        const parsed = new DOMParser().parseFromString(text, 'image/svg+xml');
        return parsed.getElementsByTagName('parsererror').length;
      }, url);
      t.equal(errors, 0);
    });

    const before = await frames(page);
    const rootFrame = before.find((f) => f.name === 'all')!;
    t.equal(rootFrame.width, 1180, 'the root spans the graph');

    await t.test('hover shows the details line', async (t) => {
      const target = before.find((f) => f.name === 'RenderWorkload.fib')!;
      await page.hover(`#frames > :nth-child(${target.index + 1})`);
      t.equal(await page.textContent('#details'), `Function: ${target.title}`);
      await page.mouse.move(1, 1);
      t.equal(await page.textContent('#details'), ' ', 'cleared on leaving');
    });

    // A frame in the middle of the graph, neither the root nor full width, with ancestors and other frames around.
    const target = before.filter((f) => f.width > 30 && f.width < 1000 && f.name !== 'all').sort((a, b) => a.y - b.y)[
      Math.floor(before.length / 8)
    ]!;

    await t.test('click zooms into a frame', async (t) => {
      t.ok(target, `zoom target: ${target.title}`);
      // The group: its label covers part of the rectangle, and a click on either zooms.
      await page.click(`#frames > :nth-child(${target.index + 1})`);
      const after = await frames(page);
      const zoomed = after[target.index]!;
      t.equal(zoomed.x, 10, 'the frame moves to the left edge');
      t.ok(Math.abs(zoomed.width - 1180) < 0.01, `its width becomes the full width (${zoomed.width})`);
      t.ok(zoomed.label.length > 0, `and it is labelled (${zoomed.label})`);
      const ancestors = after.filter((f) => f.classes.includes('parent'));
      t.ok(ancestors.length > 0, `${ancestors.length} ancestors dimmed`);
      t.ok(
        ancestors.every((f) => f.y > target.y && Math.abs(f.width - 1180) < 0.01),
        'ancestors are below it, full width',
      );
      const outside = before.filter(
        (f) => f.y <= target.y && (f.x + f.width <= target.x + 0.05 || f.x >= target.x + target.width - 0.05),
      );
      t.ok(outside.length > 0, `${outside.length} frames outside the zoomed one`);
      t.ok(
        outside.every((f) => after[f.index]!.classes.includes('hide')),
        'frames outside it are hidden',
      );
      t.notOk(await page.getAttribute('#unzoom', 'class'), '"Reset Zoom" shows');
      const params = new URL(page.url()).searchParams;
      t.same([params.get('x'), params.get('y')], [target.xText, String(target.y)], 'the URL holds the zoom');
    });

    await t.test('reset zoom restores the graph', async (t) => {
      await page.click('#unzoom');
      const after = await frames(page);
      t.same(
        after.map((f) => [f.xText, f.width, f.classes]),
        before.map((f) => [f.xText, f.width, f.classes]),
        'geometry and classes as before',
      );
      t.equal(await page.getAttribute('#unzoom', 'class'), 'hide');
      t.equal(new URL(page.url()).search, '', 'the URL forgets the zoom');
    });

    await t.test('search highlights matches and shows the matched share', async (t) => {
      const term = 'fib';
      const expected = matchedPercent(before, new RegExp(term));
      t.ok(expected > 0 && expected < 100, `fib is ${expected.toFixed(1)}% of the graph`);
      page.once('dialog', (d) => void d.accept(term));
      await page.click('#search');
      const after = await frames(page);
      const matched = after.filter((f) => f.fill === 'rgb(230,0,230)');
      t.ok(matched.length > 0, `${matched.length} frames highlighted`);
      t.ok(
        matched.every((f) => /fib/.test(f.name)) &&
          after.every((f) => f.fill === 'rgb(230,0,230)' || !/fib/.test(f.name)),
        'exactly the frames whose name matches',
      );
      t.equal(await page.textContent('#matched'), `Matched: ${expected.toFixed(1)}%`);
      t.equal(await page.textContent('#search'), 'Reset Search');
      t.equal(new URL(page.url()).searchParams.get('s'), term, 'the URL holds the search');
    });

    await t.test('the case toggle', async (t) => {
      await page.click('#search'); // reset the search
      t.ok(
        (await frames(page)).every((f, i) => f.fill === before[i]!.fill),
        'reset restores the colours',
      );
      t.equal(new URL(page.url()).searchParams.get('s'), null);
      page.once('dialog', (d) => void d.accept('FIB'));
      await page.click('#search');
      t.equal(await page.textContent('#matched'), 'Matched: 0.0%', 'case-sensitive by default');
      await page.click('#ignorecase');
      t.equal(await page.getAttribute('#ignorecase', 'class'), 'show');
      t.equal(
        await page.textContent('#matched'),
        `Matched: ${matchedPercent(before, /fib/i).toFixed(1)}%`,
        'ic: case-insensitive',
      );
      await page.keyboard.press('Control+KeyI');
      t.equal(await page.textContent('#matched'), 'Matched: 0.0%', 'Ctrl-I toggles back');
      await page.click('#search');
    });

    await t.test('the URL state survives a reload', async (t) => {
      const state = new URL(url);
      state.searchParams.set('x', target.xText);
      state.searchParams.set('y', String(target.y));
      // Search for the zoomed frame itself: while zoomed, the search covers what is shown.
      const term = target.name.replace(/[.*+?^${}()|[\]\\$]/g, '\\$&');
      state.searchParams.set('s', term);
      await page.goto(state.toString());
      await page.waitForSelector('#frames');
      const after = await frames(page);
      t.ok(Math.abs(after[target.index]!.width - 1180) < 0.01, 'zoomed into the same frame');
      t.equal(after[target.index]!.fill, 'rgb(230,0,230)', 'and searched: it is highlighted');
      t.equal(await page.textContent('#matched'), 'Matched: 100%', 'it fills the zoomed view');
      t.equal(new URL(page.url()).searchParams.get('s'), term);
    });

    t.same(pageErrors, [], 'no script errors');
  });
}

interface FrameState {
  index: number;
  title: string;
  name: string;
  label: string;
  xText: string;
  x: number;
  y: number;
  width: number;
  fill: string;
  classes: string;
}

function frames(page: Page): Promise<FrameState[]> {
  return page.$$eval('#frames > *', (groups) =>
    groups.map((g, index) => {
      const rect = g.querySelector('rect')!;
      const title = g.querySelector('title')!.textContent ?? '';
      return {
        index,
        title,
        name: title.replace(/ \([^(]*\)$/, ''),
        label: g.querySelector('text')!.textContent ?? '',
        xText: rect.getAttribute('x') ?? '',
        x: Number(rect.getAttribute('x')),
        y: Number(rect.getAttribute('y')),
        width: Number(rect.getAttribute('width')),
        fill: rect.getAttribute('fill') ?? '',
        classes: g.getAttribute('class') ?? '',
      };
    }),
  );
}

/** The share of the root's width covered by matching frames, nested matches counted once. */
function matchedPercent(all: FrameState[], re: RegExp): number {
  const spans = all
    .filter((f) => re.test(f.name))
    .map((f) => [f.x, f.x + f.width] as const)
    .sort((a, b) => a[0] - b[0]);
  let covered = 0;
  let end = -Infinity;
  for (const [s, e] of spans) {
    if (s >= end) {
      covered += e - s;
      end = e;
    } else if (e > end) {
      covered += e - end;
      end = e;
    }
  }
  const root = all.find((f) => f.name === 'all')!;
  return (100 * covered) / root.width;
}

function serve(svg: string): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/graph.svg')) {
      res.writeHead(200, { 'content-type': 'image/svg+xml; charset=utf-8' });
      res.end(svg);
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done(server)));
}
