/**
 * Local request-weight and order-count budget. Binance counts in fixed windows aligned to the
 * interval (a minute window starts at :00), per IP for weight and per account for orders. We
 * count what we send in the same windows, and when a request would not fit we wait for the next
 * window instead of earning a 429.
 *
 * Weight: the larger of our count and X-MBX-USED-WEIGHT-* (other processes may share the IP),
 * against a share (`safety`, 90 %) of the limit, headroom for requests we do not see.
 *
 * Orders: the exchange's own count is the authority. X-MBX-ORDER-COUNT-* is the account's
 * unfilled order count, which covers every process on the account and which Binance lowers when
 * orders fill (faqs/order_count_decrement.md), so our own tally would hold back orders the venue
 * accepts. The count is the latest header plus our orders still in flight (reserved, not yet
 * answered), against the whole limit: a burst of 100 goes out at once (issue 12).
 *
 * Since 2026-04-02 a successful place, cancel, cancel-replace or order-list request costs no
 * weight (CHANGELOG 2026-03-27; failed ones still cost the documented weight). We cannot know
 * beforehand which it will be, so the documented weight is reserved and, when the answer is a
 * success, given back (refundWeight): the budget then agrees with X-MBX-USED-WEIGHT-*.
 *
 * The limits themselves are exchangeInfo's `rateLimits` (setLimits); DEFAULT_RATE_LIMITS only
 * stands in until the client has read them.
 */
import { z } from 'zod';
import type { RateLimit } from './schemas';

const INTERVAL_MS: Record<RateLimit['interval'], number> = {
  SECOND: 1_000,
  MINUTE: 60_000,
  HOUR: 3_600_000,
  DAY: 86_400_000,
};
/** 'trade' places or cancels (may use the whole allowance); 'read' only looks (a share of it). */
export type RequestKind = 'trade' | 'read';

const INTERVAL_LETTER: Record<RateLimit['interval'], string> = { SECOND: 'S', MINUTE: 'M', HOUR: 'H', DAY: 'D' };

/** Binance's published values (RAW_REQUESTS raised to 300,000 on 2026-04-02), until exchangeInfo tells us. */
export const DEFAULT_RATE_LIMITS: RateLimit[] = [
  { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 6000 },
  { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100 },
  { rateLimitType: 'ORDERS', interval: 'DAY', intervalNum: 1, limit: 200000 },
  { rateLimitType: 'RAW_REQUESTS', interval: 'MINUTE', intervalNum: 5, limit: 300000 },
];

/**
 * REST endpoints whose request weight is 0 when the request succeeds (CHANGELOG 2026-03-27,
 * from 2026-04-02). "Failed requests are still charged the documented weight."
 */
export const WEIGHT_FREE_WHEN_SUCCESSFUL: ReadonlySet<string> = new Set([
  'POST /api/v3/order',
  'POST /api/v3/sor/order',
  'DELETE /api/v3/order',
  'DELETE /api/v3/openOrders',
  'POST /api/v3/order/cancelReplace',
  'POST /api/v3/order/oco',
  'POST /api/v3/orderList/oco',
  'POST /api/v3/orderList/oto',
  'POST /api/v3/orderList/otoco',
  'POST /api/v3/orderList/opo',
  'POST /api/v3/orderList/opoco',
  'DELETE /api/v3/orderList',
]);
export const AMEND_KEEP_PRIORITY = 'PUT /api/v3/order/amend/keepPriority';
const AmendedStatus = z.object({ amendedOrder: z.object({ status: z.string() }) });

/**
 * The weight a successful request of `endpoint` really costs. An amend is free only "when the
 * order expires because of the amendment" (CHANGELOG 2026-04-02); otherwise it costs its
 * documented weight, as does every other endpoint.
 */
export function weightWhenSuccessful(endpoint: string, documented: number, result: unknown): number {
  if (WEIGHT_FREE_WHEN_SUCCESSFUL.has(endpoint)) return 0;
  if (endpoint === AMEND_KEEP_PRIORITY) {
    const r = AmendedStatus.safeParse(result);
    return r.success && r.data.amendedOrder.status === 'EXPIRED' ? 0 : documented;
  }
  return documented;
}

/** "1M", "10S", "1D": the suffix Binance uses in its usage headers. */
export function headerSuffix(l: Pick<RateLimit, 'interval' | 'intervalNum'>): string {
  return `${l.intervalNum}${INTERVAL_LETTER[l.interval]}`;
}

