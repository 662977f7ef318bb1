/**
 * The public market-data endpoints against the paper exchange: Binance's fields, the values the
 * tape and the book imply, each request's weight as X-MBX-USED-WEIGHT-1M shows it, and Binance's
 * error codes for bad parameters.
 */
import { PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET, startPaperExchange, type PaperExchange } from '../../src/paper-exchange';
import { dec } from '../../src/shared/decimal';
import { signed } from './book-helpers';
import { awayFromMinuteEdge, stillInMinute } from './minute-window';

type Json = Record<string, unknown>;
type Row = [string, string];

const PRICES = ['50000.00', '50100.00', '49900.00', '50050.00'];

describe('market data endpoints', () => {
  let ex: PaperExchange;
  let lastWeight = 0;
  let minute = 0;

  /** A GET and the weight it cost (each test keeps inside one minute: see minute-window.ts). */
  async function get(path: string): Promise<{ status: number; json: unknown; cost: number }> {
    const r = await fetch(`${ex.url}${path}`);
    const used = Number(r.headers.get('x-mbx-used-weight-1m'));
    stillInMinute(minute);
    const cost = used - lastWeight;
    lastWeight = used;
    return { status: r.status, json: await r.json(), cost };
  }
  const ok = async (path: string): Promise<{ json: unknown; cost: number }> => {
    const r = await get(path);
    if (r.status !== 200) throw new Error(`${path}: ${r.status} ${JSON.stringify(r.json)}`);
    return r;
  };
  const err = async (path: string): Promise<{ status: number; code: unknown; msg: unknown }> => {
    const r = await get(path);
    const j = r.json as Json;
    return { status: r.status, code: j['code'], msg: j['msg'] };
  };

  /** Four price steps (four synthetic trades) and one user MARKET BUY that walks two levels. */
  let buy: Json;
  beforeEach(async () => {
    minute = await awayFromMinuteEdge();
    ex = await startPaperExchange({ priceStepMs: 0 });
    lastWeight = 0;
    for (const p of PRICES) ex.setPrice('BTCUSDT', p);
    const top = (await (await fetch(`${ex.url}/api/v3/depth?symbol=BTCUSDT&limit=1`)).json()) as { asks: Row[] };
    const r = await signed(ex.url, 'POST', '/api/v3/order', { symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: dec(top.asks[0]![1]).plus('0.01').toFixed() }, PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET);
    expect(r.status).toBe(200);
    buy = r.json;
    lastWeight = r.weight;
  });
  afterEach(async () => {
    await ex.close();
  });

  test('GET /api/v3/depth: limit default 100, weight by limit (5/25/50/250), at most 5000 levels', async () => {
    const d = await ok('/api/v3/depth?symbol=BTCUSDT');
    const body = d.json as { lastUpdateId: number; bids: Row[]; asks: Row[] };
    expect(Object.keys(body)).toEqual(['lastUpdateId', 'bids', 'asks']);
    expect(body.bids).toHaveLength(100);
    expect(body.asks).toHaveLength(100);
    expect(typeof body.lastUpdateId).toBe('number');
    expect(body.asks[0]![0]).toMatch(/^\d+\.\d{8}$/);
    expect(d.cost).toBe(5);
    for (const [limit, weight] of [[100, 5], [101, 25], [500, 25], [501, 50], [1000, 50], [1001, 250], [5000, 250]] as const) {
      const r = await ok(`/api/v3/depth?symbol=BTCUSDT&limit=${limit}`);
      expect([limit, r.cost, (r.json as { bids: Row[] }).bids.length]).toEqual([limit, weight, limit]);
    }
    const over = await ok('/api/v3/depth?symbol=BTCUSDT&limit=6000');
    // 5000 bids; 4999 asks, because the BUY took the best ask level (gone until the next price step).
    expect((over.json as { bids: Row[] }).bids).toHaveLength(5000);
    expect((over.json as { asks: Row[] }).asks).toHaveLength(4999);
    expect(over.cost).toBe(250);
    expect(await err('/api/v3/depth?symbol=NOPE')).toMatchObject({ status: 400, code: -1121, msg: 'Invalid symbol.' });
    expect(await err('/api/v3/depth')).toMatchObject({ code: -1102, msg: "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed." });
    expect((await err('/api/v3/depth?symbol=BTCUSDT&limit=0')).code).toBe(-1130);
    expect((await err('/api/v3/depth?symbol=BTCUSDT&limit=abc')).code).toBe(-1100);
    expect((await err('/api/v3/depth?symbol=BTCUSDT&symbolStatus=HALT')).code).toBe(-1220);
    expect((await err('/api/v3/depth?symbol=BTCUSDT&symbolStatus=NOPE')).code).toBe(-1122);
  });

  test('GET /api/v3/trades and /historicalTrades: the tape, user fills included, weight 25', async () => {
    const r = await ok('/api/v3/trades?symbol=BTCUSDT');
    expect(r.cost).toBe(25);
    const trades = r.json as Json[];
    const fills = buy['fills'] as { price: string; qty: string; tradeId: number }[];
    expect(fills).toHaveLength(2);
    // Four price steps, then the BUY's two fills; ids consecutive, shared with the account's trades.
    expect(trades.map((t) => t['price'])).toEqual([...PRICES.map((p) => dec(p).toFixed(8)), fills[0]!.price, fills[1]!.price]);
    expect(trades.map((t) => t['id'])).toEqual([1, 2, 3, 4, 5, 6]);
    expect(trades.slice(4).map((t) => [t['id'], t['qty']])).toEqual(fills.map((f) => [f.tradeId, f.qty]));
    for (const t of trades) {
      expect(Object.keys(t)).toEqual(['id', 'price', 'qty', 'quoteQty', 'time', 'isBuyerMaker', 'isBestMatch']);
      expect(t['quoteQty']).toBe(dec(t['price'] as string).mul(t['qty'] as string).toFixed(8));
    }
    // A taker BUY: the seller made the market.
    expect(trades.slice(4).map((t) => t['isBuyerMaker'])).toEqual([false, false]);
    // Up from 50000 to 50100: the buyer took; down to 49900: the seller took.
    expect(trades[1]!['isBuyerMaker']).toBe(false);
    expect(trades[2]!['isBuyerMaker']).toBe(true);
    expect(((await ok('/api/v3/trades?symbol=BTCUSDT&limit=2')).json as Json[]).map((t) => t['id'])).toEqual([5, 6]);

    // historicalTrades: security NONE since 2025-11-14, no API key needed.
    const hist = await ok('/api/v3/historicalTrades?symbol=BTCUSDT&fromId=2&limit=3');
    expect(hist.cost).toBe(25);
    expect((hist.json as Json[]).map((t) => t['id'])).toEqual([2, 3, 4]);
    expect((await err('/api/v3/trades?symbol=NOPE')).code).toBe(-1121);
    expect((await err('/api/v3/trades?symbol=BTCUSDT&limit=0')).code).toBe(-1130);
  });

  test('GET /api/v3/aggTrades: Binance\'s letters, fromId, startTime/endTime, weight 4', async () => {
    const r = await ok('/api/v3/aggTrades?symbol=BTCUSDT');
    expect(r.cost).toBe(4);
    const aggs = r.json as Json[];
    expect(aggs).toHaveLength(6); // two fills at two prices do not aggregate
    expect(Object.keys(aggs[0]!)).toEqual(['a', 'p', 'q', 'f', 'l', 'T', 'm', 'M']);
    expect(aggs.map((a) => [a['a'], a['f'], a['l']])).toEqual([1, 2, 3, 4, 5, 6].map((i) => [i, i, i]));
    expect(((await ok('/api/v3/aggTrades?symbol=BTCUSDT&fromId=5')).json as Json[]).map((a) => a['a'])).toEqual([5, 6]);
    const t = aggs[0]!['T'] as number;
    const inRange = (await ok(`/api/v3/aggTrades?symbol=BTCUSDT&startTime=${t}&endTime=${t + 60_000}&limit=2`)).json as Json[];
    expect(inRange.map((a) => a['a'])).toEqual([1, 2]);
    expect(((await ok(`/api/v3/aggTrades?symbol=BTCUSDT&startTime=${Date.now() + 60_000}`)).json as Json[])).toEqual([]);
  });

  test('GET /api/v3/klines and /uiKlines: Binance\'s 12-field arrays from the tape, weight 2; bad interval -1120', async () => {
    const trades = (await ok('/api/v3/trades?symbol=BTCUSDT')).json as Json[];
    const prices = trades.map((t) => dec(t['price'] as string));
    const volume = trades.reduce((a, t) => a.plus(t['qty'] as string), dec(0));
    const quote = trades.reduce((a, t) => a.plus(t['quoteQty'] as string), dec(0));
    const takerBuy = trades.filter((t) => t['isBuyerMaker'] === false).reduce((a, t) => a.plus(t['qty'] as string), dec(0));
    for (const path of ['/api/v3/klines', '/api/v3/uiKlines']) {
      const r = await ok(`${path}?symbol=BTCUSDT&interval=1d`);
      expect(r.cost).toBe(2);
      const [k] = r.json as unknown[][];
      expect(k).toHaveLength(12);
      const openTime = k![0] as number;
      expect(openTime % 86_400_000).toBe(0);
      expect(k![6]).toBe(openTime + 86_400_000 - 1);
      expect(k!.slice(1, 6)).toEqual([prices[0]!, prices.reduce((a, b) => (b.gt(a) ? b : a)), prices.reduce((a, b) => (b.lt(a) ? b : a)), prices[prices.length - 1]!, volume].map((d) => d.toFixed(8)));
      expect(k!.slice(7)).toEqual([quote.toFixed(8), 6, takerBuy.toFixed(8), takerBuy.eq(0) ? '0.00000000' : expect.any(String), '0']);
    }
    // 1m and 1s klines count the same six trades, however the clock split them.
    for (const interval of ['1s', '1m', '1h', '1w', '1M']) {
      const ks = (await ok(`/api/v3/klines?symbol=BTCUSDT&interval=${interval}`)).json as unknown[][];
      expect([interval, ks.reduce((a, k) => a + (k[8] as number), 0)]).toEqual([interval, 6]);
    }
    // timeZone shifts the day's boundaries: at +8 a day opens at 16:00 UTC.
    const [tz] = (await ok('/api/v3/klines?symbol=BTCUSDT&interval=1d&timeZone=8')).json as unknown[][];
    expect(((tz![0] as number) + 8 * 3_600_000) % 86_400_000).toBe(0);
    const [monday] = (await ok('/api/v3/klines?symbol=BTCUSDT&interval=1w')).json as unknown[][];
    expect(new Date(monday![0] as number).getUTCDay()).toBe(1);
    expect(((await ok(`/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=${Date.now() + 120_000}`)).json as unknown[])).toEqual([]);

    expect(await err('/api/v3/klines?symbol=BTCUSDT&interval=2m')).toMatchObject({ status: 400, code: -1120, msg: 'Invalid interval.' });
    expect((await err('/api/v3/klines?symbol=BTCUSDT')).code).toBe(-1102);
    expect((await err('/api/v3/uiKlines?symbol=BTCUSDT&interval=1m&timeZone=15')).code).toBe(-1130);
    expect((await err('/api/v3/klines?symbol=NOPE&interval=1m')).code).toBe(-1121);
  });

  test('GET /api/v3/avgPrice: the volume-weighted price of the last 5 minutes, weight 2', async () => {
    const trades = (await ok('/api/v3/trades?symbol=BTCUSDT')).json as Json[];
    const qty = trades.reduce((a, t) => a.plus(t['qty'] as string), dec(0));
    const quote = trades.reduce((a, t) => a.plus(t['quoteQty'] as string), dec(0));
    const r = await ok('/api/v3/avgPrice?symbol=BTCUSDT');
    expect(r.cost).toBe(2);
    expect(r.json).toEqual({ mins: 5, price: quote.div(qty).toFixed(8, 1), closeTime: trades[trades.length - 1]!['time'] });
    // A symbol that has not traded: the last price.
    expect(((await ok('/api/v3/avgPrice?symbol=ETHBTC')).json as Json)['price']).toBe('0.05000000');
  });

  test('GET /api/v3/ticker/24hr: FULL and MINI, one, several or all symbols, weights 2/2/80', async () => {
    const trades = (await ok('/api/v3/trades?symbol=BTCUSDT')).json as Json[];
    const book = (await ok('/api/v3/ticker/bookTicker?symbol=BTCUSDT')).json as Json;
    const r = await ok('/api/v3/ticker/24hr?symbol=BTCUSDT');
    expect(r.cost).toBe(2);
    const t = r.json as Json;
    expect(Object.keys(t)).toEqual([
      'symbol', 'priceChange', 'priceChangePercent', 'weightedAvgPrice', 'prevClosePrice', 'lastPrice', 'lastQty', 'bidPrice', 'bidQty', 'askPrice', 'askQty',
      'openPrice', 'highPrice', 'lowPrice', 'volume', 'quoteVolume', 'openTime', 'closeTime', 'firstId', 'lastId', 'count',
    ]);
    const last = trades[5]!;
    const open = dec('50000');
    expect(t).toMatchObject({
      symbol: 'BTCUSDT',
      openPrice: '50000.00000000',
      highPrice: '50100.00000000',
      lowPrice: '49900.00000000',
      lastPrice: last['price'],
      lastQty: last['qty'],
      priceChange: dec(last['price'] as string).minus(open).toFixed(8),
      priceChangePercent: dec(last['price'] as string).minus(open).div(open).mul(100).toFixed(3),
      bidPrice: book['bidPrice'],
      askPrice: book['askPrice'],
      firstId: 1,
      lastId: 6,
      count: 6,
    });
    expect((t['closeTime'] as number) - (t['openTime'] as number)).toBe(86_400_000);

    const mini = (await ok('/api/v3/ticker/24hr?symbol=BTCUSDT&type=MINI')).json as Json;
    expect(Object.keys(mini)).toEqual(['symbol', 'openPrice', 'highPrice', 'lowPrice', 'lastPrice', 'volume', 'quoteVolume', 'openTime', 'closeTime', 'firstId', 'lastId', 'count']);
    const two = await ok(`/api/v3/ticker/24hr?symbols=${encodeURIComponent('["BTCUSDT","ETHUSDT"]')}`);
    expect(two.cost).toBe(2);
    expect((two.json as Json[]).map((x) => [x['symbol'], x['count']])).toEqual([['BTCUSDT', 6], ['ETHUSDT', 0]]);
    // ETHUSDT never traded: the last price everywhere, ids -1.
    expect((two.json as Json[])[1]).toMatchObject({ openPrice: '3000.00000000', lastPrice: '3000.00000000', volume: '0.00000000', firstId: -1, lastId: -1 });
    const all = await ok('/api/v3/ticker/24hr');
    expect(all.cost).toBe(80);
    expect((all.json as Json[]).map((x) => x['symbol'])).toEqual(['BTCUSDT', 'ETHUSDT', 'BNBUSDT', 'ETHBTC']);

    expect(await err('/api/v3/ticker/24hr?symbol=BTCUSDT&type=BIG')).toMatchObject({ code: -1139, msg: 'Invalid ticker type.' });
    expect((await err(`/api/v3/ticker/24hr?symbol=BTCUSDT&symbols=${encodeURIComponent('["ETHUSDT"]')}`)).code).toBe(-1128);
    expect((await err(`/api/v3/ticker/24hr?symbols=${encodeURIComponent('["BTCUSDT","NOPE"]')}`)).code).toBe(-1121);
  });

  test('GET /api/v3/ticker/bookTicker: the depth\'s best levels, one / several / all, weights 2/4/4', async () => {
    const d = (await ok('/api/v3/depth?symbol=BTCUSDT&limit=1')).json as { bids: Row[]; asks: Row[] };
    const one = await ok('/api/v3/ticker/bookTicker?symbol=BTCUSDT');
    expect(one.cost).toBe(2);
    expect(one.json).toEqual({ symbol: 'BTCUSDT', bidPrice: d.bids[0]![0], bidQty: d.bids[0]![1], askPrice: d.asks[0]![0], askQty: d.asks[0]![1] });
    const some = await ok(`/api/v3/ticker/bookTicker?symbols=${encodeURIComponent('["ETHBTC","BTCUSDT"]')}`);
    expect(some.cost).toBe(4);
    expect((some.json as Json[]).map((x) => x['symbol'])).toEqual(['ETHBTC', 'BTCUSDT']);
    const all = await ok('/api/v3/ticker/bookTicker');
    expect(all.cost).toBe(4);
    for (const x of all.json as Json[]) expect(dec(x['bidPrice'] as string).lt(x['askPrice'] as string)).toBe(true);
  });

  test('GET /api/v3/ticker (rolling window): windowSize default 1d, openTime on a minute, weight 4 per symbol', async () => {
    const r = await ok('/api/v3/ticker?symbol=BTCUSDT');
    expect(r.cost).toBe(4);
    const t = r.json as Json;
    expect(Object.keys(t)).toEqual(['symbol', 'priceChange', 'priceChangePercent', 'weightedAvgPrice', 'openPrice', 'highPrice', 'lowPrice', 'lastPrice', 'volume', 'quoteVolume', 'openTime', 'closeTime', 'firstId', 'lastId', 'count']);
    expect((t['openTime'] as number) % 60_000).toBe(0);
    expect(t['closeTime'] as number).toBeGreaterThan((t['openTime'] as number) + 86_400_000 - 1);
    expect(t).toMatchObject({ openPrice: '50000.00000000', count: 6, firstId: 1, lastId: 6 });
    const w = await ok(`/api/v3/ticker?symbols=${encodeURIComponent('["BTCUSDT","ETHUSDT","BNBUSDT"]')}&windowSize=15m&type=MINI`);
    expect(w.cost).toBe(12);
    expect((w.json as Json[]).map((x) => [x['symbol'], x['count']])).toEqual([['BTCUSDT', 6], ['ETHUSDT', 0], ['BNBUSDT', 0]]);
    expect(Object.keys((w.json as Json[])[0]!)).not.toContain('priceChange');
    for (const ws of ['7d', '23h', '59m']) expect(((await ok(`/api/v3/ticker?symbol=BTCUSDT&windowSize=${ws}`)).json as Json)['count']).toBe(6);
    expect((await err('/api/v3/ticker?symbol=BTCUSDT&windowSize=8d')).code).toBe(-1130);
    expect((await err('/api/v3/ticker?symbol=BTCUSDT&windowSize=1d2h')).code).toBe(-1130);
    expect(await err('/api/v3/ticker')).toMatchObject({ code: -1102, msg: "Param 'symbol' or 'symbols' must be sent, but both were empty/null!" });
  });

  test('exchangeInfo advertises no icebergs and the STP modes the order routes accept', async () => {
    const info = (await ok('/api/v3/exchangeInfo?symbol=BTCUSDT')).json as { symbols: Json[] };
    expect(info.symbols[0]).toMatchObject({
      icebergAllowed: false,
      defaultSelfTradePreventionMode: 'EXPIRE_MAKER',
      allowedSelfTradePreventionModes: ['NONE', 'EXPIRE_TAKER', 'EXPIRE_MAKER', 'EXPIRE_BOTH', 'DECREMENT', 'TRANSFER'],
    });
  });
});
