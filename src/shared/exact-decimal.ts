/**
 * The exact-decimal arithmetic workflow code needs, on BigInt, with no dependencies.
 *
 * Why not src/shared/decimal.ts: that module is decimal.js (≈125 KB) and zod (≈450 KB); in the
 * workflow bundle every new workflow evaluates them again in its sandbox (issue 12: most of the
 * workflow thread's busy time). Workflow code only adds, subtracts, flips signs, compares and
 * prints quantities, and averages fills; this does exactly that.
 *
 * Same results as decimal.ts's `D` (decimal.js, 60 significant digits, ROUND_HALF_EVEN), digit
 * for digit: construction keeps every digit, `plus`/`minus`/`mul`/`div` round to 60
 * significant digits half-even as decimal.js does, `toFixed()` prints plain notation without
 * trailing zeros ("0" for any zero, decimal.js prints -0 as "0" too). The equivalence is
 * property-tested against decimal.js (test/unit/exact-decimal.test.ts), so replaying an old
 * history computes the same strings as it did with decimal.js.
 *
 * Input: decimal text as Binance and the bridge write it ("0.00100000", "-1.5", "2e-8", ".5"),
 * finite numbers, or another ExactDecimal. Anything else throws naming the value (decimal.js
 * also took hex/binary text and NaN/Infinity; nothing in this service sends those).
 */

/** decimal.ts's precision: results are rounded to this many significant digits. */
const PRECISION = 60;
const LIMIT = 10n ** BigInt(PRECISION);
const TEXT = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

export type DecimalValue = string | number | ExactDecimal;

const pow10Cache: bigint[] = [];
function pow10(n: number): bigint {
  if (n < 64) return (pow10Cache[n] ??= 10n ** BigInt(n));
  return 10n ** BigInt(n);
}

const abs = (x: bigint) => (x < 0n ? -x : x);
const digitsOf = (x: bigint) => abs(x).toString().length;

/** `units / 10^drop` rounded half-even; `sticky` says a non-zero remainder lies beyond `units`. */
function shiftRoundHalfEven(units: bigint, drop: number, sticky = false): bigint {
  if (drop <= 0) return units * pow10(-drop);
  const negative = units < 0n;
  const a = negative ? -units : units;
  const d = pow10(drop);
  let q = a / d;
  const r = a % d;
  const twice = r * 2n;
  if (twice > d || (twice === d && (sticky || q % 2n === 1n))) q += 1n;
  return negative ? -q : q;
}

export class ExactDecimal {
  /** value = units × 10^-scale, scale ≥ 0. */
  private constructor(
    readonly units: bigint,
    readonly scale: number,
  ) {}

  /** Internal: builds a value, folding a negative scale into the units. */
  static of(units: bigint, scale: number): ExactDecimal {
    return scale < 0 ? new ExactDecimal(units * pow10(-scale), 0) : new ExactDecimal(units, scale);
  }