export function intervalMs(l: Pick<RateLimit, 'interval' | 'intervalNum'>): number {
  return INTERVAL_MS[l.interval] * l.intervalNum;
}

export interface BudgetWindow {
  rateLimitType: RateLimit['rateLimitType'];
  interval: RateLimit['interval'];
  intervalNum: number;
  limit: number;
  /** Our best knowledge of what is used in the current window. */
  used: number;
  windowStart: number;
}

export interface RateLimitUsage {
  /** Last seen X-MBX-USED-WEIGHT-1M (undefined until a response carried it). */
  usedWeight1m: number | undefined;
  /** Last seen X-MBX-ORDER-COUNT-10S. */
  orderCount10s: number | undefined;
  /** Last seen X-MBX-ORDER-COUNT-1D. */
  orderCount1d: number | undefined;
  /** Every X-MBX-USED-WEIGHT-* / X-MBX-ORDER-COUNT-* header last seen, by lower-case name. */
  headers: Record<string, number>;
  /** The local budget per limit. */
  budget: BudgetWindow[];
  /** Milliseconds the budget has made callers wait in total. */
  waitedMs: number;
  /** Requests that had to wait for a window to roll over. */
  delayedRequests: number;
  /** Epoch ms until which the client refuses to send (HTTP 418), if banned. */
  bannedUntil: number | undefined;
}

interface Counter {
  limit: RateLimit;
  windowStart: number;
  used: number;
  /** Pre-charged to the next window: requests sent near a window's end may be counted there. */
  nextUsed: number;
  /** ORDERS: when (exchange clock) the request behind the latest header of this window was sent. */
  headerSentAt?: number;
}

/** An order reservation not yet answered: the exchange's count may not include it yet. */
interface InFlightOrders {
  at: number;
  orders: number;
}

/**
 * How long an unanswered order reservation counts as in flight: longer than any request lives
 * (the client's timeout, 10 s by default, plus its wait for a connection). A request that never
 * gets an answer with a header (transport error, a rejection without one) stops counting then.
 */
const IN_FLIGHT_MAX_MS = 30_000;

export interface RateBudgetOptions {
  /** Fraction of each limit we allow ourselves; headroom for requests we do not see. */
  safety?: number;
  /**
   * Fraction of that allowance reads may use (default 0.8). The rest is kept for placing and
   * cancelling, so that thousands of resting orders' status polls can never queue a cancel.
   */
  readShare?: number;
  /** Server-time clock; windows are aligned to the exchange's clock. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export class RateBudget {
  private counters: Counter[] = [];
  private readonly safety: number;
  private readonly readShare: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly lastHeaders: Record<string, number> = {};
  /** When (exchange clock) the request that produced each header was sent. */
  private readonly lastHeaderSentAt: Record<string, number> = {};
  private waitedMs = 0;
  private delayedRequests = 0;
  bannedUntil: number | undefined;
  /** Exchange-clock ms before which nothing is sent (set after a 429's Retry-After). */
  private pausedUntil = 0;
  /** Order reservations not yet answered with an X-MBX-ORDER-COUNT-* header, oldest first. */
  private inFlight: InFlightOrders[] = [];

  constructor(opts: RateBudgetOptions = {}) {
    this.safety = opts.safety ?? 0.9;
    this.readShare = opts.readShare ?? 0.8;
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.setLimits(DEFAULT_RATE_LIMITS);
  }

  setLimits(limits: RateLimit[]): void {
    const old = this.counters;
    this.counters = limits
      .filter((l) => l.rateLimitType !== 'RAW_REQUESTS' || l.limit > 0)
      .map((limit) => {
        const prev = old.find(
          (c) => c.limit.rateLimitType === limit.rateLimitType && c.limit.interval === limit.interval && c.limit.intervalNum === limit.intervalNum,
        );
        const c: Counter = { limit, windowStart: prev?.windowStart ?? 0, used: prev?.used ?? 0, nextUsed: prev?.nextUsed ?? 0 };
        if (!prev) this.seedFromHeaders(c);
        return c;
      });
  }

