/**
 * The ledger: fills, and the position each symbol's fills add up to. Recording a fill and
 * counting it in the position happen in one transaction under the position lock, so each trade
 * id is counted exactly once however often an activity retries. Idempotent as every store is
 * (see store-conflict-error.ts).
 */
import type { Pool, PoolClient } from 'pg';
import { z } from 'zod';
import {
  type ApplyFillContext,
  type Position,
  type PositionFill,
  PositionError,
  applyFill,
  commissionInQuote,
  emptyPosition,
} from '../../portfolio/position';
import { dec, toWire } from '../../shared/decimal';
import { type Queryable, withTransaction } from '../db';
import {
  AssetCode,
  type FillInput,
  FillInputSchema,
  type FillRow,
  FillRowSchema,
  type ParsedFill,
  type PositionRow,
  PositionRowSchema,
  SymbolCode,
} from '../schemas';
import { listExplicitAdjustments, refreshAdjustmentTotals, replayAdjustment } from './inventory';
import { fromRow, lockPosition } from './positions';
import { StoreConflictError } from './store-conflict-error';

export interface ApplyFillsInput {
  symbol: string;
  baseAsset: string;
  quoteAsset: string;
  fills: FillInput[];
  /** Quote price at fill time of third commission assets, e.g. { BNB: "612.3" }. */
  commissionAssetPrices?: Record<string, string>;
  /** Default false (Binance Spot): a SELL larger than the long position is refused. */
  allowShort?: boolean;
  /**
   * A third-asset commission with no price in commissionAssetPrices: 'throw' (default) fails
   * the call; 'exclude' records the fill with commission_quote_value NULL, leaves that fee out
   * of the position's fees and PnL and counts it in unvalued_fee_fills.
   */
  unpricedCommission?: 'throw' | 'exclude';
  /**
   * A SELL bigger than the recorded long position (spot, allowShort false). 'throw' (default,
   * strict like unpricedCommission) refuses the fill (PositionError WOULD_GO_SHORT);
   * 'external_inventory' (what the activity path and reconciliation use: the exchange executed
   * the SELL, so the account held the asset) books the excess as external inventory at the fill
   * price (no PnL of its own), recorded in inventory_adjustments as 'sell_excess'. See
   * ApplyFillContext.excessSell for the reasoning.
   */
  excessSell?: 'throw' | 'external_inventory';
  /**
   * Recompute the position from every stored fill and adjustment even when all new fills are in
   * order (reconciliation uses it after a repair, so a position that disagreed with its own
   * fills is made consistent again).
   */
  rebuild?: boolean;
}

export interface AppliedFill {
  trade_id: string;
  client_order_id: string | null;
  side: 'BUY' | 'SELL';
  price: string;
  qty: string;
  /** Net realized PnL of the fill in quote (fee included). */
  realized_pnl: string;
  fee_quote: string;
  /** False when a third-asset commission had no price and was left out. */
  fee_valued: boolean;
  closed_qty: string;
  /** Base quantity of this SELL booked as external inventory (sell_excess); '0' normally. */
  external_qty: string;
}

export interface ApplyFillsResult {
  /** Fills this call inserted and applied, in trade-id order. */
  applied: AppliedFill[];
  /** Trade ids already recorded before this call (or repeated within it): not applied again. */
  duplicates: string[];
  /** The position after the call. */
  position: PositionRow;
  /**
   * True when a new fill had a lower trade id than one already applied and the position was
   * therefore recomputed from all stored fills in trade-id order (average cost depends on
   * order, so arrival order must not decide the result).
   */
  rebuilt: boolean;
  /** SELL excesses booked as external inventory by this call (after a rebuild: all of them). */
  external_inventory: Array<{ trade_id: string; qty: string; price: string }>;
}

const ApplyFillsInputSchema = z.object({
  symbol: SymbolCode,
  baseAsset: AssetCode,
  quoteAsset: AssetCode,
  fills: z.array(FillInputSchema).max(10_000),
  commissionAssetPrices: z.record(z.string(), z.string()).optional(),
  allowShort: z.boolean().optional(),
  unpricedCommission: z.enum(['throw', 'exclude']).optional(),
  excessSell: z.enum(['throw', 'external_inventory']).optional(),
  rebuild: z.boolean().optional(),
});

