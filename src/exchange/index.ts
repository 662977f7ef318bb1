export { BinanceSpotClient, NewOrderRequestSchema } from './client';
export type { BinanceClientOptions, NewOrderRequest, OrderQuery, TradeQuery } from './client';
export { BinanceError, isBinanceError, classifyHttpError } from './errors';
export type { ErrorKind } from './errors';
export type { RateLimitUsage, BudgetWindow } from './rate-limit';
export type {
  Account,
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
