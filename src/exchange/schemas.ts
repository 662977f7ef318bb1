/**
 * zod schemas for everything Binance sends us. Field names are Binance's. Prices and
 * quantities stay the decimal strings Binance sent ("0.00100000"); arithmetic is done with
 * `dec()` from shared/decimal, never with JS numbers.
 */
import { z } from 'zod';
import { EXCHANGE_ORDER_STATUSES } from '../shared/order-state-machine';

const DECIMAL_TEXT = /^-?(\d+(\.\d*)?|\.\d+)$/;
/** A decimal string as Binance sends it; kept verbatim. */
export const DecStr = z.string().regex(DECIMAL_TEXT, 'expected a decimal string');

/** Binance ids are int64; today's values fit a double exactly, and zod checks they still do. */
const Id = z.number().int().refine((n) => Number.isSafeInteger(n), 'id beyond 2^53');

export const ErrorBodySchema = z.object({ code: z.number().int(), msg: z.string() });

export const RateLimitSchema = z.object({
  rateLimitType: z.enum(['REQUEST_WEIGHT', 'ORDERS', 'RAW_REQUESTS']),
  interval: z.enum(['SECOND', 'MINUTE', 'HOUR', 'DAY']),
  intervalNum: z.number().int().positive(),
  limit: z.number().int().nonnegative(),
});
export type RateLimit = z.infer<typeof RateLimitSchema>;

const PriceFilter = z.object({ filterType: z.literal('PRICE_FILTER'), minPrice: DecStr, maxPrice: DecStr, tickSize: DecStr });
const PercentPrice = z.object({
  filterType: z.literal('PERCENT_PRICE'),
  multiplierUp: DecStr,
  multiplierDown: DecStr,
  avgPriceMins: z.number().int(),
});
const PercentPriceBySide = z.object({
  filterType: z.literal('PERCENT_PRICE_BY_SIDE'),
  bidMultiplierUp: DecStr,
  bidMultiplierDown: DecStr,
  askMultiplierUp: DecStr,
  askMultiplierDown: DecStr,
  avgPriceMins: z.number().int(),
});
const LotSize = z.object({ filterType: z.literal('LOT_SIZE'), minQty: DecStr, maxQty: DecStr, stepSize: DecStr });
const MarketLotSize = z.object({ filterType: z.literal('MARKET_LOT_SIZE'), minQty: DecStr, maxQty: DecStr, stepSize: DecStr });
const MinNotional = z.object({
  filterType: z.literal('MIN_NOTIONAL'),
  minNotional: DecStr,
  applyToMarket: z.boolean(),
  avgPriceMins: z.number().int(),
});
const Notional = z.object({
  filterType: z.literal('NOTIONAL'),
  minNotional: DecStr,
  applyMinToMarket: z.boolean(),
  maxNotional: DecStr,
  applyMaxToMarket: z.boolean(),
  avgPriceMins: z.number().int(),
});
const IcebergParts = z.object({ filterType: z.literal('ICEBERG_PARTS'), limit: z.number().int() });
const MaxNumOrders = z.object({ filterType: z.literal('MAX_NUM_ORDERS'), maxNumOrders: z.number().int() });
const MaxNumAlgoOrders = z.object({ filterType: z.literal('MAX_NUM_ALGO_ORDERS'), maxNumAlgoOrders: z.number().int() });
const MaxNumIcebergOrders = z.object({ filterType: z.literal('MAX_NUM_ICEBERG_ORDERS'), maxNumIcebergOrders: z.number().int() });
const MaxPosition = z.object({ filterType: z.literal('MAX_POSITION'), maxPosition: DecStr });
const TrailingDelta = z.object({
  filterType: z.literal('TRAILING_DELTA'),
  minTrailingAboveDelta: z.number().int(),
  maxTrailingAboveDelta: z.number().int(),
  minTrailingBelowDelta: z.number().int(),
  maxTrailingBelowDelta: z.number().int(),
});
const MaxNumOrderLists = z.object({ filterType: z.literal('MAX_NUM_ORDER_LISTS'), maxNumOrderLists: z.number().int() });
/** How many times one order may be amended (keep priority); past it the amend answers -2038. */
const MaxNumOrderAmends = z.object({ filterType: z.literal('MAX_NUM_ORDER_AMENDS'), maxNumOrderAmends: z.number().int() });

