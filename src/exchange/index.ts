export { BinanceSpotClient, NewOrderRequestSchema, NewOcoRequestSchema, CancelReplaceRequestSchema } from './client';
export type { BinanceClientOptions, NewOrderRequest, NewOcoRequest, CancelReplaceRequest, OrderQuery, TradeQuery, RequestHooks } from './client';
export { BinanceError, isBinanceError, classifyHttpError } from './errors';
export type { ErrorKind } from './errors';
export type { RateLimitUsage, BudgetWindow } from './rate-limit';
export type {
  Account,
  CancelReplaceResult,
  CommissionRates,
  OrderCount,
  OrderList,
  OrderListResponse,
  TestOrderResult,
  ExchangeFilter,
  ExchangeInfo,
  Fill,
  Order,
  OrderResponse,
  OrderStatus,
  RateLimit,
  SymbolFilter,
  SymbolFilterType,
  SymbolInfo,
  Trade,
} from './schemas';
export { symbolRules, prepareOrder } from './filters';
export type { SymbolRules, PrepareResult, PrepareInput } from './filters';
export { percentEncode, encodeParams, hmacSignature } from './signing';
export { UserDataStream, WsApiError, wsSignaturePayload, ExecutionReportSchema, ListStatusEventSchema, AccountPositionSchema } from './user-data-stream';
export type { UserDataStreamOptions, UserDataStreamEvents, ExecutionReport, ListStatusEvent, AccountPosition, GapInfo } from './user-data-stream';
