/**
 * A paper exchange speaking Binance Spot's REST (and WebSocket API) wire protocol, for tests and
 * for running the service without real money. Start it in-process with startPaperExchange() or
 * standalone with `npm run exchange`.
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from '../logging';
import type { RateLimit } from '../exchange/schemas';
import { dec } from '../shared/decimal';
import { Engine, isOpen, type AccountConfig, type EngineLimits, type InternalOrder, type InternalTrade } from './engine';
import { FaultInjector } from './faults';
import { tradeFields } from './format';
import type { FeeModelFactory } from './fees';
import { Limiter, PAPER_RATE_LIMITS } from './limits';
import { DEFAULT_SYMBOLS, fmt8, readKlineCloses, type SymbolDef } from './market';
import { PaperHttp } from './server';
import { attachWsApi, type WsControls } from './ws-api';

export { FaultInjector, FaultInputSchema, FillInputSchema } from './faults';
export type { Fault, FaultInput, FillInput, Landing } from './faults';
export { BinanceFeeModel, binanceFees } from './fees';
export type { Commission, FeeFill, FeeMarket, FeeModel, FeeModelFactory, Liquidity } from './fees';
export type { AccountConfig, EngineLimits } from './engine';
export { EXCHANGE_MAX_NUM_ORDERS } from './engine';
export { DEFAULT_SYMBOLS } from './market';
export type { WsControls } from './ws-api';
export type { SymbolDef } from './market';

/**
 * The documented test key pair used when no accounts are configured. It only ever unlocks the
 * paper exchange; it is printed by key id, never with the secret.
 */
export const PAPER_DEFAULT_API_KEY = 'paperTestKey000000000000000000000000000000000000000000000000001';
export const PAPER_DEFAULT_API_SECRET = 'paperTestSecret00000000000000000000000000000000000000000000001';

export interface PaperExchangeOptions {
  /** 0 (default) = a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Seed of the price walk, default 1. */
  seed?: number;
  accounts?: AccountConfig[];
  /** Price walk step in ms; 0 disables the walk (prices move only by setPrice). Default 1000. */
  priceStepMs?: number;
  logger?: Logger;
  /** Symbols to list, default BTCUSDT, ETHUSDT, BNBUSDT, ETHBTC. */
  symbols?: SymbolDef[];
  /** Binance rate limits to enforce and publish in exchangeInfo. */
  rateLimits?: RateLimit[];
  /** Requests sent while rate limited before a 418 ban, default 5. */
  requestsBeforeBan?: number;
  /** Ban duration in ms, default 120000. */
  banMs?: number;
  /** Replay close prices from kline files (JSON arrays of Binance klines) instead of walking. */
  klineFiles?: Record<string, string>;
  /** WebSocket API server ping interval, default 20000 (Binance's). */
  wsPingMs?: number;
  /**
   * Open-order limits. Default Binance's: 1000 open orders per account (the
   * EXCHANGE_MAX_NUM_ORDERS exchange filter) and each symbol's MAX_NUM_ORDERS filter (200 for the
   * default symbols). `maxOpenOrdersPerAccount` replaces the former, `maxNumOrdersPerSymbol` the
   * latter for every symbol; both are enforced with Binance's errors and published in
   * exchangeInfo, so a client checking filters itself agrees. Raise them only for load tests
   * (e.g. thousands of resting orders on one account, which Binance would refuse).
   */
  limits?: EngineLimits;
  /**
   * What fills cost: builds the fee model over the exchange's market view (fees.ts). Default
   * Binance's rule (each account's commissionRate, maker and taker alike; BNB discount).
   */
  feeModel?: FeeModelFactory;
  /**
   * Token the admin API (/admin/*: prices, faults, fills) requires, as `Authorization: Bearer
   * <token>`. Whenever set it is required, on any host. Required to bind beyond loopback: the
   * admin API moves prices and breaks the exchange, so anyone who can reach the port could.
   */
  adminToken?: string;
}

