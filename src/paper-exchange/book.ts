/**
 * The synthetic order book of one symbol: the liquidity "the rest of the market" offers around
 * the last price. One model serves both GET /api/v3/depth and the matching engine's taker walk,
 * so what the snapshot shows is exactly what a taker order can take.
 *
 * Shape, re-drawn at every price step (a walk step, a replayed kline or setPrice):
 *  - the last price sits strictly inside the spread: the best ask is 1 to 3 ticks above it and
 *    the best bid 1 to 3 ticks below it (each side drawn on its own), so bid < last < ask and a
 *    small order fills within a few ticks of the price a test set: a BUY at the best ask, a SELL
 *    at the best bid;
 *  - deeper levels are one "level step" apart (about 1 bp of the price, at least one tick);
 *  - level k holds about levelQty x (1 + min(k, 20)/2), scaled by a seeded factor in [0.5, 1.5)
 *    and floored to the lot step (at least one step).
 * Every number is a pure function of (seed, symbol, step count, price, side, level), so the same
 * seed and the same sequence of prices give the same book. What takers take is remembered until
 * the next price step, when the book is drawn afresh.
 */
import { D, dec, floorToStep, ZERO, type Dec } from '../shared/decimal';
import type { SymbolDef } from './market';
import { seededInt, seededUnit } from './seeded';

export type BookSide = 'bids' | 'asks';

export interface DepthLevel {
  price: Dec;
  qty: Dec;
}

/** A level of the synthetic book: `index` 0 is the touch. */
export interface SyntheticLevel extends DepthLevel {
  index: number;
}

/** Levels per side unless SymbolDef.bookLevels says otherwise: as deep as GET /api/v3/depth reaches. */
export const DEFAULT_BOOK_LEVELS = 5000;
/** The touch is 1..MAX_TOUCH_TICKS ticks from the last price. */
export const MAX_TOUCH_TICKS = 3;
/** Sizes grow with depth up to this level, then stay flat (a 5000-level book is not 2500x deep). */
const SIZE_GROWTH_LEVELS = 20;

/** Distance between two levels: about 1 bp of the price, never less than a tick. */
export function levelStep(def: SymbolDef, price: Dec): Dec {
  const tick = dec(def.tickSize);
  const raw = floorToStep(price.mul('0.0001'), tick);
  return raw.lt(tick) ? tick : raw;
}

/** 1 + k/2 for k = 0..SIZE_GROWTH_LEVELS. */
const GROWTH: Dec[] = Array.from({ length: SIZE_GROWTH_LEVELS + 1 }, (_, k) => dec(1).plus(dec(k).div(2)));

interface Frame {
  steps: number;
  last: Dec;
  touch: Dec;
  step: Dec;
  lot: Dec;
  base: Dec;
}

export class SyntheticBook {
  private steps = 0;
  private readonly taken: Record<BookSide, Map<number, Dec>> = { bids: new Map(), asks: new Map() };
  private readonly frames: Partial<Record<BookSide, Frame>> = {};
  /** Bumped whenever the book changes (a new step, a take): GET /api/v3/depth's lastUpdateId. */
  updateId = 1;

  /** `price` reads the symbol's last price, so the book always sits around it. */
  constructor(
    readonly def: SymbolDef,
    private readonly seed: number,
    private readonly price: () => Dec,
  ) {}

  get stepCount(): number {
    return this.steps;
  }

  get levelsPerSide(): number {
    return this.def.bookLevels ?? DEFAULT_BOOK_LEVELS;
  }

  /** A new price step: a new touch and new sizes, nothing taken yet. */
  redraw(): void {
    this.steps++;
    this.taken.bids.clear();
    this.taken.asks.clear();
    this.updateId++;
  }

  /** Ticks between the last price and this side's touch at the current step. */
  touchTicks(side: BookSide): number {
    return seededInt(1, MAX_TOUCH_TICKS, this.seed, this.def.symbol, this.steps, side, 'touch');
  }

  /** Level `index` as drawn at this step, before anything was taken; undefined past the book's end. */
  drawn(side: BookSide, index: number): SyntheticLevel | undefined {
    if (index < 0 || index >= this.levelsPerSide) return undefined;
    const f = this.frame(side);
    const price = side === 'asks' ? f.touch.plus(f.step.mul(index)) : f.touch.minus(f.step.mul(index));
    if (price.lte(0)) return undefined;
    const growth = GROWTH[Math.min(index, SIZE_GROWTH_LEVELS)] as Dec;
    const factor = dec('0.5').plus(dec(seededUnit(this.seed, this.def.symbol, this.steps, side, index).toFixed(6)));
    const qty = D.max(floorToStep(f.base.mul(growth).mul(factor), f.lot), f.lot);
    return { index, price, qty };
  }

  /** What every level of a side shares at this step and price, computed once per step. */
  private frame(side: BookSide): Frame {
    const last = this.price();
    const cached = this.frames[side];
    if (cached && cached.steps === this.steps && cached.last.eq(last)) return cached;
    const tick = dec(this.def.tickSize);
    const away = tick.mul(this.touchTicks(side));
    const f: Frame = {
      steps: this.steps,
      last,
      touch: side === 'asks' ? last.plus(away) : last.minus(away),
      step: levelStep(this.def, last),
      lot: dec(this.def.stepSize),
      base: dec(this.def.levelQty),
    };
    this.frames[side] = f;
    return f;
  }

  /** Level `index` with what takers left on it at this step (its qty may be zero). */
  level(side: BookSide, index: number): SyntheticLevel | undefined {
    const l = this.drawn(side, index);
    if (!l) return undefined;
    const taken = this.taken[side].get(index) ?? ZERO;
    return { ...l, qty: D.max(l.qty.minus(taken), ZERO) };
  }

  /** The non-empty levels of a side, best first, drawn lazily (a taker stops when it is done). */
  *levels(side: BookSide): Generator<SyntheticLevel> {
    for (let i = 0; i < this.levelsPerSide; i++) {
      const l = this.level(side, i);
      if (!l) return;
      if (l.qty.gt(0)) yield l;
    }
  }

  /** A taker took `qty` from level `index`; it stays taken until the next price step. */
  take(side: BookSide, index: number, qty: Dec): void {
    this.taken[side].set(index, (this.taken[side].get(index) ?? ZERO).plus(qty));
    this.updateId++;
  }

  /** The best `limit` non-empty levels of a side. */
  top(side: BookSide, limit: number): SyntheticLevel[] {
    const out: SyntheticLevel[] = [];
    for (const l of this.levels(side)) {
      if (out.length >= limit) break;
      out.push(l);
    }
    return out;
  }
}
