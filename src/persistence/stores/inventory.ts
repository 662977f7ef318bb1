/**
 * Inventory adjustments: external inventory booked into or out of a position (deposits,
 * withdrawals, holdings that predate the service) and the SELL excesses the ledger derives from
 * its fills. Written under the position lock (positions.ts), like the fills.
 */
import type { Pool } from 'pg';
import { z } from 'zod';
import { type Position, applyAdjustment } from '../../portfolio/position';
import { dec, toWire } from '../../shared/decimal';
import { type Queryable, withTransaction } from '../db';
import { AssetCode, type PositionRow, PositionRowSchema, SymbolCode } from '../schemas';
import { fromRow, lockPosition } from './positions';

export const ADJUSTMENT_KINDS = ['external_inventory', 'external_outflow', 'sell_excess'] as const;
export type AdjustmentKind = (typeof ADJUSTMENT_KINDS)[number];

const DbDec = z
  .string()
  .regex(/^-?\d+(\.\d+)?$/)
  .transform((v) => toWire(v));

export const InventoryAdjustmentRowSchema = z.object({
  id: z.string(),
  symbol: z.string(),
  base_asset: z.string(),
  kind: z.enum(ADJUSTMENT_KINDS),
  qty: DbDec,
  price: DbDec,
  applies_after_trade_id: z.string().nullable(),
  trade_id: z.string().nullable(),
  idempotency_key: z.string().nullable(),
  reason: z.string(),
  detail: z.unknown(),
  created_at: z.date(),
});
export type InventoryAdjustmentRow = z.output<typeof InventoryAdjustmentRowSchema>;

/** Explicit (non-derived) adjustments of a symbol in replay order. */
export async function listExplicitAdjustments(db: Queryable, symbol: string): Promise<InventoryAdjustmentRow[]> {
  const r = await db.query(
    `SELECT * FROM inventory_adjustments WHERE symbol = $1 AND kind <> 'sell_excess'
      ORDER BY applies_after_trade_id NULLS FIRST, id`,
    [symbol],
  );
  return z.array(InventoryAdjustmentRowSchema).parse(r.rows);
}

export async function listInventoryAdjustments(db: Queryable, symbol?: string): Promise<InventoryAdjustmentRow[]> {
  const r = await db.query(
    `SELECT * FROM inventory_adjustments WHERE ($1::text IS NULL OR symbol = $1) ORDER BY symbol, applies_after_trade_id NULLS FIRST, id`,
    [symbol ?? null],
  );
  return z.array(InventoryAdjustmentRowSchema).parse(r.rows);
}

/**
 * Replays a stored adjustment. An outflow is clamped to what the position holds at that point
 * of the replay (the fills around it may have been reordered since it was booked); what the
 * clamp leaves out shows up as drift at the next reconciliation, which books it again.
 */
export function replayAdjustment(position: Position, adj: InventoryAdjustmentRow): Position {
  const q = dec(position.quantity);
  let qty = dec(adj.qty);
  if (q.lt(0)) return position;
  if (qty.lt(0) && qty.neg().gt(q)) qty = q.neg();
  if (qty.isZero()) return position;
  return applyAdjustment(position, { qty: toWire(qty), price: adj.price }).position;
}

/** Keeps positions.external_qty / adjustment_count equal to the symbol's adjustments. */
export async function refreshAdjustmentTotals(db: Queryable, symbol: string): Promise<void> {
  await db.query(
    `UPDATE positions p SET external_qty = a.qty, adjustment_count = a.n
       FROM (SELECT COALESCE(sum(qty), 0) AS qty, count(*)::int AS n FROM inventory_adjustments WHERE symbol = $1) a
      WHERE p.symbol = $1 AND (p.external_qty <> a.qty OR p.adjustment_count <> a.n)`,
    [symbol],
  );
}

