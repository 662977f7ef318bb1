/**
 * The workflow-side exact decimal (src/shared/exact-decimal.ts) gives, digit for digit, what
 * decimal.ts's decimal.js `D` gives for the same operations: a replayed history must compute the
 * same quantity strings as when it ran with decimal.js.
 */
import fc from 'fast-check';
import { D, toWire as decimalJsWire } from '../../src/shared/decimal';
import { dec, ExactDecimal, sum, toWire } from '../../src/shared/exact-decimal';

const RUNS = 3000;

/** Decimal text as Binance, the bridge and the workflows write it, and some that they do not. */
const digits = (min: number, max: number) => fc.stringMatching(new RegExp(`^[0-9]{${min},${max}}$`));
const decimalText = fc.oneof(
  // Binance-shaped: up to 12 integer digits, 8 decimals with trailing zeros.
  fc.tuple(fc.constantFrom('', '-'), digits(1, 12), digits(0, 8)).map(([s, i, f]) => `${s}${i}${f ? `.${f}` : ''}`),
  // Wide: up to 40 digits either side (sums of these exceed 60 significant digits and round).
  fc.tuple(fc.constantFrom('', '-', '+'), digits(0, 40), digits(0, 40)).filter(([, i, f]) => i.length + f.length > 0).map(([s, i, f]) => `${s}${i}${f ? `.${f}` : i ? '' : '.0'}`),
  // Exponent notation, leading dot, trailing dot.
  fc.tuple(fc.constantFrom('', '-'), digits(1, 20), fc.integer({ min: -80, max: 80 })).map(([s, i, e]) => `${s}${i}e${e}`),
  fc.tuple(fc.constantFrom('', '-'), digits(1, 10)).map(([s, f]) => `${s}.${f}`),
  digits(1, 10).map((i) => `${i}.`),
  fc.constantFrom('0', '-0', '0.00000000', '1', '-1', '0.1', '100', '1e-60', '1e60', '999999999999999999999999999999.999999999999999999999999999999'),
);
const value = fc.oneof(
  decimalText,
  fc.integer({ min: -1_000_000, max: 1_000_000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e25, max: 1e25 }),
);

const js = (v: string | number) => new D(v);
const ex = (v: string | number) => dec(v);

describe('exact-decimal matches decimal.js (60 digits, ROUND_HALF_EVEN)', () => {
  it('construction and toFixed / toWire', () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(ex(v).toFixed()).toBe(js(v).toFixed());
        expect(toWire(v)).toBe(decimalJsWire(v));
      }),
      { numRuns: RUNS },
    );
  });

  it('plus, minus, mul (also by a sign ±1), and chains of them', () => {
    fc.assert(
      fc.property(value, value, fc.constantFrom(1, -1), (a, b, sign) => {
        expect(ex(a).plus(b).toFixed()).toBe(js(a).plus(b).toFixed());
        expect(ex(a).minus(b).toFixed()).toBe(js(a).minus(b).toFixed());
        expect(ex(a).mul(sign).toFixed()).toBe(js(a).mul(sign).toFixed());
        expect(ex(a).mul(b).toFixed()).toBe(js(a).mul(b).toFixed());
        expect(ex(a).plus(ex(b).mul(sign)).minus(a).toFixed()).toBe(js(a).plus(js(b).mul(sign)).minus(a).toFixed());
      }),
      { numRuns: RUNS },
    );
  });

  it('comparisons and isZero', () => {
    fc.assert(
      fc.property(value, value, (a, b) => {
        const x = ex(a);
        const y = js(a);
        expect([x.eq(b), x.gt(b), x.gte(b), x.lt(b), x.lte(b), x.isZero()]).toEqual([y.eq(b), y.gt(b), y.gte(b), y.lt(b), y.lte(b), y.isZero()]);
        expect(x.cmp(b)).toBe(y.cmp(b));
      }),
      { numRuns: RUNS },
    );
  });

  it('sum (decimal.ts sum) of a list', () => {
    fc.assert(
      fc.property(fc.array(value, { maxLength: 12 }), (vs) => {
        const expected = vs.reduce((acc: InstanceType<typeof D>, v) => acc.plus(new D(v)), new D(0)).toFixed();
        expect(sum(vs).toFixed()).toBe(expected);
      }),
      { numRuns: RUNS },
    );
  });

  it('div then toDecimalPlaces(12), as fills.ts averages a price', () => {
    fc.assert(
      fc.property(value, value.filter((b) => !new D(b).isZero()), (a, b) => {
        expect(ex(a).div(b).toFixed()).toBe(js(a).div(b).toFixed());
        expect(toWire(ex(a).div(b).toDecimalPlaces(12))).toBe(decimalJsWire(js(a).div(b).toDecimalPlaces(12)));
      }),
      { numRuns: RUNS },
    );
  });

  it('toDecimalPlaces rounds half to even', () => {
    fc.assert(
      fc.property(value, fc.integer({ min: 0, max: 20 }), (a, places) => {
        expect(ex(a).toDecimalPlaces(places).toFixed()).toBe(js(a).toDecimalPlaces(places).toFixed());
      }),
      { numRuns: RUNS },
    );
  });

  it('refuses what is not a decimal, naming it', () => {
    for (const bad of ['', 'abc', ' 1', '1e', '0x10', 'NaN', 'Infinity', '1..2', '--1', '.']) {
      expect(() => dec(bad)).toThrow(/decimal: /);
    }
    expect(() => dec(Number.NaN)).toThrow(/finite/);
    expect(() => dec(1).div(0)).toThrow(/division by zero/);
  });

  it('is a value: instances pass through, JSON is the canonical string', () => {
    const x = dec('1.2300');
    expect(dec(x)).toBe(x);
    expect(x).toBeInstanceOf(ExactDecimal);
    expect(JSON.stringify({ x })).toBe('{"x":"1.23"}');
  });
});
