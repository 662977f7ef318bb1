/**
 * Turns what the bookkeeping activities see (fills settled, execution reports published) into
 * metrics and threshold alerts. Plugged in as BookkeepingHooks, so neither the workflow nor the
 * exchange activities carry metrics code.
 *
 * Latencies come from what Postgres recorded, so they measure the trade, not the activity:
 *   decision → submitted   decisions.received_at → first order_events transition to an exchange
 *                          state (submitted / partially_filled / filled);
 *   submitted → filled     that transition → the last fill's exchange trade time;
 *   whole trade            decisions.received_at → the report's timestamp.
 *
 * A retried activity calls the hooks again; report ids, workflow outcomes and trade ids already
 * observed by this process are skipped (bounded memory), so a retry does not count a trade twice.
 * (Per process: a retry that lands on another worker after the first one counted and died is
 * counted there again; Prometheus sums the workers.)
 */
import type { Pool } from 'pg';
import type { AlertSink } from '../alerts/alerts';
import type { Logger } from '../logging';
import type { ExecutionReport, FillSummary } from '../shared/trade';
import type { ServiceMetrics } from './metrics';

/** Statuses that end a trade (intermediate per-transition reports are not outcomes). */
const FINAL_STATUSES = ['filled', 'partially_filled', 'cancelled', 'expired', 'rejected', 'failed'] as const;
const FINAL = new Set<string>(FINAL_STATUSES);

/**
 * The one outcome the failure-rate alert counts: the trade could not be carried out (an error,
 * an unknown outcome never settled). A LIMIT order that timed out unfilled ('expired'), an
 * operator's cancel ('cancelled') and a refusal by a filter or the exchange ('rejected') are
 * ordinary ends of a trade; each has its own rate (trade_outcome_ratio) to alert on if wanted.
 */
const FAILURE_STATUS = 'failed';

export interface AlertThresholds {
  /** Alert when the share of trades with status `failed` among the last `failureWindow` finished trades exceeds this (0..1). */
  failureRate: number;
  /** …once at least this many trades are in the window. */
  failureMinSamples: number;
  failureWindow: number;
  /** Alert when a whole trade takes longer than this (ms). */
  tradeLatencyMs: number;
  /** Alert when decision → submitted takes longer than this (ms). */
  submitLatencyMs: number;
  /**
   * Alert on reconciliation drift whose value in the quote asset is at least this (a missing
   * fill or an unknown open order always alerts).
   */
  driftQuoteValue: string;
}

export const DEFAULT_ALERT_THRESHOLDS: AlertThresholds = {
  failureRate: 0.25,
  failureMinSamples: 10,
  failureWindow: 50,
  tradeLatencyMs: 5 * 60_000,
  submitLatencyMs: 10_000,
  driftQuoteValue: '0',
};

export interface TradeObserverOptions {
  metrics: ServiceMetrics;
  pool?: Pool;
  alerts?: AlertSink;
  thresholds?: Partial<AlertThresholds>;
  logger?: Logger;
}

class BoundedSet {
  private readonly items = new Set<string>();
  constructor(private readonly max: number) {}
  /** True when newly added. */
  add(key: string): boolean {
    if (this.items.has(key)) return false;
    this.items.add(key);
    if (this.items.size > this.max) this.items.delete(this.items.values().next().value as string);
    return true;
  }
}

export class TradeObserver {
  readonly thresholds: AlertThresholds;
  private readonly seenReports = new BoundedSet(20_000);
  private readonly seenOutcomes = new BoundedSet(20_000);
  private readonly seenTrades = new BoundedSet(100_000);
  /** Final statuses of the most recent finished trades, oldest first. */
  private readonly outcomes: string[] = [];

  constructor(private readonly o: TradeObserverOptions) {
    this.thresholds = { ...DEFAULT_ALERT_THRESHOLDS, ...o.thresholds };
  }

  /** BookkeepingHooks for createActivities. */
  hooks() {
    return {
      fillsSettled: (_req: unknown, summary: FillSummary) => this.fillsSettled(summary),
      reportPublished: (report: ExecutionReport) => this.reportPublished(report),
    };
  }

  fillsSettled(summary: FillSummary): void {
    for (const f of summary.fills) {
      if (this.seenTrades.add(`${f.symbol}:${f.tradeId}`)) this.o.metrics.fills.inc({ symbol: f.symbol, side: f.side });
    }
  }

