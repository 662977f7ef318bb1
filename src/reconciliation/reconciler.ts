/**
 * Reconciliation: compares Postgres with the exchange and repairs what can be repaired.
 *
 * One run (the Reconciliation workflow) is: plan → per symbol (recent trades, open orders,
 * position vs its own ledger) → balances (account endpoint) → outbox relay → finish (drift
 * summary, alerts, metrics). Each step is an activity method here; every step records the
 * drift it finds in `reconciliation_runs` (one row per run, kind and subject, so a retried
 * step records it once), and every repair goes through the same idempotent store functions as
 * the trade path, in one transaction with its drift row.
 *
 * What is repaired, and how:
 *  - missing_fill: a trade the exchange lists and Postgres lacks is applied (applyFills, exactly
 *    once per trade id) and the position rebuilt from all its fills, so it is right even if the
 *    position had counted the fill before the row went missing;
 *  - position_mismatch: a position that disagrees with its own fills and adjustments is rebuilt;
 *  - unknown_open_order / order_status / stale_open_order: the order row is recorded or moved
 *    forward (upsertOrder only ever moves forward);
 *  - initial_inventory: base assets on the account before the service ever traded them are
 *    seeded into the asset's home position at the mark price;
 *  - balance_drift: a difference between the account and the positions is booked as an
 *    inventory adjustment at the mark price, but only once it is CONFIRMED: the previous run
 *    saw exactly the same difference, recently, with no fill recorded in between. A single
 *    observation may be a trade in flight; the same number twice with nothing happening is not;
 *  - unpublished_report: an execution report stored but never published is published once.
 * Not repaired (alert only): unknown_fill (Postgres has a fill the exchange does not list) and
 * fill_mismatch (same trade id, different content): both mean the books were written wrongly.
 *
 * Request budget: see budget.ts. A symbol that does not fit is left for the next run; the
 * least recently checked symbols go first, so every symbol is reached eventually.
 */
import type Redis from 'ioredis';
import type { Pool } from 'pg';
import type { AlertSink } from '../alerts/alerts';
import type { BinanceSpotClient, Trade } from '../exchange';
import { symbolRules } from '../exchange/filters';
import type { Logger } from '../logging';
import type { ServiceMetrics } from '../metrics/metrics';
import { DEFAULT_ALERT_THRESHOLDS } from '../metrics/trade-observer';
import { withTransaction } from '../persistence/db';
import { type FillInput, OPEN_ORDER_STATUSES } from '../persistence/schemas';
import { listUnpublishedReports, markReportPublished } from '../persistence/stores/execution-reports';
import { adjustInventory, isAssetTracked } from '../persistence/stores/inventory';
import { applyFillsInTransaction, fillTouchingAssetRecordedSince, listFillsInWindow } from '../persistence/stores/ledger';
import { clientOrderIdsByExchangeId } from '../persistence/stores/orders';
import { getPositionQuantity, listPositions, positionAndLedgerQuantity } from '../persistence/stores/positions';
import { listBalances } from '../persistence/stores/balances';
import {
  listRunDrifts,
  markSymbolChecked,
  previousRunBalanceDrift,
  recordDrift,
  recordRunSummary,
  symbolsToReconcile,
} from '../persistence/stores/reconciliation-runs';
import { MarkPriceCache } from '../portfolio/mark-prices';
import { refreshBalancesFromAccount } from '../portfolio/live';
import { buildPortfolioReport } from '../portfolio/report';
import { publishOnce, TRADE_EXECUTIONS_STREAM } from '../reporting/report-publisher';
import { dec, toWire } from '../shared/decimal';
import { RunBudget, WEIGHTS } from './budget';
import { compareBalances, compareTrades, judgePreviousSighting } from './compare';
import { reconcileOpenOrders } from './open-orders';
import { raiseRunAlerts, summariseRun } from './run-summary';
import {
  type BalanceResult,
  type Drift,
  type ReconciliationInput,
  type ReconciliationPlan,
  type ReconciliationSummary,
  type ResolvedReconciliationInput,
  type SymbolResult,
  resolveInput,
} from './types';

