/**
 * Numbers as perl 5 holds and prints them, for difffolded.pl's counts. Perl keeps a whole number that fits 64 bits
 * as an exact integer (IV/UV) and adds such integers exactly; anything else (a fraction, an overflow, a whole number
 * past 2^64) is a double, printed with `%.15g`. Matching this keeps `14.2343983248722834234` printing as
 * `14.2343983248723` and `18446744073709551615` printing in full, as difffolded.pl does.
 */

/** A perl scalar's numeric value: an exact integer (IV/UV) or a double (NV). */
export type PerlNumber = bigint | number;

const UV_MAX = (1n << 64n) - 1n;
const IV_MIN = -(1n << 63n);
// A double holds every integer below 2^53 exactly; perl treats such integral NVs as integers in arithmetic.
const NV_EXACT_INT = 2 ** 53;

function fitsInteger(v: bigint): boolean {
  return v >= IV_MIN && v <= UV_MAX;
}

/** Integer view of a value when perl's arithmetic would use one, else undefined. */
function asInteger(v: PerlNumber): bigint | undefined {
  if (typeof v === 'bigint') return v;
  if (Number.isInteger(v) && Math.abs(v) < NV_EXACT_INT) return BigInt(v);
  return undefined;
}

/**
 * Numifies a count as matched by `\d+(?:\.\d*)?`: digits only and at most UV_MAX → exact integer; otherwise a double
 * (perl's grok_number treats `6.` as a non-integer too).
 */
export function parsePerlCount(text: string): PerlNumber {
  if (/^\d+$/.test(text)) {
    const v = BigInt(text);
    if (v <= UV_MAX) return v;
  }
  return Number(text);
}

export function perlAdd(a: PerlNumber, b: PerlNumber): PerlNumber {
  const ia = asInteger(a);
  const ib = asInteger(b);
  if (ia !== undefined && ib !== undefined) {
    const sum = ia + ib;
    if (fitsInteger(sum)) return sum;
  }
  return Number(a) + Number(b);
}

export function perlMultiply(a: PerlNumber, b: PerlNumber): PerlNumber {
  const ia = asInteger(a);
  const ib = asInteger(b);
  if (ia !== undefined && ib !== undefined) {
    const product = ia * ib;
    if (fitsInteger(product)) return product;
  }
  return Number(a) * Number(b);
}

/**
 * `a / b` (b ≠ 0). Perl on 64-bit builds divides integers exactly only when an operand is too big for a double and
 * the division has no remainder; otherwise it divides doubles.
 */
export function perlDivide(a: PerlNumber, b: PerlNumber): PerlNumber {
  const ia = asInteger(a);
  const ib = asInteger(b);
  if (ia !== undefined && ib !== undefined && ib !== 0n) {
    const big = (v: bigint) => v >= BigInt(NV_EXACT_INT) || v <= -BigInt(NV_EXACT_INT);
    if ((big(ia) || big(ib)) && ia % ib === 0n) return ia / ib;
  }
  return Number(a) / Number(b);
}

/** Perl's `int()`: truncation toward zero, an integer again when it fits 64 bits. */
export function perlInt(v: PerlNumber): PerlNumber {
  if (typeof v === 'bigint') return v;
  if (!Number.isFinite(v)) return v;
  const t = Math.trunc(v);
  const asBig = BigInt(t);
  return fitsInteger(asBig) ? asBig : t;
}

export function perlIsZero(v: PerlNumber): boolean {
  return typeof v === 'bigint' ? v === 0n : v === 0;
}

export function perlEquals(a: PerlNumber, b: PerlNumber): boolean {
  if (typeof a === 'bigint' && typeof b === 'bigint') return a === b;
  return Number(a) === Number(b);
}

/** Formats as perl's print does: integers in full, doubles with `%.15g` (`1e+20`, `Inf`, `NaN`). */
export function formatPerlNumber(v: PerlNumber): string {
  if (typeof v === 'bigint') return v.toString();
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? 'Inf' : '-Inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  return formatG15(v);
}

const PRECISION = 15;

/** C's `%.15g`: 15 significant digits, trailing zeros dropped, exponent form when exp < -4 or exp >= 15. */
function formatG15(v: number): string {
  const exponential = v.toExponential(PRECISION - 1); // e.g. "1.23456789012346e+19"
  const [mantissa = '', expText = '0'] = exponential.split('e');
  const exp = Number(expText);
  if (exp < -4 || exp >= PRECISION) {
    const digits = stripZeros(mantissa);
    const sign = exp < 0 ? '-' : '+';
    const abs = Math.abs(exp);
    return `${digits}e${sign}${abs < 10 ? '0' : ''}${abs}`;
  }
  return stripZeros(v.toFixed(Math.max(0, PRECISION - 1 - exp)));
}

function stripZeros(fixed: string): string {
  if (!fixed.includes('.')) return fixed;
  return fixed.replace(/\.?0+$/, '');
}
