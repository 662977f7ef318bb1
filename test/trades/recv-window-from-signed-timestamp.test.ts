/**
 * Issue 11, item 5: the recvWindow wait before "absent" is trusted must start from the
 * `timestamp` signed into the request that went out, not from before the client waited for a
 * send slot. Here every one of the client's send slots is held (slow requests) when the order
 * is submitted, so the order request is signed seconds after the activity decided to send it;
 * its connection then drops and the request lands at the exchange 1 s later, inside its
 * recvWindow (2 s), and executes. Measured from before the slot wait, the recvWindow looks
 * long over when the connection drops: the order is "absent", and a resend makes a second
 * order with the same client order id. Measured from the signed timestamp: exactly one.
 */
import { eventually, useTradeHarness, type TradeHarness } from '../support/trade-harness';

const BTC = 'BTCUSDT';
const RECV_WINDOW_MS = 2000;
/** The client's send slots (BinanceClientOptions.connections, default 8). */
const SLOTS = 8;

const h = useTradeHarness({ name: 'signedts', recvWindowMs: RECV_WINDOW_MS }, { price: false, clearFaults: false });

test('an order signed after a wait for a send slot lands late inside its recvWindow: one order, adopted, never resent', async () => {
  h.paper.setPrice(BTC, '60000');
  // Warm what the trade's planning reads (exchange rules, the risk guard's mark), so that the
  // order request is the first one of the trade to need a send slot.
  await h.svc.exchange.syncTime();
  await h.svc.exchange.cachedExchangeInfo();
  await h.svc.marks.get([BTC]);

  // Hold every send slot of the worker's client for 5 s.
  const hold = h.paper.faults.inject({ kind: 'latency', ms: 5000, method: 'GET', path: '/api/v3/ticker/price', times: SLOTS });
  const held = Array.from({ length: SLOTS }, () => h.svc.exchange.tickerPrice(BTC));
  await eventually('every send slot to be held', () => (h.paper.faults.hits.get(hold) ?? 0) >= SLOTS, 30_000);
  const late = h.paper.faults.inject({ kind: 'lateLanding', ms: 1000, method: 'POST', path: '/api/v3/order' });

  // A marketable LIMIT (BUY above the last price) fills at once and needs no ticker to plan.
  const handle = await h.start({ decision_id: h.id('late'), order_type: 'LIMIT', limit_price: '61000' });
  await Promise.all(held);
  const final = await h.result(handle);

  // The late request has landed (a trade that resent at once may have ended before it did).
  expect(h.paper.faults.hits.get(late)).toBe(1);
  const landing = await eventually('the late request to land', () => h.paper.faults.landings.find((l) => l.faultId === late), 30_000);
  const cid = final.orders[0]!.intent.clientOrderId;
  expect(h.paper.orders(BTC).filter((o) => o.clientOrderId === cid).map((o) => o.status)).toEqual(['FILLED']);
  // It executed: the one order is the late one, adopted, not a resend.
  expect(landing.executed).toBe(true);
  expect(final.status).toBe('filled');
  expect(final.orders[0]!.fills.filledQty).toBe('0.001');
}, 120_000);
