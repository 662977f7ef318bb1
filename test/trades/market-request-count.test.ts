/**
 * Issue 12, exchange cost: a filled MARKET order costs one REST request (the order). Its FULL
 * response carries every fill with trade id and commission, so settleFills books those without
 * myTrades; the mark for prepareOrder's notional check and the risk guard comes from the
 * worker's one mark cache, which a burst of orders refreshes once, not once per order.
 * myTrades stays the fallback when the response's fills do not cover what was executed.
 */
import { dec } from '../../src/shared/decimal';
import { eventually, startTradeHarness, type TradeHarness } from '../support/trade-harness';

const BTC = 'BTCUSDT';
let h: TradeHarness;
beforeAll(async () => {
  h = await startTradeHarness({ name: 'market-requests' });
  // A loaded machine may take seconds between a trade's steps; the figures here are counts, not
  // timings, so the cache's trading age limit (2 s by default) is lifted for this test.
  h.svc.marks.tradingMaxAgeMs = 10 * 60_000;
  // The process's first signed request syncs the clock and reads exchangeInfo (cached for
  // minutes): a cost per worker start, not per order, so one trade warms up first.
  h.paper.setPrice(BTC, '60000');
  expect((await h.result(await h.start({ decision_id: h.id('warm-up') }))).status).toBe('filled');
});
afterAll(() => h?.stop());


/** Requests per endpoint made while `fn` ran (the paper exchange counts every REST request). */
async function requestsDuring(fn: () => Promise<unknown>): Promise<Record<string, number>> {
  const before = h.paper.requestCounts();
  await fn();
  const after = h.paper.requestCounts();
  return Object.fromEntries(Object.entries(after).map(([k, n]) => [k, n - (before[k] ?? 0)]).filter(([, n]) => (n as number) > 0));
}

async function bookedFills(clientOrderId: string) {
  const r = await h.pg.query<{ trade_id: string; qty: string; price: string; quote_qty: string; commission: string }>(
    'SELECT trade_id::text, qty::text, price::text, quote_qty::text, commission::text FROM fills WHERE client_order_id = $1 ORDER BY trade_id',
    [clientOrderId],
  );
  return r.rows;
}

test('a MARKET trade with a known mark: exactly one REST request, the order; its fills booked once each from the response', async () => {
  h.paper.setPrice(BTC, '60000');
  h.svc.marks.set(BTC, '60000');
  let final: Awaited<ReturnType<TradeHarness['result']>> | undefined;
  const counts = await requestsDuring(async () => {
    final = await h.result(await h.start({ decision_id: h.id('primed'), approved_size: '0.002' }));
  });
  expect(final!.status).toBe('filled');
  expect(counts).toEqual({ 'POST /api/v3/order': 1 });

  const order = final!.orders[0]!;
  const venue = h.paper.trades(BTC).filter((t) => t.orderId === order.exchange!.orderId);
  expect(venue.length).toBeGreaterThan(0);
  const booked = await bookedFills(order.intent.clientOrderId);
  expect(booked.map((f) => Number(f.trade_id))).toEqual(venue.map((t) => t.id).sort((a, b) => a - b));
  expect(dec(order.fills.filledQty).eq(order.exchange!.executedQty)).toBe(true);
});

test('a burst of MARKET trades with a cold mark: one ticker between them (prepareOrder and the risk guard share it), one order each, no myTrades', async () => {
  h.paper.setPrice(BTC, '60100');
  h.svc.marks.clear();
  const n = 5;
  const counts = await requestsDuring(async () => {
    const handles = await Promise.all(Array.from({ length: n }, (_, i) => h.start({ decision_id: h.id(`cold-${i}`), original_signal: i % 2 === 0 ? 2 : 0, approved_size: '0.001' })));
    const finals = await Promise.all(handles.map((x) => h.result(x)));
    expect(finals.map((f) => f.status)).toEqual(Array(n).fill('filled'));
  });
  expect(counts['POST /api/v3/order']).toBe(n);
  expect(counts['GET /api/v3/myTrades']).toBeUndefined();
  expect(counts['GET /api/v3/ticker/price']).toBe(1);
});

test('an order whose fills the response does not carry (a LIMIT filled while resting) is settled by myTrades', async () => {
  h.paper.setPrice(BTC, '60000');
  const handle = await h.start({ decision_id: h.id('limit'), order_type: 'LIMIT', limit_price: '59000', timeout_ms: 120_000 });
  await eventually('the LIMIT order to rest', async () => (await h.state(handle)).status === 'working' || undefined);
  let final: Awaited<ReturnType<TradeHarness['result']>> | undefined;
  const counts = await requestsDuring(async () => {
    h.paper.setPrice(BTC, '58900');
    final = await h.result(handle);
  });
  expect(final!.status).toBe('filled');
  expect(counts['GET /api/v3/myTrades']).toBeGreaterThanOrEqual(1);
  const order = final!.orders[0]!;
  const booked = await bookedFills(order.intent.clientOrderId);
  expect(booked.length).toBeGreaterThan(0);
  expect(dec(order.fills.filledQty).eq(order.exchange!.executedQty)).toBe(true);
});
