/**
 * Frame colours, as flamegraph.pl picks them (every palette, --hash, --random, the name-seeded default). The fill is
 * part of what the conformance corpus compares, so the formulas, their floating-point order of operations and the
 * truncations are flamegraph.pl's; the code is written from the documented behaviour (../corpus/MANIFEST.md).
 */

export const PALETTES = [
  'hot',
  'mem',
  'io',
  'wakeup',
  'chain',
  'java',
  'js',
  'perl',
  'red',
  'green',
  'blue',
  'aqua',
  'yellow',
  'purple',
  'orange',
] as const;
export type PaletteName = (typeof PALETTES)[number];

export function isPaletteName(value: string): value is PaletteName {
  return (PALETTES as readonly string[]).includes(value);
}

export const BACKGROUNDS = ['yellow', 'blue', 'green', 'grey'] as const;
export type BackgroundName = (typeof BACKGROUNDS)[number];

const BACKGROUND_STOPS: Record<BackgroundName, readonly [string, string]> = {
  yellow: ['#eeeeee', '#eeeeb0'],
  blue: ['#eeeeee', '#e0e0ff'],
  green: ['#eef2ee', '#e0ffe0'],
  grey: ['#f8f8f8', '#e8e8e8'],
};

const FLAT_PALETTES: ReadonlySet<string> = new Set(['red', 'green', 'blue', 'aqua', 'yellow', 'purple', 'orange']);

/** `--bgcolors` when not given: green for mem, blue for io/wakeup/chain, grey for single-hue palettes, else yellow. */
export function defaultBackground(colors: PaletteName): BackgroundName {
  if (colors === 'mem') return 'green';
  if (colors === 'io' || colors === 'wakeup' || colors === 'chain') return 'blue';
  if (FLAT_PALETTES.has(colors)) return 'grey';
  return 'yellow';
}

const SOLID_BACKGROUND = /^#[0-9A-Fa-f]{6}$/;

export function isBackground(value: string): boolean {
  return (BACKGROUNDS as readonly string[]).includes(value) || SOLID_BACKGROUND.test(value);
}

/** The two gradient stops: a named background, or one `#rrggbb` colour for both. */
export function backgroundStops(bgcolors: string, colors: PaletteName): readonly [string, string] {
  const name = bgcolors === '' ? defaultBackground(colors) : bgcolors;
  if (SOLID_BACKGROUND.test(name)) return [name, name];
  return BACKGROUND_STOPS[name as BackgroundName] ?? BACKGROUND_STOPS.yellow;
}

/**
 * flamegraph.pl's `--hash` value in [0, 1): a weighted sum over the first three characters (code point mod 10, 11,
 * 12). Everything up to the first backtick found after the first character is dropped first (`libc.so`malloc` →
 * `malloc`).
 */
export function nameHash(name: string): number {
  const tick = name.indexOf('`', 1);
  const start = tick === -1 ? 0 : tick + 1;
  let vector = 0;
  let weight = 1;
  let max = 1;
  let mod = 10;
  for (let i = start; i < name.length && mod <= 12; i++) {
    const cp = name.codePointAt(i) as number;
    if (cp > 0xffff) i++;
    vector += ((cp % mod) / (mod - 1)) * weight;
    mod++;
    max += 1 * weight;
    weight *= 0.7;
  }
  return 1 - vector / max;
}

/**
 * `nameHash` of the name with its characters reversed (perl's `scalar reverse`), read from the end of the name
 * instead of building the reversed string: the first backtick after the reversed first character is the last one
 * before the name's final character.
 */
