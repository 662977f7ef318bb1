/**
 * Issue 12: settleFills books the fills a FULL new-order response listed without asking
 * myTrades, when they cover the executed quantity. Against the paper exchange over HTTP and the
 * real books (PostgreSQL): the response's fills are the same trades myTrades lists, each booked
 * once per trade id whichever way it arrives and however often; a request that does not cover
 * the executed quantity falls back to myTrades.
 */
import type Redis from 'ioredis';
import { Pool } from 'pg';
import { createBookkeepingActivities } from '../../activities/bookkeeping-activities';
import { responseFills } from '../../activities/exchange-activities';
import { BinanceSpotClient } from '../../src/exchange';
import { createLogger } from '../../src/logging';
import { PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET, startPaperExchange, type PaperExchange } from '../../src/paper-exchange';
import { migrate } from '../../src/persistence/migrate';
import { MarkPriceCache } from '../../src/portfolio/mark-prices';
import { createPgTradeStore } from '../../src/persistence/pg-ports';
import { dec } from '../../src/shared/decimal';
import type { FillRecord } from '../../src/shared/trade';
import { freshDatabase, type FreshDatabase } from '../support/fresh-database';
import { testServices } from '../support/services';

let ex: PaperExchange;
let client: BinanceSpotClient;
let db: FreshDatabase;
let pool: Pool;

beforeAll(async () => {
  db = await freshDatabase(testServices().databaseUrl, 'settle_from_response');
  pool = new Pool({ connectionString: db.url });
  await migrate(pool);
  ex = await startPaperExchange({ port: 0, priceStepMs: 0, seed: 3 });
  client = new BinanceSpotClient({ baseUrl: ex.url, apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET, timeoutMs: 15_000 });
});
afterAll(async () => {
  await client?.close();
  await ex?.close();
  await pool?.end();
  await db?.drop();
});

const acts = () => createBookkeepingActivities({ exchange: client, store: createPgTradeStore(pool), redis: {} as Redis, logger: createLogger('test', 'fatal') });
const myTradesCalls = () => ex.requestCounts()['GET /api/v3/myTrades'] ?? 0;