/** Hosts that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Shortest admin token accepted: long enough that guessing it over the network is hopeless. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

/**
 * The start-up rule for the admin API: a host beyond loopback (0.0.0.0, ::, a LAN address)
 * needs an admin token; a token, when given, must be at least MIN_ADMIN_TOKEN_LENGTH
 * characters. Throws with the setting to fix.
 */
export function checkAdminBinding(host: string, adminToken: string | undefined): void {
  if (adminToken !== undefined && adminToken.length < MIN_ADMIN_TOKEN_LENGTH) {
    throw new Error(`adminToken (PAPER_ADMIN_TOKEN) must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters, got ${adminToken.length}`);
  }
  if (adminToken === undefined && !isLoopbackHost(host)) {
    throw new Error(
      `refusing to bind the paper exchange to ${host} without an admin token: its /admin/* API (prices, faults, fills) would be open to the network; set PAPER_ADMIN_TOKEN (adminToken) or bind to 127.0.0.1`,
    );
  }
}

export interface PaperOrder {
  account: string;
  symbol: string;
  orderId: number;
  orderListId: number;
  clientOrderId: string;
  side: 'BUY' | 'SELL';
  type: string;
  timeInForce: string;
  price: string;
  origQty: string;
  executedQty: string;
  cummulativeQuoteQty: string;
  origQuoteOrderQty: string;
  stopPrice: string | undefined;
  status: string;
  isWorking: boolean;
  /** When the order went on the book (-1: not yet, e.g. an OTO's pending order or an untriggered stop). */
  workingTime: number;
  time: number;
  updateTime: number;
  expiryReason: string | undefined;
}

export interface PaperTrade {
  account: string;
  symbol: string;
  id: number;
  orderId: number;
  orderListId: number;
  price: string;
  qty: string;
  quoteQty: string;
  commission: string;
  commissionAsset: string;
  time: number;
  isBuyer: boolean;
  isMaker: boolean;
}

export interface PaperExchange {
  /** http://127.0.0.1:PORT */
  url: string;
  /** ws://127.0.0.1:PORT/ws-api/v3 */
  wsUrl: string;
  setPrice(symbol: string, price: string): void;
  price(symbol: string): string;
  pausePriceWalk(paused: boolean): void;
  findOrder(symbol: string, clientOrderId: string): PaperOrder | undefined;
  orders(symbol?: string): PaperOrder[];
  trades(symbol?: string): PaperTrade[];
  balances(apiKey?: string): Record<string, { free: string; locked: string }>;
  faults: FaultInjector;
  /** WebSocket API test controls (drop connections, expire subscriptions, freeze). */
  ws: WsControls;
  /** 429/418 responses sent so far. */
  rateLimitStats(): { status429: number; status418: number };
  /** REST requests served so far, per `METHOD /path` (admin paths excluded). */
  requestCounts(): Record<string, number>;
  close(): Promise<void>;
}

function orderView(o: InternalOrder): PaperOrder {
  return {
    account: o.account,
    symbol: o.symbol,
    orderId: o.orderId,
    orderListId: o.orderListId,
    clientOrderId: o.clientOrderId,
    side: o.side,
    type: o.type,
    timeInForce: o.timeInForce,
    price: fmt8(o.price),
    origQty: fmt8(o.origQty),
    executedQty: fmt8(o.executedQty),
    cummulativeQuoteQty: fmt8(o.cummulativeQuoteQty),
    origQuoteOrderQty: fmt8(o.origQuoteOrderQty),
    stopPrice: o.stopPrice === undefined ? undefined : fmt8(o.stopPrice),
    status: o.status,
    isWorking: o.isWorking,
    workingTime: o.workingTime,
    time: o.time,
    updateTime: o.updateTime,
    expiryReason: o.expiryReason,
  };
}

function tradeView(t: InternalTrade): PaperTrade {
  return { account: t.account, ...tradeFields(t) };
}