/**
 * Records fills and applies the new ones to the symbol's position in ONE transaction:
 * the position row is locked first (created if missing), every fill is inserted with
 * ON CONFLICT DO NOTHING, only the rows actually inserted are applied, and the position is
 * written back. Concurrent callers for a symbol serialise on the position lock, so each
 * trade id is counted exactly once; any failure rolls everything back.
 */
export async function applyFills(pool: Pool, input: ApplyFillsInput): Promise<ApplyFillsResult> {
  return withTransaction(pool, (client) => applyFillsInTransaction(client, input));
}

/** applyFills on a client that is already inside a transaction (the caller commits). */
export async function applyFillsInTransaction(client: PoolClient, input: ApplyFillsInput): Promise<ApplyFillsResult> {
  const parsed = ApplyFillsInputSchema.parse(input);
  const { symbol, baseAsset, quoteAsset } = parsed;
  for (const f of parsed.fills) {
    if (f.symbol !== symbol) throw new Error(`fill ${f.trade_id} is for ${f.symbol}, not ${symbol}`);
  }
  const ctx = fillContextOf(parsed);

  const before = await lockPosition(client, symbol, baseAsset, quoteAsset);
  const { inserted, duplicates } = await insertFillsOnce(client, symbol, parsed.fills, ctx);
  await checkDuplicates(client, symbol, duplicates);

  if (inserted.length === 0 && !parsed.rebuild) {
    return { applied: [], duplicates: duplicates.map((f) => f.trade_id), position: before, rebuilt: false, external_inventory: [] };
  }

  const lastApplied = before.last_trade_id;
  const outOfOrder = lastApplied !== null && inserted.some((i) => compareIds(i.fill.trade_id, lastApplied) < 0);
  const rebuild = outOfOrder || parsed.rebuild === true;
  const outcome = rebuild
    ? await replayStoredFills(client, symbol, ctx, new Set(inserted.map((i) => i.fill.trade_id)))
    : applyNewFillsInOrder(before, inserted, ctx);
  await bookSellExcesses(client, symbol, baseAsset, outcome.excesses, { replaceDerived: rebuild });

  const written = await writePosition(client, symbol, outcome.position, lastTradeIdAfter(outcome.lastTradeId, inserted));
  await refreshAdjustmentTotals(client, symbol);
  const applied = inserted.map((i) => {
    const a = outcome.results.get(i.fill.trade_id);
    if (!a) throw new Error(`internal: no result for trade ${i.fill.trade_id}`);
    return a;
  });
  return {
    applied,
    duplicates: duplicates.map((f) => f.trade_id),
    position: written,
    rebuilt: rebuild,
    external_inventory: outcome.excesses,
  };
}

type ParsedApplyFillsInput = z.output<typeof ApplyFillsInputSchema>;
type SellExcess = { trade_id: string; qty: string; price: string };
/** A fill this call inserted, with its commission valued in quote (null: not valued). */
type InsertedFill = { fill: ParsedFill; feeQuote: string | null };

/** What applying fills did to the position: the result of the new fills and the SELL excesses. */
interface LedgerOutcome {
  position: Position;
  /** Per new trade id, what applying it did. */
  results: Map<string, AppliedFill>;
  excesses: SellExcess[];
  /** The last trade id the position has counted, before the new fills are taken into account. */
  lastTradeId: string | null;
}

/** The input's options as the position arithmetic takes them, with their defaults. */
function fillContextOf(parsed: ParsedApplyFillsInput): ApplyFillContext {
  return {
    symbol: parsed.symbol,
    baseAsset: parsed.baseAsset,
    quoteAsset: parsed.quoteAsset,
    allowShort: parsed.allowShort ?? false,
    unpricedCommission: parsed.unpricedCommission ?? 'throw',
    excessSell: parsed.excessSell ?? 'throw',
    ...(parsed.commissionAssetPrices ? { commissionAssetPrices: parsed.commissionAssetPrices } : {}),
  };
}

/**
 * Inserts each fill with ON CONFLICT DO NOTHING, in trade-id order, and splits them into the
 * ones this call inserted (and so must apply) and the duplicates (already counted: the unique
 * key (symbol, trade_id) is what makes each trade count exactly once).
 */