  /** A limit learned late (from exchangeInfo) starts from what the exchange already reported. */
  private seedFromHeaders(c: Counter): void {
    if (c.limit.rateLimitType === 'RAW_REQUESTS') return;
    const name = `${c.limit.rateLimitType === 'REQUEST_WEIGHT' ? 'x-mbx-used-weight-' : 'x-mbx-order-count-'}${headerSuffix(c.limit).toLowerCase()}`;
    const value = this.lastHeaders[name];
    const sentAt = this.lastHeaderSentAt[name];
    if (value === undefined || sentAt === undefined) return;
    this.roll(c, this.now());
    const len = intervalMs(c.limit);
    if (Math.floor(sentAt / len) * len === c.windowStart) c.used = Math.max(c.used, value);
  }

  private cost(c: Counter, weight: number, orders: number): number {
    switch (c.limit.rateLimitType) {
      case 'REQUEST_WEIGHT':
        return weight;
      case 'ORDERS':
        return orders;
      case 'RAW_REQUESTS':
        return 1;
    }
  }

  private roll(c: Counter, now: number): void {
    const len = intervalMs(c.limit);
    const start = Math.floor(now / len) * len;
    if (start !== c.windowStart) {
      c.used = start === c.windowStart + len ? c.nextUsed : 0;
      c.nextUsed = 0;
      c.windowStart = start;
    }
  }

  /**
   * A request sent in the last stretch of a window can reach the exchange after the window
   * rolled over and be counted in the next one, so it is charged to both: otherwise a burst
   * released at a boundary could overbook the new window with stragglers from the old one.
   */
  private inEdge(c: Counter, now: number): boolean {
    const len = intervalMs(c.limit);
    return c.windowStart + len - now <= Math.min(1000, len / 10);
  }

  private allowance(c: Counter, kind: RequestKind): number {
    // Orders: the exchange's count is followed (see the top), so its whole limit is ours.
    if (c.limit.rateLimitType === 'ORDERS') return c.limit.limit;
    // Never round a small limit down to zero: a limit of 5 still allows 4 (or at least 1).
    const full = Math.max(1, Math.floor(c.limit.limit * this.safety));
    return kind === 'trade' ? full : Math.max(1, Math.floor(full * this.readShare));
  }

  /**
   * Reserves `weight` and `orders` in every window, waiting for windows to roll over when they
   * would not fit. Check-and-reserve happens synchronously, so concurrent callers cannot
   * overbook. A request heavier than the whole allowance is let through alone at a window start.
   */
  async acquire(weight: number, orders: number, kind: RequestKind = 'trade'): Promise<void> {
    for (;;) {
      const waitUntil = this.tryReserve(weight, orders, kind);
      if (waitUntil === 0) return;
      await this.sleepUntil(waitUntil);
    }
  }

  /** Reserves now and returns 0, or reserves nothing and returns when it could fit. */
  tryReserve(weight: number, orders: number, kind: RequestKind = 'trade'): number {
    const now = this.now();
    let waitUntil = this.pausedUntil > now ? this.pausedUntil : 0;
    for (const c of this.counters) {
      this.roll(c, now);
      const cost = this.cost(c, weight, orders);
      if (cost === 0) continue;
      const edge = this.inEdge(c, now);
      const over = c.used > 0 && c.used + cost > this.allowance(c, kind);
      const overNext = edge && c.nextUsed > 0 && c.nextUsed + cost > this.allowance(c, kind);
      if (over || overNext) {
        waitUntil = Math.max(waitUntil, c.windowStart + intervalMs(c.limit));
      }
    }
    if (waitUntil === 0) {
      for (const c of this.counters) {
        const cost = this.cost(c, weight, orders);
        c.used += cost;
        if (this.inEdge(c, now)) c.nextUsed += cost;
      }
      if (orders > 0) {
        this.dropStaleInFlight(now);
        this.inFlight.push({ at: now, orders });
      }
    }
    return waitUntil;
  }

  /** Waits until `waitUntil` (exchange clock), counted as a delayed request. */
  async sleepUntil(waitUntil: number): Promise<void> {
    // A small margin so we land in the next window even if our clock runs slightly ahead.
    const delay = Math.max(0, waitUntil - this.now()) + 25;
    this.delayedRequests++;
    this.waitedMs += delay;
    await this.sleep(delay);
  }

