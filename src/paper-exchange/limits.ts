/**
 * Request weight per IP and order counts per account, in fixed windows aligned to the interval
 * like Binance's. Exceeding a weight limit answers 429 with Retry-After; continuing to send
 * while limited earns a 418 ban.
 *
 * As on Binance since 2026-04-02 (CHANGELOG 2026-03-27 and 2026-04-02): a successful place,
 * cancel, cancel-replace or order-list request costs weight 0; an amend (keep priority) only
 * when the amendment made the order expire; failed requests cost the documented weight. The
 * weight is charged at receipt, as before (an IP already over its limit still gets 429), and
 * given back when the request succeeds (see freeWhenSuccessful).
 */
import { AMEND_KEEP_PRIORITY, WEIGHT_FREE_WHEN_SUCCESSFUL } from '../exchange/rate-limit';
import type { RateLimit } from '../exchange/schemas';
import { ApiError } from './wire';

const INTERVAL_MS = { SECOND: 1_000, MINUTE: 60_000, HOUR: 3_600_000, DAY: 86_400_000 } as const;
const LETTER = { SECOND: 'S', MINUTE: 'M', HOUR: 'H', DAY: 'D' } as const;

export const PAPER_RATE_LIMITS: RateLimit[] = [
  { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 6000 },
  { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100 },
  { rateLimitType: 'ORDERS', interval: 'DAY', intervalNum: 1, limit: 200000 },
  { rateLimitType: 'RAW_REQUESTS', interval: 'MINUTE', intervalNum: 5, limit: 300000 },
];

/** Whether a successful request of `route` (`METHOD /path`) with response body `result` is free. */
export function freeWhenSuccessful(route: string, result: unknown): boolean {
  if (WEIGHT_FREE_WHEN_SUCCESSFUL.has(route)) return true;
  if (route !== AMEND_KEEP_PRIORITY) return false;
  // "the request weight only becomes 0 when the order expires because of the amendment"
  const amended = typeof result === 'object' && result !== null ? (result as { amendedOrder?: { status?: unknown } }).amendedOrder : undefined;
  return amended?.status === 'EXPIRED';
}

const lenOf = (l: RateLimit): number => INTERVAL_MS[l.interval] * l.intervalNum;
const suffixOf = (l: RateLimit): string => `${l.intervalNum}${LETTER[l.interval]}`;
const intervalText = (l: RateLimit): string => `${l.intervalNum} ${l.interval}`;

class Windowed {
  private readonly counts = new Map<string, { start: number; used: number }>();
  constructor(readonly limit: RateLimit) {}
  /** Takes `amount` back from the window that `at` fell in, if that window is still the current one. */
  refund(key: string, amount: number, at: number): void {
    const len = lenOf(this.limit);
    const c = this.counts.get(key);
    if (c && c.start === Math.floor(at / len) * len) c.used = Math.max(0, c.used - amount);
  }
  current(key: string, now: number): { start: number; used: number } {
    const len = lenOf(this.limit);
    const start = Math.floor(now / len) * len;
    let c = this.counts.get(key);
    if (!c || c.start !== start) {
      c = { start, used: 0 };
      this.counts.set(key, c);
    }
    return c;
  }
}

export interface LimiterOptions {
  rateLimits: RateLimit[];
  /** Requests sent while already rate limited before the IP is banned. Default 5. */
  requestsBeforeBan: number;
  /** Ban length, default 2 minutes (Binance's minimum). */
  banMs: number;
}

export class Limiter {
  private readonly weight: Windowed[];
  private readonly orders: Windowed[];
  private readonly raw: Windowed[];
  private readonly bannedUntil = new Map<string, number>();
  private readonly limitedUntil = new Map<string, { until: number; strikes: number }>();
  /** Counters for tests and the admin endpoint. */
  readonly stats = { status429: 0, status418: 0 };

  constructor(private readonly opts: LimiterOptions) {
    this.weight = opts.rateLimits.filter((l) => l.rateLimitType === 'REQUEST_WEIGHT').map((l) => new Windowed(l));
    this.orders = opts.rateLimits.filter((l) => l.rateLimitType === 'ORDERS').map((l) => new Windowed(l));
    this.raw = opts.rateLimits.filter((l) => l.rateLimitType === 'RAW_REQUESTS').map((l) => new Windowed(l));
  }

