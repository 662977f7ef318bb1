/**
 * Position arithmetic: what one exchange fill does to a position.
 *
 * PURE: no I/O and nothing that touches node APIs, because workflow code (Temporal's
 * deterministic sandbox) may import it as well as the activities that persist positions.
 * Inputs and outputs are decimal strings so a Position can live in workflow state and in
 * Postgres `numeric` columns unchanged; arithmetic is done in Dec (never JS numbers).
 *
 * Accounting model (average cost, fees recognised when paid):
 *  - `quantity` is signed: > 0 long, < 0 short (only with allowShort), 0 flat.
 *  - `costBasis` is what the open quantity cost (sum of price × qty added, exact).
 *    Adding to a position adds to it and moves `avgEntryPrice` (= costBasis / |quantity|)
 *    to the quantity-weighted average. Reducing it by m units takes m/|quantity| of the
 *    cost basis out (all of it when the position closes) and realizes the difference to the
 *    proceeds, i.e. (price - avg) per unit on a long, (avg - price) on a short; the average
 *    stays unchanged.
 *  - `realizedPnl` is NET of fees: every fee, valued in the quote asset, is subtracted the
 *    moment it is paid and also accumulated in `feesQuote` (gross = realizedPnl + feesQuote).
 *  - Commission in the BASE asset is deducted from what the position holds (a BUY of 1 BTC
 *    with 0.001 BTC commission adds 0.999 BTC at the fill price) and counted as a fee of
 *    commission × fill price. Commission in the QUOTE asset is a fee as is. Commission in a
 *    THIRD asset (BNB) is valued at the caller-supplied quote price of that asset at fill
 *    time. Without a price the fill is refused (default), or, with
 *    `unpricedCommission: 'exclude'`, applied with that fee left out of PnL and fees and
 *    counted in `unvaluedFeeFills` so reports can say the fee total is incomplete.
 *  - A closing trade is a fill that reduces |quantity|. It counts as a win when its net
 *    result (realized on the closed part minus the whole fill's fee) is > 0, a loss when < 0.
 *
 * The only inexact steps are divisions: the average price, and the share of the cost basis
 * taken out by a PARTIAL reduction, both rounded to the 60 significant digits of `D`. A
 * position that closes takes out its whole cost basis, so the PnL of a round trip is exact:
 * proceeds - cost - fees, to the last digit.
 */
import { type Dec, ZERO, dec, toWire } from '../shared/decimal';
import type { Side } from '../shared/decision';

export type { Side };

export interface Position {
  /** Signed base quantity: > 0 long, < 0 short, 0 flat. */
  quantity: string;
  /** Average entry price in quote; 0 when flat. */
  avgEntryPrice: string;
  /** Entry cost of the open quantity in quote (>= 0; 0 when flat). */
  costBasis: string;
  /** Realized PnL in quote, net of all fees. */
  realizedPnl: string;
  /** All fees paid, valued in quote at fill time. */
  feesQuote: string;
  /** Traded notional in quote (sum of price × qty of every fill). */
  volumeQuote: string;
  /** Closing trades: fills that reduced |quantity|. */
  trades: number;
  wins: number;
  losses: number;
  /** Sum of the net results of winning closing trades (>= 0). */
  grossWin: string;
  /** Sum of the magnitudes of the net results of losing closing trades (>= 0). */
  grossLoss: string;
  /** Every fill applied, opening or closing. */
  fillCount: number;
  /** Fills whose third-asset commission could not be valued (left out of feesQuote/realizedPnl). */
  unvaluedFeeFills: number;
}

/** The part of an exchange fill that position arithmetic needs (Binance field names). */
export interface PositionFill {
  side: Side;
  price: string;
  qty: string;
  /** Binance `quoteQty`; price × qty when absent (order-response fills do not carry it). */
  quoteQty?: string;
  commission: string;
  commissionAsset: string;
  /**
   * A third-asset commission already valued in quote (replaying a stored fill whose fee was
   * valued when it happened). Ignored for base/quote commissions, whose value follows from
   * the fill itself.
   */
  commissionQuoteValue?: string;
}

