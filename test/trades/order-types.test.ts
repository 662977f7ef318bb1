/**
 * Every order type through the real workflow on the real Temporal dev server, against the paper
 * exchange over HTTP. Prices move only when a test moves them (price walk off).
 */
import { DEFAULT_RISK_LIMITS } from '../../src/risk/pre-trade-guard';
import { D, dec, toWire } from '../../src/shared/decimal';
import { useTradeHarness, eventually, type TradeHarness } from '../support/trade-harness';
import { readReports } from '../support/streams';

const BTC = 'BTCUSDT';
/** This account's commission rate, maker and taker alike (set explicitly: the fee test charges it). */
const COMMISSION_RATE = '0.00075';

const h = useTradeHarness(
  {
    name: 'ordertypes',
    paper: { accounts: [{ apiKey: 'ot-key', apiSecret: 'ot-secret', commissionRate: COMMISSION_RATE, balances: { USDT: '10000000', BTC: '20', ETH: '100', BNB: '1000' } }] },
    // The 3 BTC order below is deliberately larger than the default fat-finger limit.
    risk: { ...DEFAULT_RISK_LIMITS, maxOrderNotional: '1000000', maxPositionNotional: '1000000' },
  },
  { clearFaults: false },
);

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

test.each([
  ['STOP_LOSS_LIMIT', 'above', 'stoploss', '60500', '60600', '60550'],
  ['TAKE_PROFIT_LIMIT', 'below', 'takeprofit', '59500', '59600', '59450'],
] as const)('%s BUY triggers %s the market, then fills as a limit', async (type, _where, name, stop, limit, trigger) => {
  const handle = await h.start({
    decision_id: h.id(name),
    order_type: type,
    stop_price: stop,
    limit_price: limit,
  });
  const resting = await working(handle);
  expect(h.paper.findOrder(BTC, resting.orders[0]!.intent.clientOrderId)?.type).toBe(type);
  h.paper.setPrice(BTC, trigger);
  const final = await h.result(handle);
  expect(final.status).toBe('filled');
  expect(Number(final.orders[0]!.fills.avgPrice)).toBeLessThanOrEqual(Number(limit));
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

/**
 * Fills and fees, exactly, for every order type: the trade's fills are the exchange's trades
 * digit for digit; quantities, quote amounts and the average price add up; each fill's
 * commission is what the paper exchange's fee model charges at this account's rate
 * (src/paper-exchange/fees.ts: a BUY pays in the base asset it receives, a SELL in the quote
 * asset, rate x amount rounded up to 8 places); the report and the fills table say the same.
 */
type FeeRow = [name: string, decision: Record<string, unknown>, trigger: string | undefined, side: 'BUY' | 'SELL', minFills: number];
test.each<FeeRow>([
  ['a large MARKET BUY, across several price levels', { approved_size: '3' }, undefined, 'BUY', 2],
  ['a MARKET SELL (commission in the quote asset)', { original_signal: 0, approved_size: '1.5' }, undefined, 'SELL', 1],
  ['a LIMIT BUY resting until the price crosses it', { order_type: 'LIMIT', limit_price: '59000', approved_size: '0.002' }, '58900', 'BUY', 1],
  ['a LIMIT SELL resting until the price crosses it', { original_signal: 0, order_type: 'LIMIT', limit_price: '61000', approved_size: '0.00123' }, '61100', 'SELL', 1],
  ['a STOP_LOSS_LIMIT BUY, triggered', { order_type: 'STOP_LOSS_LIMIT', stop_price: '60500', limit_price: '60600', approved_size: '0.00377' }, '60550', 'BUY', 1],
  ['a TAKE_PROFIT_LIMIT BUY, triggered', { order_type: 'TAKE_PROFIT_LIMIT', stop_price: '59500', limit_price: '59600', approved_size: '0.002' }, '59450', 'BUY', 1],
  ['an OCO BUY whose limit-maker leg fills', { order_type: 'OCO', take_profit_price: '59000', stop_price: '61000', stop_limit_price: '61100', approved_size: '0.002' }, '58900', 'BUY', 1],
])('fills and fees add up exactly: %s', async (name, decision, trigger, side, minFills) => {
  const handle = await h.start({ decision_id: h.id(`fees-${name.replace(/[^a-z]/gi, '').slice(0, 20)}`), ...decision });
  if (trigger !== undefined) {
    await working(handle);
    h.paper.setPrice(BTC, trigger);
  }
  const final = await h.result(handle);
  expect(final.status).toBe('filled');
  const executed = final.orders.filter((o) => o.intent.purpose !== 'bracket' && dec(o.exchange?.executedQty ?? '0').gt(0));
  expect(executed).toHaveLength(1);
  const order = executed[0]!;
  const fills = order.fills;
  expect(fills.fills.length).toBeGreaterThanOrEqual(minFills);

  // The fills are the exchange's trades of this order, every field digit for digit.
  const wire = (f: { price: string; qty: string; quoteQty: string; commission: string; commissionAsset: string; isMaker: boolean }) =>
    [toWire(f.price), toWire(f.qty), toWire(f.quoteQty), toWire(f.commission), f.commissionAsset, f.isMaker];
  const trades = h.paper.trades(BTC).filter((t) => t.orderId === order.exchange!.orderId).sort((a, b) => a.id - b.id);
  expect(fills.fills.map((f) => [f.tradeId, ...wire(f)])).toEqual(trades.map((t) => [t.id, ...wire(t)]));

  // Quantities and quote amounts add up exactly, to the order's own totals.
  const qty = fills.fills.reduce((acc, f) => acc.plus(f.qty), dec(0));
  const quote = fills.fills.reduce((acc, f) => acc.plus(f.quoteQty), dec(0));
  for (const f of fills.fills) expect(toWire(f.quoteQty)).toBe(toWire(dec(f.price).mul(f.qty)));
  expect(fills.filledQty).toBe(toWire(decision.approved_size as string));
  expect(fills.filledQty).toBe(toWire(qty));
  expect(toWire(order.exchange!.executedQty)).toBe(fills.filledQty);
  expect(fills.quoteQty).toBe(toWire(quote));
  expect(toWire(order.exchange!.cummulativeQuoteQty)).toBe(fills.quoteQty);
  // Average price is the quantity-weighted mean of the fills, not the order's price field (0 for MARKET).
  expect(fills.avgPrice).toBe(toWire(quote.div(qty).toDecimalPlaces(12)));

  // Each fill's commission is the fee model's, at this account's rate, in the asset the fill delivers.
  const feeAsset = side === 'BUY' ? 'BTC' : 'USDT';
  for (const f of fills.fills) {
    const charged = (side === 'BUY' ? dec(f.qty) : dec(f.quoteQty)).mul(COMMISSION_RATE).toDecimalPlaces(8, D.ROUND_UP);
    expect([f.commissionAsset, toWire(f.commission)]).toEqual([feeAsset, toWire(charged)]);
  }
  const commission = toWire(fills.fills.reduce((acc, f) => acc.plus(f.commission), dec(0)));
  expect(fills.commissions).toEqual({ [feeAsset]: commission });

  // The execution report says the same.
  const report = (await readReports(h.redis)).find((r) => r.report.workflow_id === handle.workflowId)!.report;
  expect({
    filled: report.filled_quantity,
    quote: report.quote_quantity,
    avg: report.avg_fill_price,
    commission: report.commission,
    asset: report.commission_asset,
    commissions: report.commissions,
  }).toEqual({ filled: fills.filledQty, quote: fills.quoteQty, avg: fills.avgPrice, commission, asset: feeAsset, commissions: { [feeAsset]: commission } });

  // And so does the fills table, one row per fill.
  const { rows } = await h.pg.query(
    `SELECT count(*)::int AS n, sum(qty)::text AS qty, sum(quote_qty)::text AS quote, sum(commission)::text AS commission,
            array_agg(DISTINCT commission_asset) AS assets
       FROM fills WHERE client_order_id = $1`,
    [order.intent.clientOrderId],
  );
  expect(rows[0].n).toBe(fills.fills.length);
  expect([toWire(rows[0].qty), toWire(rows[0].quote), toWire(rows[0].commission), rows[0].assets]).toEqual([fills.filledQty, fills.quoteQty, commission, [feeAsset]]);
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
