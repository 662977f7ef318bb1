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
import { z } from 'zod';
import type { AlertSink } from '../alerts/alerts';
import { BinanceError, type BinanceSpotClient, type Order, type Trade } from '../exchange';
import { symbolRules } from '../exchange/filters';
import type { Logger } from '../logging';
import type { ServiceMetrics } from '../metrics/metrics';
import { DEFAULT_ALERT_THRESHOLDS } from '../metrics/trade-observer';
import { type Queryable, withTransaction } from '../persistence/db';
import { listBalances } from '../persistence/stores/balances';
import { listUnpublishedReports, markReportPublished } from '../persistence/stores/execution-reports';
import { adjustInventory } from '../persistence/stores/inventory';
import { applyFillsInTransaction } from '../persistence/stores/ledger';
import { getOrder, upsertOrder } from '../persistence/stores/orders';
import { listPositions } from '../persistence/stores/positions';
import { previousRunBalanceDrift } from '../persistence/stores/reconciliation-runs';
import {
  type FillInput,
  FillRowSchema,
  OPEN_ORDER_STATUSES,
  type OrderRow,
  OrderRowSchema,
  type OrderStatus,
  nextOrderStatus,
} from '../persistence/schemas';
import { MarkPriceCache } from '../portfolio/mark-prices';
import { refreshBalancesFromAccount } from '../portfolio/live';
import { buildPortfolioReport } from '../portfolio/report';
import { publishOnce, TRADE_EXECUTIONS_STREAM } from '../reporting/report-publisher';
import { dec, toWire, ZERO } from '../shared/decimal';
import { RunBudget, WEIGHTS } from './budget';
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

