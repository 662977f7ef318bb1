/**
 * Continue-as-new without a long real rest: with a small `historyEventLimit` the resting trade
 * rolls over to a new run after a few polls, carrying its state (the order, its partial fill,
 * its transitions, its start and deadline), and the new run follows the same order to its
 * fill: nothing placed again, every transition recorded and reported once, one trade report.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { cidFor, startWorkflowHarness, type TradeHandle, type TradeWorkflow, type WorkflowHarness } from './support/workflow-harness';

let h: WorkflowHarness;

beforeAll(async () => {
  h = await startWorkflowHarness({ name: 'can' });
}, 60_000);
afterAll(() => h?.stop());

/** The runs of a workflow from `firstRunId` on, following each continue-as-new to the next. */
async function runsOf(handle: TradeHandle, firstRunId: string): Promise<Array<{ runId: string; status: string; historyLength: number }>> {
  const runs = [];
  let runId: string | undefined = firstRunId;
  while (runId) {
    const run: WorkflowHandle = h.client.workflow.getHandle(handle.workflowId, runId);
    const d = await run.describe();
    runs.push({ runId, status: d.status.name, historyLength: d.historyLength });
    if (d.status.name !== 'CONTINUED_AS_NEW') break;
    const events = (await run.fetchHistory()).events ?? [];
    runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  return runs;
}

test('a resting, partly filled order rolls over to a new run and still fills once, its story intact', async () => {
  const decisionId = h.id('rest');
  const cid = cidFor(decisionId);
  h.exchange.on.newOrder = (req, hooks, venue) => {
    const answer = venue.accept(req, hooks);
    if (req.newClientOrderId === cid) venue.fill(cid, '0.0008');
    return answer;
  };
  const handle = await h.start(
    { decision_id: decisionId, order_type: 'LIMIT', limit_price: '59000', approved_size: '0.002', timeout_ms: 600_000 },
    { historyEventLimit: 20 },
  );
  const firstRunId = (await handle.describe()).runId;
  const first = await h.until(handle, 'the partial fill', (s) => s.orders[0]?.state === 'partially_filled');
  const rolled = await (async () => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const runs = await runsOf(handle, firstRunId);
      if (runs.length > 1) return runs;
      if (Date.now() > deadline) throw new Error(`no continue-as-new: ${JSON.stringify(runs)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  expect(rolled[0]).toMatchObject({ status: 'CONTINUED_AS_NEW' });
  // The limit bounds the run's history (it rolls over at the first wait past the limit).
  expect(rolled[0]!.historyLength).toBeLessThan(40);

  // Now the rest fills on the venue; the current run learns it by its next poll.
  h.exchange.fill(cid, '0.0012');
  const final = await h.client.workflow.getHandle<TradeWorkflow>(handle.workflowId).result();
  const runs = await runsOf(handle, firstRunId);

  expect(runs.at(-1)!.status).toBe('COMPLETED');
  expect(runs.slice(0, -1).every((r) => r.status === 'CONTINUED_AS_NEW')).toBe(true);
  expect(final.status).toBe('filled');
  // The state carried over: the same start, deadline, order, and its transitions from before the roll-over.
  expect(final.startedAt).toBe(first.startedAt);
  expect(final.deadline).toBe(first.deadline);
  expect(final.orders).toHaveLength(1);
  expect(final.orders[0]!.transitions.map((t) => t.to)).toEqual(['submitted', 'partially_filled', 'filled']);
  expect(final.orders[0]!.transitions.slice(0, 2)).toEqual(first.orders[0]!.transitions);
  expect(final.orders[0]!.fills).toMatchObject({ filledQty: '0.002', avgPrice: '59000' });
  // Nothing was placed again by a later run; no cancel either.
  expect(h.exchange.callsOf('newOrder').filter((c) => c.args.newClientOrderId === cid)).toHaveLength(1);
  expect(h.exchange.callsOf('cancelOrder')).toHaveLength(0);
  // The books: each transition once, each reported once, one trade report, both fills once.
  expect(h.store.transitions.get(cid)!.map((t) => [t.seq, t.to])).toEqual([
    [1, 'submitted'],
    [2, 'partially_filled'],
    [3, 'filled'],
  ]);
  expect(h.store.orderUpdates(cid).map((r) => r.to_state)).toEqual(['submitted', 'partially_filled', 'filled']);
  expect(h.store.tradeReports(handle.workflowId).map((r) => [r.status, r.filled_quantity])).toEqual([['filled', '0.002']]);
  expect([...h.store.fills.values()].filter((f) => f.clientOrderId === cid).map((f) => f.qty)).toEqual(['0.00080000', '0.00120000']);
  expect(h.store.positions.get('BTCUSDT')).toBe('0.002');
  expect(h.store.unpublished()).toEqual([]);
});
