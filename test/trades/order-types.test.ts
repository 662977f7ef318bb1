/**
 * Every order type through the real workflow on the real Temporal dev server, against the paper
 * exchange over HTTP. Prices move only when a test moves them (price walk off).
 */
import { DEFAULT_RISK_LIMITS } from '../../src/risk/pre-trade-guard';
import { dec } from '../../src/shared/decimal';
import { startTradeHarness, eventually, type TradeHarness } from '../support/trade-harness';
import { readReports } from '../support/streams';

let h: TradeHarness;
const BTC = 'BTCUSDT';

beforeAll(async () => {
  h = await startTradeHarness({
    name: 'ordertypes',
    paper: { accounts: [{ apiKey: 'ot-key', apiSecret: 'ot-secret', balances: { USDT: '10000000', BTC: '20', ETH: '100', BNB: '1000' } }] },
    // The 3 BTC order below is deliberately larger than the default fat-finger limit.
    risk: { ...DEFAULT_RISK_LIMITS, maxOrderNotional: '1000000', maxPositionNotional: '1000000' },
  });
}, 120_000);
afterAll(() => h?.stop());
beforeEach(() => h.paper.setPrice(BTC, '60000'));

const working = (handle: Parameters<TradeHarness['state']>[0]) =>
  eventually('the order to rest on the exchange', async () => {
    const s = await h.state(handle);
    return s.status === 'working' && s.orders.every((o) => o.exchange) ? s : undefined;
  });

test('LIMIT rests below the market and fills when the price crosses it', async () => {
  const handle = await h.start({ decision_id: h.id('limit'), order_type: 'LIMIT', limit_price: '59000', approved_size: '0.002' });
  const resting = await working(handle);
  const cid = resting.orders[0]!.intent.clientOrderId;
  expect(h.paper.findOrder(BTC, cid)?.status).toBe('NEW');

  h.paper.setPrice(BTC, '58900');
  const final = await h.result(handle);
  expect(final.status).toBe('filled');
  expect(final.orders[0]!.fills.filledQty).toBe('0.002');
  // A resting BUY fills at its limit or better.
  expect(Number(final.orders[0]!.fills.avgPrice)).toBeLessThanOrEqual(59000);
  expect(final.orders[0]!.transitions.map((t) => t.to)).toEqual(['submitted', 'filled']);
});

test('STOP_LOSS_LIMIT BUY triggers above the market, then fills as a limit', async () => {
  const handle = await h.start({
    decision_id: h.id('stoploss'),
    order_type: 'STOP_LOSS_LIMIT',
    stop_price: '60500',
    limit_price: '60600',
  });
  const resting = await working(handle);
  expect(h.paper.findOrder(BTC, resting.orders[0]!.intent.clientOrderId)?.type).toBe('STOP_LOSS_LIMIT');
  h.paper.setPrice(BTC, '60550');
  const final = await h.result(handle);
  expect(final.status).toBe('filled');
  expect(Number(final.orders[0]!.fills.avgPrice)).toBeLessThanOrEqual(60600);
});

test('TAKE_PROFIT_LIMIT BUY triggers below the market, then fills as a limit', async () => {
  const handle = await h.start({
    decision_id: h.id('takeprofit'),
    order_type: 'TAKE_PROFIT_LIMIT',
    stop_price: '59500',
    limit_price: '59600',
  });
  await working(handle);
  h.paper.setPrice(BTC, '59450');
  const final = await h.result(handle);
  expect(final.status).toBe('filled');
  expect(Number(final.orders[0]!.fills.avgPrice)).toBeLessThanOrEqual(59600);
});

test('OCO: one leg fills and the other expires', async () => {
  const handle = await h.start({
    decision_id: h.id('oco'),
    order_type: 'OCO',
    take_profit_price: '59000',
    stop_price: '61000',
    stop_limit_price: '61100',
  });
  const resting = await working(handle);
  expect(resting.orders).toHaveLength(2);
  const [above, below] = resting.orders;
  expect(above!.intent.type).toBe('STOP_LOSS_LIMIT');
  expect(below!.intent.type).toBe('LIMIT_MAKER');

  h.paper.setPrice(BTC, '58900');
  const final = await h.result(handle);
  expect(final.status).toBe('filled');
  const byCid = (cid: string) => h.paper.findOrder(BTC, cid)!;
  expect(byCid(below!.intent.clientOrderId).status).toBe('FILLED');
  expect(byCid(above!.intent.clientOrderId).status).toBe('EXPIRED');
  expect(final.orders.map((o) => o.state).sort()).toEqual(['expired', 'filled']);
  const report = (await readReports(h.redis)).find((r) => r.report.workflow_id === handle.workflowId)!.report;
  expect(report.filled_quantity).toBe('0.001');
});

