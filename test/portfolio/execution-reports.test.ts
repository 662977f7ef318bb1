/**
 * Execution reports: exactly one stream entry and one Postgres row per report id, however the
 * publishing activity is retried: the trade's summary (`${workflowId}:1`) and one report per
 * order state transition (`${workflowId}:${clientOrderId}:${seq}`).
 * Real Redis and Postgres; the activity is the one the worker runs (createBookkeepingActivities).
 */
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import type { Pool } from 'pg';
import { createBookkeepingActivities, type TradeStore } from '../../activities/bookkeeping-activities';
import type { BinanceSpotClient } from '../../src/exchange';
import { createLogger } from '../../src/logging';
import { createPool } from '../../src/persistence/db';
import { migrate } from '../../src/persistence/migrate';
import { createPgTradeStore } from '../../src/persistence/pg-ports';
import { getExecutionReport } from '../../src/persistence/stores/execution-reports';
import { Reconciler } from '../../src/reconciliation/reconciler';
import { EMPTY_FILLS } from '../../src/shared/fills';
import type { ExecutionReport, OrderSnapshot, OrderUpdateReport, PublishedReport, TrackedOrder } from '../../src/shared/trade';
import { applySnapshot, transition } from '../../workflows/tracked-order';
import { createScratchDatabase, type ScratchDatabase } from '../persistence/scratch-db';
import { testServices } from '../support/services';

const run = randomBytes(3).toString('hex');
const STREAM = `trade_executions_test_${run}`;
const logger = createLogger('reports-test', 'error');

let db: ScratchDatabase;
let pool: Pool;
let redis: Redis;

beforeAll(async () => {
  db = await createScratchDatabase('reports');
  pool = createPool(db.url, { max: 4 });
  await migrate(pool);
  redis = new Redis(testServices().redisUrl);
});

afterAll(async () => {
  await redis?.del(STREAM);
  redis?.disconnect();
  await pool?.end();
  await db?.drop();
});

function report(workflowId: string, seq: number, status: string): ExecutionReport {
  return {
    report_type: 'trade',
    report_id: `${workflowId}:${seq}`,
    decision_id: workflowId.replace(/^trade-/, ''),
    workflow_id: workflowId,
    order_id: 42,
    client_order_id: `c-${workflowId}`,
    symbol: 'BTCUSDT',
    side: 'BUY',
    order_type: 'LIMIT',
    quantity: '0.01',
    status,
    success: status === 'filled',
    filled_quantity: status === 'filled' ? '0.01' : '0',
    cancelled_quantity: '0',
    avg_fill_price: '0',
    quote_quantity: '0',
    commission: '0',
    commission_asset: null,
    commissions: {},
    execution_time: null,
    error: null,
    timestamp: 1_700_000_000_000 + seq,
  };
}

/** The store, except that markReportPublished fails `failures` times first (a crash after XADD). */
function flakyStore(failures: number): TradeStore & { markCalls: number } {
  const real = createPgTradeStore(pool);
  let left = failures;
  const store = {
    ...real,
    markCalls: 0,
    async markReportPublished(reportId: string, streamId: string) {
      store.markCalls++;
      if (left-- > 0) throw new Error('simulated crash between XADD and markReportPublished');
      await real.markReportPublished(reportId, streamId);
    },
  };
  return store;
}

function activities(store: TradeStore) {
  return createBookkeepingActivities({
    exchange: {} as BinanceSpotClient, // publishReport never talks to the exchange
    store,
    redis,
    logger,
    reportStream: STREAM,
  });
}

async function entriesFor(reportId: string): Promise<Array<{ id: string; report: ExecutionReport }>> {
  const all = await redis.xrange(STREAM, '-', '+');
  return all
    .map(([id, fields]) => ({ id, report: JSON.parse(fields[fields.indexOf('data') + 1] ?? 'null') as ExecutionReport }))
    .filter((e) => e.report.report_id === reportId);
}

test('the publishing activity retried after Redis accepted the entry publishes one report', async () => {
  const store = flakyStore(1);
  const acts = activities(store);
  const r = report(`trade-retry-${run}`, 1, 'filled');

  // Attempt 1: stored, XADD accepted, then the activity dies before recording it.
  await expect(acts.publishReport(r)).rejects.toThrow(/simulated crash/);
  expect(await entriesFor(r.report_id)).toHaveLength(1);
  expect((await getExecutionReport(pool, r.report_id))?.stream_id).toBeNull();

  // Attempt 2 (Temporal's retry): same entry id, now recorded in Postgres.
  const streamId = await acts.publishReport(r);
  // And a stray third attempt (e.g. a duplicate activity task) changes nothing.
  expect(await acts.publishReport(r)).toBe(streamId);

  const entries = await entriesFor(r.report_id);
  expect(entries.map((e) => e.id)).toEqual([streamId]);
  expect(entries[0]!.report).toEqual(r);
  const row = await getExecutionReport(pool, r.report_id);
  expect(row).toMatchObject({ report_id: r.report_id, decision_id: r.decision_id, status: 'filled', stream_id: streamId });
  expect(row?.payload).toEqual(r);
  expect(store.markCalls).toBe(3);
  const rows = await pool.query('SELECT count(*)::int AS n FROM execution_reports WHERE report_id = $1', [r.report_id]);
  expect(rows.rows[0].n).toBe(1);
});

