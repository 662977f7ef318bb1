/**
 * Mark prices for unrealized PnL and exposure: the exchange's last price (GET ticker/price,
 * weight 2 per symbol), cached for `ttlMs` so reports, metrics and reconciliation asking for
 * the same symbols within a few seconds cost one request per symbol, not one per caller.
 * Concurrent requests for one symbol share a single call. Symbols the exchange does not list
 * (e.g. a valuation pair that does not exist) are skipped rather than sent.
 *
 * The same cache serves order checks (prepareOrder's notional, the risk guard's mark) through
 * `forTrading`, with a tighter age limit (`tradingMaxAgeMs`, 2 s): a burst of 100 MARKET orders
 * then costs one ticker request per symbol, not one per order (issue 12), and the fills of our
 * own orders (`set`, from placeOrder's response) keep it fresh without any request at all.
 */
import type { BinanceSpotClient } from '../exchange';

export type MarkPriceSource = Pick<BinanceSpotClient, 'tickerPrice' | 'cachedExchangeInfo'>;

export interface MarkPriceCacheOptions {
  /** Default 10 s. */
  ttlMs?: number;
  /** Oldest mark `forTrading` accepts; default 2 s. */
  tradingMaxAgeMs?: number;
  /** At most this many symbols fetched per get() call (the rest keep their stale value); default 50. */
  maxFetchPerCall?: number;
  now?: () => number;
}

export class MarkPriceCache {
  private readonly prices = new Map<string, { price: string; at: number }>();
  private readonly inflight = new Map<string, Promise<string>>();
  private readonly ttlMs: number;
  private readonly maxFetch: number;
  private readonly now: () => number;
  /** Oldest mark an order check accepts (ms). Settable: tests on a loaded machine lift it. */
  tradingMaxAgeMs: number;

  constructor(
    private readonly exchange: MarkPriceSource,
    o: MarkPriceCacheOptions = {},
  ) {
    this.ttlMs = o.ttlMs ?? 10_000;
    this.maxFetch = o.maxFetchPerCall ?? 50;
    this.now = o.now ?? Date.now;
    this.tradingMaxAgeMs = o.tradingMaxAgeMs ?? 2000;
  }

  /**
   * The mark an order is checked against: cached if at most `tradingMaxAgeMs` old, else one
   * ticker request that every concurrent caller for the symbol shares. Exchange errors reject.
   * The symbol is not checked against exchangeInfo here (the caller has its rules already).
   */
  async forTrading(symbol: string): Promise<string> {
    const p = this.prices.get(symbol);
    if (p !== undefined && this.now() - p.at <= this.tradingMaxAgeMs) return p.price;
    return this.fetch(symbol);
  }

  /** Forgets every price (tests; nothing else needs it). */
  clear(): void {
    this.prices.clear();
  }

  /** Prices by symbol for those that could be had (fresh, or stale when over the fetch cap). */
  async get(symbols: readonly string[]): Promise<Record<string, string>> {
    const unique = [...new Set(symbols)];
    const listed = new Set((await this.exchange.cachedExchangeInfo()).symbols.map((s) => s.symbol));
    const stale = unique.filter((s) => listed.has(s) && !this.fresh(s)).slice(0, this.maxFetch);
    // Sequential: a report over many symbols must not burst the request budget.
    for (const s of stale) await this.fetch(s);
    const out: Record<string, string> = {};
    for (const s of unique) {
      const p = this.prices.get(s);
      if (p) out[s] = p.price;
    }
    return out;
  }

  /** Whatever is cached, however old; no request. */
  peek(): Record<string, string> {
    return Object.fromEntries([...this.prices].map(([s, p]) => [s, p.price]));
  }

  /** Feeds a price observed elsewhere (e.g. a fill) into the cache. */
  set(symbol: string, price: string): void {
    this.prices.set(symbol, { price, at: this.now() });
  }

  private fresh(symbol: string): boolean {
    const p = this.prices.get(symbol);
    return p !== undefined && this.now() - p.at <= this.ttlMs;
  }

  private fetch(symbol: string): Promise<string> {
    let p = this.inflight.get(symbol);
    if (!p) {
      p = this.exchange
        .tickerPrice(symbol)
        .then((t) => {
          this.prices.set(symbol, { price: t.price, at: this.now() });
          return t.price;
        })
        .finally(() => this.inflight.delete(symbol));
      this.inflight.set(symbol, p);
    }
    return p;
  }
}