export interface ApplyFillContext {
  baseAsset: string;
  quoteAsset: string;
  /** Only for error messages. */
  symbol?: string;
  /** Quote price of a third commission asset at fill time, e.g. { BNB: "612.3" } on BTCUSDT. */
  commissionAssetPrices?: Readonly<Record<string, string>>;
  /**
   * Binance Spot cannot short, so by default a SELL bigger than the long position is refused
   * (it means our books disagree with the exchange). `true` flips to a short position
   * instead, for margin-like venues.
   */
  allowShort?: boolean;
  /**
   * A third-asset commission with no price: 'throw' (default) refuses the fill; 'exclude'
   * applies it with the fee left out and counted in `unvaluedFeeFills`. Quantities must not
   * wait for a BNB price, so the store's activity path may choose 'exclude'.
   */
  unpricedCommission?: 'throw' | 'exclude';
  /**
   * What to do, when shorting is not allowed, with a SELL bigger than the long position:
   * 'throw' (default) refuses it (PositionError WOULD_GO_SHORT); 'external_inventory' books
   * the excess as inventory the service did not buy (held on the account before, deposited,
   * bought by hand) at this fill's price, immediately before the SELL: the excess adds to the
   * cost basis at the price it is sold at, so it realizes no PnL of its own (the fill's fee is
   * still charged in full). The amount is reported in `externalQty`.
   *
   * Why this is the policy for Binance Spot: the venue cannot short, so a SELL it executed
   * proves the account held the base asset; refusing to record a real fill would leave the
   * books permanently wrong (and a retried activity looping), while inventing a PnL for
   * inventory of unknown cost would be worse than attributing none. Inventory seeded from the
   * account at the mark price (see `applyAdjustment`) makes this fallback rare.
   */
  excessSell?: 'throw' | 'external_inventory';
}

export interface ApplyFillResult {
  position: Position;
  /** Net realized PnL of this fill in quote (realized on the closed part minus the fee). */
  realizedPnl: string;
  /** Realized PnL of the closed part before the fee. */
  grossPnl: string;
  /** This fill's fee in quote (0 when it could not be valued, see feeValued). */
  feeQuote: string;
  /** False when a third-asset commission was left out for want of a price. */
  feeValued: boolean;
  /** Base quantity this fill closed (0 for a purely opening fill). */
  closedQuantity: string;
  /** Signed change of the position quantity, commission in base included. */
  quantityDelta: string;
  /**
   * Base quantity booked as external inventory at the fill price just before this SELL
   * (excessSell 'external_inventory'); '0' for every other fill. quantityDelta and the
   * position include it.
   */
  externalQty: string;
}

export type PositionErrorCode = 'WOULD_GO_SHORT' | 'MISSING_COMMISSION_PRICE' | 'INVALID_FILL' | 'INVALID_ADJUSTMENT';

