/**
 * Self-trade prevention (STP), as Binance's STP FAQ and enums.md describe it: when a taker order
 * would trade with a resting order of the same account, the taker's mode decides what happens
 * instead of the trade. The paper exchange has no trade groups (tradeGroupId is -1 for every
 * account), so only orders of one account prevent each other.
 *
 *  NONE          the orders trade with each other (a self-trade)
 *  EXPIRE_TAKER  the taker's remaining quantity expires
 *  EXPIRE_MAKER  the resting order's remaining quantity expires; the taker goes on matching
 *  EXPIRE_BOTH   both expire
 *  DECREMENT     both lose the smaller of the two remaining quantities; whichever reaches zero
 *                expires (both when equal)
 *  TRANSFER      same account: DECREMENT (the transfer only happens between accounts of one
 *                trade group); it takes effect only when the maker is TRANSFER too, otherwise
 *                the effective mode is DECREMENT (allowed on all symbols since 2026-04-02)
 * An order whose remaining quantity expires this way ends EXPIRED_IN_MATCH.
 */
import { D, ZERO, type Dec } from '../shared/decimal';
import type { SymbolDef } from './market';
import { badRequest } from './wire';

/** Binance's 8-place decimals (as market.ts's fmt8; not imported, market.ts imports this module). */
const fmt8 = (d: Dec): string => d.toFixed(8, D.ROUND_DOWN);

export const STP_MODES = ['NONE', 'EXPIRE_TAKER', 'EXPIRE_MAKER', 'EXPIRE_BOTH', 'DECREMENT', 'TRANSFER'] as const;
export type StpMode = (typeof STP_MODES)[number];

/** Binance's default on its spot symbols. */
export const DEFAULT_STP_MODE: StpMode = 'EXPIRE_MAKER';

export function defaultStpMode(def: SymbolDef): StpMode {
  return def.defaultSelfTradePreventionMode ?? DEFAULT_STP_MODE;
}

export function allowedStpModes(def: SymbolDef): readonly StpMode[] {
  return def.allowedSelfTradePreventionModes ?? STP_MODES;
}

/** The mode an order gets: the one it asked for (if the symbol allows it) or the symbol's default. */
export function resolveStpMode(def: SymbolDef, requested: StpMode | undefined): StpMode {
  if (requested === undefined) return defaultStpMode(def);
  if (!allowedStpModes(def).includes(requested)) throw badRequest(-1013, 'This symbol does not allow the specified self-trade prevention mode.');
  return requested;
}

/** The taker's mode decides, except that TRANSFER needs both sides to ask for it. */
export function effectiveStpMode(taker: StpMode, maker: StpMode): StpMode {
  if (taker === 'TRANSFER') return maker === 'TRANSFER' ? 'TRANSFER' : 'DECREMENT';
  return taker;
}

/** The quantities an STP event expires from each side, given what each has left. */
export function preventedQuantities(mode: StpMode, takerLeft: Dec, makerLeft: Dec): { taker: Dec; maker: Dec } {
  switch (mode) {
    case 'EXPIRE_TAKER':
      return { taker: takerLeft, maker: ZERO };
    case 'EXPIRE_MAKER':
      return { taker: ZERO, maker: makerLeft };
    case 'EXPIRE_BOTH':
      return { taker: takerLeft, maker: makerLeft };
    case 'DECREMENT':
    case 'TRANSFER': {
      const q = takerLeft.lt(makerLeft) ? takerLeft : makerLeft;
      return { taker: q, maker: q };
    }
    case 'NONE':
      return { taker: ZERO, maker: ZERO };
  }
}

/** One prevented match, as GET /api/v3/myPreventedMatches lists it. */
export interface PreventedMatch {
  symbol: string;
  preventedMatchId: number;
  account: string;
  takerOrderId: number;
  makerOrderId: number;
  selfTradePreventionMode: StpMode;
  price: Dec;
  takerPreventedQuantity: Dec;
  makerPreventedQuantity: Dec;
  transactTime: number;
}

