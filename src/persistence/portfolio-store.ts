/**
 * The idempotent, transactional writes (and the reads) that Temporal activities call.
 *
 * Activities are retried after timeouts and crashes, so every write here is safe to repeat:
 * it is keyed by an id the caller derives deterministically (decision id, client order id,
 * (client order id, seq), (symbol, trade id), report id) and a repeat either changes
 * nothing or only moves state forward. Conflicting repeats (same key, different content)
 * are refused with a StoreConflictError rather than silently ignored: they mean two
 * different things were given one identity, which on a real-money ledger is a bug to stop on.
 */
import type { Pool, PoolClient } from 'pg';
import { z } from 'zod';
import { dec, toWire } from '../shared/decimal';
import { type RiskDecision, sideOf, workflowIdFor } from '../shared/decision';
import {
  type ApplyFillContext,
  type Position,
  type PositionFill,
  PositionError,
  applyAdjustment,
  applyFill,
  commissionInQuote,
  emptyPosition,
} from '../portfolio/position';
import { createLogger } from '../logging';
import type { ServiceMetrics } from '../metrics/metrics';
import type { OrderEvent, OrderState } from '../shared/order-state-machine';
import { type Queryable, withTransaction } from './db';
import {
  AssetCode,
  type BalanceInput,
  BalanceInputSchema,
  type BalanceRow,
  BalanceRowSchema,
  DECISION_STATUSES,
  type DecisionRecord,
  DecisionRecordSchema,
  type DecisionRow,
  DecisionRowSchema,
  type DecisionStatus,
  type ExecutionReportInput,
  ExecutionReportInputSchema,
  type ExecutionReportRow,
  ExecutionReportRowSchema,
  type FillInput,
  FillInputSchema,
  type FillRow,
  FillRowSchema,
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
  type ParsedFill,
  type PositionRow,
  PositionRowSchema,
  type ReconciliationRunInput,
  ReconciliationRunInputSchema,
  type ReconciliationRunRow,
  ReconciliationRunRowSchema,
  SymbolCode,
  decisionStatusRank,
  nextOrderStatus,
} from './schemas';

export class StoreConflictError extends Error {
  override readonly name = 'StoreConflictError';
}

// Status ranks as SQL, generated from the TypeScript functions so the two cannot disagree.
function rankSql<S extends string>(expr: string, statuses: readonly S[], rank: (s: S) => number): string {
  return `(CASE ${expr} ${statuses.map((s) => `WHEN '${s}' THEN ${rank(s)}`).join(' ')} END)`;
}

// ---------------------------------------------------------------------------------------------
// Decisions

export interface RecordDecisionResult {
  /** True when this call created the row. */
  inserted: boolean;
  /** True when this call created the row or moved its status forward. */
  changed: boolean;
  /** The status stored after the call (may be ahead of the one given). */
  status: DecisionStatus;
}

/**
 * Upserts a decision by decision_id. The first insert's payload, reasons and fields win;
 * later calls can only move `status` forward (received → started → one terminal outcome)
 * and fill in a missing workflow_id. A stale or repeated status is a no-op, not an error,
 * because activity retries deliver them routinely.
 */
export async function recordDecision(
  db: Queryable,
  record: DecisionRecord,
  options: { /** Never update an existing decision's row (an 'invalid' one still gives way to a valid one). */ insertOnly?: boolean } = {},
): Promise<RecordDecisionResult> {
  const d = DecisionRecordSchema.parse(record);
  const inserted = await db.query(
    `INSERT INTO decisions (decision_id, workflow_id, symbol, decision, side, approved_size, order_type, status, reasons,
                            payload, stream_entry_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11)
     ON CONFLICT (decision_id) DO NOTHING
     RETURNING status`,
    [
      d.decision_id,
      d.workflow_id,
      d.symbol,
      d.decision,
      d.side,
      d.approved_size,
      d.order_type,
      d.status,
      JSON.stringify(d.reasons),
      JSON.stringify(d.payload),
      d.stream_entry_id,
    ],
  );
  if (inserted.rowCount === 1) return { inserted: true, changed: true, status: d.status };
  if (d.status !== 'invalid') {
    // A malformed message got to this id first. The real decision takes the id; the malformed
    // one keeps its row under its stream entry id (as if the id had been taken), so neither is lost.
    const moved = await db.query(
      `UPDATE decisions SET decision_id = 'entry:' || COALESCE(stream_entry_id, decision_id || '@' || (extract(epoch FROM received_at) * 1000)::bigint)
        WHERE decision_id = $1 AND status = 'invalid'`,
      [d.decision_id],
    );
    if (moved.rowCount === 1) return recordDecision(db, record, options);
  }
  if (options.insertOnly) {
    const current = await getDecision(db, d.decision_id);
    if (!current) throw new Error(`decision ${d.decision_id} vanished during recordDecision`);
    return { inserted: false, changed: false, status: current.status };
  }
  const r = await updateDecisionStatus(db, d.decision_id, d.status, { workflowId: d.workflow_id });
  if (!r.found) throw new Error(`decision ${d.decision_id} vanished during recordDecision`);
  return { inserted: false, changed: r.changed, status: r.status };
}

