/**
 * Issue 13: self-trade prevention as the service sends it (BINANCE_STP_MODE, default
 * EXPIRE_TAKER). When one of our trades would match another's resting order, the arriving
 * order expires EXPIRED_IN_MATCH (its response says so at once), the resting order keeps its
 * place, and the expiring trade ends with its reason. Real stack over HTTP.
 */
import { startTradeHarness, eventually, type TradeHarness } from '../support/trade-harness';

let h: TradeHarness;
const BTC = 'BTCUSDT';

beforeAll(async () => {
  h = await startTradeHarness({ name: 'stp', stpMode: 'EXPIRE_TAKER' });
}, 120_000);
afterAll(() => h?.stop());

test('a MARKET BUY that reaches our own resting SELL expires in match; the SELL keeps resting, nothing trades with itself', async () => {
  h.paper.setPrice(BTC, '60000.00');
  // Our SELL at one tick above the last price: the best ask (the synthetic book starts 1-3 ticks up).
  const resting = await h.start({ decision_id: h.id('maker'), original_signal: 0, order_type: 'LIMIT', limit_price: '60000.01', approved_size: '0.002', timeout_ms: 60_000 });
  const makerId = await eventually('the SELL resting', async () => {
    const s = await h.state(resting);
    const id = s.orders[0]?.intent.clientOrderId;
    return id && h.paper.findOrder(BTC, id)?.status === 'NEW' ? id : undefined;
  }, 30_000);
  const before = h.paper.trades(BTC).length;

  const taker = await h.start({ decision_id: h.id('taker'), approved_size: '0.001' });
  const final = await h.result(taker);
  const takerOrder = h.paper.findOrder(BTC, final.orders[0]!.intent.clientOrderId)!;
  expect([takerOrder.status, takerOrder.executedQty]).toEqual(['EXPIRED_IN_MATCH', '0.00000000']);
  expect(final.orders[0]!.state).toBe('expired');
  expect(final.status).toBe('expired');
  expect(final.error).toMatch(/self-trade prevention/);
  // The maker is untouched and no trade happened between the two.
  expect(h.paper.findOrder(BTC, makerId)).toMatchObject({ status: 'NEW', executedQty: '0.00000000' });
  expect(h.paper.trades(BTC).slice(before).filter((t) => t.orderId === takerOrder.orderId)).toEqual([]);
  await resting.executeUpdate('cancel', { args: [{ reason: 'test done' }] });
  await h.result(resting).catch(() => undefined);
});