export interface ReconcilerDeps {
  pool: Pool;
  exchange: BinanceSpotClient;
  logger: Logger;
  /** For the outbox relay; without it unpublished reports are only reported. */
  redis?: Redis;
  reportStream?: string;
  alerts?: AlertSink;
  metrics?: ServiceMetrics;
  marks?: MarkPriceCache;
  /** Drift below this value (in the valuation asset) is recorded without an alert. Default '0'. */
  driftAlertQuoteValue?: string;
}

/** Fills this close to the window's start may be on either side of the exchange's cut. */
const WINDOW_EDGE_MS = 5_000;
const MAX_TRADE_PAGES = 5;
const PAGE = 1000;

export class Reconciler {
  private readonly marks: MarkPriceCache;

  constructor(private readonly d: ReconcilerDeps) {
    this.marks = d.marks ?? new MarkPriceCache(d.exchange);
  }

  // -------------------------------------------------------------------------------------------
  // Plan

  async plan(runId: string, rawInput?: ReconciliationInput): Promise<ReconciliationPlan> {
    const input = resolveInput(rawInput);
    const symbols = await symbolsToReconcile(this.d.pool, {
      openStatuses: OPEN_ORDER_STATUSES,
      lookbackMs: input.lookbackMs,
      configured: input.symbols,
    });
    return { runId, symbols };
  }

  // -------------------------------------------------------------------------------------------
  // One symbol: recent trades, position ledger, open orders

  async reconcileSymbol(runId: string, symbol: string, rawInput: ReconciliationInput | undefined, spent: number): Promise<SymbolResult> {
    const input = resolveInput(rawInput);
    const budget = this.budget(spent, input);
    const need = budget.check(WEIGHTS.myTrades + WEIGHTS.openOrdersOneSymbol);
    if (!need.ok) return { symbol, weight: 0, deferred: true, deferReason: need.reason, drifts: [] };

    const info = await this.d.exchange.cachedExchangeInfo();
    let rules;
    try {
      rules = symbolRules(info, symbol);
    } catch {
      this.d.logger.warn({ symbol }, 'reconciliation: symbol not listed on the exchange; skipped');
      await markSymbolChecked(this.d.pool, symbol, runId, null);
      return { symbol, weight: 0, deferred: false, drifts: [] };
    }
    const drifts: Drift[] = [];
    const { baseAsset, quoteAsset } = rules;

    // --- recent trades: fetch, compare with the stored fills, repair
    const { trades, startTime, fetchedAt, complete } = await this.fetchRecentTrades(symbol, input, budget);
    const stored = await listFillsInWindow(this.d.pool, symbol, new Date(startTime), [...new Set(trades.map((t) => String(t.id)))]);
    const { missing, mismatched, unknown } = compareTrades(trades, stored, {
      startTime,
      fetchedAt,
      complete,
      settleGraceMs: input.settleGraceMs,
      edgeMs: WINDOW_EDGE_MS,
    });
    for (const { trade: t, stored: s, fields } of mismatched) {
      drifts.push({
        kind: 'fill_mismatch',
        subject: `${symbol}#${t.id}`,
        repaired: false,
        detail: { symbol, tradeId: t.id, fields, exchange: t, stored: s },
      });
    }
    for (const s of unknown) {
      drifts.push({ kind: 'unknown_fill', subject: `${symbol}#${s.trade_id}`, repaired: false, detail: { symbol, fill: s } });
    }

    const rebuildNeeded = missing.length > 0 || (await this.positionDisagreesWithLedger(symbol, baseAsset));
    if (rebuildNeeded) drifts.push(...(await this.repairLedger(runId, symbol, { baseAsset, quoteAsset }, missing, input, budget)));

    // --- open orders
    budget.take(WEIGHTS.openOrdersOneSymbol);
    const open = await this.d.exchange.openOrders(symbol);
    drifts.push(...(await reconcileOpenOrders(this.d, symbol, open, input, budget)));

    for (const drift of drifts) {
      // Repaired ones were recorded with their repair.
      if (!(drift.repaired && (drift.kind === 'missing_fill' || drift.kind === 'position_mismatch'))) {
        await recordDrift(this.d.pool, runId, drift);
      }
    }
    const maxId = trades.length > 0 ? String(trades[trades.length - 1]!.id) : null;
    await markSymbolChecked(this.d.pool, symbol, runId, maxId);
    this.d.metrics?.reconciliationWeight.inc(budget.spent);
    return { symbol, weight: budget.spent, deferred: false, drifts };
  }