/**
 * Moves an existing decision's status forward (a stale or repeated status is a no-op) and
 * fills in its workflow id and, for a failure, the error. `found: false` when no such row.
 * 'invalid' is only ever set by the insert: a malformed message that reuses the id of a
 * decision already recorded must not mark that decision invalid.
 */
export async function updateDecisionStatus(
  db: Queryable,
  decisionId: string,
  status: DecisionStatus,
  options: { workflowId?: string | null; error?: string | null } = {},
): Promise<{ found: boolean; changed: boolean; status: DecisionStatus }> {
  const s = z.enum(DECISION_STATUSES).parse(status);
  if (s === 'invalid') {
    const current = await getDecision(db, decisionId);
    return current ? { found: true, changed: false, status: current.status } : { found: false, changed: false, status: s };
  }
  const rank = (e: string) => rankSql(e, DECISION_STATUSES, decisionStatusRank);
  const updated = await db.query(
    `UPDATE decisions
        SET status = $2, workflow_id = COALESCE(workflow_id, $3), error = COALESCE($4, error), updated_at = now()
      WHERE decision_id = $1 AND ${rank('$2::text')} > ${rank('status')}
      RETURNING status`,
    [decisionId, s, options.workflowId ?? null, options.error === undefined ? null : options.error?.slice(0, 4000) ?? null],
  );
  if (updated.rowCount === 1) return { found: true, changed: true, status: s };
  const current = await getDecision(db, decisionId);
  return current ? { found: true, changed: false, status: current.status } : { found: false, changed: false, status: s };
}

/** The record for a validated risk decision (the usual case for the bridge/workflow). */
export function decisionRecordFrom(
  decision: RiskDecision,
  status: DecisionStatus,
  payload: unknown = decision,
): DecisionRecord {
  return {
    decision_id: decision.decision_id,
    workflow_id: workflowIdFor(decision.decision_id),
    symbol: decision.symbol,
    decision: decision.decision,
    side: sideOf(decision.original_signal) ?? null,
    approved_size: decision.approved_size,
    order_type: decision.order_type,
    status,
    reasons: decision.reasons,
    // Round-trip through JSON so optional fields left undefined are dropped, as jsonb would.
    payload: z.json().parse(JSON.parse(JSON.stringify(payload))),
  };
}

export async function getDecision(db: Queryable, decisionId: string): Promise<DecisionRow | null> {
  const r = await db.query('SELECT * FROM decisions WHERE decision_id = $1', [decisionId]);
  return r.rows[0] === undefined ? null : DecisionRowSchema.parse(r.rows[0]);
}

// ---------------------------------------------------------------------------------------------
// Orders and their state transitions

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