async function marketOrder(side: 'BUY' | 'SELL', quantity: string) {
  const clientOrderId = `resp-${side}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const resp = await client.newOrder({ symbol: 'BTCUSDT', side, type: 'MARKET', quantity, newClientOrderId: clientOrderId });
  expect(resp.status).toBe('FILLED');
  const fills = responseFills(resp, clientOrderId)!;
  expect(fills.length).toBeGreaterThan(0);
  const req = { decisionId: 'd', workflowId: 'trade-d', symbol: 'BTCUSDT', orderId: resp.orderId, clientOrderId, expectedQty: resp.executedQty };
  return { resp, fills, req };
}

async function booked(orderId: number) {
  const r = await pool.query<{ trade_id: string; price: string; qty: string; commission: string; commission_asset: string; side: string }>(
    'SELECT trade_id::text, price::text, qty::text, commission::text, commission_asset, side FROM fills WHERE exchange_order_id = $1 ORDER BY trade_id',
    [String(orderId)],
  );
  return r.rows;
}

const position = async () => (await pool.query<{ quantity: string }>("SELECT quantity::text FROM positions WHERE symbol = 'BTCUSDT'")).rows[0]?.quantity;

test("the response's fills are the trades myTrades lists (ids, prices, quantities, commissions, side)", async () => {
  ex.setPrice('BTCUSDT', '60000');
  const { fills, resp } = await marketOrder('BUY', '0.003');
  const listed = (await client.myTrades({ symbol: 'BTCUSDT', orderId: resp.orderId })).filter((t) => t.orderId === resp.orderId);
  expect(fills.map((f) => f.tradeId)).toEqual(listed.map((t) => t.id));
  for (const [f, t] of fills.map((f, i) => [f, listed[i]!] as const)) {
    expect([dec(f.price).eq(t.price), dec(f.qty).eq(t.qty), dec(f.commission).eq(t.commission), f.commissionAsset, f.side, f.isMaker]).toEqual([
      true,
      true,
      true,
      t.commissionAsset,
      t.isBuyer ? 'BUY' : 'SELL',
      t.isMaker,
    ]);
    expect(dec(f.quoteQty).eq(dec(t.price).mul(t.qty))).toBe(true);
  }
});

test('covered: booked without myTrades, once per trade id, however often and whichever way it comes again', async () => {
  ex.setPrice('BTCUSDT', '60000');
  const { fills, req } = await marketOrder('BUY', '0.002');
  const calls = myTradesCalls();
  const held = dec((await position()) ?? '0');
  // The same fills twice in the request, and a fill of another order that must not be booked.
  const foreign: FillRecord = { ...fills[0]!, tradeId: 9_999_999, orderId: req.orderId + 1 };
  const summary = await acts().settleFills({ ...req, fills: [...fills, ...fills, foreign] });
  expect(myTradesCalls()).toBe(calls);
  expect(dec(summary.filledQty).eq(req.expectedQty)).toBe(true);
  expect(summary.fills.map((f) => f.tradeId)).toEqual(fills.map((f) => f.tradeId));
  expect((await booked(req.orderId)).map((r) => Number(r.trade_id))).toEqual(fills.map((f) => f.tradeId));
  const after = dec((await position())!);
  expect(after.minus(held).gt(0)).toBe(true);

  // A retry of the activity, then the same order settled from myTrades (the fallback path):
  // duplicates agree with what is booked, nothing is booked twice, the position does not move.
  await acts().settleFills({ ...req, fills });
  await acts().settleFills(req);
  expect(myTradesCalls()).toBe(calls + 1);
  expect((await booked(req.orderId)).map((r) => Number(r.trade_id))).toEqual(fills.map((f) => f.tradeId));
  expect(dec((await position())!).eq(after)).toBe(true);
  expect(await pool.query("SELECT 1 FROM fills WHERE trade_id = 9999999")).toMatchObject({ rowCount: 0 });
});

test('not covered (fewer fills than executed): myTrades is asked and books them all', async () => {
  ex.setPrice('BTCUSDT', '60000');
  const { fills, req } = await marketOrder('SELL', '0.001');
  const calls = myTradesCalls();
  const partial = fills.map((f) => ({ ...f, qty: dec(f.qty).div(2).toFixed() }));
  const summary = await acts().settleFills({ ...req, fills: partial });
  expect(myTradesCalls()).toBe(calls + 1);
  expect(dec(summary.filledQty).eq(req.expectedQty)).toBe(true);
  const rows = await booked(req.orderId);
  expect(rows.map((r) => Number(r.trade_id))).toEqual(fills.map((f) => f.tradeId));
  expect(rows.every((r, i) => dec(r.qty).eq(fills[i]!.qty))).toBe(true);
});

test('commission paid in BNB is valued through the mark cache: one ticker request for many orders, not one each', async () => {
  const info = {
    symbols: ['BTCUSDT', 'BNBUSDT'].map((symbol) => ({ symbol, status: 'TRADING', baseAsset: symbol.slice(0, 3), quoteAsset: 'USDT', filters: [], orderTypes: ['MARKET'] })),
  };
  let tickers = 0;
  const fake = {
    cachedExchangeInfo: async () => info,
    tickerPrice: async (symbol: string) => (tickers++, { symbol, price: '600' }),
    myTrades: async () => Promise.reject(new Error('myTrades must not be asked: the fills cover the order')),
  } as unknown as BinanceSpotClient;
  const seen: Array<Record<string, string>> = [];
  const store = { applyFills: async (a: { commissionAssetPrices: Record<string, string> }) => void seen.push(a.commissionAssetPrices) };
  const a = createBookkeepingActivities({
    exchange: fake,
    store: store as never,
    redis: {} as Redis,
    logger: createLogger('test', 'fatal'),
    marks: new MarkPriceCache(fake),
  });
  for (let i = 0; i < 3; i++) {
    const fill: FillRecord = { tradeId: 100 + i, orderId: 50 + i, clientOrderId: `c${i}`, symbol: 'BTCUSDT', side: 'BUY', price: '60000', qty: '0.001', quoteQty: '60', commission: '0.0001', commissionAsset: 'BNB', isMaker: false, time: 1 };
    await a.settleFills({ decisionId: 'd', workflowId: 'trade-d', symbol: 'BTCUSDT', orderId: 50 + i, clientOrderId: `c${i}`, expectedQty: '0.001', fills: [fill] });
  }
  expect(seen).toEqual([{ BNB: '600' }, { BNB: '600' }, { BNB: '600' }]);
  expect(tickers).toBe(1);
});
