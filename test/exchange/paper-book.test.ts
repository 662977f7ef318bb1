/**
 * The paper exchange's book (book.ts): a spread around the price, seeded sizes re-drawn every
 * price step, and one model behind both GET /api/v3/depth and the matching engine's walk, so
 * the snapshot is exactly what orders can take.
 */
import { DEFAULT_SYMBOLS, startPaperExchange, type PaperExchange } from '../../src/paper-exchange';
import { dec } from '../../src/shared/decimal';
import { depth, qtyWithin, signed, type Depth } from './book-helpers';
import { cid, harness, type Harness } from './helpers';

const KEY = 'bookKey';
const SECRET = 'bookSecret';
const RICH = [{ apiKey: KEY, apiSecret: SECRET, balances: { USDT: '100000000', BTC: '1000', ETH: '10000' } }];
const TICK = dec('0.01');

const sum = (rows: [string, string][]): ReturnType<typeof dec> => rows.reduce((a, [, q]) => a.plus(q), dec(0));

describe('the paper book', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness({ accounts: RICH }, { apiKey: KEY, apiSecret: SECRET });
    h.ex.setPrice('BTCUSDT', '50000.00');
  });
  afterEach(async () => {
    await h.close();
  });

  test('depth: best bid < price < best ask, 1 to 3 ticks away, levels ordered, sizes around levelQty', async () => {
    const d = await depth(h.ex.url, 'BTCUSDT', 20);
    expect(d.bids).toHaveLength(20);
    expect(d.asks).toHaveLength(20);
    const bid = dec(d.bids[0]![0]);
    const ask = dec(d.asks[0]![0]);
    expect(bid.lt(ask)).toBe(true);
    expect(bid.lt('50000') && ask.gt('50000')).toBe(true);
    for (const away of [dec('50000').minus(bid), ask.minus('50000')]) expect(away.gte(TICK) && away.lte(TICK.mul(3))).toBe(true);
    for (let i = 1; i < 20; i++) {
      expect(dec(d.bids[i]![0]).lt(d.bids[i - 1]![0])).toBe(true);
      expect(dec(d.asks[i]![0]).gt(d.asks[i - 1]![0])).toBe(true);
    }
    // Level 0 holds levelQty (0.5) x a seeded factor in [0.5, 1.5).
    for (const side of [d.bids, d.asks]) expect(dec(side[0]![1]).gte('0.25') && dec(side[0]![1]).lt('0.75')).toBe(true);
    // Not a flat book: the sizes are drawn, not all equal.
    expect(new Set(d.asks.map(([, q]) => q)).size).toBeGreaterThan(10);
  });

  test('a large MARKET BUY walks the asks: one fill per level, at exactly the depth snapshot\'s prices and sizes', async () => {
    const d = await depth(h.ex.url, 'BTCUSDT', 10);
    const qty = sum(d.asks);
    const r = await h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: qty.toFixed(), newClientOrderId: cid() });
    expect(r.status).toBe('FILLED');
    expect(r.fills.map((f) => [f.price, f.qty])).toEqual(d.asks);
    expect(new Set(r.fills.map((f) => f.price)).size).toBe(10);
    expect(r.executedQty).toBe(qty.toFixed(8));
    // What it took is gone until the next price step.
    const after = await depth(h.ex.url, 'BTCUSDT', 10);
    expect(dec(after.asks[0]![0]).gt(d.asks[9]![0])).toBe(true);
  });

  test('a large MARKET SELL walks the bids at worsening prices with several fills', async () => {
    const d = await depth(h.ex.url, 'BTCUSDT', 3);
    const qty = sum(d.bids.slice(0, 2)).plus('0.1');
    const r = await h.client.newOrder({ symbol: 'BTCUSDT', side: 'SELL', type: 'MARKET', quantity: qty.toFixed(), newClientOrderId: cid() });
    expect(r.status).toBe('FILLED');
    expect(r.fills.map((f) => [f.price, f.qty])).toEqual([d.bids[0], d.bids[1], [d.bids[2]![0], '0.10000000']]);
  });

  test('a small order fills at the touch: BUY at the best ask, SELL at the best bid', async () => {
    const d = await depth(h.ex.url, 'BTCUSDT', 1);
    const buy = await h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.001', newClientOrderId: cid() });
    const sell = await h.client.newOrder({ symbol: 'BTCUSDT', side: 'SELL', type: 'MARKET', quantity: '0.001', newClientOrderId: cid() });
    expect(buy.fills.map((f) => f.price)).toEqual([d.asks[0]![0]]);
    expect(sell.fills.map((f) => f.price)).toEqual([d.bids[0]![0]]);
  });

  test('IOC LIMIT fills only what the book has up to its price; FOK for more expires untouched', async () => {
    const d = await depth(h.ex.url, 'BTCUSDT', 10);
    const limit = d.asks[2]![0];
    const offered = qtyWithin(d.asks, 'asks', limit);
    const fok = await h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'FOK', quantity: offered.plus('0.00001').toFixed(), price: limit, newClientOrderId: cid() });
    expect(fok).toMatchObject({ status: 'EXPIRED', executedQty: '0.00000000', fills: [] });
    const ioc = await h.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'IOC', quantity: '50', price: limit, newClientOrderId: cid() });
    expect(ioc.status).toBe('EXPIRED');
    expect(ioc.executedQty).toBe(offered.toFixed(8));
    expect(ioc.fills.map((f) => [f.price, f.qty])).toEqual(d.asks.slice(0, 3));
  });

  test('a book of few levels: depth with limit 5000 shows all, and a MARKET order takes exactly that much', async () => {
    const thin = await harness(
      { accounts: RICH, symbols: DEFAULT_SYMBOLS.map((s) => (s.symbol === 'BTCUSDT' ? { ...s, levelQty: '0.01', bookLevels: 5 } : s)) },
      { apiKey: KEY, apiSecret: SECRET },
    );
    try {
      thin.ex.setPrice('BTCUSDT', '50000.00');
      const d = await depth(thin.ex.url, 'BTCUSDT', 5000);
      expect(d.asks).toHaveLength(5);
      expect(d.bids).toHaveLength(5);
      const id = cid();
      const r = await thin.client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '1', newClientOrderId: id });
      expect(r.fills.map((f) => [f.price, f.qty])).toEqual(d.asks);
      expect(r.executedQty).toBe(sum(d.asks).toFixed(8));
      expect(r.status).toBe('EXPIRED');
      expect(thin.ex.findOrder('BTCUSDT', id)?.expiryReason).toBe('INSUFFICIENT_LIQUIDITY');
      expect((await depth(thin.ex.url, 'BTCUSDT', 5000)).asks).toEqual([]);
      // The bids were not touched: a SELL takes all of them.
      const s = await thin.client.newOrder({ symbol: 'BTCUSDT', side: 'SELL', type: 'MARKET', quantity: sum(d.bids).toFixed(), newClientOrderId: cid() });
      expect(s.status).toBe('FILLED');
      expect(s.fills.map((f) => [f.price, f.qty])).toEqual(d.bids);
    } finally {
      await thin.close();
    }
  });

  test('a resting LIMIT sits in the depth at its price, ahead of the synthetic liquidity; another account\'s taker fills it as maker', async () => {
    const two = await harness(
      { accounts: [...RICH, { apiKey: 'otherKey', apiSecret: 'otherSecret', balances: { USDT: '1000000', BTC: '10' } }] },
      { apiKey: KEY, apiSecret: SECRET },
    );
    try {
      two.ex.setPrice('BTCUSDT', '50000.00');
      const before = await depth(two.ex.url, 'BTCUSDT', 3);
      // A SELL at the best ask's price: not marketable (the bids are below), so it rests there.
      const restPrice = before.asks[0]![0];
      const resting = await two.client.newOrder({ symbol: 'BTCUSDT', side: 'SELL', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.2', price: restPrice, newClientOrderId: cid() });
      expect(resting.status).toBe('NEW');
      const withOrder = await depth(two.ex.url, 'BTCUSDT', 3);
      expect(withOrder.asks[0]).toEqual([restPrice, dec(before.asks[0]![1]).plus('0.2').toFixed(8)]);

      const taker = await signed(two.ex.url, 'POST', '/api/v3/order', { symbol: 'BTCUSDT', side: 'BUY', type: 'MARKET', quantity: '0.25', newOrderRespType: 'FULL' }, 'otherKey', 'otherSecret');
      expect(taker.status).toBe(200);
      const fills = taker.json['fills'] as { price: string; qty: string; tradeId: number }[];
      // Time priority at the price: the resting order first, then the synthetic level.
      expect(fills.map((f) => [f.price, f.qty])).toEqual([
        [restPrice, '0.20000000'],
        [restPrice, '0.05000000'],
      ]);
      const makerOrder = two.ex.orders('BTCUSDT').find((o) => o.orderId === resting.orderId)!;
      expect(makerOrder).toMatchObject({ status: 'FILLED', executedQty: '0.20000000' });
      const makerTrade = two.ex.trades('BTCUSDT').find((t) => t.account === KEY)!;
      expect(makerTrade).toMatchObject({ isMaker: true, isBuyer: false, price: restPrice, qty: '0.20000000', id: fills[0]!.tradeId });
    } finally {
      await two.close();
    }
  });
});

