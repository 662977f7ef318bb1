/**
 * zod schemas for what goes into the store (inputs from activities) and what comes back out
 * of Postgres (rows). Row-shaped records use the column names (snake_case) so that what is
 * written and what is read back have the same shape.
 *
 * Decimals are strings in canonical wire form ("0.1", never "0.10000000" or 0.1): inputs are
 * canonicalised on the way in, numeric columns on the way out (Postgres keeps the scale it
 * was given, so "1.50" would otherwise not equal "1.5").
 */
import { z } from 'zod';
import { ExchangeSymbolSchema } from '../shared/symbol';
import { DecimalInput, dec, toWire } from '../shared/decimal';
import { DecisionId } from '../shared/decision';
import {
  type NextState,
  type OrderEvent,
  type OrderState,
  eventFromExchangeStatus,
  isTerminal,
  nextState,
  stateOfExchangeStatus,
} from '../shared/order-state-machine';

// ---------------------------------------------------------------------------------------------
// Scalars

/** A decimal given as a string (money is never accepted as a JS number here). */
export const DecimalString = z.string().transform((text, ctx): string => {
  const r = DecimalInput.safeParse(text);
  if (r.success) return r.data;
  for (const issue of r.error.issues) ctx.addIssue({ code: 'custom', message: issue.message });
  return z.NEVER;
});
export const NonNegativeDecimal = DecimalString.refine((s) => !dec(s).lt(0), { message: 'must be >= 0' });
export const PositiveDecimal = DecimalString.refine((s) => dec(s).gt(0), { message: 'must be > 0' });

const INT8_MAX = 9223372036854775807n;
/**
 * An exchange id (trade id, order id) for a `bigint` column. Binance sends them as JSON
 * numbers, which are exact below 2^53; anything above must arrive as a string.
 */
export const ExchangeId = z
  .union([z.string().regex(/^\d{1,19}$/, 'must be a non-negative integer'), z.number().int().nonnegative()])
  .refine((v) => (typeof v === 'number' ? Number.isSafeInteger(v) : BigInt(v) <= INT8_MAX), {
    message: 'must be a safe integer (pass larger ids as strings) and fit in a bigint',
  })
  .transform((v) => BigInt(v).toString());

/** Binance reports orderListId -1 for an order that is not part of a list; stored as NULL. */
export const OrderListId = z
  .union([z.literal(-1), z.literal('-1'), ExchangeId])
  .transform((v) => (v === -1 || v === '-1' ? null : v));

/** As exchangeInfo lists it; UTF-8 symbols since 2025-12 (src/shared/symbol.ts). */
export const SymbolCode = ExchangeSymbolSchema;
export const AssetCode = z.string().regex(/^[A-Za-z0-9]{1,20}$/, 'must be an asset code such as BTC');
export const SideSchema = z.enum(['BUY', 'SELL']);

/** A JSON value, checked to survive JSON.stringify (jsonb columns). */
export const JsonValue = z.json();

const Timestamp = z
  .union([z.date(), z.number().int().nonnegative()])
  .transform((v) => (typeof v === 'number' ? new Date(v) : v))
  .refine((d) => !Number.isNaN(d.getTime()), { message: 'invalid date' });

// Output side: node-pg gives numeric and int8 as strings, timestamptz as Date.
const DbDecimal = z
  .string()
  .regex(/^-?\d+(\.\d+)?$/, 'numeric column did not hold a plain decimal')
  .transform((s) => toWire(s));
const DbBigint = z.string().regex(/^-?\d+$/, 'bigint column did not hold an integer');
const DbInt = z.number().int();

// ---------------------------------------------------------------------------------------------
// Decisions

export const DECISION_STATUSES = ['received', 'started', 'rejected', 'invalid', 'completed', 'failed'] as const;
export type DecisionStatus = (typeof DECISION_STATUSES)[number];

/** Forward-only order of decision statuses; the four outcomes are terminal and equal. */
export function decisionStatusRank(status: DecisionStatus): number {
  return status === 'received' ? 0 : status === 'started' ? 1 : 2;
}