  /**
   * The account's trades of the symbol over the lookback window, paged by trade id while the
   * budget allows; `complete` is false when the pages ran out before the trades did (then the
   * absence of a stored fill from the answer proves nothing).
   */
  private async fetchRecentTrades(
    symbol: string,
    input: ResolvedReconciliationInput,
    budget: RunBudget,
  ): Promise<{ trades: Trade[]; startTime: number; fetchedAt: number; complete: boolean }> {
    budget.take(WEIGHTS.myTrades);
    const fetchedAt = Date.now() + this.d.exchange.timeOffsetMs();
    const startTime = fetchedAt - input.lookbackMs;
    const trades: Trade[] = await this.d.exchange.myTrades({ symbol, startTime, limit: PAGE });
    let complete = trades.length < PAGE;
    for (let page = 1; !complete && page < MAX_TRADE_PAGES && budget.take(WEIGHTS.myTrades); page++) {
      const more = await this.d.exchange.myTrades({ symbol, fromId: trades[trades.length - 1]!.id + 1, limit: PAGE });
      trades.push(...more);
      complete = more.length < PAGE;
    }
    return { trades, startTime, fetchedAt, complete };
  }

  /**
   * Books the missing trades and rebuilds the position from all its fills (so it is right even
   * if it had counted a fill before the row went missing), recording each drift with its repair
   * in the same transaction. Without repair the drifts are only reported.
   */
  private async repairLedger(
    runId: string,
    symbol: string,
    { baseAsset, quoteAsset }: { baseAsset: string; quoteAsset: string },
    missing: Trade[],
    input: ResolvedReconciliationInput,
    budget: RunBudget,
  ): Promise<Drift[]> {
    const drifts: Drift[] = [];
    if (input.repair) {
      const coids = await clientOrderIdsByExchangeId(this.d.pool, symbol, missing.map((t) => t.orderId));
      const prices = await this.thirdAssetPrices(missing, baseAsset, quoteAsset, budget);
      const fills: FillInput[] = missing.map((t) => ({
        symbol,
        trade_id: String(t.id),
        exchange_order_id: String(t.orderId),
        client_order_id: coids.get(String(t.orderId)) ?? null,
        side: t.isBuyer ? 'BUY' : 'SELL',
        price: t.price,
        qty: t.qty,
        quote_qty: t.quoteQty,
        commission: toWire(t.commission),
        commission_asset: t.commissionAsset,
        is_maker: t.isMaker,
        trade_time: t.time,
      }));
      const positionDrift = missing.length === 0;
      await withTransaction(this.d.pool, async (tx) => {
        const quantityBefore = await getPositionQuantity(tx, symbol);
        const r = await applyFillsInTransaction(tx, {
          symbol,
          baseAsset,
          quoteAsset,
          fills,
          commissionAssetPrices: prices,
          unpricedCommission: 'exclude',
          excessSell: 'external_inventory',
          rebuild: true,
        });
        for (const t of missing) {
          const drift: Drift = {
            kind: 'missing_fill',
            subject: `${symbol}#${t.id}`,
            repaired: true,
            valueQuote: t.quoteQty,
            detail: { symbol, tradeId: t.id, orderId: t.orderId, side: t.isBuyer ? 'BUY' : 'SELL', price: t.price, qty: t.qty, time: t.time },
          };
          drifts.push(drift);
          await recordDrift(tx, runId, drift);
        }
        if (positionDrift) {
          const drift: Drift = {
            kind: 'position_mismatch',
            subject: symbol,
            repaired: true,
            detail: { symbol, before: quantityBefore, after: r.position.quantity },
          };
          drifts.push(drift);
          await recordDrift(tx, runId, drift);
        }
      });
    } else {
      for (const t of missing) {
        drifts.push({ kind: 'missing_fill', subject: `${symbol}#${t.id}`, repaired: false, valueQuote: t.quoteQty, detail: { symbol, tradeId: t.id } });
      }
      if (missing.length === 0) drifts.push({ kind: 'position_mismatch', subject: symbol, repaired: false, detail: { symbol } });
    }
    return drifts;
  }

  // -------------------------------------------------------------------------------------------
  // Balances

