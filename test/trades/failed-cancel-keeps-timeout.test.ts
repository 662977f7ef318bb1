/**
 * Issue 11, item 7: a failed cancel or amend must not disable the trade's timeout, and an amend
 * whose replacement's response is lost must settle it by asking the exchange.
 *
 * The exchange's refusals here are the ones a key rotation produces: for a few seconds, signed
 * requests on one endpoint answer HTTP 401 -2015 (the paper exchange's timed `invalidApiKey`
 * fault), without executing anything. Every wait is bounded, so a trade that would rest for
 * ever fails the test instead of hanging the suite.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { TradeState } from '../../src/shared/trade';
import { readReports } from '../support/streams';
import { eventually, useTradeHarness, type TradeHarness } from '../support/trade-harness';

const BTC = 'BTCUSDT';
const OPEN = new Set(['NEW', 'PARTIALLY_FILLED', 'PENDING_NEW']);
const started: WorkflowHandle[] = [];

const h = useTradeHarness(
  { name: 'failedcancel', recvWindowMs: 1500 },
  // A trade left resting (old code) would otherwise poll for ever on the shared dev server.
  { beforeStop: () => Promise.all(started.map((handle) => handle.terminate('test over').catch(() => undefined))) },
);

async function restingLimit(name: string, timeoutMs: number): Promise<{ handle: WorkflowHandle; state: TradeState }> {
  const handle = await h.start({ decision_id: h.id(name), order_type: 'LIMIT', limit_price: '50000', approved_size: '0.001', timeout_ms: timeoutMs });
  started.push(handle);
  const state = await eventually('the entry to rest', async () => {
    const s = await h.state(handle);
    return s.status === 'working' && s.orders[0]?.exchange?.status === 'NEW' ? s : undefined;
  }, 60_000);
  return { handle, state };
}

/** Every client order id the trade recorded (intents are recorded before they are sent). */
async function clientIdsOf(handle: WorkflowHandle): Promise<Set<string>> {
  const { rows } = await h.pg.query<{ client_order_id: string }>('SELECT client_order_id FROM orders WHERE workflow_id = $1', [handle.workflowId]);
  return new Set(rows.map((r) => r.client_order_id));
}

async function liveOnExchange(handle: WorkflowHandle): Promise<string[]> {
  const ids = await clientIdsOf(handle);
  return h.paper
    .orders(BTC)
    .filter((o) => ids.has(o.clientOrderId) && OPEN.has(o.status))
    .map((o) => o.clientOrderId);
}

/**
 * How the trade ended within the bound: `ended <report status>` for a completed workflow, how it
 * closed otherwise, or what it is still waiting on.
 */
async function endsWithin(handle: WorkflowHandle, ms: number): Promise<string> {
  let closed: string;
  try {
    closed = await eventually('the trade to end', async () => {
      const name = (await handle.describe()).status.name;
      return name === 'RUNNING' ? undefined : name;
    }, ms);
  } catch {
    const s = await h.state(handle).catch(() => undefined);
    return `still ${s?.status ?? 'running'} after ${ms} ms: ${s?.orders.map((o) => `${o.intent.clientOrderId} ${o.state}`).join(', ') ?? ''}`;
  }
  const report = await eventually('the trade report', async () => (await readReports(h.redis)).find((r) => r.report.workflow_id === handle.workflowId)?.report, 10_000).catch(() => undefined);
  return closed === 'COMPLETED' ? `ended ${report?.status ?? '(no report)'}` : `workflow ${closed}, report ${report?.status ?? 'none'}: ${report?.error ?? ''}`;
}

async function settledUpdate(send: () => Promise<unknown>): Promise<string> {
  return send().then(
    () => 'answered',
    (e: unknown) => `refused: ${e instanceof Error ? e.message : String(e)}`,
  );
}