export class PositionError extends Error {
  override readonly name = 'PositionError';
  constructor(
    readonly code: PositionErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function emptyPosition(): Position {
  return {
    quantity: '0',
    avgEntryPrice: '0',
    costBasis: '0',
    realizedPnl: '0',
    feesQuote: '0',
    volumeQuote: '0',
    trades: 0,
    wins: 0,
    losses: 0,
    grossWin: '0',
    grossLoss: '0',
    fillCount: 0,
    unvaluedFeeFills: 0,
  };
}

// Plain decimal text only: no exponent, no NaN/Infinity. Binance and Postgres both send this.
const PLAIN_DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

function parse(field: string, value: string, min: 'positive' | 'non-negative' | 'any'): Dec {
  if (typeof value !== 'string' || !PLAIN_DECIMAL.test(value.trim())) {
    throw new PositionError('INVALID_FILL', `${field} must be a decimal string, got ${JSON.stringify(value)}`);
  }
  const d = dec(value.trim());
  if (min === 'positive' && !d.gt(0)) throw new PositionError('INVALID_FILL', `${field} must be > 0, got ${value}`);
  if (min === 'non-negative' && d.lt(0)) {
    throw new PositionError('INVALID_FILL', `${field} must be >= 0, got ${value}`);
  }
  return d;
}

/**
 * The fee of a fill in quote, or null when it cannot be valued and the context says
 * 'exclude'. Exported so the store can persist the same value it applies
 * (fills.commission_quote_value), which lets a position be rebuilt later without prices.
 */
export function commissionInQuote(fill: PositionFill, ctx: ApplyFillContext): string | null {
  const { fee, valued } = feeOf(fill, ctx, parse('price', fill.price, 'positive'));
  return valued ? toWire(fee) : null;
}

function feeOf(fill: PositionFill, ctx: ApplyFillContext, price: Dec): { fee: Dec; baseCommission: Dec; valued: boolean } {
  const commission = parse('commission', fill.commission, 'non-negative');
  if (commission.isZero()) return { fee: ZERO, baseCommission: ZERO, valued: true };
  const asset = fill.commissionAsset;
  if (asset === ctx.baseAsset) return { fee: commission.mul(price), baseCommission: commission, valued: true };
  if (asset === ctx.quoteAsset) return { fee: commission, baseCommission: ZERO, valued: true };
  if (fill.commissionQuoteValue !== undefined) {
    return { fee: parse('commissionQuoteValue', fill.commissionQuoteValue, 'non-negative'), baseCommission: ZERO, valued: true };
  }
  const assetPrice = ctx.commissionAssetPrices?.[asset];
  if (assetPrice === undefined) {
    if (ctx.unpricedCommission === 'exclude') return { fee: ZERO, baseCommission: ZERO, valued: false };
    throw new PositionError(
      'MISSING_COMMISSION_PRICE',
      `commission of ${fill.commission} ${asset}${ctx.symbol ? ` on ${ctx.symbol}` : ''} cannot be valued: ` +
        `no ${asset} price in ${ctx.quoteAsset} was supplied (commissionAssetPrices.${asset})`,
    );
  }
  return {
    fee: commission.mul(parse(`commissionAssetPrices.${asset}`, assetPrice, 'positive')),
    baseCommission: ZERO,
    valued: true,
  };
}

/** Applies one fill. Throws PositionError, leaving `position` untouched, when it cannot. */
export function applyFill(position: Position, fill: PositionFill, ctx: ApplyFillContext): ApplyFillResult {
  if (fill.side !== 'BUY' && fill.side !== 'SELL') {
    throw new PositionError('INVALID_FILL', `side must be BUY or SELL, got ${JSON.stringify(fill.side)}`);
  }
  if (!ctx.baseAsset || !ctx.quoteAsset || ctx.baseAsset === ctx.quoteAsset) {
    throw new PositionError('INVALID_FILL', `baseAsset and quoteAsset must be two different assets`);
  }
  const price = parse('price', fill.price, 'positive');
  const qty = parse('qty', fill.qty, 'positive');
  const notional = fill.quoteQty === undefined ? price.mul(qty) : parse('quoteQty', fill.quoteQty, 'non-negative');
  const { fee, baseCommission, valued } = feeOf(fill, ctx, price);
  if (fill.side === 'BUY' && baseCommission.gt(qty)) {
    throw new PositionError('INVALID_FILL', `base commission ${fill.commission} exceeds the bought quantity ${fill.qty}`);
  }

  const q = parse('position.quantity', position.quantity, 'any');
  const avg = parse('position.avgEntryPrice', position.avgEntryPrice, 'non-negative');
  const cost = parse('position.costBasis', position.costBasis, 'non-negative');
  // Commission in base never reaches the position: a BUY receives less, a SELL gives up more.
  const delta = (fill.side === 'BUY' ? qty : qty.neg()).minus(baseCommission);
  const newQ = q.plus(delta);

  if (!ctx.allowShort && delta.lt(0) && newQ.lt(0)) {
    if (ctx.excessSell === 'external_inventory' && !q.lt(0)) {
      // Book the excess as inventory acquired at this fill's price, then sell as usual.
      const excess = newQ.neg();
      const seeded = applyAdjustment(position, { qty: toWire(excess), price: toWire(price) }).position;
      const r = applyFill(seeded, fill, { ...ctx, excessSell: 'throw' });
      return { ...r, quantityDelta: toWire(delta.plus(excess)), externalQty: toWire(excess) };
    }
    const base = ctx.baseAsset;
    const plusCommission = baseCommission.isZero() ? '' : ` (plus ${toWire(baseCommission)} ${base} commission)`;
    const what = `SELL of ${toWire(qty)} ${base}${plusCommission}${ctx.symbol ? ` on ${ctx.symbol}` : ''}`;
    const problem = q.lt(0)
      ? `would grow the short position of ${toWire(q)} ${base} to ${toWire(newQ)} ${base}`
      : `exceeds the long position of ${toWire(q)} ${base} by ${toWire(newQ.neg())} ${base}`;
    throw new PositionError('WOULD_GO_SHORT', `${what} ${problem}; a spot account cannot sell short (allowShort is false)`);
  }

  let newAvg = avg;
  let newCost = cost;
  let closed = ZERO;
  let gross = ZERO;
  if (delta.isZero()) {
    // A BUY whose whole quantity went to base commission: only the fee happens.
  } else if (q.isZero() || q.lt(0) === delta.lt(0)) {
    // Opening or adding.
    newCost = cost.plus(delta.abs().mul(price));
    newAvg = newCost.div(newQ.abs());
  } else {
    // Reducing, closing or flipping.
    closed = minDec(delta.abs(), q.abs());
    const removed = closed.eq(q.abs()) ? cost : cost.mul(closed).div(q.abs());
    const value = closed.mul(price);
    gross = q.lt(0) ? removed.minus(value) : value.minus(removed);
    newCost = cost.minus(removed);
    if (newQ.isZero()) {
      newAvg = ZERO;
    } else if (newQ.lt(0) !== q.lt(0)) {
      // Flipped: the remainder was opened at this fill's price.
      newCost = newQ.abs().mul(price);
      newAvg = price;
    }
  }

  const net = gross.minus(fee);
  const isClosing = closed.gt(0);
  const next: Position = {
    quantity: toWire(newQ),
    avgEntryPrice: toWire(newAvg),
    costBasis: toWire(newCost),
    realizedPnl: toWire(dec(position.realizedPnl).plus(net)),
    feesQuote: toWire(dec(position.feesQuote).plus(fee)),
    volumeQuote: toWire(dec(position.volumeQuote).plus(notional)),
    trades: position.trades + (isClosing ? 1 : 0),
    wins: position.wins + (isClosing && net.gt(0) ? 1 : 0),
    losses: position.losses + (isClosing && net.lt(0) ? 1 : 0),
    grossWin: toWire(isClosing && net.gt(0) ? dec(position.grossWin).plus(net) : dec(position.grossWin)),
    grossLoss: toWire(isClosing && net.lt(0) ? dec(position.grossLoss).plus(net.neg()) : dec(position.grossLoss)),
    fillCount: position.fillCount + 1,
    unvaluedFeeFills: position.unvaluedFeeFills + (valued ? 0 : 1),
  };
  return {
    position: next,
    realizedPnl: toWire(net),
    grossPnl: toWire(gross),
    feeQuote: toWire(fee),
    feeValued: valued,
    closedQuantity: toWire(closed),
    quantityDelta: toWire(delta),
    externalQty: '0',
  };
}

/**
 * An inventory change that is not a trade: base asset that arrived on the account from outside
 * (deposit, holdings from before the service, the quote proceeds of another symbol's trades)
 * or left it (withdrawal, commission paid in this asset for other symbols' fills).
 */
export interface InventoryAdjustment {
  /** Signed base quantity: > 0 inventory in, < 0 inventory out. */
  qty: string;
  /** Quote price the inflow is valued at (mark price, or the fill price for a SELL excess). */
  price: string;
}

export interface ApplyAdjustmentResult {
  position: Position;
  /** Cost basis added (inflow, > 0) or taken out (outflow, < 0). */
  costDelta: string;
}

/**
 * Applies an inventory adjustment. Not a trade: no fee, no volume, no realized PnL, no trade
 * or fill count. An inflow adds qty × price to the cost basis (so unrealized PnL of external
 * inventory is measured from the price it was booked at); an outflow takes out its share of
 * the cost basis at the average price (all of it when the position empties), exactly as a
 * SELL would, but realizes nothing, because nothing was sold. Long or flat positions only;
 * an outflow larger than the position is refused (the caller clamps it deliberately).
 */
export function applyAdjustment(position: Position, adj: InventoryAdjustment): ApplyAdjustmentResult {
  const qty = parseAdj('qty', adj.qty);
  if (qty.isZero()) throw new PositionError('INVALID_ADJUSTMENT', 'an inventory adjustment of 0 changes nothing');
  const price = parseAdj('price', adj.price);
  if (!price.gt(0)) throw new PositionError('INVALID_ADJUSTMENT', `price must be > 0, got ${adj.price}`);
  const q = parse('position.quantity', position.quantity, 'any');
  const cost = parse('position.costBasis', position.costBasis, 'non-negative');
  if (q.lt(0)) {
    throw new PositionError('INVALID_ADJUSTMENT', `cannot adjust the inventory of a short position (${position.quantity})`);
  }
  let newQ: Dec;
  let newCost: Dec;
  let newAvg: Dec;
  if (qty.gt(0)) {
    newQ = q.plus(qty);
    newCost = cost.plus(qty.mul(price));
    newAvg = newCost.div(newQ);
  } else {
    const out = qty.neg();
    if (out.gt(q)) {
      throw new PositionError(
        'INVALID_ADJUSTMENT',
        `an outflow of ${toWire(out)} exceeds the position of ${toWire(q)}; inventory cannot go negative`,
      );
    }
    const removed = out.eq(q) ? cost : cost.mul(out).div(q);
    newQ = q.minus(out);
    newCost = cost.minus(removed);
    newAvg = newQ.isZero() ? ZERO : parse('position.avgEntryPrice', position.avgEntryPrice, 'non-negative');
  }
  return {
    position: { ...position, quantity: toWire(newQ), costBasis: toWire(newCost), avgEntryPrice: toWire(newAvg) },
    costDelta: toWire(newCost.minus(cost)),
  };
}

function parseAdj(field: string, value: string): Dec {
  if (typeof value !== 'string' || !PLAIN_DECIMAL.test(value.trim())) {
    throw new PositionError('INVALID_ADJUSTMENT', `${field} must be a decimal string, got ${JSON.stringify(value)}`);
  }
  return dec(value.trim());
}

function minDec(a: Dec, b: Dec): Dec {
  return a.lte(b) ? a : b;
}

/** Folds fills, in the order given, over `start` (default: flat). */
export function replayFills(
  fills: readonly PositionFill[],
  ctx: ApplyFillContext,
  start: Position = emptyPosition(),
): { position: Position; results: ApplyFillResult[] } {
  let position = start;
  const results: ApplyFillResult[] = [];
  for (const fill of fills) {
    const r = applyFill(position, fill, ctx);
    results.push(r);
    position = r.position;
  }
  return { position, results };
}
