/**
 * The pre-trade risk guard: the last line before an order leaves for the exchange (as
 * NautilusTrader's RiskEngine and every broker's order gateway have). Upstream risk approved the
 * decision; this guard exists for when upstream is wrong: a size with extra zeros, a price typed
 * as 6000 instead of 60000, a runaway loop sending the same decision shape again and again.
 *
 * Pure: every rule is a function of an explicit input (what the order is, the current mark, the
 * position, how many orders the account sent recently) and the limits, so each is tested on its
 * own with exact decimals. The activity (activities/risk-activities.ts) gathers the input.
 *
 * Limits are in the symbol's quote asset (USDT for the symbols this service trades by default).
 * A limit of 0 turns its rule off.
 */
import { dec, toWire, type Dec } from '../shared/decimal';

export type RiskRule = 'max_order_notional' | 'max_position_notional' | 'price_collar' | 'max_order_rate';

/** The rules in the order they are evaluated; the first that refuses is the one reported. */
export const RISK_RULES: readonly RiskRule[] = ['price_collar', 'max_order_notional', 'max_position_notional', 'max_order_rate'];

export interface RiskLimits {
  /** Largest notional (quantity x price, or x mark for MARKET) of one order, quote asset. '0' = off. */
  maxOrderNotional: string;
  /** Largest |position| x mark of a symbol after the order fills, quote asset. '0' = off. */
  maxPositionNotional: string;
  /**
   * Percent a price may lie beyond the mark on the side where it trades through the market
   * (a BUY price above the mark, a SELL price below it). '0' = off.
   */
  priceCollarPct: string;
  /** Percent a price may lie away from the mark on the resting side (BUY below, SELL above). '0' = off. */
  passivePriceCollarPct: string;
  /** Orders the account may send per rolling minute (this service's orders, all symbols). 0 = off. */
  maxOrdersPerMinute: number;
}

/**
 * Defaults that stop a fat finger without getting in the way of ordinary trading (env vars in
 * src/config.ts; each can be raised, lowered or set to 0):
 *  - 100,000 per order and 250,000 per position (quote asset): an order or position off by an
 *    order of magnitude or more (extra zeros, an `approved_size` of 1e30) is refused, while a
 *    trade of the size one account usually trades passes (the paper account holds 100,000 USDT
 *    and 1 BTC; Binance's own MAX_NOTIONAL on BTCUSDT is 9,000,000).
 *  - 10 % through the market: a BUY limit 10 % above the mark sweeps the book far past any fair
 *    price (Binance's PERCENT_PRICE_BY_SIDE allows far more, so the exchange would accept it).
 *  - 80 % on the resting side: a price a tenth of the mark (a dropped digit) is refused; a resting
 *    order 20-50 % away, as a strategy waiting for a dip places, passes (Binance's bid side goes
 *    down to 0.2 x the average price too).
 *  - 300 orders a minute (5/s sustained): a loop re-sending decisions is stopped within the
 *    minute, well before Binance's 100 orders per 10 s and 200,000 a day ban the account; the
 *    stack's own measured ceiling is about 10 decisions/s, so benchmarks raise or disable it.
 */
export const DEFAULT_RISK_LIMITS: RiskLimits = {
  maxOrderNotional: '100000',
  maxPositionNotional: '250000',
  priceCollarPct: '10',
  passivePriceCollarPct: '80',
  maxOrdersPerMinute: 300,
};

export interface PreTradeInput {
  symbol: string;
  side: 'BUY' | 'SELL';
  /** Order type as sent (MARKET, LIMIT, STOP_LOSS_LIMIT, ...): for messages only. */
  type: string;
  quantity: string;
  /** Limit price, if the order has one. */
  price?: string;
  /** Trigger price of a stop / take-profit order. */
  stopPrice?: string;
  /** The notional prepareOrder computed (quantity x price or x the market price). */
  notional: string;
  /** The exchange's current price of the symbol (> 0). */
  markPrice: string;
  /** Signed base quantity held in the symbol's position before this order. */
  positionQuantity: string;
  /** Orders this account sent within the last minute, this decision's own not counted. */
  ordersLastMinute: number;
}

export interface RiskRefusal {
  rule: RiskRule;
  /** Names the figures: what was asked, the limit, the mark. */
  reason: string;
}

const HUNDRED = dec(100);
const fmt = (d: Dec): string => toWire(d.toDecimalPlaces(8));
const isOff = (limit: string): boolean => dec(limit).lte(0);

/** The notional the guard holds the order to: the larger of prepareOrder's and quantity x (price or mark). */
export function orderNotional(i: Pick<PreTradeInput, 'quantity' | 'price' | 'notional' | 'markPrice'>): Dec {
  const own = dec(i.quantity).mul(i.price ?? i.markPrice);
  const given = dec(i.notional);
  return given.gt(own) ? given : own;
}

export function checkOrderNotional(i: PreTradeInput, l: RiskLimits): RiskRefusal | undefined {
  if (isOff(l.maxOrderNotional)) return undefined;
  const n = orderNotional(i);
  if (n.lte(l.maxOrderNotional)) return undefined;
  return {
    rule: 'max_order_notional',
    reason: `${i.side} ${i.quantity} ${i.symbol} is ${fmt(n)} in the quote asset, above the limit of ${l.maxOrderNotional} per order (RISK_MAX_ORDER_NOTIONAL)`,
  };
}

