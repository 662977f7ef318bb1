/** Current balances per asset and their snapshot history (balances, balance_snapshots). */
import type { Pool } from 'pg';
import { z } from 'zod';
import { type Queryable, withTransaction } from '../db';
import { type BalanceInput, BalanceInputSchema, type BalanceRow, BalanceRowSchema } from '../schemas';

export interface SaveBalancesOptions {
  /** When the balances were observed (default: now). Older observations never overwrite newer ones. */
  takenAt?: Date;
  /**
   * The list is the whole account (REST account snapshot): assets not in it are set to zero.
   * Leave false for partial updates (user-data-stream outboundAccountPosition).
   */
  complete?: boolean;
}

/**
 * Writes current balances and a snapshot row per asset, in one transaction. The current row
 * is only replaced by an observation at least as recent, so a slow REST response cannot
 * overwrite a newer stream update; the snapshot is kept either way (it is history).
 */
export async function saveBalances(
  pool: Pool,
  balances: BalanceInput[],
  options: SaveBalancesOptions = {},
): Promise<{ updated: number; zeroed: number }> {
  const parsed = z.array(BalanceInputSchema).parse(balances);
  const assets = parsed.map((b) => b.asset);
  if (new Set(assets).size !== assets.length) throw new Error('saveBalances: an asset appears twice');
  const takenAt = options.takenAt ?? new Date();
  return withTransaction(pool, async (client) => {
    let updated = 0;
    for (const b of parsed) {
      const r = await client.query(
        `INSERT INTO balances (asset, free, locked, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (asset) DO UPDATE SET free = EXCLUDED.free, locked = EXCLUDED.locked, updated_at = EXCLUDED.updated_at
           WHERE balances.updated_at <= EXCLUDED.updated_at`,
        [b.asset, b.free, b.locked, takenAt],
      );
      updated += r.rowCount ?? 0;
      await client.query('INSERT INTO balance_snapshots (taken_at, asset, free, locked) VALUES ($1, $2, $3, $4)', [
        takenAt,
        b.asset,
        b.free,
        b.locked,
      ]);
    }
    let zeroed = 0;
    if (options.complete) {
      const z0 = await client.query(
        `UPDATE balances SET free = 0, locked = 0, updated_at = $2
          WHERE NOT (asset = ANY($1::text[])) AND updated_at <= $2 AND (free <> 0 OR locked <> 0)
          RETURNING asset`,
        [assets, takenAt],
      );
      zeroed = z0.rowCount ?? 0;
      for (const row of z0.rows as Array<{ asset: string }>) {
        await client.query('INSERT INTO balance_snapshots (taken_at, asset, free, locked) VALUES ($1, $2, 0, 0)', [
          takenAt,
          row.asset,
        ]);
      }
    }
    return { updated, zeroed };
  });
}

export async function listBalances(db: Queryable): Promise<BalanceRow[]> {
  const r = await db.query('SELECT * FROM balances ORDER BY asset');
  return z.array(BalanceRowSchema).parse(r.rows);
}
