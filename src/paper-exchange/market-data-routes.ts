/**
 * The public market-data endpoints (rest-api.md "Market Data endpoints") and
 * GET /api/v3/myPreventedMatches: Binance's paths, parameters, weights, JSON and error codes.
 * Assumptions where the docs name no error: a `limit` below 1 and an unknown `timeZone` or
 * `windowSize` answer -1130 (invalid data for a parameter); a `limit` above the maximum is
 * served at the maximum (as depth documents for 5000).
 */
import { DEFAULT_BOOK_LEVELS } from './book';
import { klineJson, klinesOf, parseInterval, parseTimeZone, selectKlines } from './klines';
import {
  aggTradeJson,
  aggTradesFrom,
  avgPriceJson,
  bookTickerJson,
  depthJson,
  publicTradeJson,
  rollingTickerJson,
  ticker24hrJson,
  tradesFrom,
  windowSizeMs,
  windowStats,
  type TickerType,
  type Touch,
} from './market-data';
import { knownSymbol, symbolsParam, type Params } from './params';
import type { Ctx, Route } from './routes';
import { preventedMatchJson } from './self-trade-prevention';
import { ZERO } from '../shared/decimal';
import { badRequest, mandatory } from './wire';
import type { Engine } from './engine';

type Add = (method: string, path: string, route: Route) => void;

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

/** Binance's depth weight by limit (rest-api.md: 1-100 5, 101-500 25, 501-1000 50, 1001-5000 250). */
export function depthWeight(limit: number): number {
  if (limit <= 100) return 5;
  if (limit <= 500) return 25;
  if (limit <= 1000) return 50;
  return 250;
}

/** `limit`: default `def`, at most `max`; below 1 is refused. */
function limitParam(p: Params, def: number, max: number): number {
  const v = p.int('limit');
  if (v === undefined) return def;
  if (v < 1) throw badRequest(-1130, "Data sent for parameter 'limit' is not valid.");
  return Math.min(v, max);
}


/** How many symbols a request names; undefined: all. Never throws (weights must not). */
function symbolCount(p: Params): number | undefined {
  try {
    const l = symbolsParam(p);
    return l?.length;
  } catch {
    return 1;
  }
}

const STATUSES = ['TRADING', 'HALT', 'BREAK'] as const;

/**
 * The symbols a ticker request covers, with symbolStatus applied: a single symbol that does not
 * match is an error (-1220), several or all that do not match are left out.
 */
function tickerSymbols(c: Ctx): { symbols: string[]; single: boolean } {
  const wanted = symbolsParam(c.params);
  const status = c.params.enumOf('symbolStatus', STATUSES, -1122, 'Invalid symbolStatus.');
  const single = c.params.has('symbol');
  const names = wanted ?? [...c.engine.symbols.keys()];
  const defs = names.map((s) => c.engine.symbolDef(s));
  if (status === undefined) return { symbols: names, single };
  if (single && defs[0]?.status !== status) throw badRequest(-1220, "The symbol's status does not match the requested symbolStatus.");
  return { symbols: defs.filter((d) => d.status === status).map((d) => d.symbol), single };
}

function tickerType(p: Params): TickerType {
  return p.enumOf('type', ['FULL', 'MINI'] as const, -1139, 'Invalid ticker type.') ?? 'FULL';
}

function touchOf(engine: Engine, symbol: string): Touch {
  const d = engine.depthOf(symbol, 1);
  return { bid: d.bids[0], ask: d.asks[0] };
}

const one = <T>(single: boolean, list: T[]): T | T[] => (single ? (list[0] as T) : list);

