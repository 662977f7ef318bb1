/**
 * What the client sends, as Binance's parameters spell it, checked before anything goes out: a
 * request this refuses names the field and the reason and never reaches the exchange.
 */
import { z } from 'zod';
import { ExchangeSymbolSchema } from '../shared/symbol';

/** Binance's newClientOrderId rule. */
const CLIENT_ORDER_ID = /^[.A-Z:/a-z0-9_-]{1,36}$/;
const WIRE_DECIMAL = /^(\d+(\.\d+)?)$/;
// UTF-8 symbols since 2025-12 (src/shared/symbol.ts); signing percent-encodes them (signing.ts).
const Symbol_ = ExchangeSymbolSchema;
const WireDecimal = z.string().regex(WIRE_DECIMAL, 'must be a plain decimal string such as "0.001"');

/** STP modes (enums.md); which a symbol accepts is its allowedSelfTradePreventionModes. */
export const SELF_TRADE_PREVENTION_MODES = ['NONE', 'EXPIRE_TAKER', 'EXPIRE_MAKER', 'EXPIRE_BOTH', 'DECREMENT', 'TRANSFER'] as const;
export type SelfTradePreventionMode = (typeof SELF_TRADE_PREVENTION_MODES)[number];
const SelfTradePreventionModeSchema = z.enum(SELF_TRADE_PREVENTION_MODES);

