/**
 * Self-trade prevention in the paper exchange's matching: a taker that reaches a resting order
 * of its own account applies its selfTradePreventionMode (Binance's STP FAQ), with
 * EXPIRED_IN_MATCH, preventedMatchId / preventedQuantity in the order responses, the FULL
 * response's preventedMatches and GET /api/v3/myPreventedMatches.
 */
import { DEFAULT_SYMBOLS, startPaperExchange, type PaperExchange } from '../../src/paper-exchange';
import { dec } from '../../src/shared/decimal';
import { depth, signed } from './book-helpers';

const KEY = 'stpKey';
const SECRET = 'stpSecret';
type Json = Record<string, unknown>;

describe('self-trade prevention', () => {
  let ex: PaperExchange;
  /** The best ask when the test starts: the resting SELL goes there, at the head of the level. */
  let ask: string;
  let askQty: string;

  const call = (method: 'GET' | 'POST', path: string, params: Record<string, string>) => signed(ex.url, method, path, params, KEY, SECRET);
  const order = async (params: Record<string, string>): Promise<Json> => {
    const r = await call('POST', '/api/v3/order', { symbol: 'BTCUSDT', newOrderRespType: 'FULL', ...params });
    if (r.status !== 200) throw new Error(`order: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json;
  };
  const query = async (orderId: unknown): Promise<Json> => (await call('GET', '/api/v3/order', { symbol: 'BTCUSDT', orderId: String(orderId) })).json;
  const restingSell = (quantity: string, mode?: string): Promise<Json> =>
    order({ side: 'SELL', type: 'LIMIT', timeInForce: 'GTC', quantity, price: ask, ...(mode ? { selfTradePreventionMode: mode } : {}) });

  beforeEach(async () => {
    ex = await startPaperExchange({ priceStepMs: 0, accounts: [{ apiKey: KEY, apiSecret: SECRET, balances: { USDT: '1000000', BTC: '10' } }] });
    ex.setPrice('BTCUSDT', '50000.00');
    const d = await depth(ex.url, 'BTCUSDT', 1);
    [ask, askQty] = d.asks[0]!;
    // The tests take 0.3 at most from the level behind the resting order.
    expect(dec(askQty).gte('0.3')).toBe(true);
  });
  afterEach(async () => {
    await ex.close();
  });

  test('EXPIRE_MAKER (the symbol default): the resting order expires in match, the taker trades on', async () => {
    const maker = await restingSell('0.2');
    expect(maker).toMatchObject({ status: 'NEW', selfTradePreventionMode: 'EXPIRE_MAKER' });
    expect(ex.balances(KEY)['BTC']!.locked).toBe('0.20000000');
    const taker = await order({ side: 'BUY', type: 'MARKET', quantity: '0.3' });
    expect(taker).toMatchObject({ status: 'FILLED', executedQty: '0.30000000', selfTradePreventionMode: 'EXPIRE_MAKER' });
    expect(taker['fills']).toEqual([expect.objectContaining({ price: ask, qty: '0.30000000' })]);
    expect(taker['preventedMatches']).toEqual([{ preventedMatchId: 0, makerSymbol: 'BTCUSDT', makerOrderId: maker['orderId'], price: ask, makerPreventedQuantity: '0.20000000' }]);
    expect(taker).not.toHaveProperty('preventedQuantity');
    expect(await query(maker['orderId'])).toMatchObject({ status: 'EXPIRED_IN_MATCH', executedQty: '0.00000000', preventedMatchId: 0, preventedQuantity: '0.20000000' });
    expect(ex.balances(KEY)['BTC']!.locked).toBe('0.00000000');
  });

  test('EXPIRE_TAKER: the taker expires in match with its whole quantity prevented; the resting order stays', async () => {
    const maker = await restingSell('0.2');
    const taker = await order({ side: 'BUY', type: 'MARKET', quantity: '0.3', selfTradePreventionMode: 'EXPIRE_TAKER' });
    expect(taker).toMatchObject({ status: 'EXPIRED_IN_MATCH', executedQty: '0.00000000', fills: [], selfTradePreventionMode: 'EXPIRE_TAKER', preventedMatchId: 0, preventedQuantity: '0.30000000' });
    expect(taker['preventedMatches']).toEqual([{ preventedMatchId: 0, makerSymbol: 'BTCUSDT', makerOrderId: maker['orderId'], price: ask, takerPreventedQuantity: '0.30000000' }]);
    const m = await query(maker['orderId']);
    expect(m).toMatchObject({ status: 'NEW', executedQty: '0.00000000' });
    expect(m).not.toHaveProperty('preventedQuantity');
    expect(await query(taker['orderId'])).toMatchObject({ status: 'EXPIRED_IN_MATCH', preventedQuantity: '0.30000000' });
  });

  test('EXPIRE_BOTH: both orders expire in match', async () => {
    const maker = await restingSell('0.2');
    const taker = await order({ side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.3', price: ask, selfTradePreventionMode: 'EXPIRE_BOTH' });
    expect(taker).toMatchObject({ status: 'EXPIRED_IN_MATCH', fills: [], preventedQuantity: '0.30000000' });
    expect(taker['preventedMatches']).toEqual([expect.objectContaining({ takerPreventedQuantity: '0.30000000', makerPreventedQuantity: '0.20000000' })]);
    expect(await query(maker['orderId'])).toMatchObject({ status: 'EXPIRED_IN_MATCH', preventedQuantity: '0.20000000' });
    // Nothing of either order is left locked or on the book.
    expect(ex.balances(KEY)['BTC']!.locked).toBe('0.00000000');
    expect(ex.balances(KEY)['USDT']!.locked).toBe('0.00000000');
    expect((await depth(ex.url, 'BTCUSDT', 1)).asks[0]).toEqual([ask, askQty]);
  });

  test('DECREMENT: both lose the smaller quantity; the smaller order expires, the other keeps working with less', async () => {
    const maker = await restingSell('0.5');
    const taker = await order({ side: 'BUY', type: 'MARKET', quantity: '0.2', selfTradePreventionMode: 'DECREMENT' });
    expect(taker).toMatchObject({ status: 'EXPIRED_IN_MATCH', executedQty: '0.00000000', preventedQuantity: '0.20000000' });
    expect(taker['preventedMatches']).toEqual([expect.objectContaining({ takerPreventedQuantity: '0.20000000', makerPreventedQuantity: '0.20000000' })]);
    expect(await query(maker['orderId'])).toMatchObject({ status: 'NEW', origQty: '0.50000000', preventedMatchId: 0, preventedQuantity: '0.20000000' });
    // Its lock shrank with it, and the depth shows only what is left of it.
    expect(ex.balances(KEY)['BTC']!.locked).toBe('0.30000000');
    expect((await depth(ex.url, 'BTCUSDT', 1)).asks[0]).toEqual([ask, dec(askQty).plus('0.3').toFixed(8)]);
    // original - executed - prevented is what can still fill: the price crossing fills 0.3 and it is done.
    ex.setPrice('BTCUSDT', dec(ask).plus(1).toFixed(2));
    expect(await query(maker['orderId'])).toMatchObject({ status: 'FILLED', executedQty: '0.30000000', preventedQuantity: '0.20000000' });
    expect(ex.balances(KEY)['BTC']!.locked).toBe('0.00000000');
  });

  test('DECREMENT with the larger taker: the resting order expires, the taker fills the rest from the book', async () => {
    const maker = await restingSell('0.1');
    const taker = await order({ side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.3', price: ask, selfTradePreventionMode: 'DECREMENT' });
    expect(taker).toMatchObject({ status: 'FILLED', executedQty: '0.20000000', preventedQuantity: '0.10000000' });
    expect(taker['fills']).toEqual([expect.objectContaining({ price: ask, qty: '0.20000000' })]);
    expect(await query(maker['orderId'])).toMatchObject({ status: 'EXPIRED_IN_MATCH', preventedQuantity: '0.10000000' });
  });

  test('NONE: the orders trade with each other (a self-trade), both sides in myTrades with one trade id', async () => {
    const maker = await restingSell('0.2');
    const taker = await order({ side: 'BUY', type: 'MARKET', quantity: '0.2', selfTradePreventionMode: 'NONE' });
    expect(taker).toMatchObject({ status: 'FILLED', selfTradePreventionMode: 'NONE' });
    expect(taker).not.toHaveProperty('preventedMatches');
    const fill = (taker['fills'] as Json[])[0]!;
    expect(fill).toMatchObject({ price: ask, qty: '0.20000000' });
    expect(await query(maker['orderId'])).toMatchObject({ status: 'FILLED', executedQty: '0.20000000' });
    const trades = (await call('GET', '/api/v3/myTrades', { symbol: 'BTCUSDT' })).json as unknown as Json[];
    expect(trades.map((t) => [t['id'], t['isMaker'], t['isBuyer']])).toEqual([
      [fill['tradeId'], false, true],
      [fill['tradeId'], true, false],
    ]);
  });

  test('TRANSFER within one account acts as DECREMENT', async () => {
    await restingSell('0.5', 'TRANSFER');
    const taker = await order({ side: 'BUY', type: 'MARKET', quantity: '0.2', selfTradePreventionMode: 'TRANSFER' });
    expect(taker).toMatchObject({ status: 'EXPIRED_IN_MATCH', preventedQuantity: '0.20000000', selfTradePreventionMode: 'TRANSFER' });
    const matches = (await call('GET', '/api/v3/myPreventedMatches', { symbol: 'BTCUSDT', preventedMatchId: '0' })).json as unknown as Json[];
    expect(matches).toEqual([expect.objectContaining({ selfTradePreventionMode: 'TRANSFER', takerPreventedQuantity: '0.20000000', makerPreventedQuantity: '0.20000000' })]);
  });

  test('GET /api/v3/myPreventedMatches by preventedMatchId (weight 2) and by orderId (weight 20)', async () => {
    const maker = await restingSell('0.2');
    const taker = await order({ side: 'BUY', type: 'MARKET', quantity: '0.3' });
    const byId = await call('GET', '/api/v3/myPreventedMatches', { symbol: 'BTCUSDT', preventedMatchId: '0' });
    expect(byId.json).toEqual([
      {
        symbol: 'BTCUSDT',
        preventedMatchId: 0,
        takerOrderId: taker['orderId'],
        makerSymbol: 'BTCUSDT',
        makerOrderId: maker['orderId'],
        tradeGroupId: -1,
        selfTradePreventionMode: 'EXPIRE_MAKER',
        price: ask,
        makerPreventedQuantity: '0.20000000',
        transactTime: expect.any(Number),
      },
    ]);
    const before = byId.weight;
    const byOrder = await call('GET', '/api/v3/myPreventedMatches', { symbol: 'BTCUSDT', orderId: String(maker['orderId']) });
    expect(byOrder.json).toEqual(byId.json);
    expect(byOrder.weight - before).toBe(20);
    expect((await call('GET', '/api/v3/myPreventedMatches', { symbol: 'BTCUSDT' })).json).toMatchObject({ code: -1102 });
  });

  test('a mode the symbol does not allow is -1013; an unknown mode is -1100; order/test checks it too', async () => {
    const strict = await startPaperExchange({
      priceStepMs: 0,
      accounts: [{ apiKey: KEY, apiSecret: SECRET }],
      symbols: DEFAULT_SYMBOLS.map((s) => (s.symbol === 'BTCUSDT' ? { ...s, defaultSelfTradePreventionMode: 'NONE' as const, allowedSelfTradePreventionModes: ['NONE' as const, 'EXPIRE_TAKER' as const] } : s)),
    });
    try {
      strict.setPrice('BTCUSDT', '50000.00');
      const base = { symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.01', price: '49000.00' };
      for (const path of ['/api/v3/order', '/api/v3/order/test']) {
        const r = await signed(strict.url, 'POST', path, { ...base, selfTradePreventionMode: 'EXPIRE_MAKER' }, KEY, SECRET);
        expect([path, r.status, r.json]).toEqual([path, 400, { code: -1013, msg: 'This symbol does not allow the specified self-trade prevention mode.' }]);
      }
      const bad = await signed(strict.url, 'POST', '/api/v3/order', { ...base, selfTradePreventionMode: 'SOMETIMES' }, KEY, SECRET);
      expect(bad.json).toMatchObject({ code: -1100 });
      const ok = await signed(strict.url, 'POST', '/api/v3/order', { ...base, newOrderRespType: 'RESULT' }, KEY, SECRET);
      expect(ok.json).toMatchObject({ status: 'NEW', selfTradePreventionMode: 'NONE' });
      const info = (await (await fetch(`${strict.url}/api/v3/exchangeInfo?symbol=BTCUSDT`)).json()) as { symbols: Json[] };
      expect(info.symbols[0]).toMatchObject({ defaultSelfTradePreventionMode: 'NONE', allowedSelfTradePreventionModes: ['NONE', 'EXPIRE_TAKER'] });
    } finally {
      await strict.close();
    }
  });

  test('a triggered stop is a taker too: STOP_LOSS BUY meeting its own resting SELL applies STP', async () => {
    const maker = await order({ side: 'SELL', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.2', price: '50100.00' });
    const stop = await order({ side: 'BUY', type: 'STOP_LOSS', quantity: '0.1', stopPrice: '50099.00', selfTradePreventionMode: 'EXPIRE_TAKER', newOrderRespType: 'RESULT' });
    expect(stop['status']).toBe('NEW');
    // The price reaches the stop but not the resting SELL at 50100.00, which is then the best ask
    // (the synthetic touch is 1-3 ticks above 50099.99): the triggered BUY meets it first.
    ex.setPrice('BTCUSDT', '50099.99');
    expect((await depth(ex.url, 'BTCUSDT', 1)).asks[0]![0]).toBe('50100.00000000');
    expect(await query(stop['orderId'])).toMatchObject({ isWorking: true, status: 'EXPIRED_IN_MATCH', executedQty: '0.00000000', preventedQuantity: '0.10000000' });
    expect(await query(maker['orderId'])).toMatchObject({ status: 'NEW' });
  });
});
