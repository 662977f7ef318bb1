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
} as const;

export const badRequest = (code: number, msg: string): ApiError => new ApiError(400, code, msg);
export const mandatory = (name: string): ApiError =>
  badRequest(-1102, `Mandatory parameter '${name}' was not sent, was empty/null, or malformed.`);
export const notRequired = (name: string): ApiError => badRequest(-1106, `Parameter '${name}' sent when not required.`);
export const filterFailure = (filter: string): ApiError => badRequest(-1013, `Filter failure: ${filter}`);
export const newOrderRejected = (msg: string): ApiError => badRequest(-2010, msg);
