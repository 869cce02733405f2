/**
 * Folded stacks → interactive SVG, as flamegraph.pl draws them (FlameGraph @41fee1f): same frames, geometry, titles
 * and colours, so the conformance corpus matches frame for frame. Unlike flamegraph.pl the output is always
 * well-formed XML and the same input always gives the same bytes (frames are written by depth, then left to right,
 * not in perl's hash order). No file I/O: the caller reads the input, --nameattr and palette.map files.
 */
import { PodflameError } from '../errors.js';
import { orderStackLines, parseStackLine } from './folded-input.js';
import { FrameMerger } from './flow.js';
import { groupTags, PLAIN_GROUP, type GroupTags } from './group-attributes.js';
import { minwidthInCounts, resolveRenderOptions, type RenderOptions } from './options.js';
import { backgroundStops, differentialRgb, FrameColorer } from './palette.js';
import { commify, formatFixed, formatPerlNumber } from './perl-format.js';
import { documentHead, DOCUMENT_TAIL, FRAMEPAD, XPAD } from './svg.js';
import { escapeXmlAttr, escapeXmlText } from './xml.js';

export interface RenderResult {
  svg: string;
  /** flamegraph.pl's warnings (`Ignored N lines with invalid format`, low stack count, ...), one sentence each. */
  warnings: string[];
  /** Lines that were not `stack count` nor `stack count count`. */
  ignoredLines: number;
  /** Sum of the counts (the "after" column of differential input). */
  totalSamples: number;
  /** Frames drawn (after dropping those narrower than minwidth). */
  frames: number;
  /** With `cp`: the palette map given, plus a colour for every function drawn; write it back to palette.map. */
  palette?: Map<string, string>;
}

const ANNOTATION = /_\[[kwij]\]$/;
const SURROGATE = /[\uD800-\uDFFF]/;

/** For chain graphs (`--colors chain`): frames after each `;--;` are wakers, marked `_[w]` for their colour. */
function markWakers(stack: string): string {
  const parts = stack.split(';--;');
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  const head = parts.shift() ?? '';
  return `${head};--;${parts.map((p) => `${p.replaceAll(';', '_[w];')}_[w]`).join(';--;')}`;
}

/** The frame label: as many characters as fit (`chars`), cut with `..`, annotation removed. */
function labelFor(name: string, chars: number): string {
  if (chars < 3) return '';
  const func = name.endsWith(']') ? name.replace(ANNOTATION, '') : name;
  if (func.length <= chars) return escapeXmlText(func);
  // Lengths are in characters (code points), as perl counts them.
  const points = SURROGATE.test(func) ? Array.from(func) : undefined;
  const length = points ? points.length : func.length;
  if (length <= chars) return escapeXmlText(func);
  const kept = points ? points.slice(0, chars - 2).join('') : func.slice(0, chars - 2);
  return escapeXmlText(`${kept}..`);
}

