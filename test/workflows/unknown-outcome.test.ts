/**
 * The unknown-outcome path through findOrder. The order request times out (the client cannot
 * tell whether it reached the matching engine), and the exchange then cannot be read while the
 * sender retries (-1008, server busy), so placeOrder gives up with the outcome still unknown.
 * The workflow settles it with findOrder once the exchange answers: the order it finds is
 * followed as placed (and its fill booked); an order that is not there after its recvWindow
 * is `not_placed`. Either way the order request went out exactly once.
 */
import { cidFor, activitiesOf, startWorkflowHarness, type WorkflowHarness } from './support/workflow-harness';
import { serverBusy, timedOut } from './support/stub-exchange';

let h: WorkflowHarness;

beforeAll(async () => {
  h = await startWorkflowHarness({ name: 'unknown' });
}, 60_000);
afterAll(() => h?.stop());

/** Reads of `cid` fail as server busy while `outage.on`. */
function scriptOutage(cid: string, landed: boolean): { on: boolean } {
  const outage = { on: true };
  h.exchange.on.newOrder = (req, hooks, venue) => {
    if (req.newClientOrderId !== cid) return venue.accept(req, hooks);
    if (landed) venue.accept(req, hooks);
    else venue.sent(hooks);
    throw timedOut();
  };
  h.exchange.on.getOrder = (q, _hooks, venue) => {
    if (q.origClientOrderId === cid && outage.on) throw serverBusy();
    return venue.lookup(q);
  };
  return outage;
}

afterEach(() => {
  h.exchange.on.newOrder = (req, hooks, venue) => venue.accept(req, hooks);
  h.exchange.on.getOrder = (q, _hooks, venue) => venue.lookup(q);
});

test('the order had landed: findOrder finds it filled, the trade is filled, nothing was sent twice', async () => {
  const decisionId = h.id('landed');
  const cid = cidFor(decisionId);
  const outage = scriptOutage(cid, true);
  const handle = await h.start({ decision_id: decisionId, approved_size: '0.001' });
  const settling = await h.until(handle, 'the trade to settle the unknown outcome', (s) => s.status === 'settling');
  // The reason is the sender's last failure: the read that could not settle it.
  expect(settling.attention).toMatch(new RegExp(`^outcome of ${cid} unknown \\(retry_later: GET /api/v3/order HTTP 503 -1008 .*\\); asking the exchange until it answers$`));
  expect(settling.orders[0]!.state).toBe('new');
  outage.on = false;
  const final = await handle.result();

  expect(final.status).toBe('filled');
  expect(final.attention).toBeUndefined();
  // Settled as filled: the timeout that made it unknown is in the transitions, not the trade's error.
  expect(final.error).toBeUndefined();
  const order = final.orders[0]!;
  expect(order.transitions.map((t) => [t.to, t.reason.split(':')[0]])).toEqual([
    ['submitted', 'settled unknown outcome by query'],
    ['filled', 'settled unknown outcome by query'],
  ]);
  expect(order.fills).toMatchObject({ filledQty: '0.001', avgPrice: '60000' });
  // One order request, ever: each retry of placeOrder asked the exchange first and got no answer.
  expect(h.exchange.callsOf('newOrder').filter((c) => c.args.newClientOrderId === cid)).toHaveLength(1);
  expect(h.exchange.orders.get(cid)?.status).toBe('FILLED');
  const reads = h.exchange.callsOf('getOrder').filter((c) => c.args.origClientOrderId === cid);
  // Six placeOrder attempts each looked once (refused), then findOrder found it.
  expect(reads.length).toBe(7);
  expect(await activitiesOf(handle)).toEqual(['placeOrder', 'findOrder', 'settleFills']);
  expect(h.store.orders.get(cid)?.status).toBe('FILLED');
  expect(h.store.transitions.get(cid)!.map((t) => t.to)).toEqual(['submitted', 'filled']);
  expect([...h.store.fills.values()].filter((f) => f.clientOrderId === cid)).toHaveLength(1);
  expect(h.store.tradeReports(handle.workflowId).map((r) => [r.status, r.filled_quantity, r.success])).toEqual([['filled', '0.001', true]]);
  expect(h.store.outcomes.get(decisionId)).toEqual({ status: 'completed' });
});

test('the order never landed: findOrder finds it absent after its recvWindow, the order is not_placed, nothing resent', async () => {
  const decisionId = h.id('absent');
  const cid = cidFor(decisionId);
  const outage = scriptOutage(cid, false);
  const handle = await h.start({ decision_id: decisionId, approved_size: '0.001' });
  await h.until(handle, 'the trade to settle the unknown outcome', (s) => s.status === 'settling');
  outage.on = false;
  const final = await handle.result();

  expect(final.status).toBe('failed');
  const order = final.orders[0]!;
  expect(order.state).toBe('not_placed');
  expect(order.exchange).toBeUndefined();
  expect(order.transitions.map((t) => t.to)).toEqual(['not_placed']);
  expect(order.transitions[0]!.reason).toMatch(/^never placed: retry_later: GET \/api\/v3\/order HTTP 503 -1008 /);
  expect(final.error).toMatch(/-1008 Server is currently overloaded/);
  expect(h.exchange.callsOf('newOrder').filter((c) => c.args.newClientOrderId === cid)).toHaveLength(1);
  expect(h.exchange.orders.has(cid)).toBe(false);
  // findOrder looked twice (before and after fencing the intent): both -2013.
  const reads = h.exchange.callsOf('getOrder').filter((c) => c.args.origClientOrderId === cid);
  expect(reads.length).toBe(6 + 2);
  expect(await activitiesOf(handle)).toEqual(['placeOrder', 'findOrder']);
  expect(h.exchange.callsOf('myTrades').filter((c) => c.args.orderId === undefined)).toHaveLength(0);
  expect(h.store.orders.get(cid)?.status).toBe('NOT_PLACED');
  expect(h.store.tradeReports(handle.workflowId).map((r) => [r.status, r.filled_quantity, r.success])).toEqual([['failed', '0', false]]);
  expect(h.store.outcomes.get(decisionId)).toMatchObject({ status: 'failed' });
});
