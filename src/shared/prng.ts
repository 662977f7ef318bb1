/**
 * Small seeded pseudo-random numbers, reproducible from their seed: the paper exchange's price
 * walk and the chaos schedule draw from these. Not for anything secret.
 */

/** mulberry32: tiny, fast, good enough for a reproducible sequence; uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a: a string (a symbol, a label) as a 32-bit unsigned key. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * A seeded stream with the usual draws. `fork(label)` gives an independent stream per concern
 * (the chaos schedule's decisions, kills, faults, prices), so that adding one more concern does
 * not reshuffle what the others draw.
 */
export interface Prng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Whole number in [lo, hi], both included. */
  int(lo: number, hi: number): number;
  pick<T>(xs: readonly T[]): T;
  chance(p: number): boolean;
  shuffle<T>(xs: readonly T[]): T[];
  fork(label: string): Prng;
}

export function prng(seed: number): Prng {
  const next = mulberry32(seed);
  const self: Prng = {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (xs) => {
      if (xs.length === 0) throw new Error('pick from an empty list');
      return xs[Math.floor(next() * xs.length)]!;
    },
    chance: (p) => next() < p,
    shuffle: (xs) => {
      const out = [...xs];
      for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
      return out;
    },
    fork: (label) => prng(fnv1a(`${seed}:${label}`)),
  };
  return self;
}
