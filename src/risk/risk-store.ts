/**
 * What the pre-trade guard reads from PostgreSQL: the symbol's position and how many orders the
 * account sent recently. One account per service (one API key), so "the account's orders" are
 * the rows of `orders`.
 */
import type { Queryable } from '../persistence/db';

/** Signed base quantity of the symbol's position ('0' when there is none). */
export async function positionQuantity(db: Queryable, symbol: string): Promise<string> {
  const r = await db.query<{ quantity: string }>('SELECT quantity::text AS quantity FROM positions WHERE symbol = $1', [symbol]);
  return r.rows[0]?.quantity ?? '0';
}

/**
 * Orders recorded within the last `windowMs` that may have reached the exchange (every status but
 * NOT_PLACED: an order refused before sending costs the exchange nothing), not counting those of
 * `excludeDecisionId` (a retried check must not count its own trade's orders against it).
 */
export async function ordersSentWithin(db: Queryable, windowMs: number, excludeDecisionId: string): Promise<number> {
  const r = await db.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM orders
      WHERE created_at > now() - make_interval(secs => $1::double precision)
        AND status <> 'NOT_PLACED'
        AND decision_id IS DISTINCT FROM $2`,
    [windowMs / 1000, excludeDecisionId],
  );
  return Number(r.rows[0]?.n ?? 0);
}