export const DecisionRecordSchema = z
  .object({
    // Validated as a DecisionId below unless the decision is 'invalid' (a rejected payload
    // is still recorded for audit, whatever id it carried).
    decision_id: z.string().min(1).max(256),
    workflow_id: z.string().min(1).max(256).nullable().default(null),
    symbol: z.string().min(1).max(64).nullable().default(null),
    decision: z.enum(['approve', 'modify', 'reject']).nullable().default(null),
    side: SideSchema.nullable().default(null),
    approved_size: NonNegativeDecimal.nullable().default(null),
    order_type: z.string().min(1).max(32).nullable().default(null),
    status: z.enum(DECISION_STATUSES),
    reasons: z.array(z.string()).default([]),
    payload: JsonValue,
    stream_entry_id: z.string().max(64).nullable().default(null),
  })
  .superRefine((d, ctx) => {
    if (d.status === 'invalid') return;
    if (!DecisionId.safeParse(d.decision_id).success) {
      ctx.addIssue({ code: 'custom', path: ['decision_id'], message: 'is not a valid decision id' });
    }
    for (const f of ['symbol', 'decision', 'approved_size', 'order_type'] as const) {
      if (d[f] === null) ctx.addIssue({ code: 'custom', path: [f], message: `is required unless status is 'invalid'` });
    }
  });
export type DecisionRecord = z.input<typeof DecisionRecordSchema>;

export const DecisionRowSchema = z.object({
  decision_id: z.string(),
  workflow_id: z.string().nullable(),
  symbol: z.string().nullable(),
  decision: z.enum(['approve', 'modify', 'reject']).nullable(),
  side: SideSchema.nullable(),
  approved_size: DbDecimal.nullable(),
  order_type: z.string().nullable(),
  status: z.enum(DECISION_STATUSES),
  reasons: z.array(z.string()),
  payload: z.unknown(),
  stream_entry_id: z.string().nullable(),
  error: z.string().nullable(),
  received_at: z.date(),
  updated_at: z.date(),
});
export type DecisionRow = z.output<typeof DecisionRowSchema>;

// ---------------------------------------------------------------------------------------------
// Orders