describe('the book is reproducible and moves with the price', () => {
  const open: PaperExchange[] = [];
  const start = async (seed: number): Promise<PaperExchange> => {
    const ex = await startPaperExchange({ priceStepMs: 0, seed });
    open.push(ex);
    return ex;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((ex) => ex.close()));
  });
  const book = async (ex: PaperExchange): Promise<Omit<Depth, 'lastUpdateId'>> => {
    const { bids, asks } = await depth(ex.url, 'ETHUSDT', 50);
    return { bids, asks };
  };

  test('same seed and prices give the same book; another seed another book; each step redraws it', async () => {
    const [a, b, c] = [await start(7), await start(7), await start(8)];
    for (const ex of [a, b, c]) ex.setPrice('ETHUSDT', '3000.00');
    const first = await book(a);
    expect(await book(b)).toEqual(first);
    expect(await book(c)).not.toEqual(first);
    // The same price again is a new step: a new draw, same seed still agrees.
    for (const ex of [a, b]) ex.setPrice('ETHUSDT', '3000.00');
    const second = await book(a);
    expect(second).not.toEqual(first);
    expect(await book(b)).toEqual(second);
  });

  test('the book follows the price: after a move the spread surrounds the new price', async () => {
    const ex = await start(3);
    for (const price of ['3000.00', '3150.55', '2890.10']) {
      ex.setPrice('ETHUSDT', price);
      const { bids, asks } = await book(ex);
      const bid = dec(bids[0]![0]);
      const ask = dec(asks[0]![0]);
      expect(bid.lt(price) && ask.gt(price)).toBe(true);
      expect(ask.minus(bid).lte(TICK.mul(6))).toBe(true);
    }
  });
});
