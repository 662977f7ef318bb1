/**
 * `serverShutdown` on the WebSocket API while an order rests: the worker's user data stream
 * hands over to a new connection before the old one closes, so a fill during the handover
 * reaches the workflow by push, with no gap (no openOrders recovery) and no REST poll.
 */
import { eventually, startTradeHarness, type TradeHarness } from '../support/trade-harness';

let h: TradeHarness;

beforeAll(async () => {
  h = await startTradeHarness({ name: 'server_shutdown' });
  h.paper.setPrice('BTCUSDT', '60000');
  await eventually('the user data stream to subscribe', () => h.paper.ws.stats().subscriptions > 0);
}, 120_000);
afterAll(() => h?.stop());

const queries = (): number => h.paper.requestCounts()['GET /api/v3/order'] ?? 0;
const openOrderReads = (): number => h.paper.requestCounts()['GET /api/v3/openOrders'] ?? 0;

test('resting orders filled while the exchange announces serverShutdown, and after the handover, learn of it by push, with no gap', async () => {
  const first = await h.start({ decision_id: h.id('sd1'), order_type: 'LIMIT', limit_price: '59000', timeout_ms: 120_000 });
  const second = await h.start({ decision_id: h.id('sd2'), order_type: 'LIMIT', limit_price: '58000', timeout_ms: 120_000 });
  await eventually('both resting and watched', async () =>
    (await h.state(first)).status === 'working' && (await h.state(second)).status === 'working' && h.svc.orderUpdates!.coverage.watched.size >= 2);
  const router = h.svc.orderUpdates!;
  const before = { recovered: router.stats.recovered, queries: queries(), openReads: openOrderReads(), routed: router.stats.routed };

  // The old connection keeps delivering for 1.5 s; this fill's event is sent on it (and, if the
  // replacement is subscribed by then, on the new one too): either way it must be pushed once.
  expect(h.paper.ws.serverShutdown({ closeAfterMs: 1500 }).connections).toBeGreaterThanOrEqual(1);
  h.paper.setPrice('BTCUSDT', '58900');
  const one = await h.result(first);
  expect(one.status).toBe('filled');
  expect(one.orders[0]!.transitions.at(-1)!.reason).toMatch(/^push: FILLED/);

  // The old connection closes; the stream stays subscribed on the new one, which delivers.
  await eventually('the old connection to be gone', () => h.paper.ws.stats().connections === 1, 10_000);
  expect(h.paper.ws.stats().subscriptions).toBe(1);
  h.paper.setPrice('BTCUSDT', '57900');
  const two = await h.result(second);
  expect(two.status).toBe('filled');
  expect(two.orders[0]!.transitions.at(-1)!.reason).toMatch(/^push: FILLED/);
  expect(router.stats.routed).toBeGreaterThanOrEqual(before.routed + 2);

  // No gap: nothing was recovered, nothing was polled.
  expect(router.stats.recovered).toBe(before.recovered);
  expect(openOrderReads()).toBe(before.openReads);
  expect(queries()).toBe(before.queries);
  h.paper.setPrice('BTCUSDT', '60000');
}, 90_000);
