/**
 * Issue 11, item 12: a -1021 that survives the client's one resync must be retried by Temporal,
 * not end the trade. The exchange's clock falls 1.5 s behind for a few seconds, so every signed
 * request is "1000 ms ahead of the server's time" (-1021); the client resyncs once, but the
 * time request is slow (its answer is read 3 s after it was sent, the server's clock read late),
 * so the measured offset is off by half of that and the resent request is refused again. The
 * submission must come back after a delay (never a zero next-retry delay: on this dev server
 * that ends the retries) and the MARKET decisions end filled, each with exactly one order.
 */
import { useTradeHarness, type TradeHarness } from '../support/trade-harness';

const BTC = 'BTCUSDT';

const h = useTradeHarness({ name: 'skewresync', recvWindowMs: 2000 }, { price: false, clearFaults: false });

test('MARKET decisions submitted while the exchange clock is 1.5 s behind and the resync is slow end filled, once each', async () => {
  h.paper.setPrice(BTC, '60000');
  await h.svc.exchange.cachedExchangeInfo();
  await h.svc.exchange.syncTime();
  // The resync's request is slow: the server reads its clock 3 s after it was sent.
  const slowTime = h.paper.faults.inject({ kind: 'latency', ms: 3000, method: 'GET', path: '/api/v3/time' });
  const skew = h.paper.faults.inject({ kind: 'clockSkew', ms: -1500 });

  const handles = await Promise.all([1, 2, 3].map((n) => h.start({ decision_id: h.id(`m${n}`) })));
  const clearSkew = new Promise<void>((resolve) =>
    setTimeout(() => {
      h.paper.faults.clear(skew);
      resolve();
    }, 6000),
  );
  const finals = await Promise.all(handles.map(async (handle) => h.result(handle).catch(async () => h.state(handle))));
  await clearSkew;

  // The slow resync happened (the -1021 did survive it).
  expect(h.paper.faults.hits.get(slowTime)).toBe(1);
  for (const final of finals) {
    const cid = final.orders[0]!.intent.clientOrderId;
    expect({ cid, status: final.status, error: final.error ?? null }).toMatchObject({ status: 'filled' });
    expect(h.paper.orders(BTC).filter((o) => o.clientOrderId === cid).map((o) => o.status)).toEqual(['FILLED']);
  }
}, 150_000);