async function insertFillsOnce(
  client: PoolClient,
  symbol: string,
  fills: ParsedFill[],
  ctx: ApplyFillContext,
): Promise<{ inserted: InsertedFill[]; duplicates: ParsedFill[] }> {
  // Binance trade ids increase with time per symbol: trade-id order is execution order.
  const ordered = [...fills].sort((a, b) => compareIds(a.trade_id, b.trade_id));
  const inserted: InsertedFill[] = [];
  const duplicates: ParsedFill[] = [];
  for (const fill of ordered) {
    // A duplicate needs no valuation, so a missing BNB price only matters for new fills.
    let feeQuote: string | null = null;
    let feeError: unknown = undefined;
    try {
      feeQuote = commissionInQuote(toPositionFill(fill), ctx);
    } catch (err) {
      feeError = err;
    }
    const r = await client.query(
      `INSERT INTO fills (symbol, trade_id, exchange_order_id, client_order_id, side, price, qty, quote_qty,
                          commission, commission_asset, commission_quote_value, is_maker, trade_time)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
       ON CONFLICT (symbol, trade_id) DO NOTHING
       RETURNING trade_id`,
      [
        symbol,
        fill.trade_id,
        fill.exchange_order_id,
        fill.client_order_id,
        fill.side,
        fill.price,
        fill.qty,
        fill.quote_qty ?? toWire(dec(fill.price).mul(fill.qty)),
        fill.commission,
        fill.commission_asset,
        feeQuote,
        fill.is_maker,
        fill.trade_time,
      ],
    );
    if (r.rowCount === 1) {
      if (feeError !== undefined) throw feeError;
      inserted.push({ fill, feeQuote });
    } else {
      duplicates.push(fill);
    }
  }
  return { inserted, duplicates };
}

/**
 * The usual case: every new fill comes after the last one counted, so applying them to the
 * stored position gives the same result as a replay would, without reading the history.
 */
function applyNewFillsInOrder(before: PositionRow, inserted: InsertedFill[], ctx: ApplyFillContext): LedgerOutcome {
  const results = new Map<string, AppliedFill>();
  const excesses: SellExcess[] = [];
  let position = fromRow(before);
  for (const { fill, feeQuote } of inserted) {
    const f = toPositionFill(fill);
    const r = applyFill(position, feeQuote === null ? f : { ...f, commissionQuoteValue: feeQuote }, ctx);
    position = r.position;
    results.set(fill.trade_id, appliedFrom(fill, r));
    if (dec(r.externalQty).gt(0)) excesses.push({ trade_id: fill.trade_id, qty: r.externalQty, price: fill.price });
  }
  return { position, results, excesses, lastTradeId: before.last_trade_id };
}

/**
 * Average cost depends on order, so when a new fill lands before one already counted (or a
 * rebuild is asked for) the position is recomputed: every stored fill (now including the new
 * ones) in trade-id order, with the explicit inventory adjustments at the points they were
 * booked. Stored fee values are used, so no historical BNB price is needed.
 */
async function replayStoredFills(
  client: PoolClient,
  symbol: string,
  ctx: ApplyFillContext,
  newIds: Set<string>,
): Promise<LedgerOutcome> {
  const all = z
    .array(FillRowSchema)
    .parse((await client.query('SELECT * FROM fills WHERE symbol = $1 ORDER BY trade_id', [symbol])).rows);
  const adjustments = await listExplicitAdjustments(client, symbol);
  // Stored fills carry their fee value; NULL means it could not be valued back then, and a
  // price passed now is not the fill-time price, so replay leaves those fees out again.
  const replayCtx: ApplyFillContext = { ...ctx, unpricedCommission: 'exclude' };
  delete replayCtx.commissionAssetPrices;
  const results = new Map<string, AppliedFill>();
  const excesses: SellExcess[] = [];
  let position = emptyPosition();
  let nextAdjustment = 0;
  const applyAdjustmentsUpTo = (tradeId: string | null) => {
    // Adjustments booked after trade k come after fill k and before any later fill.
    while (nextAdjustment < adjustments.length) {
      const adj = adjustments[nextAdjustment]!;
      if (tradeId !== null && adj.applies_after_trade_id !== null && compareIds(adj.applies_after_trade_id, tradeId) >= 0) break;
      nextAdjustment++;
      position = replayAdjustment(position, adj);
    }
  };
  for (const row of all) {
    applyAdjustmentsUpTo(row.trade_id);
    const r = applyFill(position, toPositionFill(row), replayCtx);
    position = r.position;
    if (newIds.has(row.trade_id)) results.set(row.trade_id, appliedFrom(row, r));
    if (dec(r.externalQty).gt(0)) excesses.push({ trade_id: row.trade_id, qty: r.externalQty, price: row.price });
  }
  applyAdjustmentsUpTo(null);
  const maxStored = all.length === 0 ? null : all[all.length - 1]!.trade_id;
  return { position, results, excesses, lastTradeId: maxStored };
}