  async reconcileBalances(runId: string, rawInput: ReconciliationInput | undefined, spent: number): Promise<BalanceResult> {
    const input = resolveInput(rawInput);
    const budget = this.budget(spent, input);
    if (!budget.take(WEIGHTS.account)) {
      return { weight: 0, deferred: true, deferReason: budget.check(WEIGHTS.account).reason, drifts: [], assetsCompared: 0 };
    }
    const { balances } = await refreshBalancesFromAccount(this.d.pool, this.d.exchange);
    const positions = await listPositions(this.d.pool);
    const info = await this.d.exchange.cachedExchangeInfo();
    const comparison = compareBalances({ balances, positions, symbols: input.symbols, listed: info.symbols });

    const drifts: Drift[] = [];
    for (const { asset, home: h, exchangeTotal: total, positionsTotal: held, diff } of comparison.drifts) {
      // A cached mark costs nothing, but is charged anyway: the budget errs on the safe side.
      const mark = budget.take(WEIGHTS.tickerPrice) ? (await this.marks.get([h.symbol]))[h.symbol] : this.marks.peek()[h.symbol];
      const valueQuote = mark === undefined ? undefined : toWire(diff.abs().mul(mark));
      const base = {
        asset,
        home: h.symbol,
        exchange_total: toWire(total),
        positions_total: toWire(held),
        diff: toWire(diff),
        mark: mark ?? null,
      };

      if (diff.gt(0) && !(await isAssetTracked(this.d.pool, asset))) {
        // Never traded nor seeded: what the account holds predates the service.
        let repaired = false;
        if (input.repair && mark !== undefined) {
          await adjustInventory(this.d.pool, {
            symbol: h.symbol,
            baseAsset: h.baseAsset,
            quoteAsset: h.quoteAsset,
            kind: 'external_inventory',
            qty: toWire(diff),
            price: mark,
            idempotencyKey: `seed:${h.symbol}`,
            reason: 'initial inventory found on the account before the service traded it, valued at the mark price',
            detail: { runId, ...base },
          });
          repaired = true;
        }
        const drift: Drift = { kind: 'initial_inventory', subject: asset, repaired, ...(valueQuote ? { valueQuote } : {}), detail: base };
        drifts.push(drift);
        await recordDrift(this.d.pool, runId, drift);
        continue;
      }

      // The previous run (not merely a recent one): did it see a drift of this asset?
      const previous = await previousRunBalanceDrift(this.d.pool, asset, runId);
      // Seen by the previous run too (any amount): worth an alert even if it keeps moving.
      const { persistent, sameSince } = judgePreviousSighting(previous, diff, Date.now(), input.confirmWithinMs);
      // The same amount with no fill touching the asset since: not a trade in flight.
      const confirmed = sameSince !== undefined && !(await fillTouchingAssetRecordedSince(this.d.pool, asset, sameSince.seenAt));
      let repaired = false;
      if (confirmed && input.repair && mark !== undefined) {
        const r = await adjustInventory(this.d.pool, {
          symbol: h.symbol,
          baseAsset: h.baseAsset,
          quoteAsset: h.quoteAsset,
          kind: diff.gt(0) ? 'external_inventory' : 'external_outflow',
          qty: toWire(diff.abs()),
          price: mark,
          idempotencyKey: `${runId}:${asset}`,
          reason: diff.gt(0)
            ? 'confirmed surplus on the account (deposit, other symbols, manual trade), valued at the mark price'
            : 'confirmed shortfall on the account (withdrawal, fees paid in this asset, manual trade)',
          detail: { runId, ...base, confirmedBy: sameSince?.runId },
        });
        repaired = r.inserted && dec(r.qty).abs().eq(diff.abs());
      }
      const drift: Drift = {
        kind: 'balance_drift',
        subject: asset,
        repaired,
        ...(valueQuote ? { valueQuote } : {}),
        detail: { ...base, confirmed, persistent },
      };
      drifts.push(drift);
      await recordDrift(this.d.pool, runId, drift);
    }
    this.d.metrics?.reconciliationWeight.inc(budget.spent);
    return { weight: budget.spent, deferred: false, drifts, assetsCompared: comparison.assetsCompared };
  }

  // -------------------------------------------------------------------------------------------
  // Outbox relay