export async function startPaperExchange(opts: PaperExchangeOptions = {}): Promise<PaperExchange> {
  const bindHost = opts.host ?? '127.0.0.1';
  checkAdminBinding(bindHost, opts.adminToken);
  const faults = new FaultInjector();
  const now = (): number => Date.now() + faults.clockSkewMs;
  const accounts = opts.accounts ?? [{ apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET }];
  const engine = new Engine(opts.symbols ?? DEFAULT_SYMBOLS, accounts, now, opts.seed ?? 1, opts.limits, opts.feeModel);
  for (const [symbol, file] of Object.entries(opts.klineFiles ?? {})) {
    const path = engine.paths.get(symbol);
    if (!path) throw new Error(`klineFiles: unknown symbol ${symbol}`);
    path.loadKlines(readKlineCloses(file));
  }
  const rateLimits = opts.rateLimits ?? PAPER_RATE_LIMITS;
  const limiter = new Limiter({ rateLimits, requestsBeforeBan: opts.requestsBeforeBan ?? 5, banMs: opts.banMs ?? 120_000 });
  const defaultKey = accounts[0]?.apiKey;

  const http = new PaperHttp({
    engine,
    limiter,
    faults,
    rateLimits,
    now,
    logger: opts.logger,
    adminToken: opts.adminToken,
    state: () => ({
      prices: Object.fromEntries([...engine.paths].map(([s, p]) => [s, fmt8(p.price)])),
      openOrders: engine.ordersOf().filter(isOpen).map(orderView),
      orderCount: engine.ordersOf().length,
      tradeCount: engine.tradesOf().length,
      accounts: [...engine.accounts.keys()].map((k) => ({ apiKey: k, balances: engine.balancesView(k) })),
      faults: faults.list(),
      rateLimitStats: limiter.stats,
      // Read at request time (the WebSocket API is attached once the server listens).
      userDataStream: ws.stats(),
    }),
    // Every order and trade: what an out-of-process test checks "one order per intent" against.
    ledger: () => ({
      orders: engine.ordersOf().map(orderView),
      trades: engine.tradesOf().map(tradeView),
    }),
  });

  await new Promise<void>((resolve, reject) => {
    http.server.once('error', reject);
    http.server.listen(opts.port ?? 0, bindHost, () => resolve());
  });
  const ws = attachWsApi(http.server, engine, limiter, now, opts.wsPingMs ?? 20_000, opts.logger, faults);
  const addr = http.server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;

  let paused = false;
  const stepMs = opts.priceStepMs ?? 1000;
  const timer = stepMs > 0 ? setInterval(() => (paused ? undefined : engine.stepPrices()), stepMs) : undefined;
  timer?.unref();

  let closed = false;
  return {
    url: `http://${host}:${addr.port}`,
    wsUrl: `ws://${host}:${addr.port}/ws-api/v3`,
    setPrice: (symbol, price) => engine.setPrice(symbol, dec(price)),
    price: (symbol) => fmt8(engine.lastPrice(symbol)),
    pausePriceWalk: (p) => {
      paused = p;
    },
    findOrder: (symbol, clientOrderId) => {
      const list = engine.ordersOf(symbol).filter((o) => o.clientOrderId === clientOrderId);
      const o = list[list.length - 1];
      return o ? orderView(o) : undefined;
    },
    orders: (symbol) => engine.ordersOf(symbol).map(orderView),
    trades: (symbol) => engine.tradesOf(symbol).map(tradeView),
    balances: (apiKey) => {
      const key = apiKey ?? defaultKey;
      if (key === undefined) throw new Error('no accounts');
      return engine.balancesView(key);
    },
    faults,
    ws,
    rateLimitStats: () => ({ ...limiter.stats }),
    requestCounts: () => Object.fromEntries(http.requestCounts),
    close: async () => {
      if (closed) return;
      closed = true;
      if (timer) clearInterval(timer);
      ws.close();
      await new Promise<void>((resolve) => {
        http.server.close(() => resolve());
        http.server.closeIdleConnections();
        http.destroySockets();
      });
    },
  };
}