/**
 * Records the SELL excesses as 'sell_excess' inventory adjustments. They are derived from the
 * fills, so after a replay (replaceDerived) what the new order of fills implies replaces the
 * ones booked before; otherwise the new ones are added to them.
 */
async function bookSellExcesses(
  client: PoolClient,
  symbol: string,
  baseAsset: string,
  excesses: SellExcess[],
  options: { replaceDerived: boolean },
): Promise<void> {
  if (options.replaceDerived) {
    await client.query(`DELETE FROM inventory_adjustments WHERE symbol = $1 AND kind = 'sell_excess'`, [symbol]);
  }
  for (const e of excesses) {
    await client.query(
      `INSERT INTO inventory_adjustments (symbol, base_asset, kind, qty, price, applies_after_trade_id, trade_id, reason)
       VALUES ($1, $2, 'sell_excess', $3, $4, $5, $5, $6)`,
      [symbol, baseAsset, e.qty, e.price, e.trade_id, 'SELL exceeded the recorded position: excess booked as external inventory at the fill price'],
    );
  }
}

/** The position's last_trade_id never moves back: the highest of what it had counted and the new fills. */
function lastTradeIdAfter(counted: string | null, inserted: InsertedFill[]): string | null {
  if (inserted.length === 0) return counted;
  const maxNew = inserted.map((i) => i.fill.trade_id).reduce((x, y) => (compareIds(x, y) >= 0 ? x : y));
  return counted === null || compareIds(maxNew, counted) > 0 ? maxNew : counted;
}

/** Writes the computed position back to the row locked at the start (still under that lock). */
async function writePosition(client: PoolClient, symbol: string, position: Position, lastTradeId: string | null): Promise<PositionRow> {
  const written = await client.query(
    `UPDATE positions SET quantity = $2, avg_entry_price = $3, realized_pnl = $4, fees_quote = $5, volume_quote = $6,
            trades = $7, wins = $8, losses = $9, gross_win = $10, gross_loss = $11, fill_count = $12,
            last_trade_id = $13, cost_basis = $14, unvalued_fee_fills = $15, updated_at = now()
      WHERE symbol = $1
      RETURNING *`,
    [
      symbol,
      position.quantity,
      position.avgEntryPrice,
      position.realizedPnl,
      position.feesQuote,
      position.volumeQuote,
      position.trades,
      position.wins,
      position.losses,
      position.grossWin,
      position.grossLoss,
      position.fillCount,
      lastTradeId,
      position.costBasis,
      position.unvaluedFeeFills,
    ],
  );
  return PositionRowSchema.parse(written.rows[0]);
}

/** Refuses a "duplicate" that is not the same trade, and fills in a missing client order id. */
async function checkDuplicates(client: PoolClient, symbol: string, duplicates: ParsedFill[]): Promise<void> {
  if (duplicates.length === 0) return;
  const r = await client.query('SELECT * FROM fills WHERE symbol = $1 AND trade_id = ANY($2::bigint[])', [
    symbol,
    duplicates.map((d) => d.trade_id),
  ]);
  const stored = new Map(z.array(FillRowSchema).parse(r.rows).map((row) => [row.trade_id, row]));
  const seen = new Map<string, ParsedFill>();
  for (const d of duplicates) {
    const s = stored.get(d.trade_id);
    if (!s) throw new Error(`internal: duplicate trade ${d.trade_id} not found`);
    const diffs: string[] = [];
    if (s.side !== d.side) diffs.push(`side ${s.side} vs ${d.side}`);
    if (s.exchange_order_id !== d.exchange_order_id) diffs.push(`order ${s.exchange_order_id} vs ${d.exchange_order_id}`);
    if (!dec(s.price).eq(d.price)) diffs.push(`price ${s.price} vs ${d.price}`);
    if (!dec(s.qty).eq(d.qty)) diffs.push(`qty ${s.qty} vs ${d.qty}`);
    if (!dec(s.commission).eq(d.commission)) diffs.push(`commission ${s.commission} vs ${d.commission}`);
    if (dec(s.commission).gt(0) && s.commission_asset !== d.commission_asset) {
      diffs.push(`commission asset ${s.commission_asset} vs ${d.commission_asset}`);
    }
    if (diffs.length > 0) {
      throw new StoreConflictError(`trade ${symbol}#${d.trade_id} is already recorded differently: ${diffs.join(', ')}`);
    }
    if (s.client_order_id === null && d.client_order_id !== null && !seen.has(d.trade_id)) {
      // myTrades does not return clientOrderId; a later caller that knows it completes the row.
      await client.query(
        'UPDATE fills SET client_order_id = $3 WHERE symbol = $1 AND trade_id = $2 AND client_order_id IS NULL',
        [symbol, d.trade_id, d.client_order_id],
      );
    }
    seen.set(d.trade_id, d);
  }
}