/** Orders that may be live on the exchange: the statuses whose state is not terminal. */
const OPEN_STATUSES: OrderStatus[] = [...OPEN_ORDER_STATUSES];
/** Binance: "Order does not exist." */
const ORDER_DOES_NOT_EXIST = -2013;
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
    const { pool } = this.d;
    const r = await pool.query<{ symbol: string }>(
      `SELECT symbol FROM positions
       UNION SELECT symbol FROM orders WHERE status = ANY($1::text[]) OR updated_at > now() - make_interval(secs => $2::double precision)
       UNION SELECT unnest($3::text[])`,
      [OPEN_STATUSES, input.lookbackMs / 1000, input.symbols],
    );
    const symbols = r.rows.map((x) => x.symbol);
    if (symbols.length > 0) {
      await pool.query(
        'INSERT INTO reconciliation_symbols (symbol) SELECT unnest($1::text[]) ON CONFLICT (symbol) DO NOTHING',
        [symbols],
      );
    }
    // Least recently checked first, so a run cut short by its budget is continued by the next
    // one and no symbol starves; among equals, symbols with orders open in Postgres first.
    const ordered = await pool.query<{ symbol: string }>(
      `SELECT s.symbol FROM reconciliation_symbols s
        WHERE s.symbol = ANY($1::text[])
        ORDER BY s.last_checked_at NULLS FIRST,
                 EXISTS (SELECT 1 FROM orders o WHERE o.symbol = s.symbol AND o.status = ANY($2::text[])) DESC,
                 s.symbol`,
      [symbols, OPEN_STATUSES],
    );
    return { runId, symbols: ordered.rows.map((x) => x.symbol) };
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
      await this.markChecked(symbol, runId, null);
      return { symbol, weight: 0, deferred: false, drifts: [] };
    }
    const drifts: Drift[] = [];
    const { baseAsset, quoteAsset } = rules;

    // --- recent trades
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
    const fromExchange = new Map(trades.map((t) => [String(t.id), t]));
    const stored = z.array(FillRowSchema).parse(
      (
        await this.d.pool.query('SELECT * FROM fills WHERE symbol = $1 AND (trade_time >= $2 OR trade_id = ANY($3::bigint[])) ORDER BY trade_id', [
          symbol,
          new Date(startTime),
          [...fromExchange.keys()],
        ])
      ).rows,
    );
    const storedById = new Map(stored.map((f) => [f.trade_id, f]));

    // A trade younger than the grace period is most likely being settled by its workflow now.
    const missing = trades.filter((t) => !storedById.has(String(t.id)) && t.time <= fetchedAt - input.settleGraceMs);
    for (const t of trades) {
      const s = storedById.get(String(t.id));
      if (!s) continue;
      const diffs: string[] = [];
      if (s.side !== (t.isBuyer ? 'BUY' : 'SELL')) diffs.push('side');
      if (s.exchange_order_id !== String(t.orderId)) diffs.push('order');
      if (!dec(s.price).eq(t.price)) diffs.push('price');
      if (!dec(s.qty).eq(t.qty)) diffs.push('qty');
      if (!dec(s.commission).eq(t.commission)) diffs.push('commission');
      if (diffs.length > 0) {
        drifts.push({
          kind: 'fill_mismatch',
          subject: `${symbol}#${t.id}`,
          repaired: false,
          detail: { symbol, tradeId: t.id, fields: diffs, exchange: t, stored: s },
        });
      }
    }
    if (complete) {
      for (const s of stored) {
        const t = s.trade_time.getTime();
        // Only fills well inside the window the exchange answered for: not at its start, and not
        // so recent that they may have happened after the request (clock offset, in flight).
        if (fromExchange.has(s.trade_id) || t < startTime + WINDOW_EDGE_MS || t > fetchedAt - WINDOW_EDGE_MS) continue;
        drifts.push({ kind: 'unknown_fill', subject: `${symbol}#${s.trade_id}`, repaired: false, detail: { symbol, fill: s } });
      }
    }

    const rebuildNeeded = missing.length > 0 || (await this.positionDisagreesWithLedger(symbol, baseAsset));
    if (rebuildNeeded && input.repair) {
      const coids = await this.clientOrderIds(symbol, missing.map((t) => t.orderId));
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
        const before = await tx.query<{ quantity: string }>('SELECT quantity::text FROM positions WHERE symbol = $1', [symbol]);
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
            detail: { symbol, before: before.rows[0]?.quantity ?? null, after: r.position.quantity },
          };
          drifts.push(drift);
          await recordDrift(tx, runId, drift);
        }
      });
    } else if (rebuildNeeded) {
      for (const t of missing) {
        drifts.push({ kind: 'missing_fill', subject: `${symbol}#${t.id}`, repaired: false, valueQuote: t.quoteQty, detail: { symbol, tradeId: t.id } });
      }
      if (missing.length === 0) drifts.push({ kind: 'position_mismatch', subject: symbol, repaired: false, detail: { symbol } });
    }

    // --- open orders
    budget.take(WEIGHTS.openOrdersOneSymbol);
    const open = await this.d.exchange.openOrders(symbol);
    drifts.push(...(await this.reconcileOpenOrders(symbol, open, input, budget)));

    for (const drift of drifts) {
      // Repaired ones were recorded with their repair.
      if (!(drift.repaired && (drift.kind === 'missing_fill' || drift.kind === 'position_mismatch'))) {
        await recordDrift(this.d.pool, runId, drift);
      }
    }
    const maxId = trades.length > 0 ? String(trades[trades.length - 1]!.id) : null;
    await this.markChecked(symbol, runId, maxId);
    this.d.metrics?.reconciliationWeight.inc(budget.spent);
    return { symbol, weight: budget.spent, deferred: false, drifts };
  }

  private async reconcileOpenOrders(
    symbol: string,
    open: Order[],
    input: ResolvedReconciliationInput,
    budget: RunBudget,
  ): Promise<Drift[]> {
    const drifts: Drift[] = [];
    const onExchange = new Set(open.map((o) => o.clientOrderId));
    const store = { logger: this.d.logger, metrics: this.d.metrics };
    for (const o of open) {
      const row = await getOrder(this.d.pool, o.clientOrderId);
      // What the exchange's status would do to the stored one, by the order state machine.
      const move = row ? nextOrderStatus(row.status, o.status) : undefined;
      if (!row) {
        if (input.repair) await upsertOrder(this.d.pool, orderRecordFrom(o, 'external'), store);
        drifts.push({
          kind: 'unknown_open_order',
          subject: `${symbol}:${o.clientOrderId}`,
          repaired: input.repair,
          valueQuote: toWire(dec(o.origQty).minus(o.executedQty).mul(o.price)),
          detail: { symbol, orderId: o.orderId, clientOrderId: o.clientOrderId, side: o.side, type: o.type, price: o.price, origQty: o.origQty, status: o.status },
        });
      } else if (
        // Recently touched rows belong to a workflow that is most likely updating them right now.
        Date.now() - row.updated_at.getTime() >= input.staleOrderMs &&
        move !== undefined &&
        ((move.verdict.ok && !move.verdict.repeat) || dec(o.executedQty).gt(row.executed_qty))
      ) {
        // Moves forward, including an order settled as NOT_PLACED that turned up after all.
        if (input.repair) await upsertOrder(this.d.pool, { ...orderRecordFrom(o, row.purpose), decision_id: row.decision_id, workflow_id: row.workflow_id }, store);
        drifts.push({
          kind: 'order_status',
          subject: `${symbol}:${o.clientOrderId}`,
          repaired: input.repair,
          detail: { symbol, clientOrderId: o.clientOrderId, stored: { status: row.status, executedQty: row.executed_qty }, exchange: { status: o.status, executedQty: o.executedQty } },
        });
      } else if (Date.now() - row.updated_at.getTime() >= input.staleOrderMs && move !== undefined && !move.verdict.ok) {
        // Open on the exchange, yet the stored status cannot become the exchange's (e.g. stored
        // FILLED, listed NEW): a contradiction to investigate, not to overwrite.
        this.d.logger.warn(
          { symbol, clientOrderId: o.clientOrderId, stored: row.status, exchange: o.status, reason: move.verdict.reason },
          'reconciliation: the exchange lists an order open that the state machine cannot move there',
        );
        this.d.metrics?.orderTransitionsRefused.inc({ source: 'reconciliation', state: move.state, event: move.event });
        drifts.push({
          kind: 'order_status',
          subject: `${symbol}:${o.clientOrderId}`,
          repaired: false,
          detail: {
            symbol,
            clientOrderId: o.clientOrderId,
            stored: { status: row.status, executedQty: row.executed_qty },
            exchange: { status: o.status, executedQty: o.executedQty },
            refused: move.verdict.reason,
          },
        });
      }
    }
    const dbOpen = z.array(OrderRowSchema).parse(
      (await this.d.pool.query('SELECT * FROM orders WHERE symbol = $1 AND status = ANY($2::text[]) ORDER BY updated_at', [symbol, OPEN_STATUSES])).rows,
    );
    for (const row of dbOpen) {
      if (onExchange.has(row.client_order_id)) continue;
      // Recently touched: its workflow is most likely on it right now.
      if (Date.now() - row.updated_at.getTime() < input.staleOrderMs) continue;
      if (!budget.take(WEIGHTS.getOrder)) break;
      drifts.push(await this.settleStaleOrder(symbol, row, input));
    }
    return drifts;
  }

  private async settleStaleOrder(symbol: string, row: OrderRow, input: ResolvedReconciliationInput): Promise<Drift> {
    const subject = `${symbol}:${row.client_order_id}`;
    try {
      const o = await this.d.exchange.getOrder({ symbol, origClientOrderId: row.client_order_id });
      if (input.repair) {
        await upsertOrder(
          this.d.pool,
          { ...orderRecordFrom(o, row.purpose), decision_id: row.decision_id, workflow_id: row.workflow_id },
          { logger: this.d.logger, metrics: this.d.metrics },
        );
      }
      return { kind: 'stale_open_order', subject, repaired: input.repair, detail: { symbol, clientOrderId: row.client_order_id, stored: row.status, exchange: o.status } };
    } catch (err) {
      // Only an intent the exchange never acknowledged can be settled absent (the machine's
      // found_absent); an acknowledged order that is gone was purged, not never placed.
      const settle = nextOrderStatus(row.status, 'NOT_PLACED');
      if (err instanceof BinanceError && err.code === ORDER_DOES_NOT_EXIST && settle.verdict.ok && !settle.verdict.repeat) {
        // Older than staleOrderMs, far beyond any recvWindow: this request can no longer land.
        if (input.repair) {
          await upsertOrder(this.d.pool, {
            client_order_id: row.client_order_id,
            symbol,
            side: row.side,
            type: row.type,
            purpose: row.purpose,
            orig_qty: row.orig_qty,
            status: 'NOT_PLACED',
          }, { logger: this.d.logger, metrics: this.d.metrics });
        }
        return { kind: 'stale_open_order', subject, repaired: input.repair, detail: { symbol, clientOrderId: row.client_order_id, stored: row.status, exchange: 'does not exist' } };
      }
      if (err instanceof BinanceError && err.code === ORDER_DOES_NOT_EXIST) {
        return { kind: 'stale_open_order', subject, repaired: false, detail: { symbol, clientOrderId: row.client_order_id, stored: row.status, exchange: 'does not exist' } };
      }
      throw err;
    }
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
    const totals = new Map(balances.map((b) => [b.asset, dec(b.free).plus(b.locked)]));
    const positions = await listPositions(this.d.pool);
    const info = await this.d.exchange.cachedExchangeInfo();

    // Home position of each base asset: the first configured symbol trading it, else the
    // position holding most of it.
    const home = new Map<string, { symbol: string; baseAsset: string; quoteAsset: string }>();
    for (const s of input.symbols) {
      const def = info.symbols.find((x) => x.symbol === s);
      if (def && !home.has(def.baseAsset)) home.set(def.baseAsset, { symbol: s, baseAsset: def.baseAsset, quoteAsset: def.quoteAsset });
    }
    const byBase = new Map<string, typeof positions>();
    for (const p of positions) byBase.set(p.base_asset, [...(byBase.get(p.base_asset) ?? []), p]);
    for (const [asset, ps] of byBase) {
      if (home.has(asset)) continue;
      const top = [...ps].sort((a, b) => dec(b.quantity).cmp(a.quantity) || a.symbol.localeCompare(b.symbol))[0]!;
      home.set(asset, { symbol: top.symbol, baseAsset: asset, quoteAsset: top.quote_asset });
    }

    const drifts: Drift[] = [];
    for (const [asset, h] of [...home].sort(([a], [b]) => a.localeCompare(b))) {
      const held = (byBase.get(asset) ?? []).reduce((acc, p) => acc.plus(p.quantity), ZERO);
      const total = totals.get(asset) ?? ZERO;
      const diff = total.minus(held);
      if (diff.isZero()) continue;
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

      const tracked = await this.d.pool.query<{ tracked: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM fills f JOIN positions p USING (symbol) WHERE p.base_asset = $1)
             OR EXISTS (SELECT 1 FROM inventory_adjustments WHERE base_asset = $1) AS tracked`,
        [asset],
      );
      if (!tracked.rows[0]?.tracked && diff.gt(0)) {
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
      const seen = previous?.drift;
      const p = previous && seen && Date.now() - seen.seenAt.getTime() <= input.confirmWithinMs ? { runId: previous.runId, drift: seen } : undefined;
      let confirmed = false;
      // Seen by the previous run too (any amount): worth an alert even if it keeps moving.
      const persistent = p !== undefined;
      if (p && p.drift.diff !== undefined && dec(p.drift.diff).eq(diff)) {
        const activity = await this.d.pool.query<{ busy: boolean }>(
          `SELECT EXISTS (
             SELECT 1 FROM fills f JOIN positions p USING (symbol)
              WHERE f.recorded_at > $2 AND (p.base_asset = $1 OR p.quote_asset = $1 OR f.commission_asset = $1)) AS busy`,
          [asset, p.drift.seenAt],
        );
        confirmed = !activity.rows[0]?.busy;
      }
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
          detail: { runId, ...base, confirmedBy: p?.runId },
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
    return { weight: budget.spent, deferred: false, drifts, assetsCompared: home.size };
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
    const rows = await this.d.pool.query<{ kind: string; detail: Record<string, unknown>; repaired: boolean }>(
      `SELECT kind, detail, repaired FROM reconciliation_runs WHERE run_id = $1 AND kind <> 'summary' ORDER BY id`,
      [runId],
    );
    const byKind: Record<string, number> = {};
    for (const r of rows.rows) byKind[r.kind] = (byKind[r.kind] ?? 0) + 1;
    const repaired = rows.rows.filter((r) => r.repaired).length;
    const summary: ReconciliationSummary = {
      runId,
      outcome: run.error !== undefined ? 'failed' : rows.rows.length > 0 ? 'drift' : 'clean',
      checkedSymbols: run.checkedSymbols,
      deferredSymbols: run.deferredSymbols,
      balancesChecked: run.balancesChecked,
      weight: run.weight,
      drifts: rows.rows.length,
      repaired,
      unrepaired: rows.rows.length - repaired,
      byKind,
      alerts: 0,
      ...(run.error !== undefined ? { error: run.error } : {}),
    };

    const alerts = this.d.alerts;
    if (alerts) {
      if (run.error !== undefined) {
        const a = await alerts.raise({
          kind: 'reconciliation_failed',
          severity: 'critical',
          message: `reconciliation run ${runId} failed: ${run.error}`,
          detail: { runId, error: run.error },
          dedupeKey: 'reconciliation_failed',
        });
        if (a.raised) summary.alerts++;
      }
      const threshold = dec(this.d.driftAlertQuoteValue ?? DEFAULT_ALERT_THRESHOLDS.driftQuoteValue);
      const groups = new Map<string, Array<{ detail: Record<string, unknown>; repaired: boolean }>>();
      for (const r of rows.rows) {
        const v = r.detail.valueQuote;
        // Balance drift alerts once it persists (seen by the previous run too: a single sighting
        // is usually a trade in flight) and is worth at least the threshold; other kinds always alert.
        if (r.kind === 'balance_drift' && (r.detail.persistent !== true || (typeof v === 'string' && dec(v).lt(threshold)))) continue;
        groups.set(r.kind, [...(groups.get(r.kind) ?? []), r]);
      }
      for (const [kind, items] of groups) {
        const fixed = items.filter((i) => i.repaired).length;
        const subjects = items.map((i) => String(i.detail.subject)).sort();
        const a = await alerts.raise({
          kind: kind === 'initial_inventory' ? 'external_inventory' : 'reconciliation_drift',
          severity: kind === 'initial_inventory' ? 'info' : fixed === items.length ? 'warning' : 'critical',
          message: `reconciliation ${runId}: ${items.length} ${kind} (${fixed} repaired): ${subjects.slice(0, 10).join(', ')}${subjects.length > 10 ? ', …' : ''}`,
          detail: { runId, drift: kind, repaired: fixed, count: items.length, items: items.slice(0, 20).map((i) => i.detail) },
          dedupeKey: `reconciliation:${kind}:${subjects.join(',').slice(0, 200)}`,
          cooldownMs: 30 * 60_000,
        });
        if (a.raised) summary.alerts++;
      }
    }

    await this.d.pool.query(
      `INSERT INTO reconciliation_runs (run_id, kind, detail, repaired) VALUES ($1, 'summary', $2::jsonb, $3)
       ON CONFLICT (run_id, kind, (detail->>'subject')) WHERE run_id IS NOT NULL DO UPDATE SET detail = EXCLUDED.detail, ran_at = now()`,
      [runId, JSON.stringify({ subject: 'run', ...summary }), summary.unrepaired === 0],
    );

    const m = this.d.metrics;
    if (m) {
      m.reconciliationRuns.inc({ outcome: summary.outcome });
      for (const r of rows.rows) {
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

  private async markChecked(symbol: string, runId: string, lastTradeId: string | null): Promise<void> {
    await this.d.pool.query(
      `INSERT INTO reconciliation_symbols (symbol, last_checked_at, last_run_id, last_trade_id) VALUES ($1, now(), $2, $3)
       ON CONFLICT (symbol) DO UPDATE SET last_checked_at = now(), last_run_id = $2,
         last_trade_id = COALESCE($3, reconciliation_symbols.last_trade_id)`,
      [symbol, runId, lastTradeId],
    );
  }

  /** True when the stored position differs from the sum of its fills and adjustments. */
  private async positionDisagreesWithLedger(symbol: string, baseAsset: string): Promise<boolean> {
    const r = await this.d.pool.query<{ quantity: string; ledger: string }>(
      `SELECT p.quantity::text AS quantity,
              (COALESCE((SELECT sum(CASE WHEN f.side = 'BUY'
                                         THEN f.qty - CASE WHEN f.commission_asset = $2 THEN f.commission ELSE 0 END
                                         ELSE -(f.qty + CASE WHEN f.commission_asset = $2 THEN f.commission ELSE 0 END) END)
                           FROM fills f WHERE f.symbol = $1), 0)
               + COALESCE((SELECT sum(a.qty) FROM inventory_adjustments a WHERE a.symbol = $1), 0))::text AS ledger
         FROM positions p WHERE p.symbol = $1`,
      [symbol, baseAsset],
    );
    const row = r.rows[0];
    return row !== undefined && !dec(row.quantity).eq(row.ledger);
  }

  private async clientOrderIds(symbol: string, orderIds: number[]): Promise<Map<string, string>> {
    if (orderIds.length === 0) return new Map();
    const r = await this.d.pool.query<{ exchange_order_id: string; client_order_id: string }>(
      'SELECT exchange_order_id::text, client_order_id FROM orders WHERE symbol = $1 AND exchange_order_id = ANY($2::bigint[])',
      [symbol, [...new Set(orderIds.map(String))]],
    );
    return new Map(r.rows.map((x) => [x.exchange_order_id, x.client_order_id]));
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

function orderRecordFrom(o: Order, purpose: string) {
  return {
    client_order_id: o.clientOrderId,
    symbol: o.symbol,
    side: o.side,
    type: o.type,
    time_in_force: o.type === 'MARKET' ? null : o.timeInForce,
    purpose,
    exchange_order_id: String(o.orderId),
    order_list_id: o.orderListId,
    price: o.price,
    stop_price: o.stopPrice !== undefined && !dec(o.stopPrice).isZero() ? o.stopPrice : null,
    orig_qty: o.origQty,
    executed_qty: o.executedQty,
    cummulative_quote_qty: o.cummulativeQuoteQty,
    status: o.status,
  };
}

/** Records one drift row (idempotent per run, kind and subject). */
export async function recordDrift(db: Queryable, runId: string, drift: Drift): Promise<void> {
  await db.query(
    `INSERT INTO reconciliation_runs (run_id, kind, detail, repaired) VALUES ($1, $2, $3::jsonb, $4)
     ON CONFLICT (run_id, kind, (detail->>'subject')) WHERE run_id IS NOT NULL
     DO UPDATE SET repaired = reconciliation_runs.repaired OR EXCLUDED.repaired`,
    [runId, drift.kind, JSON.stringify({ subject: drift.subject, ...(drift.valueQuote ? { valueQuote: drift.valueQuote } : {}), ...drift.detail }), drift.repaired],
  );
}