test('distinct report ids are each published once, retries or not', async () => {
  const acts = activities(flakyStore(0));
  const wf = `trade-transitions-${run}`;
  const transitions = [report(wf, 1, 'working'), report(wf, 2, 'partially_filled'), report(wf, 3, 'filled')];
  for (const t of transitions) await acts.publishReport(t);
  for (const t of transitions) await acts.publishReport(t); // every one retried once
  for (const t of transitions) {
    const e = await entriesFor(t.report_id);
    expect(e).toHaveLength(1);
    expect(e[0]!.report.status).toBe(t.status);
    expect((await getExecutionReport(pool, t.report_id))?.stream_id).toBe(e[0]!.id);
  }
  const rows = await pool.query('SELECT report_id FROM execution_reports WHERE workflow_id = $1 ORDER BY report_id', [wf]);
  expect(rows.rows.map((x) => x.report_id)).toEqual([`${wf}:1`, `${wf}:2`, `${wf}:3`]);
});

test('a report stored but never published is published once by the reconciliation outbox relay', async () => {
  const r = report(`trade-orphan-${run}`, 1, 'cancelled');
  // The activity stored it and then the workflow gave up before any XADD.
  await createPgTradeStore(pool).saveReport(r);
  const reconciler = new Reconciler({ pool, exchange: {} as BinanceSpotClient, redis, reportStream: STREAM, logger });
  const first = await reconciler.relayOutbox(`recon-${run}-1`, { outboxAgeMs: 0 });
  expect(first.drifts.filter((d) => d.subject === r.report_id)).toMatchObject([{ kind: 'unpublished_report', repaired: true }]);
  const second = await reconciler.relayOutbox(`recon-${run}-2`, { outboxAgeMs: 0 });
  expect(second.drifts.filter((d) => d.subject === r.report_id)).toEqual([]);
  // The workflow's own late retry afterwards still finds the same entry.
  const streamId = await activities(flakyStore(0)).publishReport(r);
  const entries = await entriesFor(r.report_id);
  expect(entries.map((e) => e.id)).toEqual([streamId]);
  expect(entries[0]!.report).toEqual(r);
  expect((await getExecutionReport(pool, r.report_id))?.stream_id).toBe(streamId);
});

test('order transitions: one report each, stored with the transition, published once across a retried attempt', async () => {
  const store = flakyStore(1);
  const acts = activities(store);
  const wf = `trade-order-${run}`;
  const order: TrackedOrder = {
    intent: { clientOrderId: `c-${run}-entry`, purpose: 'entry', symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', quantity: '1', price: '59990', timeInForce: 'GTC' },
    state: 'new',
    transitions: [],
    fills: EMPTY_FILLS,
  };
  const args = { decisionId: `d-${run}`, workflowId: wf, order };
  await acts.recordOrder(args); // recorded before submission: nothing has happened yet, nothing to report
  expect(await orderEntries(wf)).toEqual([]);

  const snap = (status: string, executedQty: string): OrderSnapshot => ({
    symbol: 'BTCUSDT', orderId: 7, clientOrderId: order.intent.clientOrderId, status, type: 'LIMIT', side: 'BUY',
    price: '59990', origQty: '1', executedQty, cummulativeQuoteQty: '0',
  });
  applySnapshot(order, snap('NEW', '0'), 'submitted', 1);
  applySnapshot(order, snap('PARTIALLY_FILLED', '0.4'), 'push', 2);
  // Attempt 1 stores both transitions, XADDs the first, then dies before marking it published.
  await expect(acts.recordOrder(args)).rejects.toThrow(/simulated crash/);
  expect((await orderEntries(wf)).map((e) => e.to_state)).toEqual(['submitted']);
  await acts.recordOrder(args); // Temporal's retry: the first is found published, the second goes out
  transition(order, 'cancel_requested', 'timeout', 3);
  applySnapshot(order, snap('CANCELED', '0.4'), 'cancel (timeout)', 4);
  await acts.recordOrder(args);
  await acts.recordOrder(args); // a duplicate attempt changes nothing

  const entries = await orderEntries(wf);
  expect(entries.map((e) => [e.transition_seq, e.from_state, e.to_state, e.order_status, e.executed_quantity])).toEqual([
    [1, 'new', 'submitted', 'NEW', '0'],
    [2, 'submitted', 'partially_filled', 'PARTIALLY_FILLED', '0.4'],
    [3, 'partially_filled', 'cancel_requested', null, null],
    [4, 'cancel_requested', 'cancelled', 'CANCELED', '0.4'],
  ]);
  const rows = await pool.query(
    'SELECT report_id, report_type, status, stream_id FROM execution_reports WHERE workflow_id = $1 ORDER BY report_id',
    [wf],
  );
  expect(rows.rows.map((r) => r.report_id)).toEqual(entries.map((e) => e.report_id));
  expect(rows.rows.every((r) => r.report_type === 'order_update' && r.stream_id !== null)).toBe(true);
  expect(rows.rows.map((r) => r.status)).toEqual(['submitted', 'partially_filled', 'cancel_requested', 'cancelled']);
  // Events and reports come from one list: every order_events row has its report.
  const events = await pool.query('SELECT seq FROM order_events WHERE client_order_id = $1 ORDER BY seq', [order.intent.clientOrderId]);
  expect(events.rows.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
});

async function orderEntries(workflowId: string): Promise<OrderUpdateReport[]> {
  const all = await redis.xrange(STREAM, '-', '+');
  return all
    .map(([, fields]) => JSON.parse(fields[fields.indexOf('data') + 1] ?? 'null') as PublishedReport)
    .filter((r): r is OrderUpdateReport => r.report_type === 'order_update' && r.workflow_id === workflowId);
}