// ---------------------------------------------------------------------------------------------
// Fills and positions

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
  const ctx: ApplyFillContext = {
    symbol,
    baseAsset,
    quoteAsset,
    allowShort: parsed.allowShort ?? false,
    unpricedCommission: parsed.unpricedCommission ?? 'throw',
    excessSell: parsed.excessSell ?? 'throw',
    ...(parsed.commissionAssetPrices ? { commissionAssetPrices: parsed.commissionAssetPrices } : {}),
  };

  // Lock order is always position row, then fills: every writer of a symbol's fills holds
  // that symbol's position lock, so concurrent calls cannot interleave or deadlock.
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

  // Binance trade ids increase with time per symbol: trade-id order is execution order.
  const fills = [...parsed.fills].sort((a, b) => compareIds(a.trade_id, b.trade_id));
  const inserted: Array<{ fill: ParsedFill; feeQuote: string | null }> = [];
  const duplicates: ParsedFill[] = [];
  for (const fill of fills) {
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
  await checkDuplicates(client, symbol, duplicates);

  if (inserted.length === 0 && !parsed.rebuild) {
    return { applied: [], duplicates: duplicates.map((f) => f.trade_id), position: before, rebuilt: false, external_inventory: [] };
  }

  const newIds = new Set(inserted.map((i) => i.fill.trade_id));
  const lastApplied = before.last_trade_id;
  const outOfOrder = lastApplied !== null && inserted.some((i) => compareIds(i.fill.trade_id, lastApplied) < 0);
  const rebuild = outOfOrder || parsed.rebuild === true;
  const results = new Map<string, AppliedFill>();
  const excesses: Array<{ trade_id: string; qty: string; price: string }> = [];
  let position: Position;
  let lastTradeId: string | null = lastApplied;
  if (!rebuild) {
    position = fromRow(before);
    for (const { fill, feeQuote } of inserted) {
      const f = toPositionFill(fill);
      const r = applyFill(position, feeQuote === null ? f : { ...f, commissionQuoteValue: feeQuote }, ctx);
      position = r.position;
      results.set(fill.trade_id, appliedFrom(fill, r));
      if (dec(r.externalQty).gt(0)) excesses.push({ trade_id: fill.trade_id, qty: r.externalQty, price: fill.price });
    }
  } else {
    // Replay every stored fill (now including the new ones) in trade-id order, with the
    // explicit inventory adjustments at the points they were booked. Stored fee values are
    // used, so no historical BNB price is needed.
    const all = z
      .array(FillRowSchema)
      .parse((await client.query('SELECT * FROM fills WHERE symbol = $1 ORDER BY trade_id', [symbol])).rows);
    const adjustments = await listExplicitAdjustments(client, symbol);
    // Stored fills carry their fee value; NULL means it could not be valued back then, and a
    // price passed now is not the fill-time price, so replay leaves those fees out again.
    const replayCtx: ApplyFillContext = { ...ctx, unpricedCommission: 'exclude' };
    delete replayCtx.commissionAssetPrices;
    position = emptyPosition();
    let a = 0;
    const applyAdjustmentsUpTo = (tradeId: string | null) => {
      // Adjustments booked after trade k come after fill k and before any later fill.
      while (a < adjustments.length) {
        const adj = adjustments[a]!;
        if (tradeId !== null && adj.applies_after_trade_id !== null && compareIds(adj.applies_after_trade_id, tradeId) >= 0) break;
        a++;
        position = replayAdjustment(position, adj);
      }
    };
    for (const row of all) {
      applyAdjustmentsUpTo(row.trade_id);
      const r = applyFill(position, fillRowToPositionFill(row), replayCtx);
      position = r.position;
      if (newIds.has(row.trade_id)) results.set(row.trade_id, appliedFrom(row, r));
      if (dec(r.externalQty).gt(0)) excesses.push({ trade_id: row.trade_id, qty: r.externalQty, price: row.price });
    }
    applyAdjustmentsUpTo(null);
    // SELL excesses are derived from the fills: what a new order of fills implies replaces them.
    await client.query(`DELETE FROM inventory_adjustments WHERE symbol = $1 AND kind = 'sell_excess'`, [symbol]);
    const maxStored = all.length === 0 ? null : all[all.length - 1]!.trade_id;
    lastTradeId = maxStored;
  }
  for (const e of excesses) {
    await client.query(
      `INSERT INTO inventory_adjustments (symbol, base_asset, kind, qty, price, applies_after_trade_id, trade_id, reason)
       VALUES ($1, $2, 'sell_excess', $3, $4, $5, $5, $6)`,
      [symbol, baseAsset, e.qty, e.price, e.trade_id, 'SELL exceeded the recorded position: excess booked as external inventory at the fill price'],
    );
  }

  if (inserted.length > 0) {
    const maxNew = inserted.map((i) => i.fill.trade_id).reduce((x, y) => (compareIds(x, y) >= 0 ? x : y));
    if (lastTradeId === null || compareIds(maxNew, lastTradeId) > 0) lastTradeId = maxNew;
  }
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
  await refreshAdjustmentTotals(client, symbol);
  const applied = inserted.map((i) => {
    const a = results.get(i.fill.trade_id);
    if (!a) throw new Error(`internal: no result for trade ${i.fill.trade_id}`);
    return a;
  });
  return {
    applied,
    duplicates: duplicates.map((f) => f.trade_id),
    position: PositionRowSchema.parse(written.rows[0]),
    rebuilt: rebuild,
    external_inventory: excesses,
  };
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

function toPositionFill(f: ParsedFill): PositionFill {
  return {
    side: f.side,
    price: f.price,
    qty: f.qty,
    commission: f.commission,
    commissionAsset: f.commission_asset,
    ...(f.quote_qty !== undefined ? { quoteQty: f.quote_qty } : {}),
  };
}

function fillRowToPositionFill(row: FillRow): PositionFill {
  return {
    side: row.side,
    price: row.price,
    qty: row.qty,
    quoteQty: row.quote_qty,
    commission: row.commission,
    commissionAsset: row.commission_asset,
    ...(row.commission_quote_value !== null ? { commissionQuoteValue: row.commission_quote_value } : {}),
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

// ---------------------------------------------------------------------------------------------
// Inventory adjustments (external inventory in and out of a position)

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
async function listExplicitAdjustments(db: Queryable, symbol: string): Promise<InventoryAdjustmentRow[]> {
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
function replayAdjustment(position: Position, adj: InventoryAdjustmentRow): Position {
  const q = dec(position.quantity);
  let qty = dec(adj.qty);
  if (q.lt(0)) return position;
  if (qty.lt(0) && qty.neg().gt(q)) qty = q.neg();
  if (qty.isZero()) return position;
  return applyAdjustment(position, { qty: toWire(qty), price: adj.price }).position;
}

/** Keeps positions.external_qty / adjustment_count equal to the symbol's adjustments. */
async function refreshAdjustmentTotals(db: Queryable, symbol: string): Promise<void> {
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
    await client.query(
      `INSERT INTO positions (symbol, base_asset, quote_asset) VALUES ($1, $2, $3) ON CONFLICT (symbol) DO NOTHING`,
      [a.symbol, a.baseAsset, a.quoteAsset],
    );
    const locked = await client.query('SELECT * FROM positions WHERE symbol = $1 FOR UPDATE', [a.symbol]);
    const before = PositionRowSchema.parse(locked.rows[0]);
    if (before.base_asset !== a.baseAsset || before.quote_asset !== a.quoteAsset) {
      throw new StoreConflictError(
        `position ${a.symbol} is ${before.base_asset}/${before.quote_asset}, not ${a.baseAsset}/${a.quoteAsset}`,
      );
    }
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

// ---------------------------------------------------------------------------------------------
// Balances

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

// ---------------------------------------------------------------------------------------------
// Execution reports (transactional outbox for the Redis stream)

export interface InsertExecutionReportResult {
  inserted: boolean;
  /** The stored report: for a repeat, the FIRST version (its stream_id tells whether it was published). */
  report: ExecutionReportRow;
}

/** Inserts a report once per report_id; a repeat returns the stored one unchanged. */
export async function insertExecutionReport(
  db: Queryable,
  report: ExecutionReportInput,
): Promise<InsertExecutionReportResult> {
  const r0 = ExecutionReportInputSchema.parse(report);
  const r = await db.query(
    `INSERT INTO execution_reports (report_id, report_type, decision_id, workflow_id, client_order_id, status, payload)
     VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
     ON CONFLICT (report_id) DO NOTHING
     RETURNING *`,
    [r0.report_id, r0.report_type, r0.decision_id, r0.workflow_id, r0.client_order_id, r0.status, JSON.stringify(r0.payload)],
  );
  if (r.rows[0] !== undefined) return { inserted: true, report: ExecutionReportRowSchema.parse(r.rows[0]) };
  const existing = await getExecutionReport(db, r0.report_id);
  if (!existing) throw new Error(`execution report ${r0.report_id} vanished during insert`);
  if (existing.decision_id !== r0.decision_id) {
    throw new StoreConflictError(
      `execution report ${r0.report_id} already exists for decision ${existing.decision_id}, not ${r0.decision_id}`,
    );
  }
  return { inserted: false, report: existing };
}

/**
 * Records the Redis stream entry id of a published report. The first id wins: if the report
 * was already marked (a duplicate publish after a crash), the stored id is returned and
 * `updated` is false. Throws if the report does not exist.
 */
export async function markReportPublished(
  db: Queryable,
  reportId: string,
  streamId: string,
): Promise<{ updated: boolean; stream_id: string }> {
  if (!/^\d+-\d+$/.test(streamId)) throw new Error(`not a Redis stream entry id: ${JSON.stringify(streamId)}`);
  const r = await db.query(
    `UPDATE execution_reports SET stream_id = $2, published_at = now()
      WHERE report_id = $1 AND stream_id IS NULL
      RETURNING stream_id`,
    [reportId, streamId],
  );
  if (r.rowCount === 1) return { updated: true, stream_id: streamId };
  const existing = await getExecutionReport(db, reportId);
  if (!existing) throw new Error(`execution report ${reportId} does not exist`);
  return { updated: false, stream_id: z.string().parse(existing.stream_id) };
}

export async function getExecutionReport(db: Queryable, reportId: string): Promise<ExecutionReportRow | null> {
  const r = await db.query('SELECT * FROM execution_reports WHERE report_id = $1', [reportId]);
  return r.rows[0] === undefined ? null : ExecutionReportRowSchema.parse(r.rows[0]);
}

/** Reports not yet published, oldest first (for the outbox relay). */
export async function listUnpublishedReports(db: Queryable, limit = 100): Promise<ExecutionReportRow[]> {
  const r = await db.query(
    'SELECT * FROM execution_reports WHERE stream_id IS NULL ORDER BY created_at, report_id LIMIT $1',
    [Math.max(1, Math.min(10_000, Math.floor(limit)))],
  );
  return z.array(ExecutionReportRowSchema).parse(r.rows);
}

// ---------------------------------------------------------------------------------------------
// Reconciliation

export async function recordReconciliationRun(db: Queryable, run: ReconciliationRunInput): Promise<ReconciliationRunRow> {
  const r0 = ReconciliationRunInputSchema.parse(run);
  const r = await db.query(
    `INSERT INTO reconciliation_runs (ran_at, kind, detail, repaired)
     VALUES (COALESCE($1::timestamptz, now()), $2, $3::jsonb, $4)
     RETURNING *`,
    [r0.ran_at ?? null, r0.kind, JSON.stringify(r0.detail), r0.repaired],
  );
  return ReconciliationRunRowSchema.parse(r.rows[0]);
}

/**
 * What the previous reconciliation run saw of an asset's balance: the most recent other run that
 * compared balances (its summary row says balancesChecked), and that run's balance_drift row for
 * the asset, if it had one. "Seen by the previous run" means exactly that run: an older sighting,
 * with a clean run in between, is not a confirmation. A run that died before writing its summary
 * does not count as a previous run.
 */
export async function previousRunBalanceDrift(
  db: Queryable,
  asset: string,
  currentRunId: string,
): Promise<{ runId: string; ranAt: Date; drift?: { diff?: string; seenAt: Date } } | undefined> {
  const r = await db.query<{ run_id: string; ran_at: Date; detail: { diff?: string } | null; seen_at: Date | null }>(
    `WITH previous AS (
       SELECT run_id, ran_at FROM reconciliation_runs
        WHERE kind = 'summary' AND run_id IS NOT NULL AND run_id <> $2 AND (detail->>'balancesChecked')::boolean
        ORDER BY id DESC LIMIT 1)
     SELECT p.run_id, p.ran_at, d.detail, d.ran_at AS seen_at
       FROM previous p
       LEFT JOIN reconciliation_runs d ON d.run_id = p.run_id AND d.kind = 'balance_drift' AND d.detail->>'subject' = $1`,
    [asset, currentRunId],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  return { runId: row.run_id, ranAt: row.ran_at, ...(row.detail && row.seen_at ? { drift: { ...row.detail, seenAt: row.seen_at } } : {}) };
}

export async function listReconciliationRuns(
  db: Queryable,
  options: { kind?: string; limit?: number } = {},
): Promise<ReconciliationRunRow[]> {
  const limit = Math.max(1, Math.min(10_000, Math.floor(options.limit ?? 100)));
  const r = await db.query(
    `SELECT * FROM reconciliation_runs WHERE ($1::text IS NULL OR kind = $1) ORDER BY ran_at DESC, id DESC LIMIT $2`,
    [options.kind ?? null, limit],
  );
  return z.array(ReconciliationRunRowSchema).parse(r.rows);
}