export function renderFlameGraph(lines: Iterable<string>, options: Partial<RenderOptions> = {}): RenderResult {
  const o = resolveRenderOptions(options);
  const warnings: string[] = [];

  // Parse everything first: whether counts need exact 64-bit sums is known only once all are seen.
  const ordered = orderStackLines(lines, o.reverse, o.flamechart);
  const stacks: string[] = [];
  const counts: number[] = [];
  const countTexts: string[] = [];
  const deltas: (number | undefined)[] = [];
  let ignoredLines = 0;
  let sum = 0;
  let fractional = false;
  for (const line of ordered) {
    const parsed = parseStackLine(line);
    if (!parsed) {
      ignoredLines++;
      continue;
    }
    const widthText = parsed.count2 ?? parsed.count;
    const width = Number(widthText);
    stacks.push(o.colors === 'chain' ? markWakers(parsed.stack) : parsed.stack);
    counts.push(width);
    countTexts.push(widthText);
    deltas.push(parsed.count2 === undefined ? undefined : width - Number(parsed.count));
    sum += width;
    if (widthText.includes('.')) fractional = true;
  }
  const merger = new FrameMerger(!fractional && sum > Number.MAX_SAFE_INTEGER);
  for (let i = 0; i < stacks.length; i++) {
    merger.add(stacks[i] as string, counts[i] as number, countTexts[i] as string, deltas[i]);
  }
  const flow = merger.finish();
  const time = flow.total;

  if (o.countname === 'samples' && time < 100) {
    warnings.push(`Stack count is low (${formatPerlNumber(time)}). Did something go wrong?`);
  }
  if (ignoredLines > 0) warnings.push(`Ignored ${ignoredLines} lines with invalid format`);
  if (!(time > 0)) {
    throw new PodflameError(
      'EMPTY_INPUT',
      stacks.length === 0
        ? 'no stack counts found: the input has no "stack count" lines (folded stacks, e.g. from podflame collapse)'
        : 'no stack counts found: every count in the input is zero',
      { details: { ignoredLines, warnings } },
    );
  }

  let timeMax = time;
  if (o.total !== undefined && o.total > 0) {
    if (o.total < time) {
      if (o.total / time > 0.02) {
        warnings.push(
          `Specified --total ${formatPerlNumber(o.total)} is less than actual total ${formatPerlNumber(time)}, so ignored`,
        );
      }
    } else {
      timeMax = o.total;
    }
  }

  const widthPerTime = (o.width - 2 * XPAD) / timeMax;
  const minwidthTime = minwidthInCounts(o.minwidth, widthPerTime, timeMax);
  // Frames narrower than minwidth are dropped before the height is known (their children are narrower still).
  let depthMax = 0;
  for (let depth = 0; depth < flow.byDepth.length; depth++) {
    const row = flow.byDepth[depth];
    if (row !== undefined && row.widths.some((w) => !(w < minwidthTime))) depthMax = depth;
  }

  const fh = o.height;
  const ypad1 = o.fontsize * 3 + (o.subtitle === '' ? 0 : o.fontsize * 2);
  const ypad2 = o.fontsize * 2 + 10;
  const imageHeight = (depthMax + 1) * fh + ypad1 + ypad2;
  const title = o.title !== '' ? o.title : o.flamechart ? 'Flame Chart' : o.inverted ? 'Icicle Graph' : 'Flame Graph';

  const parts: string[] = [
    documentHead({
      width: o.width,
      imageHeight,
      fontsize: o.fontsize,
      fontwidth: o.fontwidth,
      fonttype: o.fonttype,
      title,
      subtitle: o.subtitle,
      notes: o.notes,
      nametype: o.nametype,
      inverted: o.inverted,
      encoding: o.encoding,
      background: backgroundStops(o.bgcolors, o.colors),
    }),
  ];

  const colorer = new FrameColorer(o.colors, o.hash ? 'hash' : o.random ? 'random' : 'seeded');
  const paletteMap = o.cp ? new Map(o.palette ?? []) : undefined;
  const countsSuffix = ` ${escapeXmlText(o.countname)}, `;
  const totalScaled = timeMax * o.factor;
  const heightAttr = `" height="${formatFixed(fh - FRAMEPAD, 1)}" fill="`;
  const charWidth = o.fontsize * o.fontwidth;
  const groups = new Map<string, GroupTags>();
  const nameattr = o.nameattr;
  let drawn = 0;

  for (let depth = 0; depth <= depthMax; depth++) {
    const row = flow.byDepth[depth];
    if (row === undefined) continue;
    const { names, stimes, etimes, widths, deltas } = row;
    const y1 = o.inverted ? ypad1 + depth * fh : imageHeight - ypad2 - (depth + 1) * fh + FRAMEPAD;
    const y2 = o.inverted ? ypad1 + (depth + 1) * fh - FRAMEPAD : imageHeight - ypad2 - depth * fh;
    const yAttr = `" y="${formatPerlNumber(y1)}" width="`;
    const labelYAttr = `" y="${formatPerlNumber(3 + (y1 + y2) / 2)}">`;
    for (let i = 0; i < names.length; i++) {
      const width = widths[i] as number;
      if (width < minwidthTime) continue;
      const name = names[i] as string;
      const stime = stimes[i] as number;
      const delta = deltas[i] as number;
      const isRoot = depth === 0;
      // The root spans the whole width, also when --total is larger than the sum of counts.
      const etime = isRoot ? timeMax : (etimes[i] as number);
      const x1 = XPAD + stime * widthPerTime;
      const x2 = XPAD + etime * widthPerTime;
      const samples = formatFixed((isRoot ? etime - stime : width) * o.factor, 0);

      let info: string;
      if (isRoot) {
        info = `all (${commify(samples)}${countsSuffix}100%)`;
      } else {
        const func = escapeXmlText(name.endsWith(']') ? name.replace(ANNOTATION, '') : name);
        const pct = formatFixed((100 * Number(samples)) / totalScaled, 2);
        if (delta !== delta) {
          info = `${func} (${commify(samples)}${countsSuffix}${pct}%)`;
        } else {
          const d = o.negate ? -delta : delta;
          const deltaPct = formatFixed((100 * d) / totalScaled, 2);
          info = `${func} (${commify(samples)}${countsSuffix}${pct}%; ${d > 0 ? '+' : ''}${deltaPct}%)`;
        }
      }

      let tags = PLAIN_GROUP;
      const attrs = nameattr?.get(name);
      if (attrs !== undefined) {
        tags = groups.get(name) ?? groupTags(name, attrs, warnings);
        groups.set(name, tags);
      }

      let fill: string;
      if (name === '--') fill = 'rgb(160,160,160)';
      else if (name === '-') fill = 'rgb(200,200,200)';
      else if (delta === delta) fill = differentialRgb(delta, flow.maxDelta, o.negate);
      else if (paletteMap !== undefined) {
        let mapped = paletteMap.get(name);
        if (mapped === undefined) {
          mapped = colorer.colorOf(name);
          paletteMap.set(name, mapped);
        }
        fill = escapeXmlAttr(mapped);
      } else fill = colorer.colorOf(name);

      const x1Text = formatFixed(x1, 1);
      const x2Text = formatFixed(x2, 1);
      // Pieces, not one template string per frame: one join at the end copies each byte once.
      parts.push(
        tags.open,
        '<title>',
        tags.title ?? info,
        '</title><rect x="',
        x1Text,
        yAttr,
        formatFixed(Number(x2Text) - Number(x1Text), 1),
        heightAttr,
        fill,
        '" rx="2" ry="2"/>\n<text x="',
        formatFixed(x1 + 3, 2),
        labelYAttr,
        labelFor(name, Math.trunc((x2 - x1) / charWidth)),
        '</text>\n',
        tags.close,
      );
      drawn++;
    }
  }
  parts.push(DOCUMENT_TAIL);

  const result: RenderResult = { svg: parts.join(''), warnings, ignoredLines, totalSamples: time, frames: drawn };
  if (paletteMap !== undefined) result.palette = paletteMap;
  return result;
}
