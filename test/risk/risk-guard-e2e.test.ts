/**
 * The pre-trade risk guard through the real TradeExecution workflow (Temporal dev server, the
 * worker, PostgreSQL, the paper exchange over HTTP): each rule refuses a trade with its name, the
 * trade ends `rejected`, and nothing reaches the exchange. Small limits, so that ordinary sizes
 * on the paper account cross them.
 */
import { dec } from '../../src/shared/decimal';
import { startTradeHarness, type TradeHarness } from '../support/trade-harness';

let h: TradeHarness;
const BTC = 'BTCUSDT';

beforeAll(async () => {
  h = await startTradeHarness({
    name: 'riskguard',
    risk: { maxOrderNotional: '1000', maxPositionNotional: '1500', priceCollarPct: '10', passivePriceCollarPct: '50', maxOrdersPerMinute: 5 },
  });
}, 120_000);
afterAll(() => h?.stop());
beforeEach(() => h.paper.setPrice(BTC, '60000'));

/** Runs a decision to its end; the exchange's orders for it. */
async function run(name: string, decision: Record<string, unknown>) {
  const id = h.id(name);
  const final = await h.result(await h.start({ decision_id: id, ...decision }));
  const sent = h.paper.orders(BTC).filter((o) => o.clientOrderId.includes(id));
  return { final, sent };
}

test('price_collar: a LIMIT at ten times the mark is refused, nothing sent', async () => {
  const { final, sent } = await run('collar', { order_type: 'LIMIT', limit_price: '600000', approved_size: '0.001' });
  expect(final.status).toBe('rejected');
  expect(final.error).toMatch(/price_collar: BUY LIMIT price 600000 is 900 % above the mark 60000 of BTCUSDT/);
  expect(sent).toEqual([]);
});

test('max_order_notional: 0.02 BTC (1,200) against a 1,000 limit is refused, nothing sent', async () => {
  const { final, sent } = await run('notional', { approved_size: '0.02' });
  expect(final.status).toBe('rejected');
  expect(final.error).toMatch(/max_order_notional: BUY 0\.02 BTCUSDT is 1200 in the quote asset, above the limit of 1000 per order/);
  expect(sent).toEqual([]);
});

test('max_position_notional: the second 0.015 BTC buy would make the position 1,800 > 1,500', async () => {
  const first = await run('pos1', { approved_size: '0.015' });
  expect(first.final.status).toBe('filled');
  const second = await run('pos2', { approved_size: '0.015' });
  expect(second.final.status).toBe('rejected');
  // The first buy's fee was paid in BTC: 0.015 less 0.1 %. The mark is that buy's own fill: the
  // best ask, a few ticks above 60000 (the book has a spread), so the worth is 0.029985 x ask.
  const ask = dec(first.final.orders[0]!.fills.avgPrice);
  expect(ask.gt(60000) && ask.lt('60000.10')).toBe(true);
  expect(second.final.error).toContain(
    `max_position_notional: BTCUSDT position would go from 0.014985 to 0.029985, worth ${dec('0.029985').mul(ask).toFixed()} at the mark ${ask.toFixed()}, above the limit of 1500`,
  );
  expect(second.sent).toEqual([]);
  // Selling reduces the position: never refused.
  const sell = await run('pos3', { original_signal: 0, approved_size: '0.01' });
  expect(sell.final.status).toBe('filled');
});

test('max_order_rate: past 5 orders in a minute the next trade is refused', async () => {
  let refused: { error?: string } | undefined;
  for (let i = 0; i < 8 && !refused; i++) {
    const { final, sent } = await run(`rate${i}`, { approved_size: '0.0001' });
    if (final.status === 'rejected') {
      refused = final;
      expect(sent).toEqual([]);
    } else expect(final.status).toBe('filled');
  }
  expect(refused?.error).toMatch(/max_order_rate: the account sent ([5-9]|\d\d+) orders in the last minute; the limit is 5 per minute/);
}, 120_000);

test('expired: a workflow whose MARKET decision is 10 minutes old when the worker gets to it is refused, nothing sent', async () => {
  // As after a worker outage: the bridge started the workflow in time, no worker ran it until now.
  const { final, sent } = await run('stale', { approved_size: '0.001', timestamp: Date.now() - 10 * 60_000 });
  expect(final.status).toBe('rejected');
  expect(final.error).toMatch(/^expired: timestamp \d+ .* is \d+ ms old, older than DECISION_MAX_AGE_MS=60000 for a MARKET order; not executed/);
  expect(sent).toEqual([]);
});
