/**
 * The orders table and its state transitions (order_events). An order row only ever moves
 * forward by the order state machine; transitions are idempotent on (client_order_id, seq).
 */
import { z } from 'zod';
import { createLogger } from '../../logging';
import type { ServiceMetrics } from '../../metrics/metrics';
import type { OrderEvent, OrderState } from '../../shared/order-state-machine';
import type { Queryable } from '../db';
import {
  ORDER_STATUSES,
  type OrderEventRow,
  OrderEventRowSchema,
  type OrderRecord,
  OrderRecordSchema,
  type OrderRow,
  OrderRowSchema,
  type OrderStatus,
  type OrderTransition,
  OrderTransitionSchema,
  nextOrderStatus,
} from '../schemas';
import { StoreConflictError } from './store-conflict-error';

export interface UpsertOrderResult {
  inserted: boolean;
  order: OrderRow;
  /** Set when the state machine refused the status move (the stored status was kept). */
  refused: RefusedOrderStatus | null;
}

/** A status write the order state machine refused; logged and counted by upsertOrder. */
export interface RefusedOrderStatus {
  client_order_id: string;
  stored: OrderStatus;
  incoming: OrderStatus;
  state: OrderState;
  event: OrderEvent;
  reason: string;
}

export interface UpsertOrderOptions {
  /** Where a refused status move is logged (default: this module's logger). */
  logger?: { warn(fields: Record<string, unknown>, message: string): void };
  /** Counts refused status moves (order_transitions_refused_total{source="postgres"}). */
  metrics?: Pick<ServiceMetrics, 'orderTransitionsRefused'>;
}

// The component name predates the split into stores; kept so that existing log queries still match.
const storeLog = createLogger('portfolio-store');

/**
 * The status column's next value as SQL: the (stored, incoming) pairs for which the state
 * machine takes the incoming status (nextOrderStatus), generated from the TypeScript table so
 * that the two cannot disagree.
 */
function orderStatusSql(stored: string, incoming: string): string {
  const takes = ORDER_STATUSES.flatMap((from) =>
    ORDER_STATUSES.filter((to) => to !== from && nextOrderStatus(from, to).status === to).map((to) => `('${from}', '${to}')`),
  );
  return `(CASE WHEN (${stored}, ${incoming}) IN (${takes.join(', ')}) THEN ${incoming} ELSE ${stored} END)`;
}
const NEXT_ORDER_STATUS_SQL = orderStatusSql('o.status', '$2::text');

/**
 * Inserts or updates an order by client_order_id. Updates only ever move forward, so a stale
 * REST response arriving after a newer stream event cannot roll the row back:
 *  - status: moves by the order state machine (nextOrderStatus); a move it refuses keeps the
 *    stored status and is returned as `refused`, logged and counted. An order settled as
 *    NOT_PLACED that turns up later (a late order) takes the exchange's status;
 *  - executed_qty / cummulative_quote_qty: the larger value wins;
 *  - orig_qty: the smaller wins (an amend can only reduce it; filters round it down);
 *  - ids, prices, decision/workflow id: first non-null value wins.
 * The same client_order_id with a different symbol, side, type, exchange order id or
 * decision is refused (StoreConflictError): that is two orders sharing one identity.
 */
export async function upsertOrder(db: Queryable, order: OrderRecord, options: UpsertOrderOptions = {}): Promise<UpsertOrderResult> {
  const o = OrderRecordSchema.parse(order);
  const inserted = await db.query(
    `INSERT INTO orders (client_order_id, decision_id, workflow_id, symbol, side, type, time_in_force, purpose,
                         exchange_order_id, order_list_id, price, stop_price, orig_qty, executed_qty,
                         cummulative_quote_qty, status)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
     ON CONFLICT (client_order_id) DO NOTHING
     RETURNING *`,
    [
    o.client_order_id,
    o.decision_id,
    o.workflow_id,
    o.symbol,
    o.side,
    o.type,
    o.time_in_force,
    o.purpose,
    o.exchange_order_id,
    o.order_list_id,
    o.price,
    o.stop_price,
    o.orig_qty,
    o.executed_qty,
    o.cummulative_quote_qty,
    o.status,
    ],
  );
  if (inserted.rows[0] !== undefined) return { inserted: true, order: OrderRowSchema.parse(inserted.rows[0]), refused: null };

  const existing = await getOrder(db, o.client_order_id);
  if (!existing) throw new Error(`order ${o.client_order_id} vanished during upsertOrder`);
  const clashes: string[] = [];
  if (existing.symbol !== o.symbol) clashes.push(`symbol ${existing.symbol} vs ${o.symbol}`);
  if (existing.side !== o.side) clashes.push(`side ${existing.side} vs ${o.side}`);
  if (existing.type !== o.type) clashes.push(`type ${existing.type} vs ${o.type}`);
  if (existing.exchange_order_id !== null && o.exchange_order_id !== null && existing.exchange_order_id !== o.exchange_order_id) {
    clashes.push(`exchange_order_id ${existing.exchange_order_id} vs ${o.exchange_order_id}`);
  }
  if (existing.decision_id !== null && o.decision_id !== null && existing.decision_id !== o.decision_id) {
    clashes.push(`decision_id ${existing.decision_id} vs ${o.decision_id}`);
  }
  if (clashes.length > 0) {
    throw new StoreConflictError(`order ${o.client_order_id} already exists with different ${clashes.join(', ')}`);
  }

  // The row is locked first so that the status it held (for the verdict below) is the one the
  // update replaced, whatever concurrent writers did.
  const updated = await db.query(
    `WITH prev AS (SELECT status AS previous_status FROM orders WHERE client_order_id = $1 FOR UPDATE)
     UPDATE orders o SET
        status = ${NEXT_ORDER_STATUS_SQL},
        executed_qty = GREATEST(executed_qty, $3::numeric),
        cummulative_quote_qty = GREATEST(cummulative_quote_qty, $4::numeric),
        orig_qty = LEAST(orig_qty, $5::numeric),
        decision_id = COALESCE(decision_id, $6::text),
        workflow_id = COALESCE(workflow_id, $7::text),
        time_in_force = COALESCE(time_in_force, $8::text),
        exchange_order_id = COALESCE(exchange_order_id, $9::bigint),
        order_list_id = COALESCE(order_list_id, $10::bigint),
        price = COALESCE(price, $11::numeric),
        stop_price = COALESCE(stop_price, $12::numeric),
        updated_at = now()
      FROM prev
      WHERE o.client_order_id = $1
        -- re-checked here because a concurrent call may have set them since the read above
        AND ($9::bigint IS NULL OR exchange_order_id IS NULL OR exchange_order_id = $9::bigint)
        AND ($6::text IS NULL OR decision_id IS NULL OR decision_id = $6::text)
      RETURNING o.*, prev.previous_status`,
    [
      o.client_order_id,
      o.status,
      o.executed_qty,
      o.cummulative_quote_qty,
      o.orig_qty,
      o.decision_id,
      o.workflow_id,
      o.time_in_force,
      o.exchange_order_id,
      o.order_list_id,
      o.price,
      o.stop_price,
    ],
  );
  if (updated.rows[0] === undefined) {
    throw new StoreConflictError(`order ${o.client_order_id} was concurrently given a different exchange order id or decision`);
  }
  const row: unknown = updated.rows[0];
  const previous = z.object({ previous_status: z.enum(ORDER_STATUSES) }).parse(row).previous_status;
  const move = nextOrderStatus(previous, o.status);
  let refused: RefusedOrderStatus | null = null;
  if (!move.verdict.ok) {
    refused = { client_order_id: o.client_order_id, stored: previous, incoming: o.status, state: move.state, event: move.event, reason: move.verdict.reason };
    (options.logger ?? storeLog).warn(
      { clientOrderId: o.client_order_id, stored: previous, incoming: o.status, state: move.state, event: move.event, reason: move.verdict.reason },
      'order status move refused by the state machine; stored status kept',
    );
    options.metrics?.orderTransitionsRefused.inc({ source: 'postgres', state: move.state, event: move.event });
  }
  return { inserted: false, order: OrderRowSchema.parse(row), refused };
}