export const ORDER_STATUSES = [
  'PENDING_SUBMIT',
  'PENDING_NEW',
  'NEW',
  'PARTIALLY_FILLED',
  'PENDING_CANCEL',
  'FILLED',
  'CANCELED',
  'REJECTED',
  'EXPIRED',
  'EXPIRED_IN_MATCH',
  'NOT_PLACED',
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** Whether the orders.status column can hold `status` (a venue status we do not know cannot). */
export function isOrderStatus(status: string): status is OrderStatus {
  return (ORDER_STATUSES as readonly string[]).includes(status);
}

/** The state of the order state machine each stored status stands for. */
export function orderStateOfStatus(status: OrderStatus): OrderState {
  switch (status) {
    // Recorded before the request leaves, so a crash mid-request leaves a row to reconcile.
    case 'PENDING_SUBMIT':
      return 'new';
    // Reconciliation's settlement: the exchange has no such order and it can no longer land.
    case 'NOT_PLACED':
      return 'not_placed';
    default: {
      const state = stateOfExchangeStatus(status);
      if (state === undefined) throw new Error(`order status ${status} has no state in the order state machine`);
      return state;
    }
  }
}

/** The event that writing `status` over a stored one is. */
export function orderEventOfStatus(status: OrderStatus): OrderEvent {
  if (status === 'PENDING_SUBMIT') return 'intent_recorded';
  if (status === 'NOT_PLACED') return 'found_absent';
  return eventFromExchangeStatus(status);
}

export interface OrderStatusMove {
  /** The column's value after the write. */
  status: OrderStatus;
  state: OrderState;
  event: OrderEvent;
  verdict: NextState;
}

/**
 * Writing `incoming` over `stored`, by the state machine: the column takes the incoming status
 * when the machine moves the order to the state that status stands for, or repeats that state
 * (PENDING_NEW → NEW: both are `submitted`); otherwise (refused, or a re-recorded intent) it
 * keeps the stored one.
 */
export function nextOrderStatus(stored: OrderStatus, incoming: OrderStatus): OrderStatusMove {
  const state = orderStateOfStatus(stored);
  const event = orderEventOfStatus(incoming);
  const verdict = nextState(state, event);
  const status = verdict.ok && orderStateOfStatus(incoming) === verdict.to ? incoming : stored;
  return { status, state, event, verdict };
}

/** Statuses the trade no longer waits on (a late order or fill can still move them, see nextOrderStatus). */
export const TERMINAL_ORDER_STATUSES: readonly OrderStatus[] = ORDER_STATUSES.filter((s) => isTerminal(orderStateOfStatus(s)));
/** Statuses of orders that may be live on the exchange, or about to be. */
export const OPEN_ORDER_STATUSES: readonly OrderStatus[] = ORDER_STATUSES.filter((s) => !isTerminal(orderStateOfStatus(s)));

export const OrderRecordSchema = z.object({
  client_order_id: z.string().min(1).max(64),
  decision_id: z.string().min(1).max(256).nullable().default(null),
  workflow_id: z.string().min(1).max(256).nullable().default(null),
  symbol: SymbolCode,
  side: SideSchema,
  type: z.string().regex(/^[A-Z_]{1,32}$/, 'must be a Binance order type such as LIMIT'),
  time_in_force: z.string().regex(/^[A-Z]{1,8}$/).nullable().default(null),
  purpose: z.string().regex(/^[a-z][a-z_]{0,31}$/, "must be a lower-case purpose such as 'entry'"),
  exchange_order_id: ExchangeId.nullable().default(null),
  order_list_id: OrderListId.nullable().default(null),
  price: NonNegativeDecimal.nullable().default(null),
  stop_price: NonNegativeDecimal.nullable().default(null),
  orig_qty: NonNegativeDecimal,
  executed_qty: NonNegativeDecimal.default('0'),
  cummulative_quote_qty: NonNegativeDecimal.default('0'),
  status: z.enum(ORDER_STATUSES),
});
export type OrderRecord = z.input<typeof OrderRecordSchema>;

export const OrderRowSchema = z.object({
  client_order_id: z.string(),
  decision_id: z.string().nullable(),
  workflow_id: z.string().nullable(),
  symbol: z.string(),
  side: SideSchema,
  type: z.string(),
  time_in_force: z.string().nullable(),
  purpose: z.string(),
  exchange_order_id: DbBigint.nullable(),
  order_list_id: DbBigint.nullable(),
  price: DbDecimal.nullable(),
  stop_price: DbDecimal.nullable(),
  orig_qty: DbDecimal,
  executed_qty: DbDecimal,
  cummulative_quote_qty: DbDecimal,
  status: z.enum(ORDER_STATUSES),
  created_at: z.date(),
  updated_at: z.date(),
});
export type OrderRow = z.output<typeof OrderRowSchema>;

export const OrderTransitionSchema = z.object({
  client_order_id: z.string().min(1).max(64),
  seq: z.number().int().nonnegative().max(2_147_483_647),
  from: z.string().min(1).max(64).nullable(),
  to: z.string().min(1).max(64),
  reason: z.string().max(2000).nullable().default(null),
  at: Timestamp.optional(),
});
export type OrderTransition = z.input<typeof OrderTransitionSchema>;

export const OrderEventRowSchema = z.object({
  id: DbBigint,
  client_order_id: z.string(),
  seq: DbInt,
  from_state: z.string().nullable(),
  to_state: z.string(),
  reason: z.string().nullable(),
  at: z.date(),
});
export type OrderEventRow = z.output<typeof OrderEventRowSchema>;

// ---------------------------------------------------------------------------------------------
// Fills and positions

export const FillInputSchema = z
  .object({
    symbol: SymbolCode,
    trade_id: ExchangeId,
    exchange_order_id: ExchangeId,
    client_order_id: z.string().min(1).max(64).nullable().default(null),
    side: SideSchema,
    price: PositiveDecimal,
    qty: PositiveDecimal,
    /** Binance `quoteQty`; price × qty when absent. */
    quote_qty: NonNegativeDecimal.optional(),
    commission: NonNegativeDecimal,
    commission_asset: z.string().max(20),
    is_maker: z.boolean(),
    /** Date or epoch milliseconds (Binance `time`). */
    trade_time: Timestamp,
  })
  .superRefine((f, ctx) => {
    // Binance may leave the asset empty on a zero commission; a real fee must name its asset.
    if (dec(f.commission).gt(0) && !AssetCode.safeParse(f.commission_asset).success) {
      ctx.addIssue({ code: 'custom', path: ['commission_asset'], message: 'must name the asset of a non-zero commission' });
    }
  });
export type FillInput = z.input<typeof FillInputSchema>;
export type ParsedFill = z.output<typeof FillInputSchema>;

export const FillRowSchema = z.object({
  symbol: z.string(),
  trade_id: DbBigint,
  exchange_order_id: DbBigint,
  client_order_id: z.string().nullable(),
  side: SideSchema,
  price: DbDecimal,
  qty: DbDecimal,
  quote_qty: DbDecimal,
  commission: DbDecimal,
  commission_asset: z.string(),
  commission_quote_value: DbDecimal.nullable(),
  is_maker: z.boolean(),
  trade_time: z.date(),
  recorded_at: z.date(),
});
export type FillRow = z.output<typeof FillRowSchema>;

export const PositionRowSchema = z.object({
  symbol: z.string(),
  base_asset: z.string(),
  quote_asset: z.string(),
  quantity: DbDecimal,
  avg_entry_price: DbDecimal,
  cost_basis: DbDecimal,
  realized_pnl: DbDecimal,
  fees_quote: DbDecimal,
  volume_quote: DbDecimal,
  trades: DbInt,
  wins: DbInt,
  losses: DbInt,
  gross_win: DbDecimal,
  gross_loss: DbDecimal,
  fill_count: DbInt,
  unvalued_fee_fills: DbInt,
  last_trade_id: DbBigint.nullable(),
  updated_at: z.date(),
});
export type PositionRow = z.output<typeof PositionRowSchema>;

// ---------------------------------------------------------------------------------------------
// Balances

export const BalanceInputSchema = z.object({
  asset: AssetCode,
  free: NonNegativeDecimal,
  locked: NonNegativeDecimal,
});
export type BalanceInput = z.input<typeof BalanceInputSchema>;

export const BalanceRowSchema = z.object({
  asset: z.string(),
  free: DbDecimal,
  locked: DbDecimal,
  updated_at: z.date(),
});
export type BalanceRow = z.output<typeof BalanceRowSchema>;

export const BalanceSnapshotRowSchema = z.object({
  id: DbBigint,
  taken_at: z.date(),
  asset: z.string(),
  free: DbDecimal,
  locked: DbDecimal,
});
export type BalanceSnapshotRow = z.output<typeof BalanceSnapshotRowSchema>;

// ---------------------------------------------------------------------------------------------
// Execution reports (outbox) and reconciliation

export const ExecutionReportInputSchema = z.object({
  report_id: z.string().min(1).max(256),
  report_type: z.enum(['trade', 'order_update']).default('trade'),
  decision_id: z.string().min(1).max(256),
  workflow_id: z.string().min(1).max(256).nullable().default(null),
  client_order_id: z.string().min(1).max(64).nullable().default(null),
  status: z.string().min(1).max(64),
  payload: JsonValue,
});
export type ExecutionReportInput = z.input<typeof ExecutionReportInputSchema>;

export const ExecutionReportRowSchema = z.object({
  report_id: z.string(),
  report_type: z.enum(['trade', 'order_update']),
  decision_id: z.string(),
  workflow_id: z.string().nullable(),
  client_order_id: z.string().nullable(),
  status: z.string(),
  payload: z.unknown(),
  stream_id: z.string().nullable(),
  created_at: z.date(),
  published_at: z.date().nullable(),
});
export type ExecutionReportRow = z.output<typeof ExecutionReportRowSchema>;

export const ReconciliationRunInputSchema = z.object({
  kind: z.string().min(1).max(64),
  detail: JsonValue.default({}),
  repaired: z.boolean().default(false),
  ran_at: Timestamp.optional(),
});
export type ReconciliationRunInput = z.input<typeof ReconciliationRunInputSchema>;

export const ReconciliationRunRowSchema = z.object({
  id: DbBigint,
  ran_at: z.date(),
  kind: z.string(),
  detail: z.unknown(),
  repaired: z.boolean(),
});
export type ReconciliationRunRow = z.output<typeof ReconciliationRunRowSchema>;