  async relayOutbox(runId: string, rawInput?: ReconciliationInput): Promise<{ drifts: Drift[] }> {
    const input = resolveInput(rawInput);
    const stale = (await listUnpublishedReports(this.d.pool, 100)).filter((r) => Date.now() - r.created_at.getTime() >= input.outboxAgeMs);
    const drifts: Drift[] = [];
    for (const r of stale) {
      let repaired = false;
      if (this.d.redis && input.repair) {
        const streamId = await publishOnce(this.d.redis, this.d.reportStream ?? TRADE_EXECUTIONS_STREAM, r.report_id, JSON.stringify(r.payload));
        await markReportPublished(this.d.pool, r.report_id, streamId);
        repaired = true;
      }
      const drift: Drift = { kind: 'unpublished_report', subject: r.report_id, repaired, detail: { reportId: r.report_id, decisionId: r.decision_id, createdAt: r.created_at } };
      drifts.push(drift);
      await recordDrift(this.d.pool, runId, drift);
    }
    return { drifts };
  }

  // -------------------------------------------------------------------------------------------
  // Finish: summary row, alerts, metrics

  async finish(
    runId: string,
    rawInput: ReconciliationInput | undefined,
    run: { checkedSymbols: string[]; deferredSymbols: string[]; balancesChecked: boolean; weight: number; error?: string },
  ): Promise<ReconciliationSummary> {
    const input = resolveInput(rawInput);
    const recorded = await listRunDrifts(this.d.pool, runId);
    const summary = summariseRun(runId, recorded, run);
    if (this.d.alerts) {
      summary.alerts += await raiseRunAlerts(this.d.alerts, runId, recorded, {
        error: run.error,
        driftAlertQuoteValue: this.d.driftAlertQuoteValue ?? DEFAULT_ALERT_THRESHOLDS.driftQuoteValue,
      });
    }

    await recordRunSummary(this.d.pool, runId, summary, summary.unrepaired === 0);

    const m = this.d.metrics;
    if (m) {
      m.reconciliationRuns.inc({ outcome: summary.outcome });
      for (const r of recorded) {
        m.reconciliationDrift.inc({ kind: r.kind });
        if (r.repaired) m.reconciliationRepairs.inc({ kind: r.kind });
      }
      m.reconciliationLastRun.set(Date.now() / 1000);
      try {
        const [positions, balances] = await Promise.all([listPositions(this.d.pool), listBalances(this.d.pool)]);
        m.observePortfolio(buildPortfolioReport(positions, balances, { markPrices: this.marks.peek(), valuationAsset: input.valuationAsset }));
      } catch (err) {
        this.d.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'portfolio gauges not updated');
      }
    }
    this.d.logger.info({ ...summary }, 'reconciliation run finished');
    return summary;
  }

  // -------------------------------------------------------------------------------------------

  private budget(spent: number, input: ResolvedReconciliationInput): RunBudget {
    return new RunBudget(() => this.d.exchange.usage(), spent, {
      maxWeightPerRun: input.maxWeightPerRun,
      maxShareOfLimit: input.maxShareOfLimit,
    });
  }

  /** True when the stored position differs from the sum of its fills and adjustments. */
  private async positionDisagreesWithLedger(symbol: string, baseAsset: string): Promise<boolean> {
    const row = await positionAndLedgerQuantity(this.d.pool, symbol, baseAsset);
    return row !== undefined && !dec(row.quantity).eq(row.ledger);
  }

  /**
   * Third-asset (BNB) commissions of repaired fills, valued at the current price: the fill-time
   * price is gone (as in settleFills, which reads it right after the fill). Without a price the
   * fee is left out and counted in unvalued_fee_fills.
   */
  private async thirdAssetPrices(trades: Trade[], base: string, quote: string, budget: RunBudget): Promise<Record<string, string>> {
    const assets = [...new Set(trades.filter((t) => dec(t.commission).gt(0)).map((t) => t.commissionAsset))].filter((a) => a !== base && a !== quote);
    const out: Record<string, string> = {};
    for (const a of assets) {
      if (!budget.take(WEIGHTS.tickerPrice)) break;
      const p = (await this.marks.get([`${a}${quote}`]))[`${a}${quote}`];
      if (p !== undefined) out[a] = p;
    }
    return out;
  }
}