const showsTaker = (m: StpMode): boolean => m === 'EXPIRE_TAKER' || m === 'EXPIRE_BOTH' || m === 'DECREMENT' || m === 'TRANSFER';
const showsMaker = (m: StpMode): boolean => m === 'EXPIRE_MAKER' || m === 'EXPIRE_BOTH' || m === 'DECREMENT' || m === 'TRANSFER';

/** GET /api/v3/myPreventedMatches entry; the quantities appear only for the modes that expire that side. */
export function preventedMatchJson(m: PreventedMatch): Record<string, unknown> {
  return {
    symbol: m.symbol,
    preventedMatchId: m.preventedMatchId,
    takerOrderId: m.takerOrderId,
    makerSymbol: m.symbol,
    makerOrderId: m.makerOrderId,
    tradeGroupId: -1,
    selfTradePreventionMode: m.selfTradePreventionMode,
    price: fmt8(m.price),
    ...(showsTaker(m.selfTradePreventionMode) ? { takerPreventedQuantity: fmt8(m.takerPreventedQuantity) } : {}),
    ...(showsMaker(m.selfTradePreventionMode) ? { makerPreventedQuantity: fmt8(m.makerPreventedQuantity) } : {}),
    transactTime: m.transactTime,
  };
}

/** An entry of a taker's `preventedMatches` in its FULL order response. */
export function takerPreventedMatchJson(m: PreventedMatch): Record<string, unknown> {
  return {
    preventedMatchId: m.preventedMatchId,
    makerSymbol: m.symbol,
    makerOrderId: m.makerOrderId,
    price: fmt8(m.price),
    ...(showsTaker(m.selfTradePreventionMode) ? { takerPreventedQuantity: fmt8(m.takerPreventedQuantity) } : {}),
    ...(showsMaker(m.selfTradePreventionMode) ? { makerPreventedQuantity: fmt8(m.makerPreventedQuantity) } : {}),
  };
}

/** What an order carries about STP. */
export interface StpOrderState {
  selfTradePreventionMode?: StpMode | undefined;
  preventedQuantity?: Dec | undefined;
  preventedMatchId?: number | undefined;
  /** As a taker: the matches STP prevented (its FULL response's preventedMatches). */
  takerPreventedMatches?: PreventedMatch[] | undefined;
}

/** Binance's "quantity available for further execution": original - executed - prevented. */
export function availableQty(o: StpOrderState & { origQty: Dec; executedQty: Dec }): Dec {
  return o.origQty.minus(o.executedQty).minus(o.preventedQuantity ?? ZERO);
}

/**
 * The STP fields of an order response: its mode always; preventedMatchId and preventedQuantity
 * once STP took quantity from it ("Conditional fields in Order Responses", rest-api.md).
 */
export function stpOrderFields(o: StpOrderState): Record<string, unknown> {
  return {
    selfTradePreventionMode: o.selfTradePreventionMode ?? DEFAULT_STP_MODE,
    ...(o.preventedMatchId !== undefined ? { preventedMatchId: o.preventedMatchId, preventedQuantity: fmt8(o.preventedQuantity ?? ZERO) } : {}),
  };
}

/** Details of a TRADE_PREVENTION execution event. */
export interface PreventionDetail {
  preventedMatchId: number;
  /** Quantity this event expired from the order (`B`). */
  lastPreventedQuantity: Dec;
  counterOrderId: number;
  counterSymbol: string;
  /** What would have traded without STP (`pl`, `pL`, `pY`). */
  price: Dec;
  qty: Dec;
}

/**
 * The execution report fields of a TRADE_PREVENTION event (user-data-stream.md, "Conditional
 * Fields in Execution Report"): v, A, B, U, Cs, pl, pL, pY. For the code rendering executionReport
 * to spread in; `u` (tradeGroupId) is left out, there are no trade groups.
 */
export function preventionReportFields(o: StpOrderState, d: PreventionDetail | undefined): Record<string, unknown> {
  if (!d) return {};
  return {
    v: d.preventedMatchId,
    A: fmt8(o.preventedQuantity ?? ZERO),
    B: fmt8(d.lastPreventedQuantity),
    U: d.counterOrderId,
    Cs: d.counterSymbol,
    pl: fmt8(d.qty),
    pL: fmt8(d.price),
    pY: fmt8(d.qty.mul(d.price)),
  };
}
