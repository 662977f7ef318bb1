/**
 * Error classification (src/exchange/errors.ts) for the codes Binance added since 2025, the
 * ones whose meaning moved, and what happens to a code we have never heard of.
 */
import { BINANCE_ERROR_CODES, binanceErrorName, classifyHttpError, type ErrorKind } from '../../src/exchange/errors';

interface Row {
  code: number;
  name: string;
  status: number;
  msg: string;
  kind: ErrorKind;
  /** What the kind tells the caller, in words (documentation for the reader of a failure). */
  why: string;
  isCancel?: boolean;
}

// Messages as errors.md (2026-07) words them. The codes that come with more than one message, or
// on a cancel as well as elsewhere, are written once here.
const AMEND_REJECTED = { code: -2038, name: 'ORDER_AMEND_REJECTED', status: 400, kind: 'rejected' } as const;
const CLIENT_ORDER_ID_INVALID = { code: -2039, name: 'CLIENT_ORDER_ID_INVALID', status: 400, msg: 'Client order ID is not correct for this order ID.', kind: 'rejected' } as const;
const NO_ORDER_NAMED = { code: -1102, name: 'MANDATORY_PARAM_EMPTY_OR_MALFORMED', status: 400, msg: "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!", kind: 'rejected' } as const;
const NEW_CODES: Row[] = [
  { ...AMEND_REJECTED, msg: 'Order amend (quantity increase) is not supported.', why: 'the amend did not happen; the order is unchanged' },
  { ...AMEND_REJECTED, msg: 'Unknown order sent.', why: 'the order is not open; read it back, nothing was amended' },
  { ...AMEND_REJECTED, msg: 'Filter failure: MAX_NUM_ORDER_AMENDS', why: 'too many amends; unchanged' },
  { ...CLIENT_ORDER_ID_INVALID, why: 'orderId names another order: no proof the client id is absent' },
  { ...CLIENT_ORDER_ID_INVALID, why: 'on cancel too: nothing was cancelled', isCancel: true },
  { code: -2042, name: 'MAXIMUM_SUBSCRIPTION_IDS', status: 400, msg: 'Maximum subscription ID reached for this connection.', kind: 'rejected', why: 'this connection cannot subscribe again; another one can' },
  { code: -2043, name: 'NO_REFERENCE_PRICE', status: 400, msg: "This symbol doesn't have a reference price.", kind: 'rejected', why: 'a read; asking again will not help' },
  { code: -1120, name: 'BAD_INTERVAL', status: 400, msg: 'Invalid interval.', kind: 'rejected', why: 'bad parameter' },
  { code: -1210, name: 'INVALID_PEG_PRICE_TYPE', status: 400, msg: 'Invalid pegPriceType.', kind: 'rejected', why: 'the pegged order was not placed' },
  { code: -1211, name: 'INVALID_PEG_OFFSET_TYPE', status: 400, msg: 'Invalid pegOffsetType.', kind: 'rejected', why: 'the pegged order was not placed' },
  { code: -1220, name: 'SYMBOL_DOES_NOT_MATCH_STATUS', status: 400, msg: "The symbol's status does not match the requested symbolStatus.", kind: 'rejected', why: 'a filtered read' },
  { code: -1221, name: 'INVALID_SBE_MESSAGE_FIELD', status: 400, msg: 'Invalid/missing field(s) in SBE message.', kind: 'rejected', why: 'malformed request' },
  { code: -1222, name: 'OPO_WORKING_MUST_BE_BUY', status: 400, msg: 'Working order in an OPO list must be a bid.', kind: 'rejected', why: 'the list was not placed' },
  { code: -1223, name: 'OPO_PENDING_MUST_BE_SELL', status: 400, msg: 'Pending orders in an OPO list must be asks.', kind: 'rejected', why: 'the list was not placed' },
  { code: -1224, name: 'WORKING_PARAM_REQUIRED', status: 400, msg: "Working order must include the 'workingPrice' tag.", kind: 'rejected', why: 'the list was not placed' },
  { code: -1225, name: 'PENDING_PARAM_NOT_REQUIRED', status: 400, msg: "Pending orders should not include the 'pendingQuantity' tag.", kind: 'rejected', why: 'the list was not placed' },
  // Where -1128 used to be (2025-04-07): a query or cancel naming no order.
  { ...NO_ORDER_NAMED, why: 'nothing was looked up' },
  { ...NO_ORDER_NAMED, why: 'nothing was cancelled', isCancel: true },
  { code: -1128, name: 'OPTIONAL_PARAMS_BAD_COMBO', status: 400, msg: 'Combination of optional parameters invalid.', kind: 'rejected', why: 'still used for other combinations' },
  // The third recvWindow check (just before the matching engine): rejected, so not placed.
  { code: -1021, name: 'INVALID_TIMESTAMP', status: 400, msg: 'Timestamp for this request is outside of the recvWindow.', kind: 'retry_later', why: 'not placed; resend with a fresh timestamp' },
];

