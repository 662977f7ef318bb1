/** Summing fills exactly. Pure, on exact-decimal.ts (no decimal.js): used by activities and by workflow code. */
import { dec, sum, toWire, ZERO } from './exact-decimal';
import type { FillRecord, FillSummary } from './trade';

export const EMPTY_FILLS: FillSummary = { fills: [], filledQty: '0', quoteQty: '0', avgPrice: '0', commissions: {} };

/**
 * The average fill price comes from the fills themselves (a MARKET order's `price` is 0 on
 * Binance), weighted by quantity: sum(quoteQty) / sum(qty). Fills are de-duplicated by trade id.
 */
export function summariseFills(fills: readonly FillRecord[]): FillSummary {
  const byTrade = new Map<number, FillRecord>();
  for (const f of fills) byTrade.set(f.tradeId, f);
  const unique = [...byTrade.values()].sort((a, b) => a.tradeId - b.tradeId);
  const qty = sum(unique.map((f) => f.qty));
  const quote = sum(unique.map((f) => f.quoteQty));
  const commissions: Record<string, string> = {};
  for (const f of unique) {
    commissions[f.commissionAsset] = toWire(dec(commissions[f.commissionAsset] ?? '0').plus(f.commission));
  }
  return {
    fills: unique,
    filledQty: toWire(qty),
    quoteQty: toWire(quote),
    avgPrice: qty.isZero() ? '0' : toWire(quote.div(qty).toDecimalPlaces(12)),
    commissions,
  };
}

export function mergeFillSummaries(parts: readonly FillSummary[]): FillSummary {
  return summariseFills(parts.flatMap((p) => p.fills));
}

/** The asset with the largest commission, for the report's single `commission_asset` field. */
export function mainCommission(commissions: Record<string, string>): { commission: string; asset: string | null } {
  let best: { commission: string; asset: string | null } = { commission: '0', asset: null };
  for (const [asset, amount] of Object.entries(commissions)) {
    if (best.asset === null || dec(amount).gt(best.commission)) best = { commission: amount, asset };
  }
  return best.asset === null ? { commission: toWire(ZERO), asset: null } : best;
}
