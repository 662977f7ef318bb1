/**
 * The entry deadline: a LIMIT order that does not fill in `timeout_ms` is cancelled on the
 * exchange at the deadline, and the trade ends cancelled (nothing filled) or partially_filled
 * (what filled is booked, the rest reported cancelled).
 */
import { readReports } from '../support/streams';
import { cidFor, startWorkflowHarness, type WorkflowHarness } from './support/workflow-harness';

let h: WorkflowHarness;

beforeAll(async () => {
  h = await startWorkflowHarness({ name: 'deadline' });
}, 60_000);
afterAll(() => h?.stop());

test('a LIMIT that never fills is cancelled at its deadline; the trade ends cancelled with the reason', async () => {
  const decisionId = h.id('never');
  const handle = await h.start({ decision_id: decisionId, order_type: 'LIMIT', limit_price: '59000', approved_size: '0.002', timeout_ms: 2000 });
  const final = await handle.result();
  const cid = cidFor(decisionId);

  expect(final.status).toBe('cancelled');
  expect(final.error).toBe('timed out: not filled within 2000 ms; the rest was cancelled');
  expect(final.orders).toHaveLength(1);
  const order = final.orders[0]!;
  expect(order.intent.clientOrderId).toBe(cid);
  expect(order.transitions.map((t) => [t.to, t.reason.split(':')[0]])).toEqual([
    ['submitted', 'submitted'],
    ['cancel_requested', 'timeout'],
    ['cancelled', 'cancel (timeout)'],
  ]);
  // What the exchange was asked: one order, exactly as risk approved it, and one cancel of it.
  const sent = h.exchange.callsOf('newOrder');
  expect(sent.map((c) => c.args)).toEqual([
    { symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', quantity: '0.002', price: '59000', stopPrice: undefined, timeInForce: 'GTC', newClientOrderId: cid },
  ]);
  expect(h.exchange.callsOf('cancelOrder').map((c) => c.args)).toEqual([{ symbol: 'BTCUSDT', origClientOrderId: cid }]);
  expect(h.exchange.callsOf('myTrades')).toHaveLength(0);
  // The cancel came at the deadline, not before.
  expect(h.exchange.callsOf('cancelOrder')[0]!.at).toBeGreaterThanOrEqual(final.deadline);
  expect(h.exchange.orders.get(cid)?.status).toBe('CANCELED');

  // The books: the order row, its three transitions once each, the report, the outcome.
  const row = h.store.orders.get(cid)!;
  expect(row).toMatchObject({ decisionId, workflowId: handle.workflowId, status: 'CANCELED' });
  expect(h.store.transitions.get(cid)!.map((t) => [t.seq, t.from, t.to])).toEqual([
    [1, 'new', 'submitted'],
    [2, 'submitted', 'cancel_requested'],
    [3, 'cancel_requested', 'cancelled'],
  ]);
  expect(h.store.tradeReports(handle.workflowId)).toEqual([
    expect.objectContaining({ status: 'cancelled', success: false, filled_quantity: '0', cancelled_quantity: '0.002', client_order_id: cid }),
  ]);
  expect(h.store.outcomes.get(decisionId)).toEqual({ status: 'failed', error: final.error });
  expect(h.store.unpublished()).toEqual([]);
  const published = (await readReports(h.redis, h.reportStream)).filter((r) => r.report.workflow_id === handle.workflowId);
  expect(published.map((r) => r.report.status)).toEqual(['cancelled']);
});

test('a LIMIT partly filled by its deadline: the rest is cancelled, the fill booked, the trade partially_filled', async () => {
  const decisionId = h.id('partial');
  const cid = cidFor(decisionId);
  // The venue executes 0.0005 of it just after it is placed (the response still says NEW).
  h.exchange.on.newOrder = (req, hooks, venue) => {
    const answer = venue.accept(req, hooks);
    if (req.newClientOrderId === cid) venue.fill(cid, '0.0005');
    return answer;
  };
  const handle = await h.start({ decision_id: decisionId, order_type: 'LIMIT', limit_price: '59000', approved_size: '0.002', timeout_ms: 2000 });
  const final = await handle.result();

  expect(final.status).toBe('partially_filled');
  const order = final.orders[0]!;
  expect(order.transitions.map((t) => t.to)).toEqual(['submitted', 'partially_filled', 'cancel_requested', 'cancelled']);
  expect(order.exchange).toMatchObject({ status: 'CANCELED', executedQty: '0.00050000', origQty: '0.00200000' });
  expect(order.fills).toMatchObject({ filledQty: '0.0005', avgPrice: '59000', commissions: { USDT: '0.0295' } });
  const mine = (m: 'newOrder' | 'cancelOrder' | 'myTrades') => h.exchange.callsOf(m).filter((c) => c.args.newClientOrderId === cid || c.args.origClientOrderId === cid || (m === 'myTrades' && c.args.orderId === order.exchange!.orderId));
  expect(mine('newOrder')).toHaveLength(1);
  expect(mine('cancelOrder').map((c) => c.args)).toEqual([{ symbol: 'BTCUSDT', origClientOrderId: cid }]);
  // The fill is read once from myTrades (a resting order's response listed none) and booked once.
  expect(mine('myTrades').map((c) => c.args)).toEqual([{ symbol: 'BTCUSDT', orderId: order.exchange!.orderId, fromId: 0, limit: 1000 }]);
  expect([...h.store.fills.values()].filter((f) => f.clientOrderId === cid).map((f) => [f.qty, f.price])).toEqual([['0.00050000', '59000.00000000']]);
  expect(h.store.positions.get('BTCUSDT')).toBe('0.0005');
  expect(h.store.tradeReports(handle.workflowId)).toEqual([
    expect.objectContaining({ status: 'partially_filled', success: true, filled_quantity: '0.0005', cancelled_quantity: '0.0015' }),
  ]);
  expect(h.store.outcomes.get(decisionId)?.status).toBe('completed');
  expect(h.store.orderUpdates(cid).map((r) => [r.from_state, r.to_state])).toEqual([
    ['new', 'submitted'],
    ['submitted', 'partially_filled'],
    ['partially_filled', 'cancel_requested'],
    ['cancel_requested', 'cancelled'],
  ]);
});
