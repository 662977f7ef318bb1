/**
 * One error type for everything the exchange layer can throw, classified by what the caller
 * may safely do next. The classification is the contract the workflows build on:
 *
 * - `unknown_outcome`: the request may have reached the matching engine (5xx, -1007, the socket
 *   failed after the request was written, or a 2xx body we could not read). Never resend a
 *   mutation blindly; settle by querying (by clientOrderId) first. For read-only requests it
 *   just means "no answer"; resending a GET is always safe.
 * - `retry_later`: the request was certainly not executed (429/-1003/-1015, -1021 after one
 *   resync, connection refused before anything was sent). Safe to resend after `retryAfterMs`.
 * - `banned`: HTTP 418. The client refuses to send anything until `retryAfterMs` has passed.
 * - `rejected`: Binance refused the request for a reason that resending will not change
 *   (filters, balance, duplicate clientOrderId, bad symbol, bad key...). `msg` is Binance's text.
 * - `not_found`: only -2013 "Order does not exist." (and, for cancel only, -2011 "Unknown order
 *   sent.", which is how Binance says the same thing on DELETE /api/v3/order).
 *
 * Which code is which is the table BINANCE_ERROR_CODES below; a code it does not list (one
 * Binance added after it was written) is `unknown_outcome`, never assumed to be a refusal.
 */
export type ErrorKind = 'unknown_outcome' | 'retry_later' | 'banned' | 'rejected' | 'not_found';

export interface BinanceErrorInit {
  httpStatus: number | undefined;
  code: number | undefined;
  msg: string;
  kind: ErrorKind;
  endpoint: string;
  retryAfterMs?: number;
  cause?: unknown;
}

export class BinanceError extends Error {
  readonly httpStatus: number | undefined;
  readonly code: number | undefined;
  readonly msg: string;
  readonly kind: ErrorKind;
  readonly retryAfterMs?: number;
  readonly endpoint: string;

