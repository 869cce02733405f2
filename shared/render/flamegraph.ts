/**
 * Folded stacks → interactive SVG, as flamegraph.pl draws them (FlameGraph @41fee1f): same frames, geometry, titles
 * and colours, so the conformance corpus matches frame for frame. Unlike flamegraph.pl the output is always
 * well-formed XML and the same input always gives the same bytes (frames are written by depth, then left to right,
 * not in perl's hash order). No file I/O: the caller reads the input, --nameattr and palette.map files.
 */
import { PodflameError } from '../errors.js';
import { readByteStackLines } from './folded-bytes.js';
import { countStart, orderStackLines } from './folded-input.js';
import { frameNameAt, FrameMerger, type FlowResult } from './flow.js';
import { groupTags, PLAIN_GROUP, type GroupTags } from './group-attributes.js';
import { minwidthInCounts, resolveRenderOptions, type RenderOptions, type ResolvedRenderOptions } from './options.js';
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

/**
 * Which frames `maxFrames` lets through: every frame wider than `width` (in counts), and of those exactly `width`
 * wide the first `ties` in drawing order (by depth, then left to right). The widest first, so a frame is drawn only
 * with its parent (never narrower than it, and before it in that order among equals): what is drawn is still a tree.
 * `width` is at least `minwidth`; within the bound, every frame at least `minwidth` wide and no tie rule.
 */
function frameBound(
  rows: readonly ({ widths: readonly number[] } | undefined)[],
  minwidth: number,
  maxFrames: number,
): { width: number; ties: number; frames: number } | undefined {
  let frames = 0;
  for (const row of rows) for (const w of row?.widths ?? []) if (!(w < minwidth)) frames++;
  if (frames <= maxFrames) return undefined;
  const widths = new Float64Array(frames);
  let at = 0;
  for (const row of rows) for (const w of row?.widths ?? []) if (!(w < minwidth)) widths[at++] = w;
  widths.sort();
  // widths[frames - maxFrames] is the narrowest of the widest maxFrames; its equals below it are left out.
  const width = widths[frames - maxFrames] as number;
  let wider = frames - maxFrames;
  while (wider < frames && (widths[wider] as number) <= width) wider++;
  return { width, ties: maxFrames - (frames - wider), frames };
}

/** Whether frames are drawn, in drawing order: at least `minwidth`, and within a `frameBound`. */
class FrameFilter {
  private tiesLeft: number;
  drawn = 0;

  constructor(
    private readonly minwidth: number,
    private readonly bound: { width: number; ties: number } | undefined,
  ) {
    this.tiesLeft = bound?.ties ?? 0;
  }

  take(width: number): boolean {
    if (width < this.minwidth) return false;
    const bound = this.bound;
    if (bound !== undefined && !(width > bound.width)) {
      if (width < bound.width || this.tiesLeft === 0) return false;
      this.tiesLeft--;
    }
    this.drawn++;
    return true;
  }
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

  // Parse everything first: whether counts need exact 64-bit sums is known only once all are seen. Lines are kept
  // whole, with the length of their stack part: no per-line objects (the garbage collector would copy them all).
  const ordered = orderStackLines(lines, o.reverse, o.flamechart);
  const texts: string[] = [];
  const stackLengths: number[] = [];
  const counts: number[] = [];
  const deltas: number[] = [];
  // Where each width count is (line index, count offset): read again as an integer in exact mode.
  const countLines: number[] = [];
  const countOffsets: number[] = [];
  let differential = false;
  let ignoredLines = 0;
  let sum = 0;
  let fractional = false;
  for (let l = 0; l < ordered.length; l++) {
    const line = ordered[l] as string;
    const at = countStart(line);
    if (at === -1) {
      ignoredLines++;
      continue;
    }
    countLines.push(l);
    countOffsets.push(at + 1);
    // `stack before after`: the last count is the width, after − before the delta.
    const at2 = countStart(line, at);
    const widthText = line.slice(at + 1);
    const width = Number(widthText);
    const stackLength = at2 === -1 ? at : at2;
    if (o.colors === 'chain') {
      const marked = markWakers(line.slice(0, stackLength));
      texts.push(marked);
      stackLengths.push(marked.length);
    } else {
      texts.push(line);
      stackLengths.push(stackLength);
    }
    counts.push(width);
    if (at2 === -1) {
      deltas.push(NaN);
    } else {
      differential = true;
      deltas.push(width - Number(line.slice(at2 + 1, at)));
    }
    sum += width;
    if (!fractional && widthText.includes('.')) fractional = true;
  }
  const exact = !fractional && sum > Number.MAX_SAFE_INTEGER;
  const merger = new FrameMerger(exact, fractional);
  for (let i = 0; i < texts.length; i++) {
    const text = texts[i] as string;
    const delta = differential && !Number.isNaN(deltas[i]) ? (deltas[i] as number) : undefined;
    // Only for inputs with counts beyond 2^53: the count again, as an integer.
    const bigCount = exact ? BigInt((ordered[countLines[i] as number] as string).slice(countOffsets[i])) : 0n;
    merger.add(text, stackLengths[i] as number, counts[i] as number, delta, bigCount);
  }
  return drawFlow(merger.finish(), o, { ignoredLines, stackLines: texts.length, warnings });
}

/** Lines of each text in turn, as perl's `<>` reads several files: a last line without newline stays a line. */
export function* linesOfTexts(texts: readonly string[]): Generator<string> {
  for (const text of texts) {
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    yield* lines;
  }
}

