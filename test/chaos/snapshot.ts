/**
 * Gathering the chaos run's snapshot (invariants.ts) from the real things: Temporal visibility,
 * describe and results (or the getState query where a workflow did not complete), the paper
 * exchange's inspection API, PostgreSQL's tables and the `trade_executions` stream.
 */
import type { Client } from '@temporalio/client';
import type Redis from 'ioredis';
import type { Client as PgClient } from 'pg';
import type { PaperExchange } from '../../src/paper-exchange';
import type { TradeState } from '../../src/shared/trade';
import type {
  ChaosSnapshot,
  ExchangeOrder,
  ExchangeTrade,
  PgDecision,
  PgFill,
  PgOrder,
  PgReport,
  SentDecision,
  StreamTradeReport,
  WorkflowOutcome,
  WorkflowRun,
} from './invariants';
import { workflowIdOf } from './invariants';

export const TRADE_WORKFLOW_QUERY = "WorkflowType = 'TradeExecution'";

export async function workflowRuns(client: Client): Promise<WorkflowRun[]> {
  const out: WorkflowRun[] = [];
  for await (const wf of client.workflow.list({ query: TRADE_WORKFLOW_QUERY, pageSize: 1000 })) {
    out.push({ workflowId: wf.workflowId, runId: wf.runId, status: wf.status.name });
  }
  return out;
}

/** Rejects when `p` has not settled within `ms` (p itself goes on). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** The workflow's own final word: its result when it completed, else its state by query. */
export async function workflowOutcome(client: Client, workflowId: string): Promise<WorkflowOutcome> {
  const handle = client.workflow.getHandle(workflowId);
  let status: string;
  try {
    status = (await withTimeout(handle.describe(), 15_000, 'describe')).status.name;
  } catch (err) {
    return { workflowId, source: `describe failed: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (status === 'COMPLETED') {
    try {
      const state = (await withTimeout(handle.result(), 15_000, 'result')) as TradeState;
      return { workflowId, tradeStatus: state.status, error: state.error ?? null, source: 'result' };
    } catch (err) {
      return { workflowId, source: `result failed: ${err instanceof Error ? err.message : String(err)}` };
    }
  }
  try {
    // A closed workflow is queried by replaying it on a worker.
    const state = await withTimeout(handle.query<TradeState>('getState'), 20_000, 'getState query');
    return { workflowId, tradeStatus: state.status, error: state.error ?? null, source: `query (workflow ${status})` };
  } catch (err) {
    return { workflowId, source: `workflow ${status}; query failed: ${err instanceof Error ? err.message : String(err)}` };
  }
}

export function exchangeView(paper: PaperExchange): { orders: ExchangeOrder[]; trades: ExchangeTrade[] } {
  return {
    orders: paper.orders().map((o) => ({
      symbol: o.symbol,
      orderId: o.orderId,
      clientOrderId: o.clientOrderId,
      side: o.side,
      type: o.type,
      status: o.status,
      origQty: o.origQty,
      executedQty: o.executedQty,
    })),
    trades: paper.trades().map((t) => ({ symbol: t.symbol, id: t.id, orderId: t.orderId, qty: t.qty })),
  };
}

export async function postgresView(pg: PgClient): Promise<Pick<ChaosSnapshot, 'pgOrders' | 'pgFills' | 'pgReports' | 'pgDecisions'>> {
  const orders = await pg.query<{ client_order_id: string; decision_id: string | null; purpose: string; side: string; exchange_order_id: string | null; status: string; executed_qty: string }>(
    'SELECT client_order_id, decision_id, purpose, side, exchange_order_id::text, status, executed_qty::text FROM orders ORDER BY client_order_id',
  );
  const fills = await pg.query<{ symbol: string; trade_id: string; exchange_order_id: string; client_order_id: string | null; qty: string }>(
    'SELECT symbol, trade_id::text, exchange_order_id::text, client_order_id, qty::text FROM fills ORDER BY symbol, trade_id',
  );
  const reports = await pg.query<{ report_id: string; decision_id: string; report_type: string; status: string; published: boolean }>(
    'SELECT report_id, decision_id, report_type, status, stream_id IS NOT NULL AS published FROM execution_reports ORDER BY report_id',
  );
  const decisions = await pg.query<{ decision_id: string; status: string; error: string | null }>('SELECT decision_id, status, error FROM decisions ORDER BY decision_id');
  return {
    pgOrders: orders.rows.map(
      (r): PgOrder => ({
        clientOrderId: r.client_order_id,
        decisionId: r.decision_id,
        purpose: r.purpose,
        side: r.side,
        exchangeOrderId: r.exchange_order_id === null ? null : Number(r.exchange_order_id),
        status: r.status,
        executedQty: r.executed_qty,
      }),
    ),
    pgFills: fills.rows.map(
      (r): PgFill => ({ symbol: r.symbol, tradeId: Number(r.trade_id), exchangeOrderId: Number(r.exchange_order_id), clientOrderId: r.client_order_id, qty: r.qty }),
    ),
    pgReports: reports.rows.map((r): PgReport => ({ reportId: r.report_id, decisionId: r.decision_id, reportType: r.report_type, status: r.status, published: r.published })),
    pgDecisions: decisions.rows.map((r): PgDecision => ({ decisionId: r.decision_id, status: r.status, error: r.error })),
  };
}

/** The `report_type: 'trade'` entries of `trade_executions`, in stream order. */
export async function streamTradeReports(redis: Redis): Promise<StreamTradeReport[]> {
  const out: StreamTradeReport[] = [];
  for (const [streamId, fields] of await redis.xrange('trade_executions', '-', '+')) {
    const i = fields.indexOf('data');
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(fields[i + 1] ?? 'null') as Record<string, unknown>;
    } catch {
      continue;
    }
    if (!r || r.report_type !== 'trade') continue;
    out.push({
      streamId,
      reportId: String(r.report_id),
      decisionId: String(r.decision_id),
      status: String(r.status),
      success: r.success === true,
      error: typeof r.error === 'string' ? r.error : null,
      filledQuantity: typeof r.filled_quantity === 'string' ? r.filled_quantity : '0',
    });
  }
  return out;
}

export async function gatherSnapshot(o: {
  decisions: SentDecision[];
  temporal: Client;
  /** The exchange's orders and trades: exchangeView(paper) in process, or the paper exchange's GET /admin/ledger. */
  exchange: { orders: ExchangeOrder[]; trades: ExchangeTrade[] };
  pg: PgClient;
  redis: Redis;
}): Promise<ChaosSnapshot> {
  const runs = await workflowRuns(o.temporal);
  const outcomes: WorkflowOutcome[] = [];
  // A few at a time: each query of a closed workflow is a replay on the worker.
  const ids = o.decisions.map((d) => workflowIdOf(d.decisionId));
  for (let i = 0; i < ids.length; i += 8) {
    outcomes.push(...(await Promise.all(ids.slice(i, i + 8).map((id) => workflowOutcome(o.temporal, id)))));
  }
  const ex = o.exchange;
  return {
    decisions: o.decisions,
    runs,
    outcomes,
    exchangeOrders: ex.orders,
    exchangeTrades: ex.trades,
    ...(await postgresView(o.pg)),
    streamReports: await streamTradeReports(o.redis),
  };
}
