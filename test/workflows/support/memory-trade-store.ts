/**
 * An in-memory TradeStore with the Postgres store's rules (src/persistence/pg-ports.ts): an
 * order row upserted per call, each transition stored once by (client order id, seq) with its
 * report in the same step (the outbox), reports returned until they are marked published,
 * fills applied once per exchange trade id, one outcome per decision. Tests read its maps.
 *
 * `pool()` answers the two queries the pre-trade risk guard makes (src/risk/risk-store.ts) from
 * these rows, so the real createRiskActivities runs without Postgres.
 */
import type { Pool } from 'pg';
import type { TradeStore } from '../../../activities/bookkeeping-activities';
import { dec } from '../../../src/shared/decimal';
import type { OrderTransition } from '../../../src/shared/order-state';
import type { ExecutionReport, FillRecord, OrderUpdateReport, TrackedOrder } from '../../../src/shared/trade';

export interface StoredOrder {
  decisionId: string;
  workflowId: string;
  /** The order as last recorded (a copy). */
  order: TrackedOrder;
  /** orders.status as pg-ports writes it: the venue's status, else NOT_PLACED / REJECTED / PENDING_SUBMIT. */
  status: string;
  recordedAt: number;
  writes: number;
}

export interface StoredReport {
  payload: ExecutionReport | OrderUpdateReport;
  streamId?: string;
}

const copy = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

export class MemoryTradeStore implements TradeStore {
  readonly orders = new Map<string, StoredOrder>();
  readonly transitions = new Map<string, OrderTransition[]>();
  readonly reports = new Map<string, StoredReport>();
  /** Fills by `${symbol}:${tradeId}`. */
  readonly fills = new Map<string, FillRecord>();
  readonly positions = new Map<string, string>();
  readonly outcomes = new Map<string, { status: 'completed' | 'failed'; error?: string }>();
  /** Every call, by method name, for assertions on how often the books were written. */
  readonly calls: Array<{ method: string; key: string }> = [];
  /** A test may hold a method back (to catch the workflow in a state); the call is listed in `calls` before it waits. */
  gate: Partial<Record<keyof TradeStore, Promise<void>>> = {};

  async recordOrder({ decisionId, workflowId, order, reports }: Parameters<TradeStore['recordOrder']>[0]): Promise<OrderUpdateReport[]> {
    const cid = order.intent.clientOrderId;
    this.calls.push({ method: 'recordOrder', key: cid });
    await this.gate.recordOrder;
    const prev = this.orders.get(cid);
    this.orders.set(cid, { decisionId, workflowId, order: copy(order), status: storedStatus(order), recordedAt: prev?.recordedAt ?? Date.now(), writes: (prev?.writes ?? 0) + 1 });
    const stored = this.transitions.get(cid) ?? [];
    const bySeq = new Map(reports.map((r) => [r.transition_seq, r]));
    for (const t of order.transitions) {
      if (stored.some((s) => s.seq === t.seq)) continue;
      stored.push(copy(t));
      const report = bySeq.get(t.seq);
      if (report && !this.reports.has(report.report_id)) this.reports.set(report.report_id, { payload: copy(report) });
    }
    this.transitions.set(cid, stored);
    return reports.filter((r) => this.reports.get(r.report_id)?.streamId === undefined && this.reports.has(r.report_id));
  }

  async applyFills({ symbol, fills }: Parameters<TradeStore['applyFills']>[0]): Promise<void> {
    this.calls.push({ method: 'applyFills', key: symbol });
    await this.gate.applyFills;
    for (const f of fills) {
      const key = `${f.symbol}:${f.tradeId}`;
      if (this.fills.has(key)) continue;
      this.fills.set(key, copy(f));
      const held = dec(this.positions.get(f.symbol) ?? '0');
      this.positions.set(f.symbol, (f.side === 'BUY' ? held.plus(f.qty) : held.minus(f.qty)).toFixed());
    }
  }

  async saveReport(report: ExecutionReport): Promise<void> {
    this.calls.push({ method: 'saveReport', key: report.report_id });
    await this.gate.saveReport;
    if (!this.reports.has(report.report_id)) this.reports.set(report.report_id, { payload: copy(report) });
  }

  async markReportPublished(reportId: string, streamId: string): Promise<void> {
    this.calls.push({ method: 'markReportPublished', key: reportId });
    const r = this.reports.get(reportId);
    if (!r) throw new Error(`memory store: no report ${reportId} to mark published`);
    r.streamId = streamId;
  }

  async recordDecisionOutcome(decisionId: string, status: 'completed' | 'failed', error?: string): Promise<void> {
    this.calls.push({ method: 'recordDecisionOutcome', key: decisionId });
    await this.gate.recordDecisionOutcome;
    this.outcomes.set(decisionId, { status, ...(error !== undefined ? { error } : {}) });
  }

  async storedTransitions(clientOrderId: string): Promise<OrderTransition[]> {
    return copy(this.transitions.get(clientOrderId) ?? []);
  }

  // ---- views for assertions ----------------------------------------------------------------

  /** The trade reports (report_type 'trade') of a workflow. */
  tradeReports(workflowId: string): ExecutionReport[] {
    return [...this.reports.values()].map((r) => r.payload).filter((p): p is ExecutionReport => p.report_type === 'trade' && p.workflow_id === workflowId);
  }

  /** The order-update reports of an order, by transition seq. */
  orderUpdates(clientOrderId: string): OrderUpdateReport[] {
    return [...this.reports.values()]
      .map((r) => r.payload)
      .filter((p): p is OrderUpdateReport => p.report_type === 'order_update' && p.client_order_id === clientOrderId)
      .sort((a, b) => a.transition_seq - b.transition_seq);
  }

  unpublished(): string[] {
    return [...this.reports.entries()].filter(([, r]) => r.streamId === undefined).map(([id]) => id);
  }

  /** What the risk guard's two queries read, answered from these rows (the only cast to Pool). */
  pool(): Pool {
    const query = async (sql: string, params: unknown[] = []) => {
      if (/FROM positions/.test(sql)) {
        const held = this.positions.get(String(params[0]));
        return { rows: held === undefined ? [] : [{ quantity: held }] };
      }
      if (/FROM orders/.test(sql)) {
        const windowMs = Number(params[0]) * 1000;
        const n = [...this.orders.values()].filter((o) => o.recordedAt > Date.now() - windowMs && o.status !== 'NOT_PLACED' && o.decisionId !== params[1]).length;
        return { rows: [{ n: String(n) }] };
      }
      throw new Error(`memory store: no answer for ${sql}`);
    };
    return { query } as unknown as Pool;
  }
}

/** orders.status as pg-ports.ts writes it. */
function storedStatus(order: TrackedOrder): string {
  if (order.exchange) return order.exchange.status;
  if (order.state === 'not_placed' || order.state === 'failed') return 'NOT_PLACED';
  if (order.state === 'rejected') return 'REJECTED';
  return 'PENDING_SUBMIT';
}
