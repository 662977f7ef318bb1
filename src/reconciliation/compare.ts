/**
 * The pure half of reconciliation: what the exchange says against what Postgres booked. No I/O
 * here; the Reconciler fetches both sides, calls these and does the repairs.
 *
 * Invariants of compareTrades (exchange trades vs stored fills over one request window):
 *  1. A trade id is reported at most once, whatever the order of the exchange's list or how
 *     often it repeats a trade: the result depends on the set of trade ids, not on the list.
 *  2. A stored fill the exchange lists (same trade id) is never missing nor unknown; if its
 *     content differs (side, order, price, qty, commission) it is mismatched, never rewritten.
 *  3. missing = exchange trades with no stored fill, except those younger than the settle grace
 *     period (their workflow is most likely booking them right now).
 *  4. unknown = stored fills the exchange does not list, and only when the exchange's answer was
 *     complete (not cut off by paging) and the fill lies well inside the window: a fill within
 *     edgeMs of the window's start may be on either side of the exchange's cut, and one within
 *     edgeMs of the fetch time may have happened after the request (clock offset, in flight).
 *  5. Convergence: booking every missing trade as a stored fill and comparing again reports
 *     nothing missing, and nothing new unknown or mismatched.
 *
 * Invariants of compareBalances (exchange balances vs the inventory the positions book):
 *  6. Each base asset has one home position: the first configured symbol trading it, else the
 *     position holding most of it (ties by symbol). Assets without a home (quote-only assets,
 *     dust in assets never traded) are not compared.
 *  7. drift = exchange total (free + locked) − the sum of every position in that base asset; a
 *     zero drift is not reported, and an asset absent on the exchange counts as zero there.
 *  8. Drifts come in asset order, so two runs over the same state report them identically.
 */
import type { Trade } from '../exchange';
import { type Dec, dec, ZERO } from '../shared/decimal';

/** The fields of a stored fill the comparison reads (a FillRow has them all). */
export interface StoredFillView {
  trade_id: string;
  side: 'BUY' | 'SELL';
  exchange_order_id: string;
  price: string;
  qty: string;
  commission: string;
  trade_time: Date;
}

export interface TradeWindow {
  /** Start of the window the exchange was asked for (exchange clock, ms). */
  startTime: number;
  /** When the request was sent (exchange clock, ms). */
  fetchedAt: number;
  /** The exchange's answer covers the whole window (not cut off by the page limit). */
  complete: boolean;
  /** Trades younger than this are left to their workflow. */
  settleGraceMs: number;
  /** Stored fills this close to either end of the window are not judged unknown. */
  edgeMs: number;
}

export interface FillMismatch<S extends StoredFillView> {
  trade: Trade;
  stored: S;
  /** Which fields differ: side, order, price, qty, commission. */
  fields: string[];
}

export interface TradeComparison<S extends StoredFillView> {
  /** Listed by the exchange, not stored (in the exchange's order). */
  missing: Trade[];
  /** Stored and listed, with different content. */
  mismatched: Array<FillMismatch<S>>;
  /** Stored, well inside the window, not listed by a complete answer (in the stored order). */
  unknown: S[];
}

export function compareTrades<S extends StoredFillView>(trades: readonly Trade[], stored: readonly S[], window: TradeWindow): TradeComparison<S> {
  const fromExchange = new Map<string, Trade>();
  for (const trade of trades) if (!fromExchange.has(String(trade.id))) fromExchange.set(String(trade.id), trade);
  const storedById = new Map(stored.map((fill) => [fill.trade_id, fill]));

  const missing: Trade[] = [];
  const mismatched: Array<FillMismatch<S>> = [];
  for (const [tradeId, trade] of fromExchange) {
    const fill = storedById.get(tradeId);
    if (fill === undefined) {
      if (trade.time <= window.fetchedAt - window.settleGraceMs) missing.push(trade);
      continue;
    }
    const fields = differingFields(trade, fill);
    if (fields.length > 0) mismatched.push({ trade, stored: fill, fields });
  }

  const unknown: S[] = [];
  if (window.complete) {
    for (const fill of stored) {
      const time = fill.trade_time.getTime();
      if (fromExchange.has(fill.trade_id)) continue;
      if (time < window.startTime + window.edgeMs || time > window.fetchedAt - window.edgeMs) continue;
      unknown.push(fill);
    }
  }
  return { missing, mismatched, unknown };
}