export const NewOrderRequestSchema = z
  .object({
    symbol: Symbol_,
    side: z.enum(['BUY', 'SELL']),
    type: z.enum(['MARKET', 'LIMIT', 'LIMIT_MAKER', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT_LIMIT', 'STOP_LOSS', 'TAKE_PROFIT']),
    timeInForce: z.enum(['GTC', 'IOC', 'FOK']).optional(),
    quantity: WireDecimal.optional(),
    quoteOrderQty: WireDecimal.optional(),
    price: WireDecimal.optional(),
    stopPrice: WireDecimal.optional(),
    newClientOrderId: z.string().regex(CLIENT_ORDER_ID, 'newClientOrderId must match ^[.A-Z:/a-z0-9_-]{1,36}$'),
    selfTradePreventionMode: SelfTradePreventionModeSchema.optional(),
  })
  .strict();
export type NewOrderRequest = z.infer<typeof NewOrderRequestSchema>;

const OcoAboveType = z.enum(['STOP_LOSS_LIMIT', 'STOP_LOSS', 'LIMIT_MAKER', 'TAKE_PROFIT', 'TAKE_PROFIT_LIMIT']);
// A BUY OCO puts its LIMIT_MAKER leg below the market, so both sides accept it.
const OcoBelowType = z.enum(['STOP_LOSS', 'STOP_LOSS_LIMIT', 'LIMIT_MAKER', 'TAKE_PROFIT', 'TAKE_PROFIT_LIMIT']);
const ClientId = z.string().regex(CLIENT_ORDER_ID, 'client ids must match ^[.A-Z:/a-z0-9_-]{1,36}$');

/**
 * POST /api/v3/orderList/oco. All three client ids are required: they are what makes a retried
 * OCO findable (and refused as a duplicate while open) after an unknown outcome.
 */
export const NewOcoRequestSchema = z
  .object({
    symbol: Symbol_,
    side: z.enum(['BUY', 'SELL']),
    quantity: WireDecimal,
    listClientOrderId: ClientId,
    aboveType: OcoAboveType,
    aboveClientOrderId: ClientId,
    abovePrice: WireDecimal.optional(),
    aboveStopPrice: WireDecimal.optional(),
    aboveTimeInForce: z.enum(['GTC', 'IOC', 'FOK']).optional(),
    belowType: OcoBelowType,
    belowClientOrderId: ClientId,
    belowPrice: WireDecimal.optional(),
    belowStopPrice: WireDecimal.optional(),
    belowTimeInForce: z.enum(['GTC', 'IOC', 'FOK']).optional(),
    selfTradePreventionMode: SelfTradePreventionModeSchema.optional(),
  })
  .strict();
export type NewOcoRequest = z.infer<typeof NewOcoRequestSchema>;

const OtoWorkingType = z.enum(['LIMIT', 'LIMIT_MAKER']);
const Tif = z.enum(['GTC', 'IOC', 'FOK']);
/** The pending above/below pair of an OTOCO or OPOCO, in Binance's parameter names. */
const PendingPair = {
  pendingAboveType: OcoAboveType,
  pendingAboveClientOrderId: ClientId,
  pendingAbovePrice: WireDecimal.optional(),
  pendingAboveStopPrice: WireDecimal.optional(),
  pendingAboveTimeInForce: Tif.optional(),
  pendingBelowType: OcoBelowType,
  pendingBelowClientOrderId: ClientId,
  pendingBelowPrice: WireDecimal.optional(),
  pendingBelowStopPrice: WireDecimal.optional(),
  pendingBelowTimeInForce: Tif.optional(),
};
const Working = {
  symbol: Symbol_,
  listClientOrderId: ClientId,
  workingType: OtoWorkingType,
  workingSide: z.enum(['BUY', 'SELL']),
  workingClientOrderId: ClientId,
  workingPrice: WireDecimal,
  workingQuantity: WireDecimal,
  workingTimeInForce: Tif.optional(),
  pendingSide: z.enum(['BUY', 'SELL']),
  selfTradePreventionMode: SelfTradePreventionModeSchema.optional(),
};
const SinglePending = {
  pendingType: NewOrderRequestSchema.shape.type,
  pendingClientOrderId: ClientId,
  pendingPrice: WireDecimal.optional(),
  pendingStopPrice: WireDecimal.optional(),
  pendingTimeInForce: Tif.optional(),
};

/**
 * The OTO family (rest-api.md "New Order list - OTO/OTOCO/OPO/OPOCO"): a working LIMIT or
 * LIMIT_MAKER order whose pending order(s) the exchange places the moment it is fully filled.
 * OPO and OPOCO leave out pendingQuantity: the pending orders get what the working order
 * received, net of commission. Every client id is required, for the same reason as an OCO's.
 */
export const NewOtoRequestSchema = z.object({ ...Working, ...SinglePending, pendingQuantity: WireDecimal }).strict();
export const NewOtocoRequestSchema = z.object({ ...Working, ...PendingPair, pendingQuantity: WireDecimal }).strict();
export const NewOpoRequestSchema = z.object({ ...Working, ...SinglePending }).strict();
export const NewOpocoRequestSchema = z.object({ ...Working, ...PendingPair }).strict();
export type NewOtoRequest = z.infer<typeof NewOtoRequestSchema>;
export type NewOtocoRequest = z.infer<typeof NewOtocoRequestSchema>;
export type NewOpoRequest = z.infer<typeof NewOpoRequestSchema>;
export type NewOpocoRequest = z.infer<typeof NewOpocoRequestSchema>;

export const CancelReplaceRequestSchema = NewOrderRequestSchema.extend({
  cancelReplaceMode: z.enum(['STOP_ON_FAILURE', 'ALLOW_FAILURE']),
  cancelOrderId: z.number().int().optional(),
  cancelOrigClientOrderId: ClientId.optional(),
  cancelNewClientOrderId: ClientId.optional(),
})
  .strict()
  .refine((r) => r.cancelOrderId !== undefined || r.cancelOrigClientOrderId !== undefined, 'cancelOrderId or cancelOrigClientOrderId is required');
export type CancelReplaceRequest = z.infer<typeof CancelReplaceRequestSchema>;

export const AmendKeepPriorityRequestSchema = z
  .object({
    symbol: Symbol_,
    orderId: z.number().int().optional(),
    origClientOrderId: ClientId.optional(),
    newClientOrderId: ClientId.optional(),
    newQty: WireDecimal,
  })
  .strict()
  .refine((r) => r.orderId !== undefined || r.origClientOrderId !== undefined, 'orderId or origClientOrderId is required');
export type AmendKeepPriorityRequest = z.infer<typeof AmendKeepPriorityRequestSchema>;

export interface OrderQuery {
  symbol: string;
  orderId?: number;
  origClientOrderId?: string;
}

export interface TradeQuery {
  symbol: string;
  orderId?: number;
  fromId?: number;
  startTime?: number;
  endTime?: number;
  limit?: number;
}
