/**
 * The paper exchange's open-order limits: Binance's by default (1000 per account,
 * EXCHANGE_MAX_NUM_ORDERS; each symbol's MAX_NUM_ORDERS), raisable with `limits` for load tests,
 * and always published in exchangeInfo as enforced, so a client checking filters itself agrees.
 */
import { prepareOrder, symbolRules } from '../../src/exchange/filters';
import { DEFAULT_SYMBOLS, EXCHANGE_MAX_NUM_ORDERS } from '../../src/paper-exchange';
import { Engine, type NewOrderParams } from '../../src/paper-exchange/engine';
import { ApiError } from '../../src/paper-exchange/wire';
import { dec } from '../../src/shared/decimal';
import { cid, expectBinanceError, harness } from './helpers';

const KEY = 'limitsTestKey';

/** A LIMIT BUY at half the price (BTCUSDT 60000, ETHUSDT 3000): it rests; notional 30 or 15 USDT. */
function restingBuy(symbol: 'BTCUSDT' | 'ETHUSDT', i: number): NewOrderParams {
  const [price, quantity] = symbol === 'BTCUSDT' ? ['30000', '0.001'] : ['1500', '0.01'];
  return {
    symbol, side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: dec(quantity), quoteOrderQty: undefined,
    price: dec(price), stopPrice: undefined, newClientOrderId: `rest-${i}`,
  };
}

function placeRejection(engine: Engine, p: NewOrderParams): ApiError | undefined {
  try {
    engine.place(KEY, p);
    return undefined;
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
}

describe('open-order limits', () => {
  test('default: order 1001 on an account is refused with EXCHANGE_MAX_NUM_ORDERS, order 201 on a symbol with MAX_NUM_ORDERS', () => {
    expect(EXCHANGE_MAX_NUM_ORDERS).toBe(1000);
    const balances = { USDT: '1000000' };
    // The default symbols cap at 200 each, so the account limit is reached only with the symbol limit raised.
    const wide = new Engine(DEFAULT_SYMBOLS, [{ apiKey: KEY, balances }], () => 0, 1, { maxNumOrdersPerSymbol: 5000 });
    expect(wide.maxOpenOrdersPerAccount).toBe(1000);
    for (let i = 0; i < 1000; i++) expect(placeRejection(wide, restingBuy('BTCUSDT', i))).toBeUndefined();
    const e = placeRejection(wide, restingBuy('BTCUSDT', 1000));
    expect(e).toMatchObject({ status: 400, code: -1013, msg: 'Filter failure: EXCHANGE_MAX_NUM_ORDERS' });

    const plain = new Engine(DEFAULT_SYMBOLS, [{ apiKey: KEY, balances }], () => 0, 1);
    for (let i = 0; i < 200; i++) expect(placeRejection(plain, restingBuy('BTCUSDT', i))).toBeUndefined();
    expect(placeRejection(plain, restingBuy('BTCUSDT', 200))).toMatchObject({ code: -1013, msg: 'Filter failure: MAX_NUM_ORDERS' });
    expect(placeRejection(plain, restingBuy('ETHUSDT', 0))).toBeUndefined(); // other symbols have their own 200
  });

  test('limits are validated', () => {
    expect(() => new Engine(DEFAULT_SYMBOLS, [], () => 0, 1, { maxOpenOrdersPerAccount: 0 })).toThrow(/maxOpenOrdersPerAccount/);
    expect(() => new Engine(DEFAULT_SYMBOLS, [], () => 0, 1, { maxNumOrdersPerSymbol: 1.5 })).toThrow(/maxNumOrdersPerSymbol/);
  });

  test.each([3, 5])('over HTTP, maxOpenOrdersPerAccount %i: exchangeInfo shows it, that many rest, one more is refused', async (limit) => {
    const h = await harness({ limits: { maxOpenOrdersPerAccount: limit } });
    try {
      const info = await h.client.exchangeInfo();
      expect(info.exchangeFilters).toEqual([{ filterType: 'EXCHANGE_MAX_NUM_ORDERS', maxNumOrders: limit }]);
      const rules = symbolRules(info, 'BTCUSDT');
      const order = { symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.001', price: '30000.00' } as const;
      for (let i = 0; i < limit; i++) await h.client.newOrder({ ...order, newClientOrderId: cid('lim') });
      expect(h.ex.orders('BTCUSDT').filter((o) => o.status === 'NEW')).toHaveLength(limit);
      const e = await expectBinanceError(h.client.newOrder({ ...order, newClientOrderId: cid('lim') }));
      expect(e).toMatchObject({ httpStatus: 400, code: -1013, msg: 'Filter failure: EXCHANGE_MAX_NUM_ORDERS' });
      // The client's own check, from the published filters, draws the line at the same place.
      const at = (n: number) => prepareOrder(rules, { side: 'BUY', type: 'LIMIT', quantity: '0.001', price: '30000', marketPrice: '60000', openOrders: { symbol: n, symbolAlgo: 0, exchange: n } });
      expect(at(limit - 1)).toMatchObject({ ok: true });
      expect(at(limit)).toMatchObject({ ok: false, filter: 'EXCHANGE_MAX_NUM_ORDERS' });
    } finally {
      await h.close();
    }
  });

  test('over HTTP, maxNumOrdersPerSymbol replaces every symbol\'s MAX_NUM_ORDERS filter, in exchangeInfo too', async () => {
    const h = await harness({ limits: { maxNumOrdersPerSymbol: 3 } });
    try {
      const info = await h.client.exchangeInfo();
      expect(info.exchangeFilters).toEqual([{ filterType: 'EXCHANGE_MAX_NUM_ORDERS', maxNumOrders: 1000 }]);
      for (const s of info.symbols) expect(s.filters).toContainEqual({ filterType: 'MAX_NUM_ORDERS', maxNumOrders: 3 });
      const order = { symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.001', price: '30000.00' } as const;
      for (let i = 0; i < 3; i++) await h.client.newOrder({ ...order, newClientOrderId: cid('sym') });
      const e = await expectBinanceError(h.client.newOrder({ ...order, newClientOrderId: cid('sym') }));
      expect(e).toMatchObject({ code: -1013, msg: 'Filter failure: MAX_NUM_ORDERS' });
    } finally {
      await h.close();
    }
  });

  test('by default exchangeInfo publishes Binance\'s limits', async () => {
    const h = await harness();
    try {
      const info = await h.client.exchangeInfo();
      expect(info.exchangeFilters).toEqual([{ filterType: 'EXCHANGE_MAX_NUM_ORDERS', maxNumOrders: 1000 }]);
      const btc = info.symbols.find((s) => s.symbol === 'BTCUSDT')!;
      expect(btc.filters).toContainEqual({ filterType: 'MAX_NUM_ORDERS', maxNumOrders: DEFAULT_SYMBOLS[0]!.maxNumOrders });
    } finally {
      await h.close();
    }
  });
});
