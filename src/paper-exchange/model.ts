/**
 * The paper exchange's objects, as the engine keeps them: accounts, orders, trades, order lists,
 * amendments, the events the WebSocket API turns into executionReports, and the parameters of
 * each request once the routes have parsed it. Decimals are exact (Dec) everywhere.
 */
import type { Dec } from '../shared/decimal';
import type { PreventedMatch, PreventionDetail, StpMode } from './self-trade-prevention';

export type Side = 'BUY' | 'SELL';
export type OrderTypeName = 'MARKET' | 'LIMIT' | 'LIMIT_MAKER' | 'STOP_LOSS' | 'STOP_LOSS_LIMIT' | 'TAKE_PROFIT' | 'TAKE_PROFIT_LIMIT';
export type Tif = 'GTC' | 'IOC' | 'FOK';
/** EXPIRED_IN_MATCH: expired by self-trade prevention (enums.md). */
export type Status = 'NEW' | 'PARTIALLY_FILLED' | 'FILLED' | 'CANCELED' | 'EXPIRED' | 'REJECTED' | 'PENDING_NEW' | 'EXPIRED_IN_MATCH';

export interface AccountConfig {
  apiKey: string;
  apiSecret?: string;
  ed25519PublicKeyPem?: string;
  permissions?: ('SPOT' | 'TRADE')[];
  balances?: Record<string, string>;
  /** Commission rate for maker and taker fills, default "0.001" (0.1 %). */
  commissionRate?: string;
  /** Pay commissions in BNB at a 25 % discount when the account holds enough BNB. */
  payFeesInBnb?: boolean;
}

export interface Account {
  apiKey: string;
  uid: number;
  config: AccountConfig;
  canTrade: boolean;
  balances: Map<string, { free: Dec; locked: Dec }>;
  commission: Dec;
  updateTime: number;
}

export interface InternalOrder {
  account: string;
  symbol: string;
  orderId: number;
  orderListId: number;
  clientOrderId: string;
  side: Side;
  type: OrderTypeName;
  timeInForce: Tif;
  price: Dec;
  origQty: Dec;
  executedQty: Dec;
  cummulativeQuoteQty: Dec;
  origQuoteOrderQty: Dec;
  stopPrice: Dec | undefined;
  status: Status;
  time: number;
  updateTime: number;
  isWorking: boolean;
  workingTime: number;
  /** Asset and amount still locked for this order. */
  lockAsset: string | undefined;
  locked: Dec;
  expiryReason: string | undefined;
  /** STP (self-trade-prevention.ts): the order's mode (unset: the default) and what STP took from it. */
  selfTradePreventionMode?: StpMode | undefined;
  preventedQuantity?: Dec | undefined;
  preventedMatchId?: number | undefined;
  /** As a taker: the matches STP prevented, for its FULL response's preventedMatches. */
  takerPreventedMatches?: PreventedMatch[] | undefined;
}

export interface InternalTrade {
  account: string;
  symbol: string;
  id: number;
  orderId: number;
  orderListId: number;
  price: Dec;
  qty: Dec;
  quoteQty: Dec;
  commission: Dec;
  commissionAsset: string;
  time: number;
  isBuyer: boolean;
  isMaker: boolean;
}

export interface OrderList {
  account: string;
  symbol: string;
  orderListId: number;
  /** Binance reports OTO, OTOCO, OPO and OPOCO lists all as contingencyType OTO. */
  contingencyType: 'OCO' | 'OTO';
  listStatusType: 'EXEC_STARTED' | 'UPDATED' | 'ALL_DONE';
  listOrderStatus: 'EXECUTING' | 'ALL_DONE' | 'REJECT';
  listClientOrderId: string;
  transactionTime: number;
  orderIds: number[];
  /** OTO lists: the working order; the other orders wait (PENDING_NEW) until it is fully filled. */
  workingOrderId?: number;
  /** OPO: the pending orders get what the working order received, net of commission (faqs/opo.md). */
  pays?: boolean;
}

/** REPLACED: the order was amended in place (order amend keep priority), enums.md. */
export type ExecType = 'NEW' | 'CANCELED' | 'REJECTED' | 'TRADE' | 'EXPIRED' | 'REPLACED' | 'TRADE_PREVENTION';

export interface ExecutionEvent {
  account: string;
  order: InternalOrder;
  execType: ExecType;
  trade: InternalTrade | undefined;
  /** For CANCELED: the cancel request's client id (Binance reports it in `c`, the original in `C`). */
  cancelClientOrderId: string | undefined;
  /** For REPLACED: the client id the order had before the amend (reported in `C`). */
  origClientOrderId?: string | undefined;
  eventTime: number;
  /** Binance's execution id (`I`), unique per event; an amend's response carries its event's id. */
  executionId: number;
  /** For TRADE_PREVENTION: the prevented match (self-trade-prevention.ts preventionReportFields). */
  prevention?: PreventionDetail | undefined;
}