describe('codes added or changed since 2025', () => {
  test.each(NEW_CODES)('$code $name ($msg) -> $kind: $why', (r) => {
    expect(classifyHttpError({ httpStatus: r.status, code: r.code, msg: r.msg, isCancel: r.isCancel ?? false })).toBe(r.kind);
    expect(binanceErrorName(r.code)).toBe(r.name);
  });
});

describe('what stays as it was', () => {
  const rows: Array<[number, number, string, boolean, ErrorKind]> = [
    [400, -2013, 'Order does not exist.', false, 'not_found'],
    [400, -2011, 'Unknown order sent.', true, 'not_found'],
    [400, -2011, 'Order was not canceled due to cancel restrictions.', true, 'rejected'],
    [400, -2011, 'Unknown order sent.', false, 'rejected'],
    [400, -2010, 'Duplicate order sent.', false, 'rejected'],
    [400, -1013, 'Filter failure: LOT_SIZE', false, 'rejected'],
    [503, -1007, 'Timeout waiting for response from backend server. Send status unknown; execution status unknown.', false, 'unknown_outcome'],
    [400, -1006, 'An unexpected response was received from the message bus. Execution status unknown.', false, 'unknown_outcome'],
    [500, -2010, 'a rejection code on a 5xx', false, 'unknown_outcome'],
    [429, -1003, 'Too much request weight used', false, 'retry_later'],
    [429, -1015, 'Too many new orders', false, 'retry_later'],
    [418, -1003, 'Way too much request weight used; IP banned', false, 'banned'],
    [403, undefined as unknown as number, '<html>WAF</html>', false, 'retry_later'],
    [400, -1016, 'This service is no longer available.', false, 'retry_later'],
  ];
  test.each(rows)('HTTP %i code %i "%s" (cancel: %s) -> %s', (status, code, msg, isCancel, kind) => {
    expect(classifyHttpError({ httpStatus: status, code, msg, isCancel })).toBe(kind);
  });
});

describe('a code errors.md does not list', () => {
  test.each([
    [400, -1999],
    [400, -2099],
    [409, -3000],
  ])('HTTP %i code %i is unknown_outcome, never assumed a refusal', (status, code) => {
    expect(classifyHttpError({ httpStatus: status, code, msg: 'Some future message.', isCancel: false })).toBe('unknown_outcome');
    expect(binanceErrorName(code)).toBeUndefined();
  });

  test('a 4xx without any Binance body (a proxy page) is still a refusal', () => {
    expect(classifyHttpError({ httpStatus: 400, code: undefined, msg: '<html>Bad Request</html>', isCancel: false })).toBe('rejected');
  });
});

test('every documented code has a name and a kind', () => {
  expect(BINANCE_ERROR_CODES.size).toBeGreaterThan(100);
  for (const [code, v] of BINANCE_ERROR_CODES) {
    expect(code).toBeLessThan(0);
    expect(v.name).toMatch(/^[A-Z0-9_]+$/);
  }
});