  /** Counts a request's weight; throws the 429/418 Binance would send. */
  chargeWeight(ip: string, weight: number, now: number): void {
    const banned = this.bannedUntil.get(ip);
    if (banned !== undefined && banned > now) {
      this.stats.status418++;
      throw this.banError(banned, now);
    }
    const limited = this.limitedUntil.get(ip);
    if (limited && limited.until > now) {
      limited.strikes++;
      if (limited.strikes > this.opts.requestsBeforeBan) {
        const until = now + this.opts.banMs;
        this.bannedUntil.set(ip, until);
        this.limitedUntil.delete(ip);
        this.stats.status418++;
        throw this.banError(until, now);
      }
    }
    let over: { w: Windowed; start: number } | undefined;
    for (const w of [...this.weight, ...this.raw]) {
      const c = w.current(ip, now);
      c.used += w.limit.rateLimitType === 'RAW_REQUESTS' ? 1 : weight;
      if (c.used > w.limit.limit && !over) over = { w, start: c.start };
    }
    if (over) {
      const resetAt = over.start + lenOf(over.w.limit);
      const prev = this.limitedUntil.get(ip);
      this.limitedUntil.set(ip, { until: resetAt, strikes: prev && prev.until > now ? prev.strikes : 0 });
      this.stats.status429++;
      const l = over.w.limit;
      throw new ApiError(
        429,
        -1003,
        `Too much request weight used; current limit is ${l.limit} request weight per ${intervalText(l)}. Please use WebSocket Streams for live updates to avoid polling the API.`,
        { 'Retry-After': String(Math.max(1, Math.ceil((resetAt - now) / 1000))) },
      );
    }
  }

  /** Counts one (or more) new orders for the account; throws -1015 with 429 when over. */
  chargeOrders(account: string, n: number, now: number): void {
    for (const w of this.orders) {
      const c = w.current(account, now);
      if (c.used + n > w.limit.limit) {
        this.stats.status429++;
        const resetAt = c.start + lenOf(w.limit);
        throw new ApiError(429, -1015, `Too many new orders; current limit is ${w.limit.limit} orders per ${intervalText(w.limit)}.`, {
          'Retry-After': String(Math.max(1, Math.ceil((resetAt - now) / 1000))),
        });
      }
    }
    for (const w of this.orders) w.current(account, now).used += n;
  }

  /** A request charged `weight` at `chargedAt` turned out free (see freeWhenSuccessful). RAW_REQUESTS still counts it. */
  refundWeight(ip: string, weight: number, chargedAt: number): void {
    for (const w of this.weight) w.refund(ip, weight, chargedAt);
  }

  weightHeaders(ip: string, now: number): Record<string, string> {
    const h: Record<string, string> = {};
    for (const w of this.weight) h[`X-MBX-USED-WEIGHT-${suffixOf(w.limit)}`] = String(w.current(ip, now).used);
    return h;
  }

  orderHeaders(account: string, now: number): Record<string, string> {
    const h: Record<string, string> = {};
    for (const w of this.orders) h[`X-MBX-ORDER-COUNT-${suffixOf(w.limit)}`] = String(w.current(account, now).used);
    return h;
  }

  /** The IP's weight (and raw request) windows with their counts: the WebSocket API's `rateLimits`. */
  weightCounts(ip: string, now: number): Array<RateLimit & { count: number }> {
    return [...this.weight, ...this.raw].map((w) => ({ ...w.limit, count: w.current(ip, now).used }));
  }

  orderCounts(account: string, now: number): Array<RateLimit & { count: number }> {
    return this.orders.map((w) => ({ ...w.limit, count: w.current(account, now).used }));
  }

  private banError(until: number, now: number): ApiError {
    return new ApiError(
      418,
      -1003,
      `Way too much request weight used; IP banned until ${until}. Please use WebSocket Streams for live updates to avoid bans.`,
      { 'Retry-After': String(Math.max(1, Math.ceil((until - now) / 1000))) },
    );
  }
}
