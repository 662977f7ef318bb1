import fc from 'fast-check';
import { prepareOrder, symbolRules, validateOrder, type SymbolRules } from '../../src/exchange/filters';
import { ExchangeInfoSchema } from '../../src/exchange/schemas';
import { dec } from '../../src/shared/decimal';

function rules(over: Partial<{ tick: string; step: string; minQty: string; maxQty: string; minNotional: string; mstep: string }> = {}): SymbolRules {
  const o = { tick: '0.01', step: '0.00001', minQty: '0.00001', maxQty: '9000', minNotional: '5', mstep: '0', ...over };
  const info = ExchangeInfoSchema.parse({
    timezone: 'UTC',
    serverTime: 0,
    rateLimits: [],
    exchangeFilters: [{ filterType: 'EXCHANGE_MAX_NUM_ORDERS', maxNumOrders: 1000 }, { filterType: 'SOME_FUTURE_FILTER', x: 1 }],
    symbols: [
      {
        symbol: 'BTCUSDT', status: 'TRADING', baseAsset: 'BTC', baseAssetPrecision: 8, quoteAsset: 'USDT', quoteAssetPrecision: 8,
        orderTypes: ['LIMIT', 'LIMIT_MAKER', 'MARKET', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT_LIMIT'], ocoAllowed: true,
        filters: [
          { filterType: 'PRICE_FILTER', minPrice: o.tick, maxPrice: '1000000', tickSize: o.tick },
          { filterType: 'LOT_SIZE', minQty: o.minQty, maxQty: o.maxQty, stepSize: o.step },
          { filterType: 'MARKET_LOT_SIZE', minQty: '0', maxQty: '100', stepSize: o.mstep },
          { filterType: 'NOTIONAL', minNotional: o.minNotional, applyMinToMarket: true, maxNotional: '9000000', applyMaxToMarket: false, avgPriceMins: 5 },
          { filterType: 'PERCENT_PRICE_BY_SIDE', bidMultiplierUp: '5', bidMultiplierDown: '0.2', askMultiplierUp: '5', askMultiplierDown: '0.2', avgPriceMins: 5 },
          { filterType: 'MAX_NUM_ORDERS', maxNumOrders: 200 },
          { filterType: 'MAX_NUM_ALGO_ORDERS', maxNumAlgoOrders: 5 },
          { filterType: 'BRAND_NEW_FILTER', whatever: true },
        ],
      },
      { symbol: 'HALTED', status: 'HALT', baseAsset: 'A', baseAssetPrecision: 8, quoteAsset: 'B', quoteAssetPrecision: 8, orderTypes: ['MARKET'], ocoAllowed: false, filters: [] },
    ],
  });
  return symbolRules(info, 'BTCUSDT');
}

describe('symbolRules / prepareOrder', () => {
  test('unknown filters are dropped, known ones typed', () => {
    const r = rules();
    expect(r.filters.map((f) => f.filterType)).not.toContain('BRAND_NEW_FILTER');
    expect(r.exchangeFilters).toEqual([{ filterType: 'EXCHANGE_MAX_NUM_ORDERS', maxNumOrders: 1000 }]);
  });

  test('unknown symbol throws a clear error', () => {
    const info = ExchangeInfoSchema.parse({ timezone: 'UTC', serverTime: 0, rateLimits: [], exchangeFilters: [], symbols: [] });
    expect(() => symbolRules(info, 'XYZ')).toThrow(/XYZ.*not in exchangeInfo/);
  });

  test('rounds quantity down to the step and price toward the passive side', () => {
    const r = rules();
    expect(prepareOrder(r, { side: 'BUY', type: 'LIMIT', quantity: '0.123456789', price: '50000.019', marketPrice: '50000' })).toEqual({
      ok: true, quantity: '0.12345', price: '50000.01', notional: '6172.5012345',
    });
    expect(prepareOrder(r, { side: 'SELL', type: 'LIMIT', quantity: '0.1', price: '50000.011', marketPrice: '50000' })).toMatchObject({ ok: true, price: '50000.02' });
  });

  test('names the failing filter with numbers', () => {
    const r = rules();
    expect(prepareOrder(r, { side: 'BUY', type: 'MARKET', quantity: '0.000009', marketPrice: '50000' })).toEqual({
      ok: false, filter: 'LOT_SIZE', reason: 'quantity 0 (0.000009 rounded down to the step) is below minQty 0.00001',
    });
    expect(prepareOrder(r, { side: 'BUY', type: 'MARKET', quantity: '0.00005', marketPrice: '50000' })).toEqual({
      ok: false, filter: 'NOTIONAL', reason: 'notional 2.5 (0.00005 x 50000) is below minNotional 5',
    });
    expect(prepareOrder(r, { side: 'BUY', type: 'MARKET', quantity: '101', marketPrice: '50000' })).toMatchObject({ ok: false, filter: 'MARKET_LOT_SIZE' });
    expect(prepareOrder(r, { side: 'BUY', type: 'LIMIT', quantity: '1', price: '260000', marketPrice: '50000' })).toEqual({
      ok: false, filter: 'PERCENT_PRICE_BY_SIDE', reason: 'BUY price 260000 is above 250000 (50000 x 5)',
    });
    expect(prepareOrder(r, { side: 'BUY', type: 'STOP_LOSS', quantity: '1', stopPrice: '1', marketPrice: '50000' })).toMatchObject({ ok: false, filter: 'ORDER_TYPE' });
    expect(prepareOrder(r, { side: 'BUY', type: 'STOP_LOSS_LIMIT', quantity: '0.01', price: '51000', stopPrice: '50999.999', marketPrice: '50000', openOrders: { symbol: 3, symbolAlgo: 5, exchange: 3 } })).toMatchObject({ ok: false, filter: 'MAX_NUM_ALGO_ORDERS' });
    expect(prepareOrder(r, { side: 'BUY', type: 'LIMIT', quantity: '0.01', price: '50000', marketPrice: '50000', openOrders: { symbol: 200, symbolAlgo: 0, exchange: 200 } })).toMatchObject({ ok: false, filter: 'MAX_NUM_ORDERS' });
    expect(prepareOrder(r, { side: 'BUY', type: 'LIMIT', quantity: '0.01', price: '50000', marketPrice: '50000', openOrders: { symbol: 1, symbolAlgo: 0, exchange: 1000 } })).toMatchObject({ ok: false, filter: 'EXCHANGE_MAX_NUM_ORDERS' });
  });

  test('symbol must be TRADING', () => {
    const info = ExchangeInfoSchema.parse({ timezone: 'UTC', serverTime: 0, rateLimits: [], exchangeFilters: [], symbols: [
      { symbol: 'HALTED', status: 'HALT', baseAsset: 'A', baseAssetPrecision: 8, quoteAsset: 'B', quoteAssetPrecision: 8, orderTypes: ['MARKET'], ocoAllowed: false, filters: [] },
    ] });
    expect(prepareOrder(symbolRules(info, 'HALTED'), { side: 'BUY', type: 'MARKET', quantity: '1', marketPrice: '1' })).toMatchObject({ ok: false, filter: 'SYMBOL_STATUS' });
  });
});

describe('filter rounding properties', () => {
  const pow10 = fc.integer({ min: -8, max: 1 }).map((e) => dec(10).pow(e).toFixed());
  const decimalText = fc
    .tuple(fc.bigInt({ min: 1n, max: 10n ** 9n }), fc.integer({ min: 3, max: 12 }))
    .map(([n, scale]) => dec(n.toString()).div(dec(10).pow(scale)).toFixed());

  test('a prepared order always passes validation, and quantity is never rounded up (by less than one step down)', () => {
    let accepted = 0;
    fc.assert(
      fc.property(pow10, pow10, pow10, decimalText, decimalText, fc.constantFrom('BUY', 'SELL'), fc.constantFrom('LIMIT', 'MARKET'), (tick, step, mstep, qty, price, side, type) => {
        const r = rules({ tick, step, minQty: step, maxQty: '1000000000', minNotional: '0', mstep });
        const market = price;
        const res = prepareOrder(r, { side, type, quantity: qty, ...(type === 'LIMIT' ? { price } : {}), marketPrice: market });
        if (!res.ok) return;
        accepted++;
        expect(dec(res.quantity).lte(dec(qty))).toBe(true);
        const grid = type === 'MARKET' && dec(mstep).gt(step) ? dec(mstep) : dec(step);
        expect(dec(qty).minus(res.quantity).lt(grid)).toBe(true);
        const again = validateOrder(r, { side, type, quantity: res.quantity, ...(res.price !== undefined ? { price: res.price } : {}), marketPrice: market });
        expect(again).toEqual(res);
        if (res.price !== undefined) {
          expect(dec(res.price).mod(dec(tick)).isZero()).toBe(true);
          if (side === 'BUY') expect(dec(res.price).lte(dec(price))).toBe(true);
          else expect(dec(res.price).gte(dec(price))).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
    // The property must have been exercised on accepted orders, not only on refusals.
    expect(accepted).toBeGreaterThan(500);
  });

  test('whenever prepareOrder refuses, it names a filter and a reason', () => {
    fc.assert(
      fc.property(decimalText, decimalText, (qty, price) => {
        const res = prepareOrder(rules(), { side: 'BUY', type: 'LIMIT', quantity: qty, price, marketPrice: '50000' });
        if (!res.ok) {
          expect(res.filter).toMatch(/^[A-Z_]+$/);
          expect(res.reason.length).toBeGreaterThan(10);
        }
      }),
      { numRuns: 500 },
    );
  });
});
