/**
 * Prints the hottest Java frames of a flame graph SVG (the demo's last step): for every frame box, its own samples
 * (its width minus its children's) are charged to the nearest Java method at or below it, so time spent in the JVM
 * or the kernel on behalf of a method counts for that method. Reads only the SVG the user got.
 *
 *   node dist/scripts/demo/hottest-frames.js demo.svg [TOP]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface FrameBox {
  name: string;
  samples: number;
  x: number;
  y: number;
  width: number;
}

export interface HotFrame {
  name: string;
  samples: number;
  /** Share of all samples, 0..1. */
  share: number;
}

// e.g. <title>DemoShop.priceBasket (2 samples, 2.30%)</title><rect x="823.8" y="285" width="27.1" height="15.0" ...
const FRAME_BOX =
  /<title>([^<]*?) \(([\d,]+) samples?, [\d.]+%\)<\/title>\s*<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)"/g;

// Java methods as the Java-aware collapser names them: java.math.BigDecimal.add, DemoShop.priceBasket,
// java.util.Formatter$FormatSpecifier.print. Not C++ (::), not libraries (libc.so.6), not [unknown] or Interpreter.
const JAVA_METHOD = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$<][\w$<>]*)+$/;

const XML_ENTITIES: Record<string, string> = { '&lt;': '<', '&gt;': '>', '&amp;': '&', '&quot;': '"', '&apos;': "'" };

export function parseFrameBoxes(svg: string): FrameBox[] {
  const boxes: FrameBox[] = [];
  for (const m of svg.matchAll(FRAME_BOX)) {
    const [, name, samples, x, y, width] = m as unknown as [string, string, string, string, string, string];
    boxes.push({
      name: name.replace(/&(lt|gt|amp|quot|apos);/g, (e) => XML_ENTITIES[e] ?? e),
      samples: Number(samples.replaceAll(',', '')),
      x: Number(x),
      y: Number(y),
      width: Number(width),
    });
  }
  return boxes;
}

export function isJavaMethod(name: string): boolean {
  return JAVA_METHOD.test(name);
}

/** The hottest Java methods by the samples charged to them, most first (ties by name). */
export function hottestJavaFrames(svg: string, top = 10): HotFrame[] {
  const boxes = parseFrameBoxes(svg);
  const root = boxes.find((b) => b.name === 'all');
  if (!root || root.samples === 0) return [];
  // Rows: the root's row is the base; the graph grows away from it (up, or down when inverted).
  const rows = [...new Set(boxes.map((b) => b.y))].sort((a, b) => Math.abs(a - root.y) - Math.abs(b - root.y));
  const rowIndex = new Map(rows.map((y, i) => [y, i]));
  const byRow: FrameBox[][] = rows.map(() => []);
  for (const b of boxes) byRow[rowIndex.get(b.y) as number]?.push(b);
  const parentOf = new Map<FrameBox, FrameBox>();
  const childSamples = new Map<FrameBox, number>();
  const EPS = 0.05;
  for (let r = 1; r < byRow.length; r++) {
    for (const b of byRow[r] as FrameBox[]) {
      const parent = (byRow[r - 1] as FrameBox[]).find((p) => b.x >= p.x - EPS && b.x + b.width <= p.x + p.width + EPS);
      if (!parent) continue;
      parentOf.set(b, parent);
      childSamples.set(parent, (childSamples.get(parent) ?? 0) + b.samples);
    }
  }
  const charged = new Map<string, number>();
  for (const b of boxes) {
    const self = b.samples - (childSamples.get(b) ?? 0);
    if (self <= 0) continue;
    let owner: FrameBox | undefined = b;
    while (owner && !isJavaMethod(owner.name)) owner = parentOf.get(owner);
    if (owner) charged.set(owner.name, (charged.get(owner.name) ?? 0) + self);
  }
  return [...charged.entries()]
    .map(([name, samples]) => ({ name, samples, share: samples / root.samples }))
    .sort((a, b) => b.samples - a.samples || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .slice(0, top);
}

export function formatHottest(frames: readonly HotFrame[], total: number): string {
  if (frames.length === 0) return 'no Java frames in this flame graph\n';
  let out = `hottest Java frames (samples charged to the method, of ${total}):\n`;
  for (const f of frames) {
    out += `  ${String(f.samples).padStart(6)}  ${(f.share * 100).toFixed(1).padStart(5)}%  ${f.name}\n`;
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, top] = process.argv.slice(2);
  if (file === undefined) {
    process.stderr.write('usage: node dist/scripts/demo/hottest-frames.js FILE.svg [TOP]\n');
    process.exit(2);
  }
  const svg = readFileSync(file, 'utf8');
  const total = parseFrameBoxes(svg).find((b) => b.name === 'all')?.samples ?? 0;
  process.stdout.write(formatHottest(hottestJavaFrames(svg, top === undefined ? 10 : Number(top)), total));
}
