// The demo's frame summary on a flame graph the demo produced (fixtures/demo-shop.svg, written by `npm run demo`).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatHottest, hottestJavaFrames, isJavaMethod, parseFrameBoxes } from '../../scripts/demo/hottest-frames.js';
import { matchGolden } from './capture-run.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const svg = readFileSync(`${FIXTURES}demo-shop.svg`, 'utf8');

t.test('hottest Java frames of the recorded demo graph', async (t) => {
  const boxes = parseFrameBoxes(svg);
  const total = boxes.find((b) => b.name === 'all')?.samples ?? 0;
  t.ok(total > 0, `the graph has ${total} samples`);
  t.equal(boxes.length, (svg.match(/<rect x=/g) ?? []).length - 1, 'every frame box is read (the background is not)');
  const hottest = hottestJavaFrames(svg, 10);
  matchGolden(t, `${FIXTURES}demo-shop.hottest.txt`, formatHottest(hottest, total), 'summary matches the golden');
  t.ok(
    hottest.some((f) => f.name.startsWith('DemoShop.')),
    'the demo app is among the hottest',
  );
  t.same(hottestJavaFrames(svg, 10), hottest, 'deterministic');
  const all = hottestJavaFrames(svg, 1000);
  const charged = all.reduce((n, f) => n + f.samples, 0);
  t.ok(charged <= total, 'no sample is charged twice');
  t.ok(
    all.every((f) => isJavaMethod(f.name)),
    'only Java methods are listed',
  );
});

t.test('what counts as a Java method', async (t) => {
  // Names as they appear in the recorded graph.
  for (const name of [
    'DemoShop.priceBasket',
    'java.math.BigDecimal.add',
    'java.util.Formatter$FormatSpecifier.print',
  ]) {
    t.ok(isJavaMethod(name), name);
  }
  for (const name of ['Interpreter', 'JavaCalls::call_helper', '[libc.so.6]', 'libc.so.6', 'all', 'shop-worker-0']) {
    t.notOk(isJavaMethod(name), name);
  }
  t.same(hottestJavaFrames('<svg></svg>'), [], 'an empty graph has none');
});