export function reversedNameHash(name: string): number {
  const tick = name.length < 2 ? -1 : name.lastIndexOf('`', name.length - 2);
  let i = (tick === -1 ? name.length : tick) - 1;
  let vector = 0;
  let weight = 1;
  let max = 1;
  let mod = 10;
  for (; i >= 0 && mod <= 12; i--) {
    let cp = name.charCodeAt(i);
    // A low surrogate read backwards: the character is the pair ending here.
    if (cp >= 0xdc00 && cp <= 0xdfff && i > 0) {
      const high = name.charCodeAt(i - 1);
      if (high >= 0xd800 && high <= 0xdbff) {
        cp = (high - 0xd800) * 0x400 + (cp - 0xdc00) + 0x10000;
        i--;
      }
    }
    vector += ((cp % mod) / (mod - 1)) * weight;
    mod++;
    max += 1 * weight;
    weight *= 0.7;
  }
  return 1 - vector / max;
}

// perl 5.20+ ships its own drand48: 48-bit LCG X' = (0x5DEECE66D·X + 0xB) mod 2^48, value X'/2^48. The state is split
// into two 24-bit halves so that every product stays below 2^53 and doubles compute it exactly.
const TWO_24 = 0x1000000;
const A_HI = 0x5de;
const A_LO = 0xece66d;
const C = 0xb;

function lcgStep(hi: number, lo: number): [number, number] {
  const loProduct = A_LO * lo + C;
  const carry = Math.floor(loProduct / TWO_24);
  const newLo = loProduct - carry * TWO_24;
  const cross = A_HI * lo + A_LO * hi + carry;
  const newHi = cross % TWO_24;
  return [newHi, newLo];
}

/** perl's `srand(seed); rand()` sequence, so that seeded colours match flamegraph.pl's. */
export class Drand48 {
  private hi: number;
  private lo: number;

  /** perl's srand: X0 = (seed mod 2^32) << 16 | 0x330E. */
  constructor(seed: number) {
    const s = seed >>> 0;
    // (s << 16) + 0x330E split at bit 24: the low 8 bits of s go to the low half.
    this.hi = Math.floor(s / 256);
    this.lo = (s % 256) * 65536 + 0x330e;
  }

  /** The next value in [0, 1). */
  next(): number {
    [this.hi, this.lo] = lcgStep(this.hi, this.lo);
    return (this.hi * TWO_24 + this.lo) / 2 ** 48;
  }
}

/**
 * flamegraph.pl's default colour value (no --hash, no --random): `srand(sum of code points mod 2^32); rand(1)`, so a
 * function keeps its colour across graphs while the graph keeps the classic random look.
 */
export function seededNameValue(name: string): number {
  let sum = 0;
  for (let i = 0; i < name.length; i++) {
    const cp = name.codePointAt(i) as number;
    if (cp > 0xffff) i++;
    sum = (sum + cp) % 0x100000000;
  }
  return new Drand48(sum).next();
}