function compareIds(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * A fill in the position arithmetic's terms: a new one as the caller gave it (its quoteQty only
 * when Binance sent one), or a stored row being replayed (with its fee's quote value, when the
 * fee was valued when it happened).
 */
function toPositionFill(f: ParsedFill | FillRow): PositionFill {
  const valuedFee = 'commission_quote_value' in f ? f.commission_quote_value : null;
  return {
    side: f.side,
    price: f.price,
    qty: f.qty,
    ...(f.quote_qty !== undefined ? { quoteQty: f.quote_qty } : {}),
    commission: f.commission,
    commissionAsset: f.commission_asset,
    ...(valuedFee !== null ? { commissionQuoteValue: valuedFee } : {}),
  };
}

function appliedFrom(
  f: { trade_id: string; client_order_id: string | null; side: 'BUY' | 'SELL'; price: string; qty: string },
  r: ReturnType<typeof applyFill>,
): AppliedFill {
  return {
    trade_id: f.trade_id,
    client_order_id: f.client_order_id,
    side: f.side,
    price: f.price,
    qty: f.qty,
    realized_pnl: r.realizedPnl,
    fee_quote: r.feeQuote,
    fee_valued: r.feeValued,
    closed_qty: r.closedQuantity,
    external_qty: r.externalQty,
  };
}

/** Fills of one order, in trade-id order. */
export async function listFills(db: Queryable, clientOrderId: string): Promise<FillRow[]> {
  const r = await db.query('SELECT * FROM fills WHERE client_order_id = $1 ORDER BY symbol, trade_id', [clientOrderId]);
  return z.array(FillRowSchema).parse(r.rows);
}

export async function listFillsForSymbol(db: Queryable, symbol: string): Promise<FillRow[]> {
  const r = await db.query('SELECT * FROM fills WHERE symbol = $1 ORDER BY trade_id', [symbol]);
  return z.array(FillRowSchema).parse(r.rows);
}

export { PositionError };

/**
 * The stored fills a reconciliation window compares against the exchange's trades: those since
 * the window's start, and any the exchange listed whatever their stored time (so a fill stored
 * with a different time is compared, not reported twice).
 */
export async function listFillsInWindow(db: Queryable, symbol: string, since: Date, tradeIds: readonly string[]): Promise<FillRow[]> {
  const r = await db.query('SELECT * FROM fills WHERE symbol = $1 AND (trade_time >= $2 OR trade_id = ANY($3::bigint[])) ORDER BY trade_id', [
    symbol,
    since,
    tradeIds,
  ]);
  return z.array(FillRowSchema).parse(r.rows);
}

/** True when a fill recorded after `since` moved the asset (as base, quote or commission). */
export async function fillTouchingAssetRecordedSince(db: Queryable, asset: string, since: Date): Promise<boolean> {
  const activity = await db.query<{ busy: boolean }>(
    `SELECT EXISTS (
       SELECT 1 FROM fills f JOIN positions p USING (symbol)
        WHERE f.recorded_at > $2 AND (p.base_asset = $1 OR p.quote_asset = $1 OR f.commission_asset = $1)) AS busy`,
    [asset, since],
  );
  return activity.rows[0]?.busy === true;
}
