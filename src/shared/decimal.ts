/**
 * Exact decimal arithmetic for prices, quantities and money.
 *
 * Binance sends every price and quantity as a decimal string; a binary float cannot hold
 * 0.1 exactly, so nothing in this service ever turns them into `number`. This module is
 * pure (no I/O) so that workflow code may use it inside the deterministic sandbox.
 */
import Decimal from 'decimal.js';
import { z } from 'zod';

/** A private Decimal constructor: 60 significant digits, plain notation in strings. */
export const D = Decimal.clone({ precision: 60, rounding: Decimal.ROUND_HALF_EVEN, toExpNeg: -60, toExpPos: 60 });
export type Dec = InstanceType<typeof D>;

export const ZERO: Dec = new D(0);

export function dec(value: Decimal.Value | Dec): Dec {
  return new D(value as Decimal.Value);
}

/** The canonical wire form: plain notation, no exponent, no trailing zeros ("0.001", "42"). */
export function toWire(value: Decimal.Value | Dec): string {
  const d = dec(value);
  return d.isZero() ? '0' : d.toFixed();
}

/** Rounds down (toward zero) to a whole multiple of `step`. A zero step means "no step". */
export function floorToStep(value: Decimal.Value | Dec, step: Decimal.Value | Dec): Dec {
  const s = dec(step);
  const v = dec(value);
  if (s.isZero()) return v;
  return v.div(s).toDecimalPlaces(0, Decimal.ROUND_DOWN).mul(s);
}

/** Rounds to the nearest multiple of `step` (half away from zero), e.g. a price to its tick. */
export function roundToStep(value: Decimal.Value | Dec, step: Decimal.Value | Dec): Dec {
  const s = dec(step);
  const v = dec(value);
  if (s.isZero()) return v;
  return v.div(s).toDecimalPlaces(0, Decimal.ROUND_HALF_UP).mul(s);
}

export function sum(values: Iterable<Decimal.Value | Dec>): Dec {
  let acc = ZERO;
  for (const v of values) acc = acc.plus(dec(v));
  return acc;
}

const DECIMAL_TEXT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Accepts a decimal as a JSON string ("0.001") or a JSON number (0.001) and yields the
 * canonical string. JSON numbers have already been through a double by the time zod sees
 * them; `String(n)` gives the shortest text that round-trips, which is what the sender wrote
 * for any value a human would type. NaN, Infinity and over-long text are refused.
 */
export const DecimalInput = z
  .union([z.string().max(64), z.number()])
  .transform((raw, ctx): string => {
    if (typeof raw === 'number' && !Number.isFinite(raw)) {
      ctx.addIssue({ code: 'custom', message: 'must be a finite number' });
      return z.NEVER;
    }
    const text = typeof raw === 'number' ? String(raw) : raw.trim();
    if (!DECIMAL_TEXT.test(text)) {
      ctx.addIssue({ code: 'custom', message: `not a decimal number: ${JSON.stringify(text.slice(0, 40))}` });
      return z.NEVER;
    }
    const d = dec(text);
    if (d.abs().gt('1e30') || (!d.isZero() && d.abs().lt('1e-30'))) {
      ctx.addIssue({ code: 'custom', message: 'out of range (|x| must be 0 or between 1e-30 and 1e30)' });
      return z.NEVER;
    }
    return toWire(d);
  });

export const PositiveDecimalInput = DecimalInput.refine((s) => dec(s).gt(0), { message: 'must be greater than 0' });
