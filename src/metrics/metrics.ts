/**
 * The worker's Prometheus metrics (prom-client), all on one registry that the metrics HTTP
 * server exposes. Label values are bounded sets (order types, statuses, Binance error codes,
 * endpoint names, symbols the service trades), never ids.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RateLimitUsage } from '../exchange';
import type { PortfolioReport } from '../portfolio/report';

/** Latency buckets in seconds, from a fast MARKET fill to a limit order resting for an hour. */
const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

export interface ServiceMetricsOptions {
  registry?: Registry;
  /** Process metrics (CPU, memory, event loop lag); default true. */
  defaultMetrics?: boolean;
  /** Read on every scrape for the rate-limit gauges (client.usage()). */
  rateLimitUsage?: () => RateLimitUsage;
}

export class ServiceMetrics {
  readonly registry: Registry;

  // Trades and orders
  readonly orders: Counter<'order_type' | 'outcome'>;
  readonly orderTransitionsRefused: Counter<'source' | 'state' | 'event'>;
  readonly fills: Counter<'symbol' | 'side'>;
  readonly reports: Counter<'status' | 'success'>;
  readonly successRatio: Gauge;
  readonly outcomeRatio: Gauge<'outcome'>;
  readonly decisionToSubmitted: Histogram;
  readonly submittedToFilled: Histogram;
  readonly tradeDuration: Histogram;

  // Exchange
  readonly exchangeRequests: Counter<'method' | 'outcome'>;
  readonly exchangeErrors: Counter<'code' | 'kind' | 'method'>;
  readonly exchangeLatency: Histogram<'method'>;

  // Portfolio
  readonly exposure: Gauge<'symbol' | 'quote_asset'>;
  readonly totalExposure: Gauge<'quote_asset'>;
  readonly realizedPnl: Gauge<'quote_asset'>;
  readonly unrealizedPnl: Gauge<'quote_asset'>;
  readonly positionQty: Gauge<'symbol'>;
  readonly balance: Gauge<'asset' | 'kind'>;
  readonly externalInventory: Counter<'symbol'>;

  // Reconciliation and alerts
  readonly reconciliationRuns: Counter<'outcome'>;
  readonly reconciliationDrift: Counter<'kind'>;
  readonly reconciliationRepairs: Counter<'kind'>;
  readonly reconciliationWeight: Counter;
  readonly reconciliationLastRun: Gauge;
  readonly alerts: Counter<'kind' | 'severity'>;

  // Pre-trade risk guard
  readonly riskRefusals: Counter<'rule'>;

  constructor(o: ServiceMetricsOptions = {}) {
    this.registry = o.registry ?? new Registry();
    const registers = [this.registry];
    if (o.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });

