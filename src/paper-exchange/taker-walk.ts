/**
 * A taker order's walk through the book, planned before anything changes: the opposite side is
 * the synthetic book merged with the users' resting orders, best price first, and at one price
 * the resting orders (in time priority, i.e. orderId order) come before the synthetic liquidity.
 * A resting order of the taker's own account is a self-trade: the taker's STP mode decides what
 * happens instead (self-trade-prevention.ts). The engine then executes the plan step by step.
 */
import { D, floorToStep, ZERO, type Dec } from '../shared/decimal';
import type { SyntheticLevel } from './book';
import { effectiveStpMode, preventedQuantities, type StpMode } from './self-trade-prevention';

export interface RestingView<O> {
  order: O;
  account: string;
  price: Dec;
  /** Quantity still available: origQty - executedQty - preventedQuantity. */
  available: Dec;
  mode: StpMode;
}

export type WalkStep<O> =
  | { kind: 'book'; index: number; price: Dec; qty: Dec }
  | { kind: 'order'; maker: O; price: Dec; qty: Dec }
  | { kind: 'prevent'; maker: O; price: Dec; mode: StpMode; takerQty: Dec; makerQty: Dec };

export interface WalkRequest {
  side: 'BUY' | 'SELL';
  account: string;
  mode: StpMode;
  /** Base quantity the taker still has. */
  remaining: Dec;
  /** MARKET by quoteOrderQty: the quote still to spend. */
  quote: Dec | undefined;
  /** A LIMIT taker does not trade beyond its price. */
  limit: Dec | undefined;
  lotStep: Dec;
}

export interface WalkPlan<O> {
  steps: WalkStep<O>[];
  /** Base quantity the trade steps fill. */
  filled: Dec;
  /** STP took the taker's whole remaining quantity: it ends EXPIRED_IN_MATCH. */
  takerExpiredInMatch: boolean;
}

function worse(side: 'BUY' | 'SELL', price: Dec, limit: Dec): boolean {
  return side === 'BUY' ? price.gt(limit) : price.lt(limit);
}

/**
 * Plans the walk. `book` yields the synthetic levels of the opposite side best first; `resting`
 * holds the users' resting orders of the opposite side, best price first, then time priority.
 */
export function planWalk<O>(req: WalkRequest, book: Iterable<SyntheticLevel>, resting: RestingView<O>[]): WalkPlan<O> {
  const steps: WalkStep<O>[] = [];
  const better = (a: Dec, b: Dec): boolean => (req.side === 'BUY' ? a.lt(b) : a.gt(b));
  const levels = book[Symbol.iterator]();
  let level = levels.next();
  let r = 0;
  let left = req.remaining;
  let budget = req.quote;
  let filled = ZERO;
  let expired = false;

  /** How much of `avail` at `price` the taker can still take, to the lot step. */
  const takeable = (price: Dec, avail: Dec): Dec => {
    let q = D.min(left, avail);
    if (budget !== undefined) q = D.min(q, budget.div(price));
    return floorToStep(q, req.lotStep);
  };

  while (left.gt(0) && (budget === undefined || budget.gt(0))) {
    const maker = resting[r];
    const synth = level.done ? undefined : level.value;
    if (!maker && !synth) break;
    // Resting user orders come first at an equal price: they were there before the synthetic refill.
    const useMaker = maker !== undefined && (synth === undefined || !better(synth.price, maker.price));
    const price = useMaker ? (maker as RestingView<O>).price : (synth as SyntheticLevel).price;
    if (req.limit !== undefined && worse(req.side, price, req.limit)) break;

    if (useMaker) {
      const m = maker as RestingView<O>;
      r++;
      const mode = m.account === req.account ? effectiveStpMode(req.mode, m.mode) : 'NONE';
      if (mode !== 'NONE') {
        const q = preventedQuantities(mode, left, m.available);
        steps.push({ kind: 'prevent', maker: m.order, price, mode, takerQty: q.taker, makerQty: q.maker });
        left = left.minus(q.taker);
        if (left.lte(0)) {
          expired = true;
          break;
        }
        continue;
      }
      const q = takeable(price, m.available);
      if (q.lte(0)) break;
      steps.push({ kind: 'order', maker: m.order, price, qty: q });
      left = left.minus(q);
      if (budget !== undefined) budget = budget.minus(q.mul(price));
      filled = filled.plus(q);
      continue;
    }
    const l = synth as SyntheticLevel;
    level = levels.next();
    const q = takeable(price, l.qty);
    if (q.lte(0)) break;
    steps.push({ kind: 'book', index: l.index, price, qty: q });
    left = left.minus(q);
    if (budget !== undefined) budget = budget.minus(q.mul(price));
    filled = filled.plus(q);
  }
  return { steps, filled, takerExpiredInMatch: expired };
}
