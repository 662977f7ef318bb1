/**
 * settleFills never loops forever on fills the books refuse: a refusal is a non-retryable
 * failure naming the reason, while a transient error (database down) stays retryable.
 */
import { ApplicationFailure } from '@temporalio/common';
import type Redis from 'ioredis';
import { createBookkeepingActivities, type TradeStore } from '../../activities/bookkeeping-activities';
import { BinanceSpotClient, type Trade } from '../../src/exchange';
import { createLogger } from '../../src/logging';
import { DEFAULT_SYMBOLS, PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET, startPaperExchange, type PaperExchange } from '../../src/paper-exchange';
import { dec } from '../../src/shared/decimal';
import type { FillRecord } from '../../src/shared/trade';
import { StoreConflictError } from '../../src/persistence/stores/store-conflict-error';
import { PositionError } from '../../src/portfolio/position';
import { EXCHANGE_INFO } from '../workflows/support/stub-exchange';

const trade: Trade = {
  symbol: 'BTCUSDT',
  id: 1,
  orderId: 10,
  orderListId: -1,
  price: '100',
  qty: '2',
  quoteQty: '200',
  commission: '0.2',
  commissionAsset: 'USDT',
  time: 1_700_000_000_000,
  isBuyer: false,
  isMaker: false,
  isBestMatch: true,
};

/** BTCUSDT as the workflow tests' stub exchange lists it. */
const info = EXCHANGE_INFO;

const exchange = {
  myTrades: async () => [trade],
  exchangeInfo: async () => info,
  cachedExchangeInfo: async () => info,
  tickerPrice: async () => ({ symbol: 'BNBUSDT', price: '600' }),
} as unknown as BinanceSpotClient;

function acts(applyFills: TradeStore['applyFills']) {
  const store = { applyFills } as unknown as TradeStore;
  return createBookkeepingActivities({ exchange, store, redis: {} as Redis, logger: createLogger('test', 'fatal') });
}

const req = { decisionId: 'd', workflowId: 'trade-d', symbol: 'BTCUSDT', orderId: 10, clientOrderId: 'c', expectedQty: '2' };

async function failureOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

test.each([
  ['a position the SELL would take short', new PositionError('WOULD_GO_SHORT', 'SELL of 2 BTC exceeds the long position of 0 BTC by 2 BTC')],
  ['a trade recorded differently', new StoreConflictError('trade BTCUSDT#1 is already recorded differently: qty 1 vs 2')],
])('%s: non-retryable, with the reason', async (_what, error) => {
  const err = await failureOf(acts(async () => Promise.reject(error)).settleFills(req));
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect(err).toMatchObject({ nonRetryable: true, type: 'BooksRejectedFills' });
  expect((err as Error).message).toContain(error.message);
});

test('a transient failure stays retryable', async () => {
  const err = await failureOf(acts(async () => Promise.reject(new Error('connection terminated'))).settleFills(req));
  expect(err).not.toBeInstanceOf(ApplicationFailure);
  expect((err as Error).message).toBe('connection terminated');
});

test('the fills reach the store as the exchange reported them', async () => {
  const seen: unknown[] = [];
  const summary = await acts(async (args) => {
    seen.push(args);
  }).settleFills(req);
  expect(summary).toMatchObject({ filledQty: '2', quoteQty: '200' });
  expect(seen).toMatchObject([{ symbol: 'BTCUSDT', baseAsset: 'BTC', quoteAsset: 'USDT', fills: [{ tradeId: 1, side: 'SELL', qty: '2' }] }]);
});

/**
 * Issue 11 item 10: an order with more fills than one myTrades page (Binance returns at most
 * `limit` trades, default 500, max 1000, and without fromId the MOST RECENT ones) must still be
 * booked in full, against the real paper exchange over HTTP.
 */