export async function getOrder(db: Queryable, clientOrderId: string): Promise<OrderRow | null> {
  const r = await db.query('SELECT * FROM orders WHERE client_order_id = $1', [clientOrderId]);
  return r.rows[0] === undefined ? null : OrderRowSchema.parse(r.rows[0]);
}

/**
 * Records one state-machine transition, idempotent on (client_order_id, seq). Repeating it is
 * a no-op ({ inserted: false }); the same seq with a different from/to is a
 * StoreConflictError (the workflow produced two histories for one order).
 */
export async function recordOrderTransition(db: Queryable, transition: OrderTransition): Promise<{ inserted: boolean }> {
  const t = OrderTransitionSchema.parse(transition);
  const r = await db.query(
    `INSERT INTO order_events (client_order_id, seq, from_state, to_state, reason, at)
     VALUES ($1, $2, $3, $4, $5, COALESCE($6::timestamptz, now()))
     ON CONFLICT (client_order_id, seq) DO NOTHING
     RETURNING id`,
    [t.client_order_id, t.seq, t.from, t.to, t.reason, t.at ?? null],
  );
  if (r.rowCount === 1) return { inserted: true };
  const existing = await db.query('SELECT * FROM order_events WHERE client_order_id = $1 AND seq = $2', [
    t.client_order_id,
    t.seq,
  ]);
  const row = OrderEventRowSchema.parse(existing.rows[0]);
  if (row.from_state !== t.from || row.to_state !== t.to) {
    throw new StoreConflictError(
      `order ${t.client_order_id} transition #${t.seq} is already recorded as ${row.from_state ?? '∅'} → ${row.to_state}, ` +
        `not ${t.from ?? '∅'} → ${t.to}`,
    );
  }
  return { inserted: false };
}

export async function listOrderEvents(db: Queryable, clientOrderId: string): Promise<OrderEventRow[]> {
  const r = await db.query('SELECT * FROM order_events WHERE client_order_id = $1 ORDER BY seq', [clientOrderId]);
  return z.array(OrderEventRowSchema).parse(r.rows);
}

/** A symbol's orders in the given (open) statuses, least recently updated first. */
export async function listOrdersInStatuses(db: Queryable, symbol: string, statuses: readonly OrderStatus[]): Promise<OrderRow[]> {
  const r = await db.query('SELECT * FROM orders WHERE symbol = $1 AND status = ANY($2::text[]) ORDER BY updated_at', [symbol, statuses]);
  return z.array(OrderRowSchema).parse(r.rows);
}

/** Client order ids of a symbol's orders by exchange order id (myTrades lists only the latter). */
export async function clientOrderIdsByExchangeId(db: Queryable, symbol: string, exchangeOrderIds: readonly number[]): Promise<Map<string, string>> {
  if (exchangeOrderIds.length === 0) return new Map();
  const r = await db.query<{ exchange_order_id: string; client_order_id: string }>(
    'SELECT exchange_order_id::text, client_order_id FROM orders WHERE symbol = $1 AND exchange_order_id = ANY($2::bigint[])',
    [symbol, [...new Set(exchangeOrderIds.map(String))]],
  );
  return new Map(r.rows.map((x) => [x.exchange_order_id, x.client_order_id]));
}
