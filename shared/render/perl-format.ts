/**
 * Numbers printed the way flamegraph.pl prints them, because the conformance corpus compares titles and y
 * coordinates byte for byte and x/width to 0.1 px. Perl's `sprintf '%.1f'` is C's printf: the exact binary value,
 * ties (only possible for dyadic fractions such as 0.25 or 2.5) rounded half to even. JavaScript's `toFixed` is exact
 * too but breaks ties away from zero, so `(0.125).toFixed(2)` is `0.13` where perl prints `0.12`.
 */

// x * 2^(digits+1) is an odd integer exactly when x sits halfway between two `digits`-decimal numbers: a tie at one
// decimal must be a multiple of 1/20 that is dyadic, hence k/4 with k odd; at two decimals k/8; at none k/2.
const TIE_SCALE = [2, 4, 8] as const;

const SCALE = [1, 10, 100] as const;

/** `sprintf("%.Nf", x)` for N = 0, 1 or 2. */
export function formatFixed(x: number, digits: 0 | 1 | 2): string {
  // String() prints the shortest round-trip digits, exact only up to 2^53; BigInt prints a larger integer exactly.
  if (digits === 0 && Number.isInteger(x)) {
    return Math.abs(x) <= Number.MAX_SAFE_INTEGER ? String(x) : BigInt(x).toString();
  }
  const ax = Math.abs(x);
  if (ax < 1e9) {
    // Fast path (an SVG has tens of thousands of these): away from a halfway point, rounding the scaled double
    // gives the same digits as the exact value (the scaling error is below 1e-7 here).
    const scale = SCALE[digits];
    const n = ax * scale;
    const floor = Math.floor(n);
    const frac = n - floor;
    if (Math.abs(frac - 0.5) > 1e-6) {
      const r = frac > 0.5 ? floor + 1 : floor;
      let s: string;
      if (digits === 0) {
        s = String(r);
      } else {
        const int = Math.floor(r / scale);
        const dec = r - int * scale;
        s = `${int}.${digits === 2 && dec < 10 ? '0' : ''}${dec}`;
      }
      return x < 0 ? `-${s}` : s;
    }
  }
  return formatFixedExact(x, digits);
}

function formatFixedExact(x: number, digits: 0 | 1 | 2): string {
  if (!Number.isFinite(x)) return x > 0 ? 'Inf' : x < 0 ? '-Inf' : 'NaN';
  if (Math.abs(x) >= 1e21) {
    // toFixed switches to exponent notation here; such doubles are integers, which BigInt prints exactly.
    const int = BigInt(x).toString();
    return digits === 0 ? int : `${int}.${'0'.repeat(digits)}`;
  }
  const s = x.toFixed(digits);
  const scaled = x * TIE_SCALE[digits];
  if (Number.isInteger(scaled) && scaled % 2 !== 0) {
    // A tie: toFixed rounded away from zero; C keeps the even neighbour, one unit of the last digit closer to zero.
    const last = s.charCodeAt(s.length - 1) - 48;
    if (last % 2 === 1) return s.slice(0, -1) + String(last - 1);
  }
  return s;
}

/** Perl's default stringification of a number (`%.15g`), used where flamegraph.pl prints a computed value raw. */
export function formatPerlNumber(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e15) return String(x);
  if (!Number.isFinite(x)) return x > 0 ? 'Inf' : x < 0 ? '-Inf' : 'NaN';
  const [mantissa, expText] = x.toExponential(14).split('e') as [string, string];
  const exp = Number(expText);
  if (exp < -4 || exp >= 15) {
    const m = mantissa.includes('.') ? mantissa.replace(/0+$/, '').replace(/\.$/, '') : mantissa;
    const sign = exp < 0 ? '-' : '+';
    return `${m}e${sign}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  let out: string;
  if (exp >= 0) {
    out = `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  } else {
    out = `0.${'0'.repeat(-exp - 1)}${digits}`;
  }
  out = out.replace(/0+$/, '').replace(/\.$/, '');
  return negative ? `-${out}` : out;
}

/** A number as perl would hold it after printing and reading back (`"$x" + 0`), as flamegraph.pl's frame ids do. */
export function perlRoundTrip(x: number): number {
  return Number.isInteger(x) && Math.abs(x) < 1e15 ? x : Number(formatPerlNumber(x));
}

/** Thousands separators on an integer string (perlfaq5's commify): `1234567` → `1,234,567`. */
export function commify(intText: string): string {
  const sign = intText.startsWith('-') || intText.startsWith('+') ? intText[0] : '';
  const digits = sign ? intText.slice(1) : intText;
  if (digits.length <= 3 || !/^\d+$/.test(digits)) return intText;
  const head = digits.length % 3 || 3;
  let out = digits.slice(0, head);
  for (let i = head; i < digits.length; i += 3) out += `,${digits.slice(i, i + 3)}`;
  return sign + out;
}
