/**
 * Keyed seeded draws: a number in [0, 1) that is a pure function of its keys (seed, symbol, price
 * step, side, level...). Random access instead of a sequence, so level 3000 of a book can be drawn
 * without drawing levels 0..2999, and the book and the matching engine draw the same numbers.
 * These numbers only ever scale a decimal (see book.ts); they never become a price themselves.
 */

import { fnv1a } from '../shared/prng';

/** murmur3's finaliser: every input bit moves every output bit. */
function fmix32(h: number): number {
  let x = h >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

export type DrawKey = number | string;

/** A uniform draw in [0, 1) determined by `keys` alone. */
export function seededUnit(...keys: DrawKey[]): number {
  let h = 0x9e3779b9;
  for (const k of keys) {
    const v = typeof k === 'string' ? fnv1a(k) : Math.floor(k) >>> 0;
    // Large integers (step counts past 2^32) still differ in their high bits.
    const hi = typeof k === 'number' ? Math.floor(k / 4294967296) >>> 0 : 0;
    h = fmix32(Math.imul(h ^ v, 0x27d4eb2d) ^ hi);
  }
  return fmix32(h) / 4294967296;
}

/** A whole number in [lo, hi], inclusive, from `keys`. */
export function seededInt(lo: number, hi: number, ...keys: DrawKey[]): number {
  return lo + Math.floor(seededUnit(...keys) * (hi - lo + 1));
}