  constructor(init: BinanceErrorInit) {
    const where = init.httpStatus === undefined ? init.endpoint : `${init.endpoint} HTTP ${init.httpStatus}`;
    const code = init.code === undefined ? '' : ` ${init.code}`;
    super(`${init.kind}: ${where}${code} ${init.msg}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'BinanceError';
    this.httpStatus = init.httpStatus;
    this.code = init.code;
    this.msg = init.msg;
    this.kind = init.kind;
    this.endpoint = init.endpoint;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
  }
}

export function isBinanceError(e: unknown, kind?: ErrorKind): e is BinanceError {
  return e instanceof BinanceError && (kind === undefined || e.kind === kind);
}

/**
 * Every code errors.md documents (2026-07), by Binance's name, with what it lets the caller do
 * next. A code not in this table is classified `unknown_outcome`: we cannot know what a code we
 * have never read about says about execution, so a mutation that earned one is settled by query
 * (its code and message are kept on the error for whoever reads the log).
 *
 * The HTTP status decides first (418, 429, 5xx: see classifyHttpError); the table decides among
 * 4xx answers. Most codes are `rejected`: errors.md says 4xx "is on the sender's side" and
 * -1013 explicitly "didn't reach the Matching Engine", so the request did nothing and resending
 * it unchanged gets the same answer.
 */
export const BINANCE_ERROR_CODES: ReadonlyMap<number, { name: string; kind: ErrorKind }> = new Map<number, { name: string; kind: ErrorKind }>([
  // 10xx: general server or network issues
  [-1000, { name: 'UNKNOWN', kind: 'unknown_outcome' }],
  [-1001, { name: 'DISCONNECTED', kind: 'unknown_outcome' }],
  [-1002, { name: 'UNAUTHORIZED', kind: 'rejected' }],
  [-1003, { name: 'TOO_MANY_REQUESTS', kind: 'retry_later' }],
  // "Execution status unknown." in Binance's own words, for both.
  [-1006, { name: 'UNEXPECTED_RESP', kind: 'unknown_outcome' }],
  [-1007, { name: 'TIMEOUT', kind: 'unknown_outcome' }],
  [-1008, { name: 'SERVER_BUSY', kind: 'retry_later' }],
  [-1010, { name: 'ERROR_MSG_RECEIVED', kind: 'rejected' }],
  [-1013, { name: 'INVALID_MESSAGE', kind: 'rejected' }],
  [-1014, { name: 'UNKNOWN_ORDER_COMPOSITION', kind: 'rejected' }],
  [-1015, { name: 'TOO_MANY_ORDERS', kind: 'retry_later' }],
  [-1016, { name: 'SERVICE_SHUTTING_DOWN', kind: 'retry_later' }],
  [-1020, { name: 'UNSUPPORTED_OPERATION', kind: 'rejected' }],
  // Also the third recvWindow check (CHANGELOG 2025-05-22, enabled 2025-08-28): rejected just
  // before the matching engine, so not placed, although Binance counts it as an unfilled order.
  [-1021, { name: 'INVALID_TIMESTAMP', kind: 'retry_later' }],
  [-1022, { name: 'INVALID_SIGNATURE', kind: 'rejected' }],
  [-1033, { name: 'COMP_ID_IN_USE', kind: 'rejected' }],
  [-1034, { name: 'TOO_MANY_CONNECTIONS', kind: 'retry_later' }],
  [-1035, { name: 'LOGGED_OUT', kind: 'rejected' }],
  // 11xx: request issues, all refused before the matching engine
  [-1100, { name: 'ILLEGAL_CHARS', kind: 'rejected' }],
  [-1101, { name: 'TOO_MANY_PARAMETERS', kind: 'rejected' }],
  // Since 2025-04-07 also what a query or cancel without orderId and origClientOrderId gets
  // (it used to be -1128): nothing was looked up or cancelled.
  [-1102, { name: 'MANDATORY_PARAM_EMPTY_OR_MALFORMED', kind: 'rejected' }],
  [-1103, { name: 'UNKNOWN_PARAM', kind: 'rejected' }],
  [-1104, { name: 'UNREAD_PARAMETERS', kind: 'rejected' }],
  [-1105, { name: 'PARAM_EMPTY', kind: 'rejected' }],
  [-1106, { name: 'PARAM_NOT_REQUIRED', kind: 'rejected' }],
  [-1108, { name: 'PARAM_OVERFLOW', kind: 'rejected' }],
  [-1111, { name: 'BAD_PRECISION', kind: 'rejected' }],
  [-1112, { name: 'NO_DEPTH', kind: 'rejected' }],
  [-1114, { name: 'TIF_NOT_REQUIRED', kind: 'rejected' }],
  [-1115, { name: 'INVALID_TIF', kind: 'rejected' }],
  [-1116, { name: 'INVALID_ORDER_TYPE', kind: 'rejected' }],
  [-1117, { name: 'INVALID_SIDE', kind: 'rejected' }],
  [-1118, { name: 'EMPTY_NEW_CL_ORD_ID', kind: 'rejected' }],
  [-1119, { name: 'EMPTY_ORG_CL_ORD_ID', kind: 'rejected' }],
  [-1120, { name: 'BAD_INTERVAL', kind: 'rejected' }],
  [-1121, { name: 'BAD_SYMBOL', kind: 'rejected' }],
  [-1122, { name: 'INVALID_SYMBOLSTATUS', kind: 'rejected' }],
  [-1125, { name: 'INVALID_LISTEN_KEY', kind: 'rejected' }],
  [-1127, { name: 'MORE_THAN_XX_HOURS', kind: 'rejected' }],
  [-1128, { name: 'OPTIONAL_PARAMS_BAD_COMBO', kind: 'rejected' }],
  [-1130, { name: 'INVALID_PARAMETER', kind: 'rejected' }],
  [-1134, { name: 'BAD_STRATEGY_TYPE', kind: 'rejected' }],
  [-1135, { name: 'INVALID_JSON', kind: 'rejected' }],
  [-1139, { name: 'INVALID_TICKER_TYPE', kind: 'rejected' }],
  [-1145, { name: 'INVALID_CANCEL_RESTRICTIONS', kind: 'rejected' }],
  [-1151, { name: 'DUPLICATE_SYMBOLS', kind: 'rejected' }],
  [-1152, { name: 'INVALID_SBE_HEADER', kind: 'rejected' }],
  [-1153, { name: 'UNSUPPORTED_SCHEMA_ID', kind: 'rejected' }],
  [-1155, { name: 'SBE_DISABLED', kind: 'rejected' }],
  [-1158, { name: 'OCO_ORDER_TYPE_REJECTED', kind: 'rejected' }],
  [-1160, { name: 'OCO_ICEBERGQTY_TIMEINFORCE', kind: 'rejected' }],
  [-1161, { name: 'DEPRECATED_SCHEMA', kind: 'rejected' }],
  [-1165, { name: 'BUY_OCO_LIMIT_MUST_BE_BELOW', kind: 'rejected' }],
  [-1166, { name: 'SELL_OCO_LIMIT_MUST_BE_ABOVE', kind: 'rejected' }],
  [-1168, { name: 'BOTH_OCO_ORDERS_CANNOT_BE_LIMIT', kind: 'rejected' }],
  // -1169..-1190: FIX session and message errors; refusals of the message itself.
  [-1169, { name: 'INVALID_TAG_NUMBER', kind: 'rejected' }],
  [-1170, { name: 'TAG_NOT_DEFINED_IN_MESSAGE', kind: 'rejected' }],
  [-1171, { name: 'TAG_APPEARS_MORE_THAN_ONCE', kind: 'rejected' }],
  [-1172, { name: 'TAG_OUT_OF_ORDER', kind: 'rejected' }],
  [-1173, { name: 'GROUP_FIELDS_OUT_OF_ORDER', kind: 'rejected' }],
  [-1174, { name: 'INVALID_COMPONENT', kind: 'rejected' }],
  [-1175, { name: 'RESET_SEQ_NUM_SUPPORT', kind: 'rejected' }],
  [-1176, { name: 'ALREADY_LOGGED_IN', kind: 'rejected' }],
  [-1177, { name: 'GARBLED_MESSAGE', kind: 'rejected' }],
  [-1178, { name: 'BAD_SENDER_COMPID', kind: 'rejected' }],
  [-1179, { name: 'BAD_SEQ_NUM', kind: 'rejected' }],
  [-1180, { name: 'EXPECTED_LOGON', kind: 'rejected' }],
  // A message rate limit: the message was not processed; later it will be.
  [-1181, { name: 'TOO_MANY_MESSAGES', kind: 'retry_later' }],
  [-1182, { name: 'PARAMS_BAD_COMBO', kind: 'rejected' }],
  [-1183, { name: 'NOT_ALLOWED_IN_DROP_COPY_SESSIONS', kind: 'rejected' }],
  [-1184, { name: 'DROP_COPY_SESSION_NOT_ALLOWED', kind: 'rejected' }],
  [-1185, { name: 'DROP_COPY_SESSION_REQUIRED', kind: 'rejected' }],
  [-1186, { name: 'NOT_ALLOWED_IN_ORDER_ENTRY_SESSIONS', kind: 'rejected' }],
  [-1187, { name: 'NOT_ALLOWED_IN_MARKET_DATA_SESSIONS', kind: 'rejected' }],
  [-1188, { name: 'INCORRECT_NUM_IN_GROUP_COUNT', kind: 'rejected' }],
  [-1189, { name: 'DUPLICATE_ENTRIES_IN_A_GROUP', kind: 'rejected' }],
  [-1190, { name: 'INVALID_REQUEST_ID', kind: 'rejected' }],
  [-1191, { name: 'TOO_MANY_SUBSCRIPTIONS', kind: 'rejected' }],
  [-1194, { name: 'INVALID_TIME_UNIT', kind: 'rejected' }],
  [-1196, { name: 'BUY_OCO_STOP_LOSS_MUST_BE_ABOVE', kind: 'rejected' }],
  [-1197, { name: 'SELL_OCO_STOP_LOSS_MUST_BE_BELOW', kind: 'rejected' }],
  [-1198, { name: 'BUY_OCO_TAKE_PROFIT_MUST_BE_BELOW', kind: 'rejected' }],
  [-1199, { name: 'SELL_OCO_TAKE_PROFIT_MUST_BE_ABOVE', kind: 'rejected' }],
  // Pegged orders (2025-08): a bad peg parameter; the order was not placed.
  [-1210, { name: 'INVALID_PEG_PRICE_TYPE', kind: 'rejected' }],
  [-1211, { name: 'INVALID_PEG_OFFSET_TYPE', kind: 'rejected' }],
  // symbolStatus filter on market data (2025-10-28): the symbol is not in that status; a read.
  [-1220, { name: 'SYMBOL_DOES_NOT_MATCH_STATUS', kind: 'rejected' }],
  [-1221, { name: 'INVALID_SBE_MESSAGE_FIELD', kind: 'rejected' }],
  // One-Pays-the-Other lists (2025-12): the list is malformed; no leg was placed.
  [-1222, { name: 'OPO_WORKING_MUST_BE_BUY', kind: 'rejected' }],
  [-1223, { name: 'OPO_PENDING_MUST_BE_SELL', kind: 'rejected' }],
  [-1224, { name: 'WORKING_PARAM_REQUIRED', kind: 'rejected' }],
  [-1225, { name: 'PENDING_PARAM_NOT_REQUIRED', kind: 'rejected' }],
  // 20xx: the matching engine's and the API's refusals
  [-2010, { name: 'NEW_ORDER_REJECTED', kind: 'rejected' }],
  // "Unknown order sent." on DELETE /api/v3/order is not_found (see classifyHttpError).
  [-2011, { name: 'CANCEL_REJECTED', kind: 'rejected' }],
  [-2013, { name: 'NO_SUCH_ORDER', kind: 'not_found' }],
  [-2014, { name: 'BAD_API_KEY_FMT', kind: 'rejected' }],
  [-2015, { name: 'REJECTED_MBX_KEY', kind: 'rejected' }],
  [-2016, { name: 'NO_TRADING_WINDOW', kind: 'rejected' }],
  // cancelReplace: the body says which half failed; the client reads it (acceptError).
  [-2021, { name: 'CANCEL_REPLACE_PARTIALLY_FAILED', kind: 'rejected' }],
  [-2022, { name: 'CANCEL_REPLACE_FAILED', kind: 'rejected' }],
  // The order exists but finished with nothing filled over 90 days ago: it is no live order.
  [-2026, { name: 'ORDER_ARCHIVED', kind: 'rejected' }],
  [-2035, { name: 'SUBSCRIPTION_ACTIVE', kind: 'rejected' }],
  [-2036, { name: 'SUBSCRIPTION_INACTIVE', kind: 'rejected' }],
  // Amend keep-priority refused by the matching engine (2025-04-07): the order is unchanged,
  // whatever the message ("Unknown order sent." included: the order is not open, read it back).
  [-2038, { name: 'ORDER_AMEND_REJECTED', kind: 'rejected' }],
  // Query with both orderId and origClientOrderId that name different orders (2025-04-08). NOT
  // not_found: an order with that orderId exists, so this proves nothing about the client id.
  [-2039, { name: 'CLIENT_ORDER_ID_INVALID', kind: 'rejected' }],
  // WebSocket API: this connection holds all the subscriptions it may; another connection can.
  [-2042, { name: 'MAXIMUM_SUBSCRIPTION_IDS', kind: 'rejected' }],
  // The symbol never had a reference price (2026-04-16); a read, and asking again will not help.
  [-2043, { name: 'NO_REFERENCE_PRICE', kind: 'rejected' }],
]);

/** Binance's name for a code ("BAD_SYMBOL"), or undefined for a code errors.md does not list. */
/**
 * An answer from Binance (4xx, with a code) whose code errors.md does not list: classified
 * `unknown_outcome`, but it is an answer, not silence. Once the request's recvWindow has passed
 * and the order is absent, the caller may conclude it was refused instead of sending again.
 */
export function isUnlistedCodeAnswer(e: unknown): e is BinanceError {
  return (
    isBinanceError(e, 'unknown_outcome') &&
    e.code !== undefined &&
    !BINANCE_ERROR_CODES.has(e.code) &&
    e.httpStatus !== undefined &&
    e.httpStatus >= 400 &&
    e.httpStatus < 500
  );
}

export function binanceErrorName(code: number | undefined): string | undefined {
  return code === undefined ? undefined : BINANCE_ERROR_CODES.get(code)?.name;
}

export const ORDER_DOES_NOT_EXIST = 'Order does not exist.';
export const UNKNOWN_ORDER_SENT = 'Unknown order sent.';

export interface ClassifyInput {
  httpStatus: number;
  code: number | undefined;
  msg: string;
  /** True for DELETE /api/v3/order, where -2011 "Unknown order sent." means absent. */
  isCancel: boolean;
}

/** Classifies an HTTP error response that carried a status line (and maybe a Binance body). */
export function classifyHttpError(i: ClassifyInput): ErrorKind {
  if (i.httpStatus === 418) return 'banned';
  if (i.httpStatus === 429) return 'retry_later';
  if (i.code === -2013) return 'not_found';
  if (i.isCancel && i.code === -2011 && i.msg === UNKNOWN_ORDER_SENT) return 'not_found';
  const known = i.code === undefined ? undefined : BINANCE_ERROR_CODES.get(i.code);
  if (known?.kind === 'unknown_outcome') return 'unknown_outcome';
  // Binance: a 5xx "could have been a success", whatever code it carries.
  if (i.httpStatus >= 500) return 'unknown_outcome';
  if (known?.kind === 'retry_later') return 'retry_later';
  // A WAF block (403) is not a verdict on the order and Binance says it may be rate limiting.
  if (i.httpStatus === 403) return 'retry_later';
  if (known !== undefined) return known.kind;
  // A code errors.md does not list: we cannot tell what it says about execution.
  if (i.code !== undefined) return 'unknown_outcome';
  // No Binance body at all (a proxy's 4xx page): the request did not get through to Binance.
  return 'rejected';
}

/** Error codes Node/undici use when the connection could not be established, i.e. nothing was sent. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Walks `cause` chains: undici wraps the socket error it saw. */
export function errorCodeOf(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let depth = 0; depth < 5 && cur !== null && typeof cur === 'object'; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR_ABORTED') {
      if (NOT_SENT_CODES.has(code)) return code;
      // keep looking for a more specific cause, but remember this one
      const inner = (cur as { cause?: unknown }).cause;
      const deeper = errorCodeOf(inner);
      return deeper !== undefined && NOT_SENT_CODES.has(deeper) ? deeper : code;
    }
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Classifies a transport failure (no HTTP status was received). */
export function classifyTransportError(e: unknown, endpoint: string, timedOut: boolean): BinanceError {
  const code = errorCodeOf(e);
  const detail = e instanceof Error ? e.message : String(e);
  if (!timedOut && code !== undefined && NOT_SENT_CODES.has(code)) {
    return new BinanceError({
      httpStatus: undefined,
      code: undefined,
      msg: `connection failed before the request was sent (${code}): ${detail}`,
      kind: 'retry_later',
      endpoint,
      retryAfterMs: 1000,
      cause: e,
    });
  }
  const what = timedOut ? 'request timed out' : `connection failed (${code ?? 'unknown'})`;
  return new BinanceError({
    httpStatus: undefined,
    code: undefined,
    msg: `${what} after the request may have been sent; execution status unknown: ${detail}`,
    kind: 'unknown_outcome',
    endpoint,
    cause: e,
  });
}
