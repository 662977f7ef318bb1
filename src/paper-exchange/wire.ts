/** Binance's error body and the handful of messages the paper exchange sends verbatim. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    readonly msg: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(`${code} ${msg}`);
    this.name = 'ApiError';
  }
  body(): string {
    return JSON.stringify({ code: this.code, msg: this.msg });
  }
}

export const MSG = {
  invalidSymbol: 'Invalid symbol.',
  orderDoesNotExist: 'Order does not exist.',
  unknownOrderSent: 'Unknown order sent.',
  duplicateOrder: 'Duplicate order sent.',
  insufficientBalance: 'Account has insufficient balance for requested action.',
  marketClosed: 'Market is closed.',
  wouldTriggerImmediately: 'Order would trigger immediately.',
  wouldMatchAndTake: 'Order would immediately match and take.',
  invalidApiKey: 'Invalid API-key, IP, or permissions for action.',
  apiKeyFormat: 'API-key format invalid.',
  badSignature: 'Signature for this request is not valid.',
  recvWindowOutside: 'Timestamp for this request is outside of the recvWindow.',
  timestampAhead: "Timestamp for this request was 1000ms ahead of the server's time.",
  timeout1007: 'Timeout waiting for response from backend server. Send status unknown; execution status unknown.',
  internal1001: 'Internal error; unable to process your request. Please try again.',
  priceRelationship: 'The relationship of the prices for the orders is not correct.',
  cancelOrderInvalid: 'Cancel order is invalid. Check origClOrdId and orderId.',
  orderListDoesNotExist: 'Order list does not exist.',
  // Codes added since 2025 (errors.md), for the routes that come to emit them:
  /** -2039: GET/DELETE order with both orderId and origClientOrderId naming different orders. */
  clientOrderIdInvalid: 'Client order ID is not correct for this order ID.',
  /** -2042 (WebSocket API): the connection holds the most subscriptions it may. */
  maximumSubscriptionIds: 'Maximum subscription ID reached for this connection.',
  /** -2043: referencePrice for a symbol that never had one. */
  noReferencePrice: "This symbol doesn't have a reference price.",
  /** -1120 */
  badInterval: 'Invalid interval.',
  /** -1210 / -1211 */
  invalidPegPriceType: 'Invalid pegPriceType.',
  invalidPegOffsetType: 'Invalid pegOffsetType.',
  /** -1220: symbolStatus filter on market data. */
  symbolDoesNotMatchStatus: "The symbol's status does not match the requested symbolStatus.",
  /** -1222 / -1223: One-Pays-the-Other lists. */
  opoWorkingMustBeBuy: 'Working order in an OPO list must be a bid.',
  opoPendingMustBeSell: 'Pending orders in an OPO list must be asks.',
} as const;

/** Binance's codes for the messages above (and the older ones the routes throw inline). */
export const CODE = {
  clientOrderIdInvalid: -2039,
  maximumSubscriptionIds: -2042,
  noReferencePrice: -2043,
  badInterval: -1120,
  invalidPegPriceType: -1210,
  invalidPegOffsetType: -1211,
  symbolDoesNotMatchStatus: -1220,
  opoWorkingMustBeBuy: -1222,
  opoPendingMustBeSell: -1223,
} as const;

export const badRequest = (code: number, msg: string): ApiError => new ApiError(400, code, msg);
export const mandatory = (name: string): ApiError =>
  badRequest(-1102, `Mandatory parameter '${name}' was not sent, was empty/null, or malformed.`);
export const notRequired = (name: string): ApiError => badRequest(-1106, `Parameter '${name}' sent when not required.`);
export const filterFailure = (filter: string): ApiError => badRequest(-1013, `Filter failure: ${filter}`);
export const newOrderRejected = (msg: string): ApiError => badRequest(-2010, msg);
/** -1102 for "one of these two" (since 2025-04-07 also a query/cancel without either order id; was -1128). */
export const eitherMandatory = (a: string, b: string): ApiError => badRequest(-1102, `Param '${a}' or '${b}' must be sent, but both were empty/null!`);
/** -2039 (2025-04-08): the order found by orderId does not carry the origClientOrderId sent. */
export const clientOrderIdInvalid = (): ApiError => badRequest(CODE.clientOrderIdInvalid, MSG.clientOrderIdInvalid);
/** -1224 / -1225: an OPO list's working leg lacks, or a pending leg carries, a parameter. */
export const workingParamRequired = (param: string): ApiError => badRequest(-1224, `Working order must include the '${param}' tag.`);
export const pendingParamNotRequired = (param: string): ApiError => badRequest(-1225, `Pending orders should not include the '${param}' tag.`);
