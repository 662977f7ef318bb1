/**
 * Open orders of one symbol: what the exchange lists open against the orders Postgres holds
 * open. Orders are only ever moved forward (upsertOrder follows the order state machine), and
 * rows touched recently are left alone: their workflow is most likely updating them right now.
 */
import type { Pool } from 'pg';
import { BinanceError, type BinanceSpotClient, type Order } from '../exchange';
import type { Logger } from '../logging';
import type { ServiceMetrics } from '../metrics/metrics';
import { OPEN_ORDER_STATUSES, type OrderRow, nextOrderStatus } from '../persistence/schemas';
import { getOrder, listOrdersInStatuses, upsertOrder } from '../persistence/stores/orders';
import { dec, toWire } from '../shared/decimal';
import { type RunBudget, WEIGHTS } from './budget';
import type { Drift, ResolvedReconciliationInput } from './types';

export interface OpenOrderDeps {
  pool: Pool;
  exchange: BinanceSpotClient;
  logger: Logger;
  metrics?: ServiceMetrics;
}

/** Binance: "Order does not exist." */
const ORDER_DOES_NOT_EXIST = -2013;

/**
 * Compares the orders the exchange lists open for a symbol with the stored ones and, with repair,
 * records unknown ones and moves stale ones forward; stored open orders the exchange no longer
 * lists are looked up one by one while the budget allows.
 */
export async function reconcileOpenOrders(
  deps: OpenOrderDeps,
  symbol: string,
  open: Order[],
  input: ResolvedReconciliationInput,
  budget: RunBudget,
): Promise<Drift[]> {
  const drifts: Drift[] = [];
  const onExchange = new Set(open.map((o) => o.clientOrderId));
  const store = { logger: deps.logger, metrics: deps.metrics };
  for (const o of open) {
    const row = await getOrder(deps.pool, o.clientOrderId);
    // What the exchange's status would do to the stored one, by the order state machine.
    const move = row ? nextOrderStatus(row.status, o.status) : undefined;
    if (!row) {
      if (input.repair) await upsertOrder(deps.pool, orderRecordFrom(o, 'external'), store);
      drifts.push({
        kind: 'unknown_open_order',
        subject: `${symbol}:${o.clientOrderId}`,
        repaired: input.repair,
        valueQuote: toWire(dec(o.origQty).minus(o.executedQty).mul(o.price)),
        detail: { symbol, orderId: o.orderId, clientOrderId: o.clientOrderId, side: o.side, type: o.type, price: o.price, origQty: o.origQty, status: o.status },
      });
    } else if (
      // Recently touched rows belong to a workflow that is most likely updating them right now.
      Date.now() - row.updated_at.getTime() >= input.staleOrderMs &&
      move !== undefined &&
      ((move.verdict.ok && !move.verdict.repeat) || dec(o.executedQty).gt(row.executed_qty))
    ) {
      // Moves forward, including an order settled as NOT_PLACED that turned up after all.
      if (input.repair) await upsertOrder(deps.pool, { ...orderRecordFrom(o, row.purpose), decision_id: row.decision_id, workflow_id: row.workflow_id }, store);
      drifts.push({
        kind: 'order_status',
        subject: `${symbol}:${o.clientOrderId}`,
        repaired: input.repair,
        detail: { symbol, clientOrderId: o.clientOrderId, stored: { status: row.status, executedQty: row.executed_qty }, exchange: { status: o.status, executedQty: o.executedQty } },
      });
    } else if (Date.now() - row.updated_at.getTime() >= input.staleOrderMs && move !== undefined && !move.verdict.ok) {
      // Open on the exchange, yet the stored status cannot become the exchange's (e.g. stored
      // FILLED, listed NEW): a contradiction to investigate, not to overwrite.
      deps.logger.warn(
        { symbol, clientOrderId: o.clientOrderId, stored: row.status, exchange: o.status, reason: move.verdict.reason },
        'reconciliation: the exchange lists an order open that the state machine cannot move there',
      );
      deps.metrics?.orderTransitionsRefused.inc({ source: 'reconciliation', state: move.state, event: move.event });
      drifts.push({
        kind: 'order_status',
        subject: `${symbol}:${o.clientOrderId}`,
        repaired: false,
        detail: {
          symbol,
          clientOrderId: o.clientOrderId,
          stored: { status: row.status, executedQty: row.executed_qty },
          exchange: { status: o.status, executedQty: o.executedQty },
          refused: move.verdict.reason,
        },
      });
    }
  }
  const dbOpen = await listOrdersInStatuses(deps.pool, symbol, OPEN_ORDER_STATUSES);
  for (const row of dbOpen) {
    if (onExchange.has(row.client_order_id)) continue;
    // Recently touched: its workflow is most likely on it right now.
    if (Date.now() - row.updated_at.getTime() < input.staleOrderMs) continue;
    if (!budget.take(WEIGHTS.getOrder)) break;
    drifts.push(await settleStaleOrder(deps, symbol, row, input));
  }
  return drifts;
}