export const SymbolFilterSchema = z.discriminatedUnion('filterType', [
  PriceFilter,
  PercentPrice,
  PercentPriceBySide,
  LotSize,
  MarketLotSize,
  MinNotional,
  Notional,
  IcebergParts,
  MaxNumOrders,
  MaxNumAlgoOrders,
  MaxNumIcebergOrders,
  MaxPosition,
  TrailingDelta,
  MaxNumOrderLists,
  MaxNumOrderAmends,
]);
export type SymbolFilter = z.infer<typeof SymbolFilterSchema>;
export type SymbolFilterType = SymbolFilter['filterType'];

export const ExchangeFilterSchema = z.discriminatedUnion('filterType', [
  z.object({ filterType: z.literal('EXCHANGE_MAX_NUM_ORDERS'), maxNumOrders: z.number().int() }),
  z.object({ filterType: z.literal('EXCHANGE_MAX_NUM_ALGO_ORDERS'), maxNumAlgoOrders: z.number().int() }),
  z.object({ filterType: z.literal('EXCHANGE_MAX_NUM_ICEBERG_ORDERS'), maxNumIcebergOrders: z.number().int() }),
  z.object({ filterType: z.literal('EXCHANGE_MAX_NUM_ORDER_LISTS'), maxNumOrderLists: z.number().int() }),
]);
export type ExchangeFilter = z.infer<typeof ExchangeFilterSchema>;

/**
 * Binance adds filter types over time. A filter we do not know cannot be validated locally (the
 * exchange still enforces it), so it is dropped from the typed list instead of failing the whole
 * exchangeInfo parse; its name is kept in `unknownFilterTypes` so it is visible.
 */
function filterList<T extends z.ZodType<{ filterType: string }>>(schema: T, known: ReadonlySet<string>) {
  return z.array(z.looseObject({ filterType: z.string() })).transform((items, ctx) => {
    const out: z.infer<T>[] = [];
    for (const item of items) {
      if (!known.has(item.filterType)) continue;
      const r = schema.safeParse(item);
      if (!r.success) {
        ctx.addIssue({ code: 'custom', message: `${item.filterType}: ${r.error.message}` });
        return z.NEVER;
      }
      out.push(r.data as z.infer<T>);
    }
    return out;
  });
}

const KNOWN_SYMBOL_FILTERS = new Set<string>(SymbolFilterSchema.options.map((o) => o.shape.filterType.value));
const KNOWN_EXCHANGE_FILTERS = new Set<string>(ExchangeFilterSchema.options.map((o) => o.shape.filterType.value));

const unknownTypes = (known: ReadonlySet<string>) =>
  z.array(z.looseObject({ filterType: z.string() })).transform((items) => items.map((i) => i.filterType).filter((t) => !known.has(t)));

export const SymbolInfoSchema = z
  .looseObject({
    symbol: z.string(),
    status: z.string(),
    baseAsset: z.string(),
    baseAssetPrecision: z.number().int(),
    quoteAsset: z.string(),
    quoteAssetPrecision: z.number().int(),
    baseCommissionPrecision: z.number().int().optional(),
    quoteCommissionPrecision: z.number().int().optional(),
    orderTypes: z.array(z.string()),
    icebergAllowed: z.boolean().optional(),
    ocoAllowed: z.boolean(),
    otoAllowed: z.boolean().optional(),
    opoAllowed: z.boolean().optional(),
    quoteOrderQtyMarketAllowed: z.boolean().optional(),
    allowTrailingStop: z.boolean().optional(),
    cancelReplaceAllowed: z.boolean().optional(),
    amendAllowed: z.boolean().optional(),
    isSpotTradingAllowed: z.boolean().optional(),
    isMarginTradingAllowed: z.boolean().optional(),
    filters: z.array(z.looseObject({ filterType: z.string() })),
    permissions: z.array(z.string()).optional(),
    permissionSets: z.array(z.array(z.string())).optional(),
    defaultSelfTradePreventionMode: z.string().optional(),
    allowedSelfTradePreventionModes: z.array(z.string()).optional(),
  })
  .transform((s) => ({
    ...s,
    filters: filterList(SymbolFilterSchema, KNOWN_SYMBOL_FILTERS).parse(s.filters),
    unknownFilterTypes: unknownTypes(KNOWN_SYMBOL_FILTERS).parse(s.filters),
  }));