export interface AdjustInventoryInput {
  symbol: string;
  baseAsset: string;
  quoteAsset: string;
  kind: 'external_inventory' | 'external_outflow';
  /** Magnitude of the change (> 0); the kind gives the direction. */
  qty: string;
  /** Quote price of the base asset used to value it (the mark price). */
  price: string;
  /** Derived by the caller (e.g. `${runId}:BTC`): a repeat with the same key books nothing. */
  idempotencyKey: string;
  reason: string;
  detail?: unknown;
}

export interface AdjustInventoryResult {
  inserted: boolean;
  /** The quantity actually booked (signed; an outflow is clamped to the position). */
  qty: string;
  position: PositionRow;
}

const AdjustInventoryInputSchema = z.object({
  symbol: SymbolCode,
  baseAsset: AssetCode,
  quoteAsset: AssetCode,
  kind: z.enum(['external_inventory', 'external_outflow']),
  qty: z.string().refine((v) => /^\d+(\.\d+)?$/.test(v) && dec(v).gt(0), { message: 'must be a decimal > 0' }),
  price: z.string().refine((v) => /^\d+(\.\d+)?$/.test(v) && dec(v).gt(0), { message: 'must be a decimal > 0' }),
  idempotencyKey: z.string().min(1).max(256),
  reason: z.string().max(2000),
  detail: z.json().optional(),
});

/**
 * Books external inventory into (or out of) a position, once per idempotency key, in one
 * transaction under the position lock (same lock order as applyFills). The adjustment is placed
 * after the position's last applied trade, so a later rebuild replays it at the same point.
 * An outflow larger than the position is clamped to it (inventory cannot go negative); with
 * nothing to take out nothing is booked.
 */
export async function adjustInventory(pool: Pool, input: AdjustInventoryInput): Promise<AdjustInventoryResult> {
  const a = AdjustInventoryInputSchema.parse(input);
  return withTransaction(pool, async (client) => {
    const before = await lockPosition(client, a.symbol, a.baseAsset, a.quoteAsset);
    const seen = await client.query('SELECT qty FROM inventory_adjustments WHERE idempotency_key = $1', [a.idempotencyKey]);
    if (seen.rows[0] !== undefined) {
      return { inserted: false, qty: toWire((seen.rows[0] as { qty: string }).qty), position: before };
    }
    let qty = a.kind === 'external_inventory' ? dec(a.qty) : dec(a.qty).neg();
    const held = dec(before.quantity);
    if (qty.lt(0) && qty.neg().gt(held)) qty = held.gt(0) ? held.neg() : dec(0);
    if (qty.isZero()) return { inserted: false, qty: '0', position: before };
    const next = applyAdjustment(fromRow(before), { qty: toWire(qty), price: a.price }).position;
    await client.query(
      `INSERT INTO inventory_adjustments (symbol, base_asset, kind, qty, price, applies_after_trade_id, idempotency_key, reason, detail)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)`,
      [
        a.symbol,
        a.baseAsset,
        a.kind,
        toWire(qty),
        a.price,
        before.last_trade_id,
        a.idempotencyKey,
        a.reason,
        JSON.stringify(a.detail ?? {}),
      ],
    );
    const written = await client.query(
      `UPDATE positions SET quantity = $2, avg_entry_price = $3, cost_basis = $4, updated_at = now() WHERE symbol = $1 RETURNING *`,
      [a.symbol, next.quantity, next.avgEntryPrice, next.costBasis],
    );
    await refreshAdjustmentTotals(client, a.symbol);
    return { inserted: true, qty: toWire(qty), position: PositionRowSchema.parse(written.rows[0]) };
  });
}

/** True when the asset was ever traded (a fill in a position of it) or booked as inventory. */
export async function isAssetTracked(db: Queryable, asset: string): Promise<boolean> {
  const tracked = await db.query<{ tracked: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM fills f JOIN positions p USING (symbol) WHERE p.base_asset = $1)
         OR EXISTS (SELECT 1 FROM inventory_adjustments WHERE base_asset = $1) AS tracked`,
    [asset],
  );
  return tracked.rows[0]?.tracked === true;
}