/**
 * `renderFlameGraph` of the UTF-8 bytes of one or more folded files, read in turn: the same document, but the common
 * input (one count per line, valid UTF-8) is merged from the bytes, without decoding it (folded-bytes.ts).
 */
export function renderFlameGraphFromBytes(
  chunks: readonly Buffer[],
  options: Partial<RenderOptions> = {},
): RenderResult {
  const o = resolveRenderOptions(options);
  // --reverse and chain graphs rewrite every stack: they take the text path.
  const lines = o.reverse || o.colors === 'chain' ? undefined : readByteStackLines(chunks, o.flamechart);
  if (lines === undefined) return renderFlameGraph(linesOfTexts(chunks.map((c) => c.toString('utf8'))), options);
  const merger = new FrameMerger(false, lines.fractional);
  const { chunkOf, starts, stackEnds, counts } = lines;
  for (let i = 0; i < starts.length; i++) {
    merger.addBytes(
      lines.chunks[chunkOf[i] as number] as Buffer,
      starts[i] as number,
      stackEnds[i] as number,
      counts[i] as number,
    );
  }
  return drawFlow(merger.finish(), o, {
    ignoredLines: lines.ignoredLines,
    stackLines: starts.length,
    warnings: [],
  });
}

/** What parsing the input found, besides the frames: for the warnings and the empty-input error. */
export interface ParsedInputSummary {
  /** Lines that were not `stack count` nor `stack count count`. */
  ignoredLines: number;
  /** Lines that were. */
  stackLines: number;
  /** Warnings so far. */
  warnings: string[];
}

/** The second half of rendering: merged frames → the document (shared by the text and the byte input). */
export function drawFlow(flow: FlowResult, o: ResolvedRenderOptions, input: ParsedInputSummary): RenderResult {
  const { ignoredLines, warnings } = input;
  const time = flow.total;

  if (o.countname === 'samples' && time < 100) {
    warnings.push(`Stack count is low (${formatPerlNumber(time)}). Did something go wrong?`);
  }
  if (ignoredLines > 0) warnings.push(`Ignored ${ignoredLines} lines with invalid format`);
  if (!(time > 0)) {
    throw new PodflameError(
      'EMPTY_INPUT',
      input.stackLines === 0
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
  const bound = o.maxFrames === undefined ? undefined : frameBound(flow.byDepth, minwidthTime, o.maxFrames);
  // Frames narrower than minwidth (or beyond maxFrames) are dropped before the height is known (their children are
  // narrower still, or later among equals).
  let depthMax = 0;
  const sizing = new FrameFilter(minwidthTime, bound);
  for (let depth = 0; depth < flow.byDepth.length; depth++) {
    const row = flow.byDepth[depth];
    let any = false;
    for (const w of row?.widths ?? []) if (sizing.take(w)) any = true;
    if (any) depthMax = depth;
  }
  o.beforeDraw?.(sizing.drawn);
  let subtitle = o.subtitle;
  if (bound !== undefined) {
    const px = formatPerlNumber(Math.round(bound.width * widthPerTime * 1000) / 1000);
    warnings.push(
      `drew ${sizing.drawn} of ${bound.frames} frames: at most ${o.maxFrames} are drawn, the widest first ` +
        `(frames of ${px} px and narrower were left out)`,
    );
    subtitle = `${subtitle}${subtitle === '' ? '' : ' — '}only the ${sizing.drawn} widest frames drawn`;
  }

  const fh = o.height;
  const ypad1 = o.fontsize * 3 + (subtitle === '' ? 0 : o.fontsize * 2);
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
      subtitle,
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

  const filter = new FrameFilter(minwidthTime, bound);
  for (let depth = 0; depth <= depthMax; depth++) {
    const row = flow.byDepth[depth];
    if (row === undefined) continue;
    const { stimes, etimes, widths, deltas } = row;
    const y1 = o.inverted ? ypad1 + depth * fh : imageHeight - ypad2 - (depth + 1) * fh + FRAMEPAD;
    const y2 = o.inverted ? ypad1 + (depth + 1) * fh - FRAMEPAD : imageHeight - ypad2 - depth * fh;
    const yAttr = `" y="${formatPerlNumber(y1)}" width="`;
    const labelYAttr = `" y="${formatPerlNumber(3 + (y1 + y2) / 2)}">`;
    for (let i = 0; i < widths.length; i++) {
      const width = widths[i] as number;
      if (!filter.take(width)) continue;
      const name = frameNameAt(row, i);
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
      const rectWidth = formatFixed(Number(x2Text) - Number(x1Text), 1);
      const labelX = formatFixed(x1 + 3, 2);
      const label = labelFor(name, Math.trunc((x2 - x1) / charWidth));
      // One string per frame: a push of ~15 pieces each took V8's slow path, and joining 190,000 pieces cost more
      // than building them (render of 12,000 frames: ~110 → ~45 ms of CPU in the draw loop).
      parts.push(
        `${tags.open}<title>${tags.title ?? info}</title><rect x="${x1Text}${yAttr}${rectWidth}${heightAttr}${fill}` +
          `" rx="2" ry="2"/>\n<text x="${labelX}${labelYAttr}${label}</text>\n${tags.close}`,
      );
      drawn++;
    }
  }
  parts.push(DOCUMENT_TAIL);

  const result: RenderResult = { svg: parts.join(''), warnings, ignoredLines, totalSamples: time, frames: drawn };
  if (paletteMap !== undefined) result.palette = paletteMap;
  return result;
}
