/**
 * The positions table: one row per symbol, written by the ledger (fills) and by inventory
 * adjustments, both under the position lock taken here.
 */
import type { PoolClient } from 'pg';
import { z } from 'zod';
import type { Position } from '../../portfolio/position';
import { toWire } from '../../shared/decimal';
import type { Queryable } from '../db';
import { type PositionRow, PositionRowSchema } from '../schemas';
import { StoreConflictError } from './store-conflict-error';

/**
 * Creates the symbol's position if missing and locks its row for the rest of the transaction.
 * Lock order is always position row, then fills or adjustments: every writer of a symbol's
 * ledger holds that symbol's position lock, so concurrent calls cannot interleave or deadlock.
 * A position booked under other assets is refused: the symbol would mean two markets.
 */
export async function lockPosition(client: PoolClient, symbol: string, baseAsset: string, quoteAsset: string): Promise<PositionRow> {
  await client.query(
    `INSERT INTO positions (symbol, base_asset, quote_asset) VALUES ($1, $2, $3) ON CONFLICT (symbol) DO NOTHING`,
    [symbol, baseAsset, quoteAsset],
  );
  const locked = await client.query('SELECT * FROM positions WHERE symbol = $1 FOR UPDATE', [symbol]);
  const before = PositionRowSchema.parse(locked.rows[0]);
  if (before.base_asset !== baseAsset || before.quote_asset !== quoteAsset) {
    throw new StoreConflictError(
      `position ${symbol} is ${before.base_asset}/${before.quote_asset}, not ${baseAsset}/${quoteAsset}`,
    );
  }
  return before;
}

/** The pure-arithmetic view of a stored position. */
export function fromRow(row: PositionRow): Position {
  return {
    quantity: row.quantity,
    avgEntryPrice: row.avg_entry_price,
    costBasis: row.cost_basis,
    realizedPnl: row.realized_pnl,
    feesQuote: row.fees_quote,
    volumeQuote: row.volume_quote,
    trades: row.trades,
    wins: row.wins,
    losses: row.losses,
    grossWin: row.gross_win,
    grossLoss: row.gross_loss,
    fillCount: row.fill_count,
    unvaluedFeeFills: row.unvalued_fee_fills,
  };
}

export async function getPosition(db: Queryable, symbol: string): Promise<PositionRow | null> {
  const r = await db.query('SELECT * FROM positions WHERE symbol = $1', [symbol]);
  return r.rows[0] === undefined ? null : PositionRowSchema.parse(r.rows[0]);
}

export async function listPositions(db: Queryable): Promise<PositionRow[]> {
  const r = await db.query('SELECT * FROM positions ORDER BY symbol');
  return z.array(PositionRowSchema).parse(r.rows);
}

/** positions.external_qty and adjustment_count (not part of PositionRow, which predates them). */
export async function listPositionExternals(db: Queryable): Promise<Map<string, { external_qty: string; adjustment_count: number }>> {
  const r = await db.query('SELECT symbol, external_qty::text AS external_qty, adjustment_count FROM positions');
  return new Map(
    (r.rows as Array<{ symbol: string; external_qty: string; adjustment_count: number }>).map((row) => [
      row.symbol,
      { external_qty: toWire(row.external_qty), adjustment_count: row.adjustment_count },
    ]),
  );
}

/** The stored quantity of a symbol's position as text, or null without a position. */
export async function getPositionQuantity(db: Queryable, symbol: string): Promise<string | null> {
  const before = await db.query<{ quantity: string }>('SELECT quantity::text FROM positions WHERE symbol = $1', [symbol]);
  return before.rows[0]?.quantity ?? null;
}

/**
 * The stored position quantity next to what its own ledger adds up to (fills net of base-asset
 * commission, plus every inventory adjustment); undefined when the symbol has no position.
 */
export async function positionAndLedgerQuantity(
  db: Queryable,
  symbol: string,
  baseAsset: string,
): Promise<{ quantity: string; ledger: string } | undefined> {
  const r = await db.query<{ quantity: string; ledger: string }>(
    `SELECT p.quantity::text AS quantity,
            (COALESCE((SELECT sum(CASE WHEN f.side = 'BUY'
                                       THEN f.qty - CASE WHEN f.commission_asset = $2 THEN f.commission ELSE 0 END
                                       ELSE -(f.qty + CASE WHEN f.commission_asset = $2 THEN f.commission ELSE 0 END) END)
                         FROM fills f WHERE f.symbol = $1), 0)
             + COALESCE((SELECT sum(a.qty) FROM inventory_adjustments a WHERE a.symbol = $1), 0))::text AS ledger
       FROM positions p WHERE p.symbol = $1`,
    [symbol, baseAsset],
  );
  return r.rows[0];
}
