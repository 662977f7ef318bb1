/**
 * Issue 13: self-trade prevention as the service sends it (BINANCE_STP_MODE, default
 * EXPIRE_TAKER). When one of our trades would match another's resting order, the arriving
 * order expires EXPIRED_IN_MATCH (its response says so at once), the resting order keeps its
 * place, and the expiring trade ends with its reason. Real stack over HTTP.
 */
import { useTradeHarness, eventually, type TradeHarness } from '../support/trade-harness';

const BTC = 'BTCUSDT';

const h = useTradeHarness({ name: 'stp', stpMode: 'EXPIRE_TAKER' }, { price: false, clearFaults: false });

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

test("a protective stop that reaches our own resting BUY still trades (exits go EXPIRE_MAKER); the BUY expires in match and its trade says why", async () => {
  h.paper.setPrice(BTC, '60000.00');
  // Trade A: bought at market, protected by an OCO (take-profit 61000, stop 57000 / limit 56990).
  const protectedTrade = await h.start({ decision_id: h.id('exit'), approved_size: '0.001', stop_loss: '57000', stop_limit_price: '56990', take_profit: '61000' });
  const legs = await eventually('the bracket resting', async () => {
    const s = await h.state(protectedTrade);
    const bracket = s.orders.filter((o) => o.intent.purpose === 'bracket');
    return s.phase === 'bracket' && bracket.length === 2 && bracket.every((o) => h.paper.findOrder(BTC, o.intent.clientOrderId)?.status === 'NEW') ? bracket : undefined;
  }, 30_000);
  // Trade B: a resting BUY just under the stop.
  const buyer = await h.start({ decision_id: h.id('buyer'), order_type: 'LIMIT', limit_price: '56999.99', approved_size: '0.001', timeout_ms: 60_000 });
  const buyerId = await eventually('the BUY resting', async () => {
    const id = (await h.state(buyer)).orders[0]?.intent.clientOrderId;
    return id && h.paper.findOrder(BTC, id)?.status === 'NEW' ? id : undefined;
  }, 30_000);
  // The stop triggers at 57000; its SELL LIMIT at 56990 meets our BUY at 56999.99 first.
  h.paper.setPrice(BTC, '57000.00');
  const stopId = legs.find((o) => o.intent.type === 'STOP_LOSS_LIMIT')!.intent.clientOrderId;
  const stop = h.paper.findOrder(BTC, stopId)!;
  // What the entry bought less its commission, sold in full.
  expect([stop.status, stop.executedQty]).toEqual(['FILLED', stop.origQty]);
  expect(h.paper.findOrder(BTC, buyerId)?.status).toBe('EXPIRED_IN_MATCH');
  const exitFinal = await h.result(protectedTrade);
  expect(exitFinal.protection).toEqual({ status: 'placed' });
  const buyerFinal = await h.result(buyer);
  expect(buyerFinal.status).toBe('expired');
  expect(buyerFinal.error).toMatch(/expired in match: self-trade prevention/);
});
