import { PodflameError } from '../errors.js';
import { isBackground, isPaletteName, type PaletteName } from './palette.js';
import type { NameAttrs } from './nameattr.js';

/**
 * How a flame graph is drawn. Field names and defaults are flamegraph.pl's options (`--title`, `--width`, ...), so a
 * user's flamegraph.pl command line carries over unchanged.
 */
export interface RenderOptions {
  /** Heading. Default '' = "Flame Graph", or "Icicle Graph" with `inverted`, "Flame Chart" with `flamechart`. */
  title: string;
  /** Second heading line under the title; default '' (none). */
  subtitle: string;
  /** Image width in pixels; default 1200. */
  width: number;
  /** Height of one frame in pixels; default 16. */
  height: number;
  /** Frames narrower than this are omitted: pixels (default 0.1), or `"N%"` of the total (validated at run time). */
  minwidth: number | string;
  /** CSS font family; default "Verdana". */
  fonttype: string;
  /** Font size in pixels; default 12. */
  fontsize: number;
  /** Average glyph width relative to fontsize, for fitting labels; default 0.59. */
  fontwidth: number;
  /** What the counts are; default "samples". */
  countname: string;
  /** What the names are, shown before the hovered frame's details; default "Function:". */
  nametype: string;
  /**
   * Palette: hot (default), mem, io, wakeup, chain, java, js, perl, red, green, blue, aqua, yellow, purple, orange
   * (a string, as API requests carry it; validated at run time).
   */
  colors: string;
  /** Background: yellow, blue, green, grey or `#rrggbb`; default '' = chosen by palette as flamegraph.pl does. */
  bgcolors: string;
  /** Colour by a hash of the name (stable across graphs, flamegraph.pl --hash); default false. */
  hash: boolean;
  /** Random colours (from a fixed seed, so output stays reproducible); `hash` wins when both are set. Default false. */
  random: boolean;
  /** Reverse every stack before merging (a "reverse" flame graph); default false. */
  reverse: boolean;
  /** Icicle graph: root at the top; default false. */
  inverted: boolean;
  /** Keep input order instead of sorting (time order left to right); default false. */
  flamechart: boolean;
  /** Swap the differential hues (red = shrank); default false. */
  negate: boolean;
  /** Multiply counts by this in titles; default 1. */
  factor: number;
  /** Text put in a comment near the top of the SVG; default ''. */
  notes: string;
  /** Width the whole graph stands for, when larger than the sum of counts (to compare graphs); default unset. */
  total?: number | undefined;
  /** Per-function extra attributes (flamegraph.pl --nameattr); default none. Parse a file with parseNameAttrs. */
  nameattr?: ReadonlyMap<string, NameAttrs> | undefined;
  /**
   * Consistent palette (flamegraph.pl --cp): name → fill as read from palette.map, used and extended when `cp` is true.
   * The caller reads and writes the file; the updated map comes back in RenderResult.palette. Default none.
   */
  palette?: ReadonlyMap<string, string> | undefined;
  /** Use and extend `palette`; default false. */
  cp: boolean;
  /** Encoding named in the XML declaration (the bytes are always UTF-8); default '' = not named. */
  encoding: string;
  /**
   * Frames drawn at most: beyond it the narrowest are left out, as a larger `minwidth` would leave them out, and the
   * subtitle says so. The size of the SVG, and of the memory drawing it takes, grows with the frames drawn (some 400
   * bytes each). Default unset: every frame at least `minwidth` wide.
   */
  maxFrames?: number | undefined;
  /**
   * Called with the number of frames about to be drawn, once known (after minwidth and maxFrames) and before any is:
   * a caller that pays for the drawing (the agent's profile worker, in heap) can refuse it by throwing. Default none.
   */
  beforeDraw?: ((frames: number) => void) | undefined;
}

export const DEFAULT_RENDER_OPTIONS: Readonly<RenderOptions> = Object.freeze({
  title: '',
  subtitle: '',
  width: 1200,
  height: 16,
  minwidth: 0.1,
  fonttype: 'Verdana',
  fontsize: 12,
  fontwidth: 0.59,
  countname: 'samples',
  nametype: 'Function:',
  colors: 'hot',
  bgcolors: '',
  hash: false,
  random: false,
  reverse: false,
  inverted: false,
  flamechart: false,
  negate: false,
  factor: 1,
  notes: '',
  total: undefined,
  nameattr: undefined,
  palette: undefined,
  cp: false,
  encoding: '',
  maxFrames: undefined,
  beforeDraw: undefined,
});

function invalid(message: string, details: Record<string, unknown>): PodflameError {
  return new PodflameError('INVALID_REQUEST', message, { details });
}

function checkPositive(name: string, value: number, integer: boolean): void {
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw invalid(`${name} must be a positive ${integer ? 'integer' : 'number'}, got ${String(value)}`, {
      [name]: value,
    });
  }
}

const MINWIDTH_PERCENT = /^(\d+(?:\.\d*)?|\.\d+)%$/;