export type SymbolInfo = z.infer<typeof SymbolInfoSchema>;

export const ExchangeInfoSchema = z.object({
  timezone: z.string(),
  serverTime: z.number().int(),
  rateLimits: z.array(RateLimitSchema),
  exchangeFilters: filterList(ExchangeFilterSchema, KNOWN_EXCHANGE_FILTERS),
  symbols: z.array(SymbolInfoSchema),
});
export type ExchangeInfo = z.infer<typeof ExchangeInfoSchema>;

export const OrderSide = z.enum(['BUY', 'SELL']);
export const OrderType = z.enum(['MARKET', 'LIMIT', 'LIMIT_MAKER', 'STOP_LOSS', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT', 'TAKE_PROFIT_LIMIT']);
export const TimeInForce = z.enum(['GTC', 'IOC', 'FOK']);
export const OrderStatus = z.enum(EXCHANGE_ORDER_STATUSES);
export type OrderStatus = z.infer<typeof OrderStatus>;

export const FillSchema = z.object({
  price: DecStr,
  qty: DecStr,
  commission: DecStr,
  commissionAsset: z.string(),
  tradeId: Id,
});
export type Fill = z.infer<typeof FillSchema>;

/** The fields that name an order, first in an order's JSON. */
const orderIdFields = {
  symbol: z.string(),
  orderId: Id,
  orderListId: z.number().int(),
  clientOrderId: z.string(),
};
/** An OPO's pending order has no quantity until its working order fills: Binance leaves it out. */
const OrigQty = DecStr.default('0');
/** What kind of order it is and where it stands, in the order an order's JSON lists them. */
const orderTermFields = {
  status: OrderStatus,
  timeInForce: z.string(),
  type: OrderType,
  side: OrderSide,
  stopPrice: DecStr.optional(),
};
/** The optional fields that close an order's JSON: not every order, nor every endpoint, has them. */
const orderConditionalFields = {
  workingTime: z.number().int().optional(),
  selfTradePreventionMode: z.string().optional(),
  expiryReason: z.string().optional(),
};

/**
 * One shape for query, open-orders, all-orders and cancel responses. Fields that only some of
 * those endpoints return are optional (cancel has no `time`/`isWorking`, query has no
 * `transactTime`, conditional fields appear only for some order types).
 */
export const OrderSchema = z.object({
  ...orderIdFields,
  origClientOrderId: z.string().optional(),
  price: DecStr,
  origQty: OrigQty,
  executedQty: DecStr,
  cummulativeQuoteQty: DecStr,
  origQuoteOrderQty: DecStr.optional(),
  ...orderTermFields,
  icebergQty: DecStr.optional(),
  time: z.number().int().optional(),
  updateTime: z.number().int().optional(),
  transactTime: z.number().int().optional(),
  isWorking: z.boolean().optional(),
  ...orderConditionalFields,
});
export type Order = z.infer<typeof OrderSchema>;

export const OrderResponseSchema = z.object({
  ...orderIdFields,
  transactTime: z.number().int(),
  price: DecStr,
  origQty: OrigQty,
  executedQty: DecStr,
  origQuoteOrderQty: DecStr.optional(),
  cummulativeQuoteQty: DecStr,
  ...orderTermFields,
  ...orderConditionalFields,
  fills: z.array(FillSchema),
});
export type OrderResponse = z.infer<typeof OrderResponseSchema>;

export const TradeSchema = z.object({
  symbol: z.string(),
  id: Id,
  orderId: Id,
  orderListId: z.number().int(),
  price: DecStr,
  qty: DecStr,
  quoteQty: DecStr,
  commission: DecStr,
  commissionAsset: z.string(),
  time: z.number().int(),
  isBuyer: z.boolean(),
  isMaker: z.boolean(),
  isBestMatch: z.boolean(),
});
export type Trade = z.infer<typeof TradeSchema>;

export const BalanceSchema = z.object({ asset: z.string(), free: DecStr, locked: DecStr });
export const AccountSchema = z.object({
  makerCommission: z.number(),
  takerCommission: z.number(),
  buyerCommission: z.number(),
  sellerCommission: z.number(),
  commissionRates: z.object({ maker: DecStr, taker: DecStr, buyer: DecStr, seller: DecStr }),
  canTrade: z.boolean(),
  canWithdraw: z.boolean(),
  canDeposit: z.boolean(),
  brokered: z.boolean().optional(),
  requireSelfTradePrevention: z.boolean().optional(),
  preventSor: z.boolean().optional(),
  updateTime: z.number().int(),
  accountType: z.string(),
  balances: z.array(BalanceSchema),
  permissions: z.array(z.string()),
  uid: z.number().int().optional(),
});
export type Account = z.infer<typeof AccountSchema>;

export const TickerPriceSchema = z.object({ symbol: z.string(), price: DecStr });
export const ServerTimeSchema = z.object({ serverTime: z.number().int() });
export const EmptySchema = z.object({}).strict();

export const OrderListSchema = z.object({
  orderListId: z.number().int(),
  contingencyType: z.string(),
  listStatusType: z.enum(['RESPONSE', 'EXEC_STARTED', 'UPDATED', 'ALL_DONE']),
  listOrderStatus: z.enum(['EXECUTING', 'ALL_DONE', 'REJECT']),
  listClientOrderId: z.string(),
  transactionTime: z.number().int(),
  symbol: z.string(),
  orders: z.array(z.object({ symbol: z.string(), orderId: Id, clientOrderId: z.string() })),
});
export type OrderList = z.infer<typeof OrderListSchema>;

/** An order report inside an order-list response: FULL/RESULT placement or a cancel. */
export const OrderReportSchema = OrderResponseSchema.extend({
  fills: z.array(FillSchema).optional(),
  origClientOrderId: z.string().optional(),
  transactTime: z.number().int(),
});
export const OrderListResponseSchema = OrderListSchema.extend({ orderReports: z.array(OrderReportSchema) });
export type OrderListResponse = z.infer<typeof OrderListResponseSchema>;

const Rates = z.object({ maker: DecStr, taker: DecStr, buyer: DecStr, seller: DecStr });
const Discount = z.object({ enabledForAccount: z.boolean(), enabledForSymbol: z.boolean(), discountAsset: z.string(), discount: DecStr });
export const CommissionRatesSchema = z.object({
  symbol: z.string(),
  standardCommission: Rates,
  specialCommission: Rates.optional(),
  taxCommission: Rates,
  discount: Discount,
});
export type CommissionRates = z.infer<typeof CommissionRatesSchema>;

const MakerTaker = z.object({ maker: DecStr, taker: DecStr });
/** POST /api/v3/order/test answers {} unless computeCommissionRates=true. */
export const TestOrderResultSchema = z.union([
  z.object({
    standardCommissionForOrder: MakerTaker,
    specialCommissionForOrder: MakerTaker.optional(),
    taxCommissionForOrder: MakerTaker,
    discount: Discount,
  }),
  z.object({}).strict(),
]);
export type TestOrderResult = z.infer<typeof TestOrderResultSchema>;

export const OrderCountSchema = z.array(RateLimitSchema.extend({ count: z.number().int() }));
export type OrderCount = z.infer<typeof OrderCountSchema>;

const ErrorEntry = ErrorBodySchema;
export const CancelReplaceDataSchema = z.object({
  cancelResult: z.enum(['SUCCESS', 'FAILURE']),
  newOrderResult: z.enum(['SUCCESS', 'FAILURE', 'NOT_ATTEMPTED']),
  cancelResponse: z.union([ErrorEntry, OrderSchema]),
  newOrderResponse: z.union([ErrorEntry, OrderResponseSchema.extend({ fills: z.array(FillSchema).default([]) }), z.null()]),
});
/** -2021 (partial failure, HTTP 409) and -2022 (failure, HTTP 400) carry the same data. */
export const CancelReplaceErrorSchema = z.object({ code: z.number().int(), msg: z.string(), data: CancelReplaceDataSchema });
export type CancelReplaceResult = z.infer<typeof CancelReplaceDataSchema> & { code?: number; msg?: string };

// ---- order amend keep priority (PUT /api/v3/order/amend/keepPriority, GET /api/v3/order/amendments) ----

/**
 * `amendedOrder` as rest-api.md spells it: `qty` (not origQty) and `cumulativeQuoteQty` (not
 * cummulativeQuoteQty). `workingTime` appears only for an order on the book.
 */
export const AmendedOrderSchema = z.object({
  symbol: z.string(),
  orderId: Id,
  orderListId: z.number().int(),
  origClientOrderId: z.string(),
  clientOrderId: z.string(),
  price: DecStr,
  qty: DecStr,
  executedQty: DecStr,
  preventedQty: DecStr.optional(),
  quoteOrderQty: DecStr.optional(),
  cumulativeQuoteQty: DecStr,
  ...orderTermFields,
  workingTime: z.number().int().optional(),
  selfTradePreventionMode: z.string().optional(),
});
export type AmendedOrder = z.infer<typeof AmendedOrderSchema>;

/** The amend response; `listStatus` only when the order belongs to an order list. */
export const AmendOrderResponseSchema = z.object({
  transactTime: z.number().int(),
  executionId: Id,
  amendedOrder: AmendedOrderSchema,
  listStatus: z
    .object({
      orderListId: z.number().int(),
      contingencyType: z.string(),
      listOrderStatus: z.enum(['EXECUTING', 'ALL_DONE', 'REJECT']),
      listClientOrderId: z.string(),
      symbol: z.string(),
      orders: z.array(z.object({ symbol: z.string(), orderId: Id, clientOrderId: z.string() })),
    })
    .optional(),
});
export type AmendOrderResponse = z.infer<typeof AmendOrderResponseSchema>;

export const OrderAmendmentSchema = z.object({
  symbol: z.string(),
  orderId: Id,
  executionId: Id,
  origClientOrderId: z.string(),
  newClientOrderId: z.string(),
  origQty: DecStr,
  newQty: DecStr,
  time: z.number().int(),
});
export type OrderAmendment = z.infer<typeof OrderAmendmentSchema>;

/**
 * The amended order in the shape of an order query (`Order`), for code that keeps one snapshot
 * type: qty -> origQty, cumulativeQuoteQty -> cummulativeQuoteQty, transactTime as updateTime.
 * `clientOrderId` is the order's id after the amend; `origClientOrderId` the one before.
 */
export function amendedOrderAsOrder(r: AmendOrderResponse): Order {
  const a = r.amendedOrder;
  return {
    symbol: a.symbol,
    orderId: a.orderId,
    orderListId: a.orderListId,
    clientOrderId: a.clientOrderId,
    price: a.price,
    origQty: a.qty,
    executedQty: a.executedQty,
    cummulativeQuoteQty: a.cumulativeQuoteQty,
    status: a.status,
    timeInForce: a.timeInForce,
    type: a.type,
    side: a.side,
    ...(a.stopPrice !== undefined ? { stopPrice: a.stopPrice } : {}),
    ...(a.quoteOrderQty !== undefined ? { origQuoteOrderQty: a.quoteOrderQty } : {}),
    ...(a.workingTime !== undefined ? { workingTime: a.workingTime } : {}),
    updateTime: r.transactTime,
    transactTime: r.transactTime,
  };
}