/** Which single-hue palette a multi-palette (java, js, perl, wakeup, chain) gives this frame name. */
export function resolvePalette(palette: PaletteName, name: string): PaletteName {
  switch (palette) {
    case 'java':
      // Annotations from the collapser (_[j] JIT, _[i] inline, _[k] kernel) are reliable; otherwise guess by shape.
      if (name.endsWith('_[j]')) return 'green';
      if (name.endsWith('_[i]')) return 'aqua';
      if (/^L?(?:java|javax|jdk|net|org|com|io|sun)\//.test(name)) return 'green';
      if (name.includes(':::')) return 'green';
      if (name.includes('::')) return 'yellow';
      if (name.endsWith('_[k]')) return 'orange';
      return 'red';
    case 'js':
      if (name.endsWith('_[j]')) return name.includes('/') ? 'green' : 'aqua';
      if (name.includes('::')) return 'yellow';
      if (/\/.*\.js/.test(name)) return 'green';
      if (name.includes(':')) return 'aqua';
      if (name === ' ') return 'green';
      if (name.includes('_[k]')) return 'orange';
      return 'red';
    case 'perl':
      if (name.includes('::')) return 'yellow';
      if (name.includes('Perl') || name.includes('.pl')) return 'green';
      if (name.endsWith('_[k]')) return 'orange';
      return 'red';
    case 'wakeup':
      return 'aqua';
    case 'chain':
      return name.includes('_[w]') ? 'aqua' : 'blue';
    default:
      return palette;
  }
}

const trunc = Math.trunc;

/** `rgb(r,g,b)` of a palette for the three values in [0, 1). */
export function paletteRgb(palette: PaletteName, v1: number, v2: number, v3: number): string {
  switch (palette) {
    case 'hot':
      return `rgb(${205 + trunc(50 * v3)},${trunc(230 * v1)},${trunc(55 * v2)})`;
    case 'mem':
      return `rgb(0,${190 + trunc(50 * v2)},${trunc(210 * v1)})`;
    case 'io': {
      const rg = 80 + trunc(60 * v1);
      return `rgb(${rg},${rg},${190 + trunc(55 * v2)})`;
    }
    case 'red': {
      const x = 50 + trunc(80 * v1);
      return `rgb(${200 + trunc(55 * v1)},${x},${x})`;
    }
    case 'green': {
      const x = 50 + trunc(60 * v1);
      return `rgb(${x},${200 + trunc(55 * v1)},${x})`;
    }
    case 'blue': {
      const x = 80 + trunc(60 * v1);
      return `rgb(${x},${x},${205 + trunc(50 * v1)})`;
    }
    case 'yellow': {
      const x = 175 + trunc(55 * v1);
      return `rgb(${x},${x},${50 + trunc(20 * v1)})`;
    }
    case 'purple': {
      const x = 190 + trunc(65 * v1);
      return `rgb(${x},${80 + trunc(60 * v1)},${x})`;
    }
    case 'aqua':
      return `rgb(${50 + trunc(60 * v1)},${165 + trunc(55 * v1)},${165 + trunc(55 * v1)})`;
    case 'orange':
      return `rgb(${190 + trunc(65 * v1)},${90 + trunc(65 * v1)},0)`;
    default:
      // Multi-palettes are resolved by the caller; anything else is black, as in flamegraph.pl.
      return 'rgb(0,0,0)';
  }
}

/** How the three palette values are drawn for a name. */
export type ColorMode = 'hash' | 'random' | 'seeded';

/** Colours frames by name: cached per name except in random mode, where every frame draws new values. */
export class FrameColorer {
  private readonly cache = new Map<string, string>();
  private readonly random: Drand48;

  constructor(
    private readonly palette: PaletteName,
    private readonly mode: ColorMode,
    /** Seed of the --random sequence: fixed, so that even "random" output is reproducible. */
    randomSeed = 0,
  ) {
    this.random = new Drand48(randomSeed);
  }

  colorOf(name: string): string {
    if (this.mode === 'random') return this.compute(name);
    let color = this.cache.get(name);
    if (color === undefined) {
      color = this.compute(name);
      this.cache.set(name, color);
    }
    return color;
  }

  private compute(name: string): string {
    let v1: number;
    let v2: number;
    let v3: number;
    if (this.mode === 'hash') {
      v1 = nameHash(name);
      v2 = v3 = reversedNameHash(name);
    } else if (this.mode === 'random') {
      v1 = this.random.next();
      v2 = this.random.next();
      v3 = this.random.next();
    } else {
      v1 = v2 = v3 = seededNameValue(name);
    }
    return paletteRgb(resolvePalette(this.palette, name), v1, v2, v3);
  }
}

/**
 * Differential colour: white → red for growth, white → blue for shrinkage, scaled by the largest |delta| of any input
 * line (at least 1). `negate` swaps the hues.
 */
export function differentialRgb(delta: number, maxDelta: number, negate: boolean): string {
  const value = negate ? -delta : delta;
  if (value > 0) {
    const gb = trunc((210 * (maxDelta - value)) / maxDelta);
    return `rgb(255,${gb},${gb})`;
  }
  if (value < 0) {
    const rg = trunc((210 * (maxDelta + value)) / maxDelta);
    return `rgb(${rg},${rg},255)`;
  }
  return 'rgb(255,255,255)';
}