  async reportPublished(report: ExecutionReport): Promise<void> {
    if (!this.seenReports.add(report.report_id)) return;
    const m = this.o.metrics;
    m.reports.inc({ status: report.status, success: String(report.success) });
    // A trade's outcome is its report with a final status and an execution time (set only once
    // the trade finished: 'partially_filled' is also an intermediate transition), once per workflow.
    if (!FINAL.has(report.status) || report.execution_time === null) return;
    if (!this.seenOutcomes.add(report.workflow_id)) return;
    m.orders.inc({ order_type: report.order_type, outcome: report.status });

    this.outcomes.push(report.status);
    while (this.outcomes.length > this.thresholds.failureWindow) this.outcomes.shift();
    const n = this.outcomes.length;
    const count = (status: string) => this.outcomes.filter((s) => s === status).length;
    const failures = count(FAILURE_STATUS);
    m.successRatio.set((count('filled') + count('partially_filled')) / n);
    for (const status of FINAL_STATUSES) m.outcomeRatio.set({ outcome: status }, count(status) / n);

    const t = await this.timings(report);
    if (t.decisionToSubmittedMs !== undefined) m.decisionToSubmitted.observe(t.decisionToSubmittedMs / 1000);
    if (t.submittedToFilledMs !== undefined) m.submittedToFilled.observe(t.submittedToFilledMs / 1000);
    if (t.tradeMs !== undefined) m.tradeDuration.observe(t.tradeMs / 1000);

    const alerts = this.o.alerts;
    if (!alerts) return;
    const rate = this.outcomes.length === 0 ? 0 : failures / this.outcomes.length;
    if (this.outcomes.length >= this.thresholds.failureMinSamples && rate > this.thresholds.failureRate) {
      await alerts.raise({
        kind: 'failure_rate',
        severity: 'critical',
        message: `${failures} of the last ${this.outcomes.length} trades failed (${(rate * 100).toFixed(1)}% > ${(this.thresholds.failureRate * 100).toFixed(1)}%)`,
        detail: { failures, window: this.outcomes.length, threshold: this.thresholds.failureRate, last: report.report_id },
      });
    }
    if (t.tradeMs !== undefined && t.tradeMs > this.thresholds.tradeLatencyMs) {
      await alerts.raise({
        kind: 'trade_latency',
        severity: 'warning',
        message: `trade ${report.workflow_id} took ${t.tradeMs} ms (threshold ${this.thresholds.tradeLatencyMs} ms)`,
        detail: { workflowId: report.workflow_id, ms: t.tradeMs, threshold: this.thresholds.tradeLatencyMs },
      });
    }
    if (t.decisionToSubmittedMs !== undefined && t.decisionToSubmittedMs > this.thresholds.submitLatencyMs) {
      await alerts.raise({
        kind: 'submit_latency',
        severity: 'warning',
        message: `decision ${report.decision_id} took ${t.decisionToSubmittedMs} ms to reach the exchange (threshold ${this.thresholds.submitLatencyMs} ms)`,
        detail: { decisionId: report.decision_id, ms: t.decisionToSubmittedMs, threshold: this.thresholds.submitLatencyMs },
      });
    }
  }

  private async timings(report: ExecutionReport): Promise<{ decisionToSubmittedMs?: number; submittedToFilledMs?: number; tradeMs?: number }> {
    const fallback = report.execution_time !== null ? { tradeMs: report.execution_time } : {};
    if (!this.o.pool) return fallback;
    const r = await this.o.pool.query<{ received_at: Date | null; submitted_at: Date | null; last_fill_at: Date | null }>(
      `SELECT (SELECT received_at FROM decisions WHERE decision_id = $1) AS received_at,
              (SELECT min(at) FROM order_events
                WHERE client_order_id = $2 AND to_state IN ('submitted', 'partially_filled', 'filled')) AS submitted_at,
              (SELECT max(trade_time) FROM fills WHERE client_order_id = $2) AS last_fill_at`,
      [report.decision_id, report.client_order_id],
    );
    const row = r.rows[0];
    const out: { decisionToSubmittedMs?: number; submittedToFilledMs?: number; tradeMs?: number } = { ...fallback };
    const received = row?.received_at?.getTime();
    const submitted = row?.submitted_at?.getTime();
    const filled = row?.last_fill_at?.getTime();
    if (received !== undefined && submitted !== undefined) out.decisionToSubmittedMs = Math.max(0, submitted - received);
    if (submitted !== undefined && filled !== undefined && report.status === 'filled') {
      out.submittedToFilledMs = Math.max(0, filled - submitted);
    }
    if (received !== undefined) out.tradeMs = Math.max(0, report.timestamp - received);
    return out;
  }
}
