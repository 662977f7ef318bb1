/**
 * settleFills never loops forever on fills the books refuse: a refusal is a non-retryable
 * failure naming the reason, while a transient error (database down) stays retryable.
 */
import { ApplicationFailure } from '@temporalio/common';
import type Redis from 'ioredis';
import { createBookkeepingActivities, type TradeStore } from '../../activities/bookkeeping-activities';
import type { BinanceSpotClient, ExchangeInfo, Trade } from '../../src/exchange';
import { createLogger } from '../../src/logging';
import { StoreConflictError } from '../../src/persistence/portfolio-store';
import { PositionError } from '../../src/portfolio/position';

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

const info = {
  timezone: 'UTC',
  serverTime: 0,
  rateLimits: [],
  exchangeFilters: [],
  symbols: [
    {
      symbol: 'BTCUSDT',
      status: 'TRADING',
      baseAsset: 'BTC',
      quoteAsset: 'USDT',
      baseAssetPrecision: 8,
      quoteAssetPrecision: 8,
      orderTypes: ['MARKET'],
      ocoAllowed: true,
      quoteOrderQtyMarketAllowed: true,
      filters: [],
      unknownFilterTypes: [],
    },
  ],
} as unknown as ExchangeInfo;

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