export interface AmendParams {
  symbol: string;
  orderId: number | undefined;
  origClientOrderId: string | undefined;
  newClientOrderId: string;
  newQty: Dec;
}

/** One amendment, as GET /api/v3/order/amendments lists it. */
export interface Amendment {
  symbol: string;
  orderId: number;
  executionId: number;
  origClientOrderId: string;
  newClientOrderId: string;
  origQty: Dec;
  newQty: Dec;
  time: number;
}

export interface AmendResult {
  order: InternalOrder;
  origClientOrderId: string;
  executionId: number;
  transactTime: number;
  list: OrderList | undefined;
  legs: InternalOrder[];
}

export interface InjectedFill {
  symbol: string;
  orderId: number;
  clientOrderId: string;
  tradeId: number;
  price: string;
  qty: string;
  executedQty: string;
  status: Status;
}

export interface NewOrderParams {
  symbol: string;
  side: Side;
  type: OrderTypeName;
  timeInForce: Tif | undefined;
  quantity: Dec | undefined;
  quoteOrderQty: Dec | undefined;
  price: Dec | undefined;
  stopPrice: Dec | undefined;
  newClientOrderId: string;
  /** Unset: the symbol's defaultSelfTradePreventionMode. */
  selfTradePreventionMode?: StpMode | undefined;
}

export interface OcoLeg {
  type: OrderTypeName;
  price: Dec | undefined;
  stopPrice: Dec | undefined;
  timeInForce: Tif | undefined;
  newClientOrderId: string;
}

export interface OcoParams {
  symbol: string;
  side: Side;
  quantity: Dec;
  listClientOrderId: string;
  above: OcoLeg;
  below: OcoLeg;
  /** Applies to both legs. */
  selfTradePreventionMode?: StpMode | undefined;
}

/** POST /api/v3/orderList/oto, /otoco, /opo and /opoco. */
export interface OtoParams {
  symbol: string;
  listClientOrderId: string;
  /** OPO / OPOCO. */
  pays: boolean;
  working: { type: OrderTypeName; side: Side; price: Dec; quantity: Dec; timeInForce: Tif | undefined; newClientOrderId: string };
  pendingSide: Side;
  /** Undefined for OPO: the quantity is what the working order received. */
  pendingQuantity: Dec | undefined;
  /** One order (OTO, OPO) or the pending above and below orders (OTOCO, OPOCO), in that order. */
  pending: OcoLeg[];
  /** Applies to every order of the list. */
  selfTradePreventionMode?: StpMode | undefined;
}

export interface PlaceResult {
  order: InternalOrder;
  fills: InternalTrade[];
}

export const STOP_TYPES = new Set<OrderTypeName>(['STOP_LOSS', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT', 'TAKE_PROFIT_LIMIT']);
export const LIMIT_PRICED = new Set<OrderTypeName>(['LIMIT', 'LIMIT_MAKER', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT_LIMIT']);
const OPEN = new Set<Status>(['NEW', 'PARTIALLY_FILLED', 'PENDING_NEW']);

export const TYPE_NOT_SUPPORTED: Record<OrderTypeName, string> = {
  MARKET: 'Market orders are not supported for this symbol.',
  LIMIT: 'Unsupported order combination',
  LIMIT_MAKER: 'Unsupported order combination',
  STOP_LOSS: 'Stop loss orders are not supported for this symbol.',
  STOP_LOSS_LIMIT: 'Stop loss limit orders are not supported for this symbol.',
  TAKE_PROFIT: 'Take profit orders are not supported for this symbol.',
  TAKE_PROFIT_LIMIT: 'Take profit limit orders are not supported for this symbol.',
};

/**
 * Binance's default for EXCHANGE_MAX_NUM_ORDERS: open orders an account may hold across all
 * symbols. Published in exchangeInfo.exchangeFilters and enforced; see EngineLimits to change it.
 */
export const EXCHANGE_MAX_NUM_ORDERS = 1000;

/** Binance's MAX_NUM_ORDER_AMENDS (CHANGELOG: "limiting each order to a maximum of 10 amendments"). */
export const DEFAULT_MAX_NUM_ORDER_AMENDS = 10;

/**
 * Open-order limits that differ from Binance's. Leave them out to behave like Binance: 1000 open
 * orders per account (EXCHANGE_MAX_NUM_ORDERS) and each symbol's own MAX_NUM_ORDERS filter
 * (SymbolDef.maxNumOrders). Raise them only to load-test a service beyond one Binance account.
 */
export interface EngineLimits {
  /** EXCHANGE_MAX_NUM_ORDERS: open orders per account across all symbols. Default 1000. */
  maxOpenOrdersPerAccount?: number;
  /** MAX_NUM_ORDERS for every symbol, replacing each symbol's own value. Default: the symbol's. */
  maxNumOrdersPerSymbol?: number;
}

export const DEFAULT_BALANCES: Record<string, string> = { USDT: '100000', BTC: '1', ETH: '10', BNB: '100' };

export function isOpen(o: InternalOrder): boolean {
  return OPEN.has(o.status);
}
