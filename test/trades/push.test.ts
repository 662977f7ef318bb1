/**
 * Fills arrive by push: the worker's user data stream signals the owning workflow, so a resting
 * order is followed without REST polling; after a gap in the stream, the watched orders are
 * recovered with one openOrders per symbol, and only those that changed are signalled.
 */
import { eventually, startTradeHarness, type TradeHarness } from '../support/trade-harness';

let h: TradeHarness;

beforeAll(async () => {
  h = await startTradeHarness({ name: 'push' });
  h.paper.setPrice('BTCUSDT', '60000');
  await eventually('the user data stream to subscribe', () => h.paper.ws.stats().subscriptions > 0);
}, 120_000);
afterAll(() => h?.stop());
beforeEach(() => h.paper.setPrice('BTCUSDT', '60000'));

const queries = () => h.paper.requestCounts()['GET /api/v3/order'] ?? 0;
const openOrderReads = () => h.paper.requestCounts()['GET /api/v3/openOrders'] ?? 0;

test('a resting LIMIT order learns of its fill by push', async () => {
  const handle = await h.start({ decision_id: h.id('limit'), order_type: 'LIMIT', limit_price: '59000', timeout_ms: 120_000 });
  await eventually('the NEW event to be pushed', async () => {
    const s = await h.state(handle);
    return s.status === 'working' && s.orders[0]!.transitions.length > 0 ? s : undefined;
  });
  const routedBefore = h.svc.orderUpdates!.stats.routed;
  h.paper.setPrice('BTCUSDT', '58900');
  const final = await h.result(handle);
  expect(final.status).toBe('filled');
  expect(h.svc.orderUpdates!.stats.routed).toBeGreaterThan(routedBefore);
  expect(final.orders[0]!.transitions.at(-1)!.reason).toMatch(/^push: FILLED/);
});

test('after the stream drops, a fill that happened during the gap is recovered with openOrders and pushed', async () => {
  const handle = await h.start({ decision_id: h.id('gap'), order_type: 'LIMIT', limit_price: '59000', timeout_ms: 120_000 });
  await eventually('resting', async () => (await h.state(handle)).status === 'working');
  h.paper.ws.freeze(true);
  h.paper.setPrice('BTCUSDT', '58900'); // fills while no event can be delivered
  const recoveredBefore = h.svc.orderUpdates!.stats.recovered;
  const openReadsBefore = openOrderReads();
  h.paper.ws.freeze(false);
  h.paper.ws.dropConnections();
  const final = await h.result(handle);
  expect(final.status).toBe('filled');
  await eventually('the recovery to have run', () => h.svc.orderUpdates!.stats.recovered > recoveredBefore);
  expect(openOrderReads()).toBeGreaterThan(openReadsBefore);
  h.paper.setPrice('BTCUSDT', '60000');
}, 90_000);

test('after a gap, an order the exchange did not change is read with its symbol\'s openOrders and not signalled', async () => {
  const handle = await h.start({ decision_id: h.id('unchanged'), order_type: 'LIMIT', limit_price: '59000', timeout_ms: 120_000 });
  await eventually('resting', async () => (await h.state(handle)).status === 'working');
  await eventually('the order to be watched', () => h.svc.orderUpdates!.coverage.watched.size > 0);
  const router = h.svc.orderUpdates!;
  const before = { routed: router.stats.routed, recovered: router.stats.recovered, queries: queries(), openReads: openOrderReads() };
  h.paper.ws.dropConnections();
  await eventually('the recovery to have run', () => router.stats.recovered > before.recovered);
  expect(openOrderReads() - before.openReads).toBe(1);
  expect(queries() - before.queries).toBe(0);
  expect(router.stats.routed).toBe(before.routed);
  h.paper.setPrice('BTCUSDT', '58900');
  const final = await h.result(handle);
  expect(final.orders[0]!.transitions.at(-1)!.reason).toMatch(/^push: FILLED/);
  h.paper.setPrice('BTCUSDT', '60000');
}, 90_000);

test('with push working, a resting LIMIT order is never polled on its own', async () => {
  const before = queries();
  const handle = await h.start({ decision_id: h.id('quiet'), order_type: 'LIMIT', limit_price: '59000', timeout_ms: 120_000 });
  await eventually('resting', async () => (await h.state(handle)).status === 'working');
  // Polling alone would have asked at 1, 2 and 4 s; the stream vouches for the order instead.
  await new Promise((r) => setTimeout(r, 8000));
  expect(queries() - before).toBe(0);
  h.paper.setPrice('BTCUSDT', '58900');
  const final = await h.result(handle);
  expect(final.status).toBe('filled');
  expect(final.orders[0]!.transitions.at(-1)!.reason).toMatch(/^push: FILLED/);
  expect(queries() - before).toBe(0);
}, 60_000);

test('a MARKET order its response shows filled is not signalled: the FILLED event would only wake the workflow again', async () => {
  const routedBefore = h.svc.orderUpdates!.stats.routed;
  const handle = await h.start({ decision_id: h.id('market') });
  expect((await h.result(handle)).status).toBe('filled');
  await new Promise((r) => setTimeout(r, 1000)); // any event still on its way
  const history = await handle.fetchHistory();
  expect(history.events!.filter((e) => e.workflowExecutionSignaledEventAttributes).length).toBe(0);
  expect(h.svc.orderUpdates!.stats.routed).toBe(routedBefore);
  expect(h.svc.orderUpdates!.coverage.watched.size).toBe(0);
});

test('while the stream stays down, the watched orders are re-read with openOrders and a fill is signalled', async () => {
  const handle = await h.start({ decision_id: h.id('down'), order_type: 'LIMIT', limit_price: '59000', timeout_ms: 300_000 });
  await eventually('resting and watched', async () => (await h.state(handle)).status === 'working' && h.svc.orderUpdates!.coverage.watched.size > 0);
  const openReadsBefore = openOrderReads();
  try {
    // Every connection, the new ones too, neither delivers nor answers: the stream cannot come back.
    h.paper.ws.freeze(true);
    h.paper.ws.dropConnections();
    h.paper.setPrice('BTCUSDT', '58900');
    // Covered before the drop, the workflow sleeps for minutes: only the router's re-read wakes it.
    const final = await h.result(handle);
    expect(final.status).toBe('filled');
    expect(final.orders[0]!.transitions.at(-1)!.reason).toMatch(/^push: FILLED/);
    expect(openOrderReads()).toBeGreaterThan(openReadsBefore);
  } finally {
    h.paper.ws.freeze(false);
    h.paper.ws.dropConnections();
    h.paper.setPrice('BTCUSDT', '60000');
  }
}, 120_000);