test('bracket: after the entry fills, an OCO protects what is held and one leg closes it', async () => {
  const handle = await h.start({
    decision_id: h.id('bracket'),
    approved_size: '0.01',
    take_profit: '61000',
    stop_loss: '59000',
  });
  const protecting = await eventually('the bracket to rest', async () => {
    const s = await h.state(handle);
    return s.phase === 'bracket' && s.status === 'working' ? s : undefined;
  });
  const entry = protecting.orders[0]!;
  const legs = protecting.orders.filter((o) => o.intent.purpose === 'bracket');
  expect(legs).toHaveLength(2);
  // The exit sells what is held after the base-asset fee, rounded down to the lot step.
  const held = Number(entry.fills.filledQty) - Number(entry.fills.commissions.BTC ?? '0');
  const exitQty = Number(legs[0]!.intent.quantity);
  expect(exitQty).toBeLessThanOrEqual(held);
  expect(held - exitQty).toBeLessThan(0.00001 + 1e-12);
  expect(legs.every((l) => l.intent.side === 'SELL')).toBe(true);

  h.paper.setPrice(BTC, '61100');
  const final = await h.result(handle);
  expect(final.phase).toBe('done');
  const exits = final.orders.filter((o) => o.intent.purpose === 'bracket');
  expect(exits.map((o) => o.state).sort()).toEqual(['expired', 'filled']);
  expect(exits.find((o) => o.state === 'filled')!.intent.type).toBe('LIMIT_MAKER');
});

test('a large MARKET order fills across several price levels; fills and fees add up exactly', async () => {
  const handle = await h.start({ decision_id: h.id('partial'), approved_size: '3' });
  const final = await h.result(handle);
  const fills = final.orders[0]!.fills;
  expect(fills.fills.length).toBeGreaterThan(1);
  expect(fills.filledQty).toBe('3');
  const quote = fills.fills.reduce((acc, f) => acc + Number(f.quoteQty), 0);
  expect(Number(fills.quoteQty)).toBeCloseTo(quote, 6);
  // Average price is the quantity-weighted mean of the fills, not the order's price field (0).
  expect(Number(fills.avgPrice)).toBeCloseTo(quote / 3, 6);
  const { rows } = await h.pg.query('SELECT count(*)::int AS n, sum(qty)::text AS qty FROM fills WHERE client_order_id = $1', [
    final.orders[0]!.intent.clientOrderId,
  ]);
  expect(rows[0].n).toBe(fills.fills.length);
  expect(Number(rows[0].qty)).toBe(3);
});

test('a SELL pays its commission in the quote asset', async () => {
  const final = await h.result(await h.start({ decision_id: h.id('sell'), original_signal: 0, approved_size: '0.001' }));
  expect(final.status).toBe('filled');
  expect(Object.keys(final.orders[0]!.fills.commissions)).toEqual(['USDT']);
});

test('an IOC LIMIT takes what the book has at its price; the trade is partly filled and says why the rest expired, in the exchange\'s words', async () => {
  const book = (await (await fetch(`${h.paper.url}/api/v3/depth?symbol=${BTC}&limit=5`)).json()) as { asks: [string, string][] };
  const [bestAsk, bestAskQty] = book.asks[0]!;
  const size = dec(bestAskQty).plus('0.1').toFixed();
  const handle = await h.start({ decision_id: h.id('ioc'), order_type: 'LIMIT', limit_price: bestAsk, time_in_force: 'IOC', approved_size: size });
  const final = await h.result(handle);
  expect(final.status).toBe('partially_filled');
  expect(dec(final.orders[0]!.fills.filledQty).toFixed()).toBe(dec(bestAskQty).toFixed());
  expect(final.error).toMatch(/\(LIMIT IOC\) expired on the exchange: UNFILLED_IOC_QUANTITY_EXPIRED/);
});