    this.orders = new Counter({
      name: 'trade_orders_total',
      help: 'Trades that reached a final status, by order type and outcome',
      labelNames: ['order_type', 'outcome'],
      registers,
    });
    this.orderTransitionsRefused = new Counter({
      name: 'order_transitions_refused_total',
      help: 'Order moves the state machine refused (the order kept its state), by where, state and event',
      labelNames: ['source', 'state', 'event'],
      registers,
    });
    this.fills = new Counter({ name: 'trade_fills_total', help: 'Exchange fills settled into the portfolio', labelNames: ['symbol', 'side'], registers });
    this.reports = new Counter({
      name: 'trade_execution_reports_total',
      help: 'Execution reports published on trade_executions',
      labelNames: ['status', 'success'],
      registers,
    });
    this.successRatio = new Gauge({
      name: 'trade_success_ratio',
      help: 'Share of successful trades among the most recent finished trades (see alert thresholds for the window)',
      registers,
    });
    this.outcomeRatio = new Gauge({
      name: 'trade_outcome_ratio',
      help: 'Share of each final status (filled, partially_filled, cancelled, expired, rejected, failed) among the most recent finished trades',
      labelNames: ['outcome'],
      registers,
    });
    this.decisionToSubmitted = new Histogram({
      name: 'trade_decision_to_submitted_seconds',
      help: 'From the decision being received to the order being acknowledged by the exchange',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.submittedToFilled = new Histogram({
      name: 'trade_submitted_to_filled_seconds',
      help: 'From the order being acknowledged to its last fill (exchange trade time)',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.tradeDuration = new Histogram({
      name: 'trade_duration_seconds',
      help: 'Whole trade: decision received to final execution report',
      buckets: LATENCY_BUCKETS,
      registers,
    });

    this.exchangeRequests = new Counter({
      name: 'exchange_requests_total',
      help: 'Exchange client calls by method and outcome (ok, error)',
      labelNames: ['method', 'outcome'],
      registers,
    });
    this.exchangeErrors = new Counter({
      name: 'exchange_errors_total',
      help: 'Exchange errors by Binance error code (or HTTP status, or "none"), kind and client method',
      labelNames: ['code', 'kind', 'method'],
      registers,
    });
    this.exchangeLatency = new Histogram({
      name: 'exchange_request_seconds',
      help: 'Exchange client call latency, local budget waits included',
      labelNames: ['method'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });

    const usage = o.rateLimitUsage;
    if (usage) {
      new Gauge({
        name: 'exchange_rate_limit_used',
        help: 'Local budget: weight / orders used in the current window',
        labelNames: ['type', 'interval'],
        registers,
        collect() {
          this.reset();
          for (const w of usage().budget) this.set({ type: w.rateLimitType, interval: `${w.intervalNum}${w.interval}` }, w.used);
        },
      });
      new Gauge({
        name: 'exchange_rate_limit_limit',
        help: 'Exchange rate limits (exchangeInfo)',
        labelNames: ['type', 'interval'],
        registers,
        collect() {
          this.reset();
          for (const w of usage().budget) this.set({ type: w.rateLimitType, interval: `${w.intervalNum}${w.interval}` }, w.limit);
        },
      });
      new Gauge({
        name: 'exchange_used_weight_1m',
        help: 'Last X-MBX-USED-WEIGHT-1M the exchange reported',
        registers,
        collect() {
          const v = usage().usedWeight1m;
          if (v !== undefined) this.set(v);
        },
      });
      new Gauge({
        name: 'exchange_rate_limit_waited_seconds',
        help: 'Total time the local budget made callers wait instead of earning a 429',
        registers,
        collect() {
          this.set(usage().waitedMs / 1000);
        },
      });
      new Gauge({
        name: 'exchange_banned',
        help: '1 while the exchange has banned this IP (HTTP 418)',
        registers,
        collect() {
          const until = usage().bannedUntil;
          this.set(until !== undefined && until > Date.now() ? 1 : 0);
        },
      });
    }

    this.exposure = new Gauge({
      name: 'portfolio_exposure_quote',
      help: 'Gross exposure |qty| x mark per symbol, in its quote asset',
      labelNames: ['symbol', 'quote_asset'],
      registers,
    });
    this.totalExposure = new Gauge({
      name: 'portfolio_total_exposure_quote',
      help: 'Gross exposure summed per quote asset',
      labelNames: ['quote_asset'],
      registers,
    });
    this.realizedPnl = new Gauge({ name: 'portfolio_realized_pnl_quote', help: 'Realized PnL net of fees', labelNames: ['quote_asset'], registers });
    this.unrealizedPnl = new Gauge({ name: 'portfolio_unrealized_pnl_quote', help: 'Unrealized PnL at mark', labelNames: ['quote_asset'], registers });
    this.positionQty = new Gauge({ name: 'portfolio_position_quantity', help: 'Position quantity (base asset)', labelNames: ['symbol'], registers });
    this.balance = new Gauge({ name: 'portfolio_balance', help: 'Account balance from the exchange', labelNames: ['asset', 'kind'], registers });
    this.externalInventory = new Counter({
      name: 'portfolio_external_inventory_events_total',
      help: 'SELL fills that exceeded the recorded position (excess booked as external inventory)',
      labelNames: ['symbol'],
      registers,
    });

    this.reconciliationRuns = new Counter({ name: 'reconciliation_runs_total', help: 'Reconciliation runs by outcome', labelNames: ['outcome'], registers });
    this.reconciliationDrift = new Counter({ name: 'reconciliation_drift_total', help: 'Drift found, by kind', labelNames: ['kind'], registers });
    this.reconciliationRepairs = new Counter({ name: 'reconciliation_repairs_total', help: 'Drift repaired, by kind', labelNames: ['kind'], registers });
    this.reconciliationWeight = new Counter({ name: 'reconciliation_request_weight_total', help: 'Exchange request weight spent by reconciliation', registers });
    this.reconciliationLastRun = new Gauge({ name: 'reconciliation_last_run_timestamp_seconds', help: 'When the last reconciliation run finished', registers });
    this.alerts = new Counter({ name: 'alerts_total', help: 'Alerts raised', labelNames: ['kind', 'severity'], registers });
    this.riskRefusals = new Counter({
      name: 'risk_refusals_total',
      help: 'Orders refused by the pre-trade risk guard, by rule (price_collar, max_order_notional, max_position_notional, max_order_rate)',
      labelNames: ['rule'],
      registers,
    });
  }

  /** Sets the portfolio gauges from a report (positions, totals, balances). */
  observePortfolio(report: PortfolioReport): void {
    this.exposure.reset();
    this.positionQty.reset();
    for (const p of report.positions) {
      this.positionQty.set({ symbol: p.symbol }, Number(p.quantity));
      if (p.exposure_quote !== null) this.exposure.set({ symbol: p.symbol, quote_asset: p.quote_asset }, Number(p.exposure_quote));
    }
    this.totalExposure.reset();
    this.realizedPnl.reset();
    this.unrealizedPnl.reset();
    for (const t of report.totals) {
      this.totalExposure.set({ quote_asset: t.quote_asset }, Number(t.exposure_quote));
      this.realizedPnl.set({ quote_asset: t.quote_asset }, Number(t.realized_pnl));
      this.unrealizedPnl.set({ quote_asset: t.quote_asset }, Number(t.unrealized_pnl));
    }
    this.balance.reset();
    for (const b of report.balances) {
      this.balance.set({ asset: b.asset, kind: 'free' }, Number(b.free));
      this.balance.set({ asset: b.asset, kind: 'locked' }, Number(b.locked));
    }
  }
}