test('a cancel refused by the exchange at the deadline is tried again until the order is cancelled, and the trade ends', async () => {
  const { handle, state } = await restingLimit('deadline', 10_000);
  const entry = state.orders[0]!.intent.clientOrderId;
  // From now until 6 s past the deadline, every cancel is refused with -2015 (nothing executed).
  const refusing = h.paper.faults.inject({ kind: 'invalidApiKey', ms: Math.max(2_000, state.deadline - Date.now() + 6_000), method: 'DELETE', path: '/api/v3/order' });
  const end = await endsWithin(handle, 90_000);
  expect(h.paper.faults.hits.get(refusing) ?? 0).toBeGreaterThanOrEqual(1);
  expect({ end, onExchange: h.paper.findOrder(BTC, entry)?.status }).toEqual({ end: expect.stringMatching(/^ended (cancelled|expired)$/), onExchange: 'CANCELED' });
  expect(await liveOnExchange(handle)).toEqual([]);
});

test('an amend that fails (its cancel refused) does not disable the timeout: at the deadline nothing is left live and the trade ends', async () => {
  const { handle } = await restingLimit('amendfail', 15_000);
  // The amend's cancel is refused for a few seconds, whichever way it is sent.
  const faults = [
    h.paper.faults.inject({ kind: 'invalidApiKey', ms: 5_000, method: 'POST', path: '/api/v3/order/cancelReplace' }),
    h.paper.faults.inject({ kind: 'invalidApiKey', ms: 5_000, method: 'DELETE', path: '/api/v3/order' }),
  ];
  const amend = await settledUpdate(() => handle.executeUpdate('amend', { args: [{ price: '49000' }] }));
  expect(faults.reduce((n, id) => n + (h.paper.faults.hits.get(id) ?? 0), 0)).toBeGreaterThanOrEqual(1);
  // Whatever the amend's answer, the deadline (15 s after the start) still applies.
  expect({ amend, end: await endsWithin(handle, 75_000) }).toEqual({ amend, end: expect.stringMatching(/^ended (cancelled|expired)$/) });
  expect(await liveOnExchange(handle)).toEqual([]);
});

test("an amend whose replacement's response is lost settles it by asking: one live order, the one the trade follows", async () => {
  const { handle, state } = await restingLimit('lostreply', 600_000);
  const entry = state.orders[0]!.intent.clientOrderId;
  // The replacement lands, but its answer is lost (whichever way the amend places it), and for a
  // few seconds (a key rotation) the order lookups that would settle it are refused too.
  const drops = [
    h.paper.faults.inject({ kind: 'dropConnection', afterPlaced: true, method: 'POST', path: '/api/v3/order/cancelReplace' }),
    h.paper.faults.inject({ kind: 'dropConnection', afterPlaced: true, method: 'POST', path: '/api/v3/order' }),
  ];
  h.paper.faults.inject({ kind: 'invalidApiKey', ms: 6_000, method: 'GET', path: '/api/v3/order' });
  const amend = await settledUpdate(() => handle.executeUpdate('amend', { args: [{ price: '49000' }] }));
  const live = await liveOnExchange(handle);
  const s = await h.state(handle);
  const followed = s.orders.filter((o) => s.working.includes(o.intent.clientOrderId) && o.exchange && !['cancelled', 'filled', 'failed', 'rejected', 'expired'].includes(o.state));
  // Exactly one order of the trade is live on the exchange, at the new price, and it is the one the trade follows.
  expect({ amend, live, followed: followed.map((o) => o.intent.clientOrderId) }).toEqual({ amend: 'answered', live: [expect.not.stringMatching(`^${entry}$`)], followed: live });
  expect(h.paper.findOrder(BTC, live[0]!)?.price).toBe('49000.00000000');
  // The replacement's answer really was lost (one of the two ways of placing it was used).
  expect(drops.reduce((n, id) => n + (h.paper.faults.hits.get(id) ?? 0), 0)).toBe(1);
  // And it is still managed: a cancel takes it off the exchange and ends the trade.
  expect(await settledUpdate(() => handle.executeUpdate('cancel', { args: [{}] }))).toBe('answered');
  expect(await endsWithin(handle, 60_000)).toBe('ended cancelled');
  expect(await liveOnExchange(handle)).toEqual([]);
});