  /**
   * Gives back `weight` reserved at `reservedAt` (exchange clock) for a request the exchange
   * did not charge (a successful order request). The count never drops below what the latest
   * X-MBX-USED-WEIGHT-* of the same window said: that figure is the exchange's own.
   */
  refundWeight(weight: number, reservedAt: number): void {
    if (!(weight > 0)) return;
    const now = this.now();
    for (const c of this.counters) {
      if (c.limit.rateLimitType !== 'REQUEST_WEIGHT') continue;
      this.roll(c, now);
      const len = intervalMs(c.limit);
      const start = Math.floor(reservedAt / len) * len;
      const edge = start + len - reservedAt <= Math.min(1000, len / 10);
      if (c.windowStart === start) {
        c.used = Math.max(0, c.used - weight);
        if (edge) c.nextUsed = Math.max(0, c.nextUsed - weight);
      } else if (c.windowStart === start + len && edge) {
        // Reserved at the old window's end and pre-charged to this one (see inEdge).
        c.used = Math.max(0, c.used - weight);
      } else {
        continue;
      }
      const name = `x-mbx-used-weight-${headerSuffix(c.limit).toLowerCase()}`;
      const header = this.lastHeaders[name];
      const sentAt = this.lastHeaderSentAt[name];
      if (header !== undefined && sentAt !== undefined && Math.floor(sentAt / len) * len === c.windowStart) c.used = Math.max(c.used, header);
    }
  }

  pauseUntil(t: number): void {
    if (t > this.pausedUntil) this.pausedUntil = t;
  }

  private dropStaleInFlight(now: number): void {
    let i = 0;
    while (i < this.inFlight.length && now - this.inFlight[i]!.at > IN_FLIGHT_MAX_MS) i++;
    if (i > 0) this.inFlight.splice(0, i);
  }

  /** The answered request's reservation: the latest one made before it was sent. */
  private settleInFlight(sentAt: number): void {
    for (let i = this.inFlight.length - 1; i >= 0; i--) {
      if (this.inFlight[i]!.at <= sentAt) {
        this.inFlight.splice(i, 1);
        return;
      }
    }
  }

  private inFlightSince(start: number): number {
    let n = 0;
    for (const r of this.inFlight) if (r.at >= start) n += r.orders;
    return n;
  }

  /** Folds the usage headers of a response into the budget; `sentAt` is when we sent it. */
  observeHeaders(headers: Record<string, string | string[] | undefined>, sentAt: number): void {
    const now = this.now();
    this.dropStaleInFlight(now);
    if (Object.keys(headers).some((h) => h.toLowerCase().startsWith('x-mbx-order-count-'))) this.settleInFlight(sentAt);
    for (const [rawName, rawValue] of Object.entries(headers)) {
      const name = rawName.toLowerCase();
      const isWeight = name.startsWith('x-mbx-used-weight-');
      const isOrders = name.startsWith('x-mbx-order-count-');
      if (!isWeight && !isOrders) continue;
      const value = Number(Array.isArray(rawValue) ? rawValue[0] : rawValue);
      if (!Number.isFinite(value)) continue;
      this.lastHeaders[name] = value;
      this.lastHeaderSentAt[name] = sentAt;
      const suffix = name.slice(name.lastIndexOf('-') + 1).toUpperCase();
      for (const c of this.counters) {
        const type = isWeight ? 'REQUEST_WEIGHT' : 'ORDERS';
        if (c.limit.rateLimitType !== type || headerSuffix(c.limit) !== suffix) continue;
        this.roll(c, now);
        // A header from a request sent in an earlier window describes that window, not this one.
        const len = intervalMs(c.limit);
        if (Math.floor(sentAt / len) * len !== c.windowStart) continue;
        if (type === 'ORDERS') {
          // An answer to a request sent before the latest one seen is older news: not lower.
          if (c.headerSentAt !== undefined && c.headerSentAt >= c.windowStart && sentAt < c.headerSentAt) {
            if (value > c.used) c.used = value;
            continue;
          }
          c.headerSentAt = sentAt;
          c.used = value + this.inFlightSince(c.windowStart);
          continue;
        }
        if (value > c.used) c.used = value;
      }
    }
  }

  usage(): RateLimitUsage {
    const now = this.now();
    return {
      usedWeight1m: this.lastHeaders['x-mbx-used-weight-1m'],
      orderCount10s: this.lastHeaders['x-mbx-order-count-10s'],
      orderCount1d: this.lastHeaders['x-mbx-order-count-1d'],
      headers: { ...this.lastHeaders },
      budget: this.counters.map((c) => {
        this.roll(c, now);
        return { ...c.limit, used: c.used, windowStart: c.windowStart };
      }),
      waitedMs: this.waitedMs,
      delayedRequests: this.delayedRequests,
      bannedUntil: this.bannedUntil,
    };
  }
}
