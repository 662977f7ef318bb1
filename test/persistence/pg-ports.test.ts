/**
 * The Postgres ports the activities (TradeStore) and the bridge (DecisionRecorder) write
 * through (src/persistence/pg-ports.ts), against a real Postgres: retries are harmless and
 * state only moves forward.
 */
import type { Pool } from 'pg';
import { createLogger } from '../../src/logging';
import { createPool } from '../../src/persistence/db';
import { migrate } from '../../src/persistence/migrate';
import { getDecision } from '../../src/persistence/stores/decisions';
import { getExecutionReport } from '../../src/persistence/stores/execution-reports';
import { getOrder, listOrderEvents } from '../../src/persistence/stores/orders';
import { getPosition } from '../../src/persistence/stores/positions';
import { createPgDecisionRecorder, createPgTradeStore } from '../../src/persistence/pg-ports';
import { orderUpdateReports } from '../../src/reporting/order-update-report';
import { RiskDecisionSchema } from '../../src/shared/decision';
import type { ExecutionReport, FillRecord, TrackedOrder } from '../../src/shared/trade';
import { createScratchDatabase, type ScratchDatabase } from './scratch-db';

let db: ScratchDatabase;
let pool: Pool;
const logger = createLogger('trade-store-test', 'silent');

beforeAll(async () => {
  db = await createScratchDatabase('tradestore');
  pool = createPool(db.url, { max: 4, logger });
  await migrate(pool);
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

const decision = (id: string, extra: Record<string, unknown> = {}) =>
  RiskDecisionSchema.parse({
    decision_id: id,
    timestamp: 1_700_000_000_000,
    symbol: 'BTCUSDT',
    decision: 'approve',
    original_signal: 2,
    approved_size: '0.01',
    reasons: ['fits limits'],
    ...extra,
  });

describe('DecisionRecorder', () => {
  test('received → started, with the stream entry and workflow id', async () => {
    const rec = createPgDecisionRecorder(pool);
    await rec.recordReceived(decision('d-1'), '1700000000000-0');
    await rec.recordStarted('d-1', 'trade-d-1');
    await rec.recordReceived(decision('d-1'), '1700000000000-0'); // redelivery: no step back
    expect(await getDecision(pool, 'd-1')).toMatchObject({
      status: 'started',
      workflow_id: 'trade-d-1',
      side: 'BUY',
      approved_size: '0.01',
      stream_entry_id: '1700000000000-0',
      reasons: ['fits limits'],
    });
  });

  test('a rejected decision is recorded without a workflow', async () => {
    const rec = createPgDecisionRecorder(pool);
    await rec.recordRejected(decision('d-rej', { decision: 'reject', original_signal: 1, approved_size: 0 }), '5-0');
    expect(await getDecision(pool, 'd-rej')).toMatchObject({ status: 'rejected', workflow_id: null, side: null });
  });

  test('an invalid message never overwrites a real decision with the same id', async () => {
    const rec = createPgDecisionRecorder(pool);
    await rec.recordReceived(decision('d-2'), '10-0');
    await rec.recordStarted('d-2', 'trade-d-2');
    await rec.recordInvalid({ decisionId: 'd-2', reason: 'approved_size: not a decimal', raw: '{"decision_id":"d-2"}', entryId: '11-0' });
    expect(await getDecision(pool, 'd-2')).toMatchObject({ status: 'started', stream_entry_id: '10-0', payload: { decision_id: 'd-2' } });

    // Without a usable id it is still recorded, once.
    await rec.recordInvalid({ reason: 'not JSON', raw: 'garbage{', entryId: '12-0' });
    await rec.recordInvalid({ reason: 'not JSON', raw: 'garbage{', entryId: '12-0' });
    const rows = await pool.query(`SELECT status, payload, reasons FROM decisions WHERE stream_entry_id = '12-0'`);
    expect(rows.rows).toEqual([{ status: 'invalid', payload: 'garbage{', reasons: ['not JSON'] }]);
  });
});

describe('TradeStore', () => {
  const order: TrackedOrder = {
    intent: {
      clientOrderId: 'te-d-3-entry',
      purpose: 'entry',
      symbol: 'BTCUSDT',
      side: 'BUY',
      type: 'LIMIT',
      quantity: '0.01',
      price: '50000',
      timeInForce: 'GTC',
    },
    state: 'new',
    transitions: [{ seq: 0, from: 'new', to: 'new', reason: 'planned', at: 1_700_000_000_000 }],
    fills: { fills: [], filledQty: '0', quoteQty: '0', avgPrice: '0', commissions: {} },
  };

  test('recordOrder writes the order and its transitions, idempotently, moving forward only', async () => {
    const store = createPgTradeStore(pool);
    const record = (o: TrackedOrder) =>
      store.recordOrder({ decisionId: 'd-3', workflowId: 'trade-d-3', order: o, reports: orderUpdateReports({ decisionId: 'd-3', workflowId: 'trade-d-3', order: o }) });
    expect((await record(order)).map((r) => r.report_id)).toEqual(['trade-d-3:te-d-3-entry:0']);
    expect((await getOrder(pool, 'te-d-3-entry'))?.status).toBe('PENDING_SUBMIT');

    const filled: TrackedOrder = {
      ...order,
      state: 'filled',
      exchange: {
        symbol: 'BTCUSDT',
        orderId: 77,
        clientOrderId: 'te-d-3-entry',
        orderListId: -1,
        status: 'FILLED',
        type: 'LIMIT',
        side: 'BUY',
        price: '50000.00000000',
        origQty: '0.01000000',
        executedQty: '0.01000000',
        cummulativeQuoteQty: '500.00000000',
      },
      transitions: [
        ...order.transitions,
        { seq: 1, from: 'new', to: 'submitted', reason: 'acknowledged', at: 1_700_000_000_100 },
        { seq: 2, from: 'submitted', to: 'filled', reason: 'filled', at: 1_700_000_000_200 },
      ],
    };
    // Until a report is marked published it is handed back on every attempt (the outbox).
    expect((await record(filled)).map((r) => r.transition_seq)).toEqual([0, 1, 2]);
    await store.markReportPublished('trade-d-3:te-d-3-entry:0', '1-0');
    expect((await record(filled)).map((r) => r.transition_seq)).toEqual([1, 2]); // activity retry
    expect((await record(order)).map((r) => r.transition_seq)).toEqual([]); // stale replay
    const stored = await pool.query(
      "SELECT report_id, report_type, status FROM execution_reports WHERE client_order_id = 'te-d-3-entry' ORDER BY report_id",
    );
    expect(stored.rows).toEqual([
      { report_id: 'trade-d-3:te-d-3-entry:0', report_type: 'order_update', status: 'new' },
      { report_id: 'trade-d-3:te-d-3-entry:1', report_type: 'order_update', status: 'submitted' },
      { report_id: 'trade-d-3:te-d-3-entry:2', report_type: 'order_update', status: 'filled' },
    ]);
    expect(await getOrder(pool, 'te-d-3-entry')).toMatchObject({
      status: 'FILLED',
      exchange_order_id: '77',
      order_list_id: null,
      executed_qty: '0.01',
      cummulative_quote_qty: '500',
      purpose: 'entry',
    });
    expect((await listOrderEvents(pool, 'te-d-3-entry')).map((e) => e.to_state)).toEqual(['new', 'submitted', 'filled']);
  });

  test('applyFills: once per trade; an unpriced BNB commission is left out, not fatal', async () => {
    const store = createPgTradeStore(pool);
    const fills: FillRecord[] = [
      {
        tradeId: 501, orderId: 77, clientOrderId: 'te-d-3-entry', symbol: 'BTCUSDT', side: 'BUY',
        price: '50000.00', qty: '0.006', quoteQty: '300.00', commission: '0.00000600', commissionAsset: 'BTC',
        isMaker: true, time: 1_700_000_000_150,
      },
      {
        tradeId: 502, orderId: 77, clientOrderId: 'te-d-3-entry', symbol: 'BTCUSDT', side: 'BUY',
        price: '50000.00', qty: '0.004', quoteQty: '200.00', commission: '0.0005', commissionAsset: 'BNB',
        isMaker: true, time: 1_700_000_000_160,
      },
    ];
    const args = { symbol: 'BTCUSDT', baseAsset: 'BTC', quoteAsset: 'USDT', fills, commissionAssetPrices: {} };
    await store.applyFills(args);
    await store.applyFills(args);
    // 0.006 - 0.000006 + 0.004 = 0.009994 BTC; fee 0.000006 × 50000 = 0.3 USDT; BNB fee unvalued.
    expect(await getPosition(pool, 'BTCUSDT')).toMatchObject({
      quantity: '0.009994',
      fees_quote: '0.3',
      unvalued_fee_fills: 1,
      fill_count: 2,
    });
  });

  test('saveReport / markReportPublished / recordDecisionOutcome', async () => {
    const store = createPgTradeStore(pool);
    const rec = createPgDecisionRecorder(pool);
    await rec.recordReceived(decision('d-4'), '20-0');
    await rec.recordStarted('d-4', 'trade-d-4');
    const report: ExecutionReport = {
      report_type: 'trade',
      report_id: 'trade-d-4:final', decision_id: 'd-4', workflow_id: 'trade-d-4', order_id: 77,
      client_order_id: 'te-d-4-entry', symbol: 'BTCUSDT', side: 'BUY', order_type: 'MARKET', quantity: '0.01',
      status: 'FILLED', success: true, filled_quantity: '0.01', cancelled_quantity: '0', avg_fill_price: '50000',
      quote_quantity: '500', commission: '0.3', commission_asset: 'USDT', commissions: { USDT: '0.3' },
      execution_time: 1_700_000_000_200, error: null, timestamp: 1_700_000_000_300,
    };
    await store.saveReport(report);
    await store.saveReport(report);
    await store.markReportPublished(report.report_id, '1700000000300-0');
    await store.markReportPublished(report.report_id, '1700000000300-0');
    expect(await getExecutionReport(pool, report.report_id)).toMatchObject({
      stream_id: '1700000000300-0',
      status: 'FILLED',
      payload: { avg_fill_price: '50000', success: true },
    });
    await store.recordDecisionOutcome('d-4', 'completed');
    await store.recordDecisionOutcome('d-4', 'failed', 'late retry'); // terminal already: no-op
    expect(await getDecision(pool, 'd-4')).toMatchObject({ status: 'completed', error: null });
    await expect(store.recordDecisionOutcome('d-never-recorded', 'completed')).resolves.toBeUndefined();
  });
});
