/**
 * Types that cross the workflow/activity boundary. Everything here is serialised into Temporal
 * history, so: decimal strings (never floats) and no credentials, ever.
 */
import type { RiskDecision, Side } from './decision';
import type { OrderState, OrderTransition, RefusedTransition } from './order-state';

export type ExchangeOrderType =
  | 'MARKET'
  | 'LIMIT'
  | 'LIMIT_MAKER'
  | 'STOP_LOSS_LIMIT'
  | 'TAKE_PROFIT_LIMIT';

/** What the bridge hands to a new TradeExecution workflow. */
export interface TradeInput {
  decision: RiskDecision;
  /** Redis stream entry id the decision arrived as (its first part is the XADD time in ms). */
  streamEntryId?: string;
  /** Applied when the decision carries no `timeout_ms`. */
  defaultOrderTimeoutMs: number;
  /** Set only by continue-as-new: the state carried over from the previous run. */
  resume?: TradeState;
  /**
   * Continue-as-new once the history has this many events, besides whenever the server
   * suggests it (its default is thousands). For operators who want shorter histories, and for
   * tests that must see a long rest roll over.
   */
  historyEventLimit?: number;
  /**
   * Task queue of the activities that send orders to the exchange (place, replace, cancel).
   * A queue of their own means a backlog of bookkeeping or polling never delays a submission;
   * absent, they share the workflow's queue (and can then be dispatched eagerly).
   */
  orderTaskQueue?: string;
}

/** Why an order exists; part of its deterministic client order id. */
export type OrderPurpose =
  | { kind: 'entry'; leg?: OcoLeg }
  | { kind: 'replacement'; n: number }
  | { kind: 'close'; n: number }
  | { kind: 'bracket'; n: number; leg?: OcoLeg };

/** Which leg of an order list: `a` above the market, `b` below it, `l` the list itself. */
export type OcoLeg = 'a' | 'b' | 'l';

export interface OrderIntent {
  clientOrderId: string;
  purpose: OrderPurpose['kind'];
  /** Set for the legs of an OCO order list: the list's own client id. */
  listClientOrderId?: string;
  symbol: string;
  side: Side;
  type: ExchangeOrderType;
  quantity: string;
  price?: string;
  stopPrice?: string;
  timeInForce?: 'GTC' | 'IOC' | 'FOK';
}

/** The venue's view of an order at one moment (Binance field names). */
export interface OrderSnapshot {
  symbol: string;
  orderId: number;
  clientOrderId: string;
  orderListId?: number;
  status: string;
  type: string;
  side: Side;
  price: string;
  stopPrice?: string;
  origQty: string;
  executedQty: string;
  cummulativeQuoteQty: string;
  updateTime?: number;
  /** Why the exchange expired the order (Binance's expiryReason, e.g. INSUFFICIENT_LIQUIDITY), when it says. */
  expiryReason?: string;
}

/** An OCO order list as we ask for it: two legs sharing one list client id. */
export interface OcoIntent {
  listClientOrderId: string;
  symbol: string;
  side: Side;
  quantity: string;
  above: OrderIntent;
  below: OrderIntent;
}

export interface PlaceOrderListResult {
  orderListId: number;
  above: OrderSnapshot;
  below: OrderSnapshot;
  adopted: boolean;
}

/**
 * An entry placed with its protection as one OTOCO (or OPOCO) order list: the working order is
 * the entry; the exchange places the pending OCO pair in the same matching step that fills the
 * entry completely, so the position is never unprotected while the workflow reacts.
 */
export interface ProtectedEntryIntent {
  listClientOrderId: string;
  symbol: string;
  /** OPOCO: the pair gets what the entry received, net of commission (no pendingQuantity). */
  pays: boolean;
  working: OrderIntent;
  /** OTOCO only: the pair's quantity. */
  pendingQuantity?: string;
  above: OrderIntent;
  below: OrderIntent;
}

export interface PlaceProtectedEntryResult {
  orderListId: number;
  working: OrderSnapshot;
  above: OrderSnapshot;
  below: OrderSnapshot;
  adopted: boolean;
  /** The working order's fills from the FULL response, as PlaceOrderResult's. */
  fills?: FillRecord[];
}

export interface ReplaceOrderResult {
  /** The old order's final view (cancelled, or filled if the cancel lost the race). */
  old: OrderSnapshot;
  /** The replacement, or null when it was not placed (see `error`). */
  replacement: OrderSnapshot | null;
  error?: string;
}

export interface PlaceOrderResult {
  order: OrderSnapshot;
  /** true when this attempt found the order already on the exchange (earlier attempt or duplicate). */
  adopted: boolean;
  /**
   * The fills the FULL response listed (those executed on arrival), for settleFills to book
   * without asking myTrades; absent when adopted, when none, or when too many to carry.
   */
  fills?: FillRecord[];
}

export interface FillRecord {
  tradeId: number;
  orderId: number;
  clientOrderId: string;
  symbol: string;
  side: Side;
  price: string;
  qty: string;
  quoteQty: string;
  commission: string;
  commissionAsset: string;
  isMaker: boolean;
  time: number;
}