/**
 * The narrowest `minwidth` a graph drawn for someone else (the agent's API) may ask for: 0.1 px (flamegraph.pl's
 * default) or 0.01% of the total. Each row of frames then holds at most width / 0.1 or 10,000 frames, which bounds the
 * SVG and the time to draw it; `minwidth: 0` would draw every frame of every stack. The CLI, drawing for its own
 * user, keeps flamegraph.pl's freedom.
 */
export const MINWIDTH_FLOOR_PX = 0.1;
export const MINWIDTH_FLOOR_PERCENT = 0.01;

/** Throws INVALID_REQUEST, naming the floor, for a `minwidth` below MINWIDTH_FLOOR_PX / MINWIDTH_FLOOR_PERCENT. */
export function checkMinwidthFloor(minwidth: RenderOptions['minwidth'] | undefined): void {
  if (minwidth === undefined) return;
  const below =
    typeof minwidth === 'string'
      ? MINWIDTH_PERCENT.test(minwidth) && Number(minwidth.slice(0, -1)) < MINWIDTH_FLOOR_PERCENT
      : Number.isFinite(minwidth) && minwidth < MINWIDTH_FLOOR_PX;
  if (below) {
    throw invalid(
      `minwidth must be at least ${MINWIDTH_FLOOR_PX} px or ${MINWIDTH_FLOOR_PERCENT}% (the agent draws no narrower ` +
        `frames), got ${typeof minwidth === 'string' ? `"${minwidth}"` : String(minwidth)}`,
      { minwidth, floor: { px: MINWIDTH_FLOOR_PX, percent: MINWIDTH_FLOOR_PERCENT } },
    );
  }
}
const ENCODING_NAME = /^[A-Za-z][A-Za-z0-9._-]*$/;

/** Minimum frame width as a count, given the pixels per count unit and the total width in count units. */
export function minwidthInCounts(minwidth: RenderOptions['minwidth'], widthPerTime: number, timeMax: number): number {
  if (typeof minwidth === 'string') return (timeMax * Number(minwidth.slice(0, -1))) / 100;
  return minwidth / widthPerTime;
}

/** Options after validation: the palette is a known one. */
export type ResolvedRenderOptions = RenderOptions & { colors: PaletteName };

/** Merges with the defaults (`??`, so 0 and false stay) and validates once. */
export function resolveRenderOptions(options: Partial<RenderOptions> = {}): ResolvedRenderOptions {
  const merged: RenderOptions = { ...DEFAULT_RENDER_OPTIONS };
  for (const key of Object.keys(DEFAULT_RENDER_OPTIONS) as (keyof RenderOptions)[]) {
    const value = options[key];
    if (value !== undefined) (merged as unknown as Record<string, unknown>)[key] = value;
  }
  checkPositive('width', merged.width, true);
  checkPositive('height', merged.height, true);
  checkPositive('fontsize', merged.fontsize, false);
  checkPositive('fontwidth', merged.fontwidth, false);
  if (typeof merged.minwidth === 'string') {
    if (!MINWIDTH_PERCENT.test(merged.minwidth)) {
      throw invalid(`minwidth must be pixels (e.g. 0.1) or a percentage (e.g. 0.5%), got "${merged.minwidth}"`, {
        minwidth: merged.minwidth,
      });
    }
  } else if (!Number.isFinite(merged.minwidth) || merged.minwidth < 0) {
    throw invalid(`minwidth must be zero or more pixels, got ${String(merged.minwidth)}`, {
      minwidth: merged.minwidth,
    });
  }
  if (merged.maxFrames !== undefined) checkPositive('maxFrames', merged.maxFrames, true);
  if (!Number.isFinite(merged.factor) || merged.factor === 0) {
    throw invalid(`factor must be a non-zero number, got ${String(merged.factor)}`, { factor: merged.factor });
  }
  if (merged.total !== undefined && (!Number.isFinite(merged.total) || merged.total < 0)) {
    throw invalid(`total must be a number of ${merged.countname} (zero or more), got ${String(merged.total)}`, {
      total: merged.total,
    });
  }
  if (!isPaletteName(merged.colors)) {
    throw invalid(
      `unknown palette "${String(merged.colors)}": use hot, mem, io, wakeup, chain, java, js, perl, red, green, ` +
        'blue, aqua, yellow, purple or orange',
      { colors: merged.colors },
    );
  }
  if (merged.bgcolors !== '' && !isBackground(merged.bgcolors)) {
    throw invalid(`unknown background "${merged.bgcolors}": use yellow, blue, green, grey or #rrggbb`, {
      bgcolors: merged.bgcolors,
    });
  }
  if (merged.encoding !== '' && !ENCODING_NAME.test(merged.encoding)) {
    throw invalid(`encoding must be an encoding name such as utf-8, got "${merged.encoding}"`, {
      encoding: merged.encoding,
    });
  }
  return merged as ResolvedRenderOptions;
}