function differingFields(trade: Trade, fill: StoredFillView): string[] {
  const fields: string[] = [];
  if (fill.side !== (trade.isBuyer ? 'BUY' : 'SELL')) fields.push('side');
  if (fill.exchange_order_id !== String(trade.orderId)) fields.push('order');
  if (!dec(fill.price).eq(trade.price)) fields.push('price');
  if (!dec(fill.qty).eq(trade.qty)) fields.push('qty');
  if (!dec(fill.commission).eq(trade.commission)) fields.push('commission');
  return fields;
}

// ---------------------------------------------------------------------------------------------
// Balances

/** The position where an asset's unexplained inventory is booked. */
export interface HomePosition {
  symbol: string;
  baseAsset: string;
  quoteAsset: string;
}

/** The fields of a stored position the comparison reads (a PositionRow has them all). */
export interface BookedPositionView {
  symbol: string;
  base_asset: string;
  quote_asset: string;
  quantity: string;
}

export interface BalanceComparisonInput {
  /** The account's balances (free + locked per asset). */
  balances: ReadonlyArray<{ asset: string; free: string; locked: string }>;
  positions: readonly BookedPositionView[];
  /** The configured symbols, in configuration order. */
  symbols: readonly string[];
  /** The exchange's symbol definitions (exchangeInfo). */
  listed: ReadonlyArray<{ symbol: string; baseAsset: string; quoteAsset: string }>;
}

export interface BalanceDrift {
  asset: string;
  home: HomePosition;
  exchangeTotal: Dec;
  positionsTotal: Dec;
  /** exchangeTotal − positionsTotal; never zero. */
  diff: Dec;
}

export interface BalanceComparison {
  drifts: BalanceDrift[];
  /** How many assets had a home position and were compared. */
  assetsCompared: number;
}

export function compareBalances(input: BalanceComparisonInput): BalanceComparison {
  const totals = new Map(input.balances.map((b) => [b.asset, dec(b.free).plus(b.locked)]));
  const homes = homePositions(input);
  const byBase = positionsByBase(input.positions);
  const drifts: BalanceDrift[] = [];
  for (const [asset, home] of [...homes].sort(([a], [b]) => a.localeCompare(b))) {
    const positionsTotal = (byBase.get(asset) ?? []).reduce((acc, p) => acc.plus(p.quantity), ZERO);
    const exchangeTotal = totals.get(asset) ?? ZERO;
    const diff = exchangeTotal.minus(positionsTotal);
    if (diff.isZero()) continue;
    drifts.push({ asset, home, exchangeTotal, positionsTotal, diff });
  }
  return { drifts, assetsCompared: homes.size };
}

/**
 * Home position of each base asset: the first configured symbol trading it, else the position
 * holding most of it (a deposit of an asset only traded by hand still lands somewhere stable).
 */
function homePositions(input: BalanceComparisonInput): Map<string, HomePosition> {
  const homes = new Map<string, HomePosition>();
  for (const symbol of input.symbols) {
    const def = input.listed.find((x) => x.symbol === symbol);
    if (def && !homes.has(def.baseAsset)) homes.set(def.baseAsset, { symbol, baseAsset: def.baseAsset, quoteAsset: def.quoteAsset });
  }
  for (const [asset, positions] of positionsByBase(input.positions)) {
    if (homes.has(asset)) continue;
    const top = [...positions].sort((a, b) => dec(b.quantity).cmp(a.quantity) || a.symbol.localeCompare(b.symbol))[0]!;
    homes.set(asset, { symbol: top.symbol, baseAsset: asset, quoteAsset: top.quote_asset });
  }
  return homes;
}

function positionsByBase<P extends BookedPositionView>(positions: readonly P[]): Map<string, P[]> {
  const byBase = new Map<string, P[]>();
  for (const p of positions) byBase.set(p.base_asset, [...(byBase.get(p.base_asset) ?? []), p]);
  return byBase;
}

/**
 * What the previous run's sighting of an asset's drift means now. It counts only when it is
 * recent (within confirmWithinMs): then the drift is persistent (worth an alert even if the
 * amount moved), and if the amount is exactly the same it is a confirmation candidate, pending
 * the check that no fill touching the asset was recorded since the sighting.
 */
export function judgePreviousSighting(
  previous: { runId: string; drift?: { diff?: string; seenAt: Date } } | undefined,
  diff: Dec,
  nowMs: number,
  confirmWithinMs: number,
): { persistent: boolean; sameSince?: { runId: string; seenAt: Date } } {
  const seen = previous?.drift;
  if (!previous || !seen || nowMs - seen.seenAt.getTime() > confirmWithinMs) return { persistent: false };
  if (seen.diff !== undefined && dec(seen.diff).eq(diff)) return { persistent: true, sameSince: { runId: previous.runId, seenAt: seen.seenAt } };
  return { persistent: true };
}
