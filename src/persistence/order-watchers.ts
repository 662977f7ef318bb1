/**
 * Who watches which order (migration 030): the store behind "only the worker that owns an order
 * signals its workflow". Leases use the database's clock, so workers with skewed clocks agree
 * on whose lease has lapsed.
 *
 * Claims are single UPDATEs: two workers adopting the same orphan serialise on its row lock, and
 * the second sees the first's live lease and leaves the row alone.
 */
import type { Pool } from 'pg';

/** Exchange statuses of an order that rests on the venue: what a watcher follows. */
export const RESTING_STATUSES = ['PENDING_NEW', 'NEW', 'PARTIALLY_FILLED', 'PENDING_CANCEL'] as const;

/** An order as the books last recorded it: what an adopter compares the venue's view with. */
export interface WatchedOrderRow {
  clientOrderId: string;
  symbol: string;
  workflowId: string;
  status: string;
  executedQty: string;
  orderId: number | undefined;
}

export interface OrderWatcherStore {
  /** Renews (or takes) this watcher's lease. */
  heartbeat(watcherId: string): Promise<void>;
  /** Gives the lease up on a clean shutdown, so another worker adopts at once instead of after the lease. */
  release(watcherId: string): Promise<void>;
  /** Marks these orders as watched by `watcherId` (rows not yet written are left to the next claim). */
  claim(watcherId: string, clientOrderIds: readonly string[]): Promise<void>;
  /**
   * Takes over resting orders nobody live watches: the watcher's lease lapsed `leaseMs` ago, or
   * the order was never claimed and its row is older than `unclaimedGraceMs` (a workflow that
   * has not run its first coverage check yet is left to do so). Returns what it took.
   */
  adoptOrphans(watcherId: string, leaseMs: number, unclaimedGraceMs: number): Promise<WatchedOrderRow[]>;
  /** Of these orders, the ones another watcher holds now (their workflow moved to another worker). */
  heldByOthers(watcherId: string, clientOrderIds: readonly string[]): Promise<string[]>;
  /**
   * Of these orders, the ones this watcher need not follow any more: another watcher holds them,
   * or the books have them final (a send the exchange refused, a fill whose event came elsewhere).
   */
  noLongerMine(watcherId: string, clientOrderIds: readonly string[]): Promise<string[]>;
}

interface Row {
  client_order_id: string;
  symbol: string;
  workflow_id: string;
  status: string;
  executed_qty: string;
  exchange_order_id: string | null;
}

export function createPgOrderWatcherStore(pool: Pool): OrderWatcherStore {
  return {
    async heartbeat(watcherId) {
      await pool.query(
        `INSERT INTO order_watchers (watcher_id, seen_at) VALUES ($1, now())
         ON CONFLICT (watcher_id) DO UPDATE SET seen_at = now()`,
        [watcherId],
      );
    },
    async release(watcherId) {
      await pool.query('DELETE FROM order_watchers WHERE watcher_id = $1', [watcherId]);
    },
    async claim(watcherId, clientOrderIds) {
      if (clientOrderIds.length === 0) return;
      await pool.query('UPDATE orders SET watcher_id = $1 WHERE client_order_id = ANY($2) AND watcher_id IS DISTINCT FROM $1', [watcherId, clientOrderIds]);
    },
    async adoptOrphans(watcherId, leaseMs, unclaimedGraceMs) {
      const { rows } = await pool.query<Row>(
        `UPDATE orders o SET watcher_id = $1
          WHERE o.status = ANY($2) AND o.workflow_id IS NOT NULL AND o.watcher_id IS DISTINCT FROM $1
            AND (
              (o.watcher_id IS NULL AND o.updated_at < now() - make_interval(secs => $4 / 1000.0))
              OR (o.watcher_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM order_watchers w
                     WHERE w.watcher_id = o.watcher_id AND w.seen_at > now() - make_interval(secs => $3 / 1000.0)))
            )
          RETURNING o.client_order_id, o.symbol, o.workflow_id, o.status, o.executed_qty::text, o.exchange_order_id::text`,
        [watcherId, RESTING_STATUSES, leaseMs, unclaimedGraceMs],
      );
      return rows.map((r) => ({
        clientOrderId: r.client_order_id,
        symbol: r.symbol,
        workflowId: r.workflow_id,
        status: r.status,
        executedQty: r.executed_qty,
        orderId: r.exchange_order_id === null ? undefined : Number(r.exchange_order_id),
      }));
    },
    async heldByOthers(watcherId, clientOrderIds) {
      if (clientOrderIds.length === 0) return [];
      const { rows } = await pool.query<{ client_order_id: string }>(
        'SELECT client_order_id FROM orders WHERE client_order_id = ANY($2) AND watcher_id IS NOT NULL AND watcher_id <> $1',
        [watcherId, clientOrderIds],
      );
      return rows.map((r) => r.client_order_id);
    },
    async noLongerMine(watcherId, clientOrderIds) {
      if (clientOrderIds.length === 0) return [];
      const { rows } = await pool.query<{ client_order_id: string }>(
        `SELECT client_order_id FROM orders
          WHERE client_order_id = ANY($2)
            AND ((watcher_id IS NOT NULL AND watcher_id <> $1) OR status IN ('FILLED', 'CANCELED', 'REJECTED', 'EXPIRED', 'EXPIRED_IN_MATCH', 'NOT_PLACED'))`,
        [watcherId, clientOrderIds],
      );
      return rows.map((r) => r.client_order_id);
    },
  };
}