/**
 * The position after the order fills completely, valued at the mark. An order that shrinks the
 * position is never refused (even when the position is above the limit, e.g. after the limit was
 * lowered): refusing it would keep the account exposed.
 */
export function checkPositionNotional(i: PreTradeInput, l: RiskLimits): RiskRefusal | undefined {
  if (isOff(l.maxPositionNotional)) return undefined;
  const before = dec(i.positionQuantity);
  const after = i.side === 'BUY' ? before.plus(i.quantity) : before.minus(i.quantity);
  if (after.abs().lte(before.abs())) return undefined;
  const value = after.abs().mul(i.markPrice);
  if (value.lte(l.maxPositionNotional)) return undefined;
  return {
    rule: 'max_position_notional',
    reason: `${i.symbol} position would go from ${toWire(before)} to ${toWire(after)}, worth ${fmt(value)} at the mark ${toWire(dec(i.markPrice))}, above the limit of ${l.maxPositionNotional} (RISK_MAX_POSITION_NOTIONAL)`,
  };
}

/**
 * Every price of the order (limit and trigger) against the mark. Through the market (BUY above,
 * SELL below) the collar is tight: such a price trades at once, at whatever the book offers up to
 * it. On the resting side it is wide: such an order only waits, but a tenth of the mark is a typo.
 */
export function checkPriceCollar(i: PreTradeInput, l: RiskLimits): RiskRefusal | undefined {
  const mark = dec(i.markPrice);
  const prices: Array<[string, string | undefined]> = [
    ['price', i.price],
    ['stopPrice', i.stopPrice],
  ];
  for (const [field, p] of prices) {
    if (p === undefined) continue;
    const away = dec(p).minus(mark).div(mark).mul(HUNDRED);
    const throughMarket = i.side === 'BUY' ? away.gt(0) : away.lt(0);
    const limit = throughMarket ? l.priceCollarPct : l.passivePriceCollarPct;
    if (isOff(limit) || away.abs().lte(limit)) continue;
    const setting = throughMarket ? 'RISK_PRICE_COLLAR_PCT' : 'RISK_PASSIVE_PRICE_COLLAR_PCT';
    return {
      rule: 'price_collar',
      reason:
        `${i.side} ${i.type} ${field} ${p} is ${toWire(away.abs().toDecimalPlaces(2))} % ${away.gt(0) ? 'above' : 'below'} the mark ${toWire(mark)} of ${i.symbol}, ` +
        `beyond the ${throughMarket ? 'through-the-market' : 'resting-side'} collar of ${limit} % (${setting})`,
    };
  }
  return undefined;
}

export function checkOrderRate(i: PreTradeInput, l: RiskLimits): RiskRefusal | undefined {
  if (l.maxOrdersPerMinute <= 0) return undefined;
  // This order would be number ordersLastMinute + 1.
  if (i.ordersLastMinute < l.maxOrdersPerMinute) return undefined;
  return {
    rule: 'max_order_rate',
    reason: `the account sent ${i.ordersLastMinute} orders in the last minute; the limit is ${l.maxOrdersPerMinute} per minute (RISK_MAX_ORDERS_PER_MINUTE)`,
  };
}

const CHECKS: Record<RiskRule, (i: PreTradeInput, l: RiskLimits) => RiskRefusal | undefined> = {
  price_collar: checkPriceCollar,
  max_order_notional: checkOrderNotional,
  max_position_notional: checkPositionNotional,
  max_order_rate: checkOrderRate,
};

/** Every rule that refuses the order, in RISK_RULES order; empty: the order may be sent. */
export function preTradeRefusals(i: PreTradeInput, l: RiskLimits = DEFAULT_RISK_LIMITS): RiskRefusal[] {
  if (!dec(i.markPrice).gt(0)) throw new Error(`markPrice: must be > 0, got ${i.markPrice}`);
  return RISK_RULES.map((r) => CHECKS[r](i, l)).filter((x): x is RiskRefusal => x !== undefined);
}

/** Limits from the configuration's RISK_* variables (src/config.ts). */
export function riskLimitsFromConfig(c: {
  RISK_MAX_ORDER_NOTIONAL: string;
  RISK_MAX_POSITION_NOTIONAL: string;
  RISK_PRICE_COLLAR_PCT: string;
  RISK_PASSIVE_PRICE_COLLAR_PCT: string;
  RISK_MAX_ORDERS_PER_MINUTE: number;
}): RiskLimits {
  return {
    maxOrderNotional: c.RISK_MAX_ORDER_NOTIONAL,
    maxPositionNotional: c.RISK_MAX_POSITION_NOTIONAL,
    priceCollarPct: c.RISK_PRICE_COLLAR_PCT,
    passivePriceCollarPct: c.RISK_PASSIVE_PRICE_COLLAR_PCT,
    maxOrdersPerMinute: c.RISK_MAX_ORDERS_PER_MINUTE,
  };
}
