/**
 * How a resting order is followed. When the worker's user data stream vouches for it (the
 * coverage check answers "covered"), the workflow does not read it by REST at all: it waits on a
 * long timer and learns the fill by push. When nothing vouches for it, it polls queryOrder, each
 * wait twice the last (POLL in workflows/trade.ts), a coverage check before every poll.
 *
 * Timings are read from the workflow's history (the timers it started), not from the clock.
 */
import { exchangeOrderUpdateSignal } from '../../workflows/definitions';
import { toSnapshot } from '../../activities/exchange-activities';
import { cidFor, activitiesOf, startWorkflowHarness, timersOf, type WorkflowHarness } from './support/workflow-harness';

let h: WorkflowHarness;

beforeAll(async () => {
  h = await startWorkflowHarness({ name: 'pushpoll', pushCoverage: true });
}, 60_000);
afterAll(() => h?.stop());
afterEach(() => {
  h.coverage = undefined;
});

const mineOf = (cid: string, method: 'getOrder' | 'newOrder' | 'cancelOrder') =>
  h.exchange.callsOf(method).filter((c) => c.args.origClientOrderId === cid || c.args.newClientOrderId === cid);

test('covered by push: no queryOrder at all, one long timer, the fill arrives as a signal', async () => {
  h.coverage = (q) => ({ covered: q.orders.map((o) => o.clientOrderId), uncovered: [], snapshots: [] });
  const decisionId = h.id('covered');
  const cid = cidFor(decisionId);
  const handle = await h.start({ decision_id: decisionId, order_type: 'LIMIT', limit_price: '59000', approved_size: '0.002', timeout_ms: 600_000 });
  await h.until(handle, 'the first coverage check', () => h.coverageQueries.some((q) => q.workflowId === handle.workflowId));
  // The check claimed the order at once; the wait after it is COVERED's first 5 minutes.
  await expectEventually(async () => expect(await timersOf(handle)).toEqual([300_000]));

  h.exchange.fill(cid, '0.002');
  await handle.signal(exchangeOrderUpdateSignal, toSnapshot(h.exchange.mustHave(cid)));
  const final = await handle.result();

  expect(final.status).toBe('filled');
  expect(final.orders[0]!.transitions.map((t) => [t.to, t.reason.split(':')[0]])).toEqual([
    ['submitted', 'submitted'],
    ['filled', 'push'],
  ]);
  expect(mineOf(cid, 'getOrder')).toEqual([]);
  expect(await activitiesOf(handle)).not.toContain('queryOrder');
  expect(await timersOf(handle)).toEqual([300_000]);
  const checks = h.coverageQueries.filter((q) => q.workflowId === handle.workflowId);
  expect(checks).toHaveLength(1);
  expect(checks[0]!.orders).toEqual([expect.objectContaining({ clientOrderId: cid, symbol: 'BTCUSDT', status: 'NEW', executedQty: '0.00000000' })]);
  expect(h.store.transitions.get(cid)!.map((t) => t.to)).toEqual(['submitted', 'filled']);
});

test('not covered: polls queryOrder at once, then after 2 s and 4 s, each after a coverage check', async () => {
  const decisionId = h.id('polled');
  const cid = cidFor(decisionId);
  let reads = 0;
  // The venue fills the order just before the third read.
  h.exchange.on.getOrder = (q, _hooks, venue) => {
    if (q.origClientOrderId === cid && ++reads === 3) venue.fill(cid, '0.002');
    return venue.lookup(q);
  };
  try {
    const handle = await h.start({ decision_id: decisionId, order_type: 'LIMIT', limit_price: '59000', approved_size: '0.002', timeout_ms: 600_000 });
    const final = await handle.result();

    expect(final.status).toBe('filled');
    expect(final.orders[0]!.transitions.map((t) => [t.to, t.reason.split(':')[0]])).toEqual([
      ['submitted', 'submitted'],
      ['filled', 'poll'],
    ]);
    expect(mineOf(cid, 'getOrder')).toHaveLength(3);
    expect((await activitiesOf(handle)).filter((a) => a === 'queryOrder')).toHaveLength(3);
    // Growing waits between polls: none before the first, then 2 s, then 4 s.
    expect(await timersOf(handle)).toEqual([2_000, 4_000]);
    // Each poll comes after a coverage check that vouched for nothing.
    const timeline = [
      ...h.coverageQueries.filter((q) => q.workflowId === handle.workflowId).map((q) => ({ at: q.at, what: 'check' })),
      ...mineOf(cid, 'getOrder').map((c) => ({ at: c.at, what: 'poll' })),
    ].sort((a, b) => a.at - b.at);
    expect(timeline.map((e) => e.what)).toEqual(['check', 'poll', 'check', 'poll', 'check', 'poll']);
  } finally {
    h.exchange.on.getOrder = (q, _hooks, venue) => venue.lookup(q);
  }
});

async function expectEventually(assertion: () => Promise<void>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await assertion();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