async function settleStaleOrder(deps: OpenOrderDeps, symbol: string, row: OrderRow, input: ResolvedReconciliationInput): Promise<Drift> {
  const subject = `${symbol}:${row.client_order_id}`;
  try {
    const o = await deps.exchange.getOrder({ symbol, origClientOrderId: row.client_order_id });
    if (input.repair) {
      await upsertOrder(
        deps.pool,
        { ...orderRecordFrom(o, row.purpose), decision_id: row.decision_id, workflow_id: row.workflow_id },
        { logger: deps.logger, metrics: deps.metrics },
      );
    }
    return { kind: 'stale_open_order', subject, repaired: input.repair, detail: { symbol, clientOrderId: row.client_order_id, stored: row.status, exchange: o.status } };
  } catch (err) {
    // Only an intent the exchange never acknowledged can be settled absent (the machine's
    // found_absent); an acknowledged order that is gone was purged, not never placed.
    const settle = nextOrderStatus(row.status, 'NOT_PLACED');
    if (err instanceof BinanceError && err.code === ORDER_DOES_NOT_EXIST && settle.verdict.ok && !settle.verdict.repeat) {
      // Older than staleOrderMs, far beyond any recvWindow: this request can no longer land.
      if (input.repair) {
        await upsertOrder(deps.pool, {
          client_order_id: row.client_order_id,
          symbol,
          side: row.side,
          type: row.type,
          purpose: row.purpose,
          orig_qty: row.orig_qty,
          status: 'NOT_PLACED',
        }, { logger: deps.logger, metrics: deps.metrics });
      }
      return { kind: 'stale_open_order', subject, repaired: input.repair, detail: { symbol, clientOrderId: row.client_order_id, stored: row.status, exchange: 'does not exist' } };
    }
    if (err instanceof BinanceError && err.code === ORDER_DOES_NOT_EXIST) {
      return { kind: 'stale_open_order', subject, repaired: false, detail: { symbol, clientOrderId: row.client_order_id, stored: row.status, exchange: 'does not exist' } };
    }
    throw err;
  }
}

function orderRecordFrom(o: Order, purpose: string) {
  return {
    client_order_id: o.clientOrderId,
    symbol: o.symbol,
    side: o.side,
    type: o.type,
    time_in_force: o.type === 'MARKET' ? null : o.timeInForce,
    purpose,
    exchange_order_id: String(o.orderId),
    order_list_id: o.orderListId,
    price: o.price,
    stop_price: o.stopPrice !== undefined && !dec(o.stopPrice).isZero() ? o.stopPrice : null,
    orig_qty: o.origQty,
    executed_qty: o.executedQty,
    cummulative_quote_qty: o.cummulativeQuoteQty,
    status: o.status,
  };
}