export interface FillSummary {
  fills: FillRecord[];
  filledQty: string;
  quoteQty: string;
  avgPrice: string;
  /** Commission per asset, e.g. { BNB: "0.0001", USDT: "0.05" }. */
  commissions: Record<string, string>;
}

export interface TrackedOrder {
  intent: OrderIntent;
  state: OrderState;
  exchange?: OrderSnapshot;
  transitions: OrderTransition[];
  /** Moves the state machine refused (the most recent ones; absent until the first). */
  refused?: RefusedTransition[];
  /** The last refusal's `seq` that recordOrder has logged and counted. */
  refusedReported?: number;
  fills: FillSummary;
}

/** Every status a trade can show, in the order a trade moves through them (the CLI lists them). */
export const TRADE_STATUSES = [
  'validating',
  'submitting',
  'working',
  'cancelling',
  /** An order's fate is not known yet (the exchange has not answered); the workflow keeps asking. */
  'settling',
  'filled',
  'partially_filled',
  'cancelled',
  'expired',
  'rejected',
  'failed',
] as const;
export type TradeStatus = (typeof TRADE_STATUSES)[number];

/** What the workflow returns and its query shows. */
export type TradePhase = 'entry' | 'bracket' | 'done';

export interface TradeState {
  workflowId: string;
  decisionId: string;
  symbol: string;
  side: Side;
  status: TradeStatus;
  phase: TradePhase;
  /** What the entry should execute in total (the approved size, rounded; changed by amend). */
  targetQty: string;
  /** The size risk approved: amend may reduce the target, never raise it past this. */
  approvedQty?: string;
  /** Base and quote asset of the symbol, from the exchange's rules. */
  assets?: { base: string; quote: string };
  /** Quantity the bracket protects (what is held after fees, rounded to the lot step). */
  bracketQty?: string;
  /** Client order ids being followed right now. */
  working: string[];
  /** Counters that make each new client order id unique and deterministic. */
  counters: { replacement: number; close: number; bracket: number };
  /** Deadline of the entry phase, epoch ms (changed by setTimeout). */
  deadline: number;
  /** Operator requests in the order they arrived, with what became of them. */
  operations: OperatorOperation[];
  orders: TrackedOrder[];
  error?: string;
  /**
   * What became of the protective bracket a decision asked for: placed, or refused (the filters
   * after fees or the exchange said no; the position is then unprotected and an alert is raised).
   */
  /** `expired`: the exchange expired the bracket before it closed the position (e.g. self-trade prevention). */
  protection?: { status: 'placed' | 'refused' | 'cancelled' | 'expired'; reason?: string };
  /** Set while the service cannot know something it needs (an order's fate during an outage). */
  attention?: string;
  startedAt: number;
  finishedAt?: number;
}

export interface OperatorOperation {
  id: number;
  kind: 'cancel' | 'amend' | 'closeNow' | 'setTimeout';
  args: Record<string, unknown>;
  status: 'pending' | 'done' | 'failed';
  result?: string;
  at: number;
}

/**
 * The trade's summary on `trade_executions` (field `data`), published once when the trade ends.
 * Field names as the upstream consumers read them.
 */
export interface ExecutionReport {
  report_type: 'trade';
  report_id: string;
  decision_id: string;
  workflow_id: string;
  order_id: number | null;
  client_order_id: string | null;
  symbol: string;
  side: Side | null;
  order_type: string;
  quantity: string;
  status: string;
  success: boolean;
  filled_quantity: string;
  cancelled_quantity: string;
  avg_fill_price: string;
  quote_quantity: string;
  commission: string;
  commission_asset: string | null;
  commissions: Record<string, string>;
  execution_time: number | null;
  error: string | null;
  /** For decisions with stop_loss/take_profit: whether the protective order(s) were placed. */
  protection_status?: 'placed' | 'refused' | 'cancelled' | 'expired' | 'not_requested';
  timestamp: number;
}

/**
 * One order state transition on `trade_executions` (field `data`): what Binance's user data
 * stream calls an executionReport, in our state machine's terms. Published once per transition
 * (report id `${workflow_id}:${client_order_id}:${transition_seq}`), before the trade's summary.
 */
export interface OrderUpdateReport {
  report_type: 'order_update';
  report_id: string;
  decision_id: string;
  workflow_id: string;
  symbol: string;
  side: Side;
  order_type: string;
  /** entry, bracket, replacement or close: why the workflow placed this order. */
  purpose: string;
  client_order_id: string;
  order_id: number | null;
  list_client_order_id: string | null;
  transition_seq: number;
  from_state: OrderState;
  to_state: OrderState;
  /** The exchange's order status that caused the transition (null for our own, e.g. failed). */
  order_status: string | null;
  quantity: string;
  price: string | null;
  stop_price: string | null;
  /** Executed quantity as of this transition, when the exchange told it. */
  executed_quantity: string | null;
  reason: string;
  timestamp: number;
}

/** Anything on `trade_executions`; consumers switch on `report_type`. */
export type PublishedReport = ExecutionReport | OrderUpdateReport;