describe('settleFills against the paper exchange: more fills than one myTrades page', () => {
  // BTCUSDT whose best level holds one lot step: each touch of a resting LIMIT fills 0.00001.
  const symbols = DEFAULT_SYMBOLS.map((s) => (s.symbol === 'BTCUSDT' ? { ...s, levelQty: '0.00001' } : s));
  let ex: PaperExchange;
  let client: BinanceSpotClient;
  beforeEach(async () => {
    ex = await startPaperExchange({ priceStepMs: 0, symbols });
    client = new BinanceSpotClient({ baseUrl: ex.url, apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET, timeoutMs: 15_000 });
  });
  afterEach(async () => {
    await client.close();
    await ex.close();
  });

  /** A resting LIMIT BUY filled by `fills` touches of one lot step each. */
  async function orderFilledBy(fills: number): Promise<{ orderId: number; clientOrderId: string; executedQty: string }> {
    ex.setPrice('BTCUSDT', '50001.00');
    const clientOrderId = `settle-${fills}-${Date.now()}`;
    const qty = dec('0.00001').mul(fills).toFixed(5);
    const placed = await client.newOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: qty, price: '50000.00', newClientOrderId: clientOrderId });
    for (let i = 0; i < fills; i++) ex.setPrice('BTCUSDT', '50000.00');
    const order = await client.getOrder({ symbol: 'BTCUSDT', orderId: placed.orderId });
    expect(order.status).toBe('FILLED');
    expect(ex.trades('BTCUSDT').filter((t) => t.orderId === placed.orderId)).toHaveLength(fills);
    return { orderId: placed.orderId, clientOrderId, executedQty: order.executedQty };
  }

  function realActs(seen: FillRecord[][]) {
    const store = {
      applyFills: async (args: { fills: FillRecord[] }) => {
        seen.push(args.fills);
      },
    } as unknown as TradeStore;
    return createBookkeepingActivities({ exchange: client, store, redis: {} as Redis, logger: createLogger('test', 'fatal') });
  }

  test('1,201 fills: every one is booked, read in pages from the first trade', async () => {
    const o = await orderFilledBy(1201);
    const seen: FillRecord[][] = [];
    const before = ex.requestCounts()['GET /api/v3/myTrades'] ?? 0;
    const summary = await realActs(seen).settleFills({ decisionId: 'd', workflowId: 'trade-d', symbol: 'BTCUSDT', orderId: o.orderId, clientOrderId: o.clientOrderId, expectedQty: o.executedQty });
    expect(summary.filledQty).toBe('0.01201');
    expect(seen).toHaveLength(1);
    const ids = seen[0]!.map((f) => f.tradeId);
    expect(new Set(ids).size).toBe(1201);
    expect(ids).toEqual(ex.trades('BTCUSDT').filter((t) => t.orderId === o.orderId).map((t) => t.id));
    // Two pages of at most 1000 (weight 5 each with orderId), not one request per 500.
    expect((ex.requestCounts()['GET /api/v3/myTrades'] ?? 0) - before).toBe(2);
  }, 120_000);

  test('a few fills take one request; fills not yet listed stay a retryable shortfall after a short page', async () => {
    const o = await orderFilledBy(12); // 0.00012 BTC: the fewest lot steps above the 5 USDT NOTIONAL filter
    const seen: FillRecord[][] = [];
    const before = ex.requestCounts()['GET /api/v3/myTrades'] ?? 0;
    const acts = realActs(seen);
    const summary = await acts.settleFills({ decisionId: 'd', workflowId: 'trade-d', symbol: 'BTCUSDT', orderId: o.orderId, clientOrderId: o.clientOrderId, expectedQty: o.executedQty });
    expect(summary.filledQty).toBe('0.00012');
    expect((ex.requestCounts()['GET /api/v3/myTrades'] ?? 0) - before).toBe(1);
    // The exchange reports more executed than it lists: one short page, then a retryable failure.
    const err = await failureOf(acts.settleFills({ decisionId: 'd', workflowId: 'trade-d', symbol: 'BTCUSDT', orderId: o.orderId, clientOrderId: o.clientOrderId, expectedQty: '0.00013' }));
    expect(err).toMatchObject({ type: 'FillsNotYetVisible', nonRetryable: false });
    expect((ex.requestCounts()['GET /api/v3/myTrades'] ?? 0) - before).toBe(2);
  });
});

test('an exchange that ignores fromId cannot make settleFills page forever: the shortfall stays retryable', async () => {
  const full = Array.from({ length: 1000 }, (_, i) => ({ ...trade, id: i, qty: '0.001', quoteQty: '0.1' }));
  const calls: unknown[] = [];
  const stuck = { ...exchange, myTrades: async (q: unknown) => (calls.push(q), full) } as unknown as BinanceSpotClient;
  const store = { applyFills: async () => undefined } as unknown as TradeStore;
  const a = createBookkeepingActivities({ exchange: stuck, store, redis: {} as Redis, logger: createLogger('test', 'fatal') });
  const err = await failureOf(a.settleFills({ ...req, expectedQty: '5' }));
  expect(err).toMatchObject({ type: 'FillsNotYetVisible', nonRetryable: false });
  expect(calls).toEqual([
    { symbol: 'BTCUSDT', orderId: 10, fromId: 0, limit: 1000 },
    { symbol: 'BTCUSDT', orderId: 10, fromId: 1000, limit: 1000 },
  ]);
});