export function addMarketDataRoutes(add: Add, acct: (c: Ctx) => { apiKey: string }): void {
  add('GET', '/api/v3/depth', {
    security: 'NONE',
    weight: (p) => depthWeight(Math.min(Math.max(p.int('limit') ?? 100, 1), 5000)),
    handler: (c) => {
      const symbol = c.params.required('symbol');
      const def = c.engine.symbolDef(symbol);
      const limit = limitParam(c.params, 100, DEFAULT_BOOK_LEVELS);
      const status = c.params.enumOf('symbolStatus', STATUSES, -1122, 'Invalid symbolStatus.');
      if (status !== undefined && def.status !== status) throw badRequest(-1220, "The symbol's status does not match the requested symbolStatus.");
      const d = c.engine.depthOf(symbol, limit);
      return depthJson(d.lastUpdateId, d.bids, d.asks);
    },
  });

  add('GET', '/api/v3/trades', {
    security: 'NONE',
    weight: () => 25,
    handler: (c) => {
      const symbol = knownSymbol(c.params, c.engine);
      return tradesFrom(c.engine.marketOf(symbol).tape, undefined, limitParam(c.params, 500, 1000)).map(publicTradeJson);
    },
  });

  // Security NONE since 2025-11-14 (CHANGELOG: "Changed security type from MARKET_DATA to NONE";
  // an X-MBX-APIKEY header is ignored).
  add('GET', '/api/v3/historicalTrades', {
    security: 'NONE',
    weight: () => 25,
    handler: (c) => {
      const symbol = knownSymbol(c.params, c.engine);
      return tradesFrom(c.engine.marketOf(symbol).tape, c.params.int('fromId'), limitParam(c.params, 500, 1000)).map(publicTradeJson);
    },
  });

  add('GET', '/api/v3/aggTrades', {
    security: 'NONE',
    weight: () => 4,
    handler: (c) => {
      const symbol = knownSymbol(c.params, c.engine);
      const fromId = c.params.int('fromId');
      const start = c.params.timeMs('startTime');
      const end = c.params.timeMs('endTime');
      const limit = limitParam(c.params, 500, 1000);
      return aggTradesFrom(c.engine.marketOf(symbol).tape, fromId, start, end, limit).map(aggTradeJson);
    },
  });

  for (const path of ['/api/v3/klines', '/api/v3/uiKlines']) {
    // uiKlines "return modified kline data, optimized for presentation"; the paper exchange's
    // klines have no gaps or outliers to smooth, so both serve the same bars.
    add('GET', path, {
      security: 'NONE',
      weight: () => 2,
      handler: (c) => {
        const symbol = knownSymbol(c.params, c.engine);
        const interval = parseInterval(c.params.str('interval'));
        const start = c.params.timeMs('startTime');
        const end = c.params.timeMs('endTime');
        const offset = parseTimeZone(c.params.str('timeZone'));
        const limit = limitParam(c.params, 500, 1000);
        return selectKlines(klinesOf(c.engine.marketOf(symbol).tape, interval, offset), start, end, limit).map(klineJson);
      },
    });
  }

  add('GET', '/api/v3/avgPrice', {
    security: 'NONE',
    weight: () => 2,
    handler: (c) => {
      const symbol = knownSymbol(c.params, c.engine);
      return avgPriceJson(c.engine.marketOf(symbol).tape, c.now, c.engine.lastPrice(symbol));
    },
  });

  add('GET', '/api/v3/ticker/24hr', {
    security: 'NONE',
    weight: (p) => {
      const n = symbolCount(p);
      if (n === undefined) return 80;
      if (p.has('symbol') || n <= 20) return 2;
      return n <= 100 ? 40 : 80;
    },
    handler: (c) => {
      const { symbols, single } = tickerSymbols(c);
      const type = tickerType(c.params);
      const openTime = c.now - DAY_MS;
      const list = symbols.map((s) => {
        const tape = c.engine.marketOf(s).tape;
        const stats = windowStats(tape, Math.floor(openTime / MINUTE_MS) * MINUTE_MS, c.engine.lastPrice(s));
        return ticker24hrJson(s, stats, type, touchOf(c.engine, s), tape.lastTrade()?.qty ?? ZERO, openTime, c.now);
      });
      return one(single, list);
    },
  });

  add('GET', '/api/v3/ticker', {
    security: 'NONE',
    weight: (p) => Math.min(4 * (symbolCount(p) ?? 1), 200),
    handler: (c) => {
      if (!c.params.has('symbol') && !c.params.has('symbols')) {
        throw badRequest(-1102, "Param 'symbol' or 'symbols' must be sent, but both were empty/null!");
      }
      const { symbols, single } = tickerSymbols(c);
      const type = tickerType(c.params);
      const raw = c.params.str('windowSize') ?? '1d';
      const windowMs = windowSizeMs(raw);
      if (windowMs === undefined) throw badRequest(-1130, "Data sent for parameter 'windowSize' is not valid.");
      // rest-api.md: openTime always starts on a minute; closeTime is the request's time.
      const openTime = Math.floor((c.now - windowMs) / MINUTE_MS) * MINUTE_MS;
      const list = symbols.map((s) => rollingTickerJson(s, windowStats(c.engine.marketOf(s).tape, openTime, c.engine.lastPrice(s)), type, openTime, c.now));
      return one(single, list);
    },
  });

  add('GET', '/api/v3/ticker/bookTicker', {
    security: 'NONE',
    weight: (p) => (p.has('symbol') ? 2 : 4),
    handler: (c) => {
      const { symbols, single } = tickerSymbols(c);
      return one(single, symbols.map((s) => bookTickerJson(s, touchOf(c.engine, s))));
    },
  });

  add('GET', '/api/v3/myPreventedMatches', {
    security: 'USER_DATA',
    weight: (p) => (p.has('orderId') && !p.has('preventedMatchId') ? 20 : 2),
    handler: (c) => {
      const symbol = knownSymbol(c.params, c.engine);
      const byId = c.params.int('preventedMatchId');
      const orderId = c.params.int('orderId');
      const from = c.params.int('fromPreventedMatchId');
      if (byId === undefined && orderId === undefined) throw badRequest(-1102, "Param 'preventedMatchId' or 'orderId' must be sent, but both were empty/null!");
      if (byId !== undefined && orderId !== undefined) throw badRequest(-1128, 'Combination of optional parameters invalid.');
      if (from !== undefined && orderId === undefined) throw mandatory('orderId');
      let list = c.engine.preventedMatchesOf(acct(c).apiKey, symbol);
      if (byId !== undefined) list = list.filter((m) => m.preventedMatchId === byId);
      else {
        list = list.filter((m) => m.takerOrderId === orderId || m.makerOrderId === orderId);
        if (from !== undefined) list = list.filter((m) => m.preventedMatchId >= from);
        list = list.slice(0, limitParam(c.params, 500, 1000));
      }
      return list.map(preventedMatchJson);
    },
  });
}