  static from(value: DecimalValue): ExactDecimal {
    if (value instanceof ExactDecimal) return value;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new Error(`decimal: ${value} is not a finite number`);
      if (Number.isInteger(value) && Number.isSafeInteger(value)) return new ExactDecimal(BigInt(value), 0);
      // The shortest text that round-trips, as decimal.js reads a number.
      return ExactDecimal.parse(String(value));
    }
    return ExactDecimal.parse(value);
  }

  private static parse(text: string): ExactDecimal {
    const m = typeof text === 'string' ? TEXT.exec(text) : null;
    const int = m?.[2] ?? '';
    const frac = m?.[3] ?? '';
    if (!m || (int === '' && frac === '')) throw new Error(`decimal: not a decimal number: ${JSON.stringify(String(text).slice(0, 40))}`);
    const exp = m[4] === undefined ? 0 : Number(m[4]);
    if (!Number.isSafeInteger(exp) || Math.abs(exp) > 10_000) throw new Error(`decimal: exponent out of range in ${JSON.stringify(text.slice(0, 40))}`);
    let units = BigInt((int + frac).replace(/^0+(?=\d)/, '') || '0');
    if (m[1] === '-') units = -units;
    return ExactDecimal.of(units, frac.length - exp);
  }

  /** decimal.js's rounding of an arithmetic result to PRECISION significant digits. */
  private static rounded(units: bigint, scale: number, sticky = false): ExactDecimal {
    if (abs(units) < LIMIT && !sticky) return ExactDecimal.of(units, scale);
    const drop = digitsOf(units) - PRECISION;
    if (drop <= 0) return ExactDecimal.of(units, scale);
    return ExactDecimal.of(shiftRoundHalfEven(units, drop, sticky), scale - drop);
  }

  /** Both operands' units at the larger scale. */
  private aligned(other: ExactDecimal): [bigint, bigint, number] {
    if (this.scale === other.scale) return [this.units, other.units, this.scale];
    if (this.scale > other.scale) return [this.units, other.units * pow10(this.scale - other.scale), this.scale];
    return [this.units * pow10(other.scale - this.scale), other.units, other.scale];
  }

  plus(value: DecimalValue): ExactDecimal {
    const [a, b, s] = this.aligned(ExactDecimal.from(value));
    return ExactDecimal.rounded(a + b, s);
  }

  minus(value: DecimalValue): ExactDecimal {
    const [a, b, s] = this.aligned(ExactDecimal.from(value));
    return ExactDecimal.rounded(a - b, s);
  }

  mul(value: DecimalValue): ExactDecimal {
    const o = ExactDecimal.from(value);
    return ExactDecimal.rounded(this.units * o.units, this.scale + o.scale);
  }

  /** Division rounded to 60 significant digits half-even, as decimal.js's `div`. */
  div(value: DecimalValue): ExactDecimal {
    const o = ExactDecimal.from(value);
    if (o.units === 0n) throw new Error('decimal: division by zero');
    if (this.units === 0n) return ZERO_EXACT;
    // Enough digits in the integer quotient to round to PRECISION, with the remainder as sticky.
    const k = Math.max(0, PRECISION + 1 + digitsOf(o.units) - digitsOf(this.units));
    const n = abs(this.units) * pow10(k);
    const d = abs(o.units);
    const q = n / d;
    const sticky = n % d !== 0n;
    const negative = this.units < 0n !== o.units < 0n;
    const drop = digitsOf(q) - PRECISION;
    const units = shiftRoundHalfEven(q, drop, sticky);
    return ExactDecimal.of(negative ? -units : units, k + this.scale - o.scale - drop);
  }

  /** Rounded half-even to at most `places` decimal places (decimal.js `toDecimalPlaces(places)`). */
  toDecimalPlaces(places: number): ExactDecimal {
    if (!Number.isInteger(places) || places < 0) throw new Error(`decimal: places must be a whole number ≥ 0, not ${places}`);
    if (this.scale <= places) return this;
    return ExactDecimal.of(shiftRoundHalfEven(this.units, this.scale - places), places);
  }

  cmp(value: DecimalValue): -1 | 0 | 1 {
    const [a, b] = this.aligned(ExactDecimal.from(value));
    return a < b ? -1 : a > b ? 1 : 0;
  }

  eq(value: DecimalValue): boolean {
    return this.cmp(value) === 0;
  }
  gt(value: DecimalValue): boolean {
    return this.cmp(value) > 0;
  }
  gte(value: DecimalValue): boolean {
    return this.cmp(value) >= 0;
  }
  lt(value: DecimalValue): boolean {
    return this.cmp(value) < 0;
  }
  lte(value: DecimalValue): boolean {
    return this.cmp(value) <= 0;
  }
  isZero(): boolean {
    return this.units === 0n;
  }
  /** Strictly below zero (decimal.js's isNeg is also true for -0; there is no -0 here). */
  isNegative(): boolean {
    return this.units < 0n;
  }
  neg(): ExactDecimal {
    return ExactDecimal.of(-this.units, this.scale);
  }
  abs(): ExactDecimal {
    return this.units < 0n ? this.neg() : this;
  }

  /** Plain notation, no exponent, no trailing zeros: decimal.js's `toFixed()` of the same value. */
  toFixed(): string {
    if (this.units === 0n) return '0';
    const negative = this.units < 0n;
    let digits = abs(this.units).toString();
    let scale = this.scale;
    let end = digits.length;
    while (scale > 0 && digits.charCodeAt(end - 1) === 48) {
      end--;
      scale--;
    }
    digits = digits.slice(0, end);
    let text: string;
    if (scale === 0) text = digits;
    else if (digits.length > scale) text = `${digits.slice(0, digits.length - scale)}.${digits.slice(digits.length - scale)}`;
    else text = `0.${'0'.repeat(scale - digits.length)}${digits}`;
    return negative ? `-${text}` : text;
  }

  toString(): string {
    return this.toFixed();
  }
  toJSON(): string {
    return this.toFixed();
  }
}

const ZERO_EXACT = ExactDecimal.of(0n, 0);

/** The workflow-side `dec()`: same calls as decimal.ts's for what workflow code does. */
export function dec(value: DecimalValue): ExactDecimal {
  return ExactDecimal.from(value);
}

export const ZERO: ExactDecimal = ZERO_EXACT;

/** decimal.ts's `toWire`: the canonical wire form ("0.001", "42", "0"). */
export function toWire(value: DecimalValue): string {
  return ExactDecimal.from(value).toFixed();
}

export function sum(values: Iterable<DecimalValue>): ExactDecimal {
  let acc = ZERO_EXACT;
  for (const v of values) acc = acc.plus(v);
  return acc;
}
