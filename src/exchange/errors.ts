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

/** Codes whose execution status Binance itself declares unknown. */
const UNKNOWN_OUTCOME_CODES = new Set([-1000, -1001, -1006, -1007]);
/** Codes that say "not now", with the request certainly not executed. */
const RETRY_LATER_CODES = new Set([-1003, -1008, -1015, -1016, -1021, -1034]);

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
  if (i.code !== undefined && UNKNOWN_OUTCOME_CODES.has(i.code)) return 'unknown_outcome';
  if (i.httpStatus >= 500) return 'unknown_outcome';
  if (i.code !== undefined && RETRY_LATER_CODES.has(i.code)) return 'retry_later';
  // A WAF block (403) is not a verdict on the order and Binance says it may be rate limiting.
  if (i.httpStatus === 403) return 'retry_later';
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
