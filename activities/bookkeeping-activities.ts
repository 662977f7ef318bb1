/**
 * Activities that record what happened: orders and their transitions, fills into the portfolio,
 * execution reports. Each is idempotent, so Temporal may retry any of them at any point.
 */
import { ApplicationFailure } from '@temporalio/common';
import type Redis from 'ioredis';
import type { BinanceSpotClient, Trade } from '../src/exchange';
import { symbolRules } from '../src/exchange/filters';
import type { Logger } from '../src/logging';
import type { ServiceMetrics } from '../src/metrics/metrics';
import type { MarkPriceCache } from '../src/portfolio/mark-prices';
import type { OrderTransition, RefusedTransition } from '../src/shared/order-state';
import { PositionError } from '../src/portfolio/position';
import { StoreConflictError } from '../src/persistence/stores/store-conflict-error';
import { publishOnce, TRADE_EXECUTIONS_STREAM } from '../src/reporting/report-publisher';
import { dec } from '../src/shared/decimal';
import { summariseFills } from '../src/shared/fills';
import { orderUpdateReports } from '../src/reporting/order-update-report';
import type { ExecutionReport, FillRecord, FillSummary, OrderUpdateReport, PublishedReport, TrackedOrder } from '../src/shared/trade';
import { readFailure } from './exchange-activities';

/** The persistence operations these activities need (implemented over Postgres in src/persistence). */
export interface TradeStore {
  /**
   * Records the order, its transitions and one report per transition in one transaction;
   * returns the reports not yet published (new ones, or ones a crashed attempt left behind).
   */
  recordOrder(args: { decisionId: string; workflowId: string; order: TrackedOrder; reports: OrderUpdateReport[] }): Promise<OrderUpdateReport[]>;
  /** Applies fills to the position exactly once each (keyed by exchange trade id), in one transaction. */
  applyFills(args: {
    symbol: string;
    baseAsset: string;
    quoteAsset: string;
    fills: FillRecord[];
    commissionAssetPrices: Record<string, string>;
  }): Promise<void>;
  saveReport(report: ExecutionReport): Promise<void>;
  markReportPublished(reportId: string, streamId: string): Promise<void>;
  recordDecisionOutcome(decisionId: string, status: 'completed' | 'failed', error?: string): Promise<void>;
  /** The transitions already recorded for an order, in order (empty for a new one). */
  storedTransitions(clientOrderId: string): Promise<OrderTransition[]>;
}

export interface BookkeepingDeps {
  exchange: BinanceSpotClient;
  store: TradeStore;
  redis: Redis;
  logger: Logger;
  reportStream?: string;
  /** Observers (metrics, alerts). They run after the activity's work succeeded; a throwing hook never fails it. */
  hooks?: BookkeepingHooks;
  /** For the count of refused state-machine moves (order_transitions_refused_total). */
  metrics?: Pick<ServiceMetrics, 'orderTransitionsRefused'>;
  /** The worker's mark cache: values commission paid in a third asset (BNB) without a ticker request per order. */
  marks?: MarkPriceCache;
}

export interface BookkeepingHooks {
  fillsSettled?(req: SettleFillsRequest, summary: FillSummary): void | Promise<void>;
  reportPublished?(report: ExecutionReport, streamId: string): void | Promise<void>;
}

export interface SettleFillsRequest {
  decisionId: string;
  workflowId: string;
  symbol: string;
  orderId: number;
  clientOrderId: string;
  /** The executed quantity the exchange reported; trades are read until they add up to it. */
  expectedQty: string;
  /**
   * Fills already known for this order (placeOrder's FULL response). When they add up to
   * expectedQty they are booked as they are and myTrades is not asked; otherwise myTrades is.
   */
  fills?: FillRecord[];
}

export function createBookkeepingActivities(deps: BookkeepingDeps) {
  const stream = deps.reportStream ?? TRADE_EXECUTIONS_STREAM;

  /** Publishes a stored report once (a retry finds Redis's marker) and records where it went. */
  async function publishStored(report: PublishedReport): Promise<string> {
    const streamId = await publishOnce(deps.redis, stream, report.report_id, JSON.stringify(report));
    await deps.store.markReportPublished(report.report_id, streamId);
    return streamId;
  }

  return {
    /**
     * Records the order with its transitions and publishes one report per transition. The
     * reports are stored in the same transaction as the transitions (an outbox) and published
     * after it commits; reports a crashed earlier attempt stored are published by this one.
     */
    async recordOrder(args: { decisionId: string; workflowId: string; order: TrackedOrder; refusedSinceLast?: RefusedTransition[] }): Promise<OrderTransition[] | undefined> {
      for (const r of args.refusedSinceLast ?? []) {
        // A move the state machine refused changed nothing; it is kept on the order and said here.
        deps.logger.warn(
          { decisionId: args.decisionId, workflowId: args.workflowId, clientOrderId: args.order.intent.clientOrderId, state: r.state, event: r.event, exchangeStatus: r.exchangeStatus, reason: r.reason, context: r.context },
          'order state machine refused a transition',
        );
        deps.metrics?.orderTransitionsRefused.inc({ source: 'workflow', state: r.state, event: r.event });
      }
      const { refusedSinceLast: _logged, ...order } = args;
      const pending = await deps.store.recordOrder({ ...order, reports: orderUpdateReports(order) });
      for (const report of pending) {
        const streamId = await publishStored(report);
        deps.logger.info(
          {
            decisionId: report.decision_id,
            workflowId: report.workflow_id,
            clientOrderId: report.client_order_id,
            transition: `${report.from_state}->${report.to_state}`,
            streamId,
          },
          'order update published',
        );
      }
      // A new intent (nothing recorded by this run yet) with transitions stored by an earlier
      // run of the workflow (a reset, a lost history): the run continues that story.
      if (args.order.transitions.length === 0) {
        const stored = await deps.store.storedTransitions(args.order.intent.clientOrderId);
        if (stored.length > 0) return stored;
      }
      return undefined;
    },

    /**
     * Reads the order's trades from the exchange (the authority on fills, commissions included)
     * and applies them to the portfolio. Binance may list trades a moment after the order shows
     * them executed, so a shortfall is retried rather than recorded. Fills the order's own
     * response listed (`req.fills`) are the exchange's word too: when they cover the executed
     * quantity, no myTrades request is made.
     */
    async settleFills(req: SettleFillsRequest): Promise<FillSummary> {
      let rules;
      let fills: FillRecord[];
      try {
        rules = symbolRules(await deps.exchange.cachedExchangeInfo(), req.symbol);
        // One filled MARKET order, one request (issue 12): the response's fills, when they
        // cover what was executed, are what myTrades would list (same trade ids, prices,
        // quantities, commissions); once per trade id, as the books key them.
        const known = summariseFills((req.fills ?? []).filter((f) => f.orderId === req.orderId && f.symbol === req.symbol));
        fills =
          known.fills.length > 0 && dec(known.filledQty).gte(req.expectedQty)
            ? known.fills.map((f) => ({ ...f, clientOrderId: req.clientOrderId }))
            : fillsOfTrades(await tradesOfOrder(deps.exchange, deps.logger, req), req);
      } catch (err) {
        // A read: a refusal (a key answering -2015 during a rotation) is retried, never final,
        // or the fills of an order that executed would go unbooked.
        throw readFailure(err);
      }
      const summary = summariseFills(fills);
      if (dec(summary.filledQty).lt(req.expectedQty)) {
        throw ApplicationFailure.retryable(
          `trades for order ${req.orderId} add up to ${summary.filledQty}, exchange reports ${req.expectedQty} executed`,
          'FillsNotYetVisible',
        );
      }
      const commissionAssetPrices = await pricesOfThirdAssets(deps.exchange, deps.logger, fills, rules.baseAsset, rules.quoteAsset, deps.marks);
      try {
        await deps.store.applyFills({
          symbol: req.symbol,
          baseAsset: rules.baseAsset,
          quoteAsset: rules.quoteAsset,
          fills,
          commissionAssetPrices,
        });
      } catch (err) {
        // The books refused these fills (they contradict what is recorded): no retry can
        // change that, so fail once with the reason instead of retrying forever.
        if (err instanceof PositionError || err instanceof StoreConflictError) {
          throw ApplicationFailure.nonRetryable(`fills of order ${req.orderId} refused by the books: ${err.message}`, 'BooksRejectedFills');
        }
        throw err;
      }
      await observe(deps.logger, 'fillsSettled', () => deps.hooks?.fillsSettled?.(req, summary));
      return summary;
    },

    /** Stores the report (audit) and publishes it once on `trade_executions`. */
    async publishReport(report: ExecutionReport): Promise<string> {
      await deps.store.saveReport(report);
      const streamId = await publishStored(report);
      deps.logger.info(
        { decisionId: report.decision_id, workflowId: report.workflow_id, clientOrderId: report.client_order_id, status: report.status, streamId },
        'execution report published',
      );
      await observe(deps.logger, 'reportPublished', () => deps.hooks?.reportPublished?.(report, streamId));
      return streamId;
    },

    /**
     * Kept for trades started before recordOrder returned the stored transitions itself: their
     * histories call it after adopting an order (workflows/trade.ts, patch 'stored-history-in-record').
     */
    async storedTransitions(args: { clientOrderId: string }): Promise<OrderTransition[]> {
      return deps.store.storedTransitions(args.clientOrderId);
    },

    async recordDecisionOutcome(args: { decisionId: string; status: 'completed' | 'failed'; error?: string }): Promise<void> {
      await deps.store.recordDecisionOutcome(args.decisionId, args.status, args.error);
    },
  };
}

function fillsOfTrades(trades: Trade[], req: SettleFillsRequest): FillRecord[] {
  return trades
    .filter((t) => t.orderId === req.orderId)
    .map((t) => ({
      tradeId: t.id,
      orderId: t.orderId,
      clientOrderId: req.clientOrderId,
      symbol: t.symbol,
      side: t.isBuyer ? 'BUY' : 'SELL',
      price: t.price,
      qty: t.qty,
      quoteQty: t.quoteQty,
      commission: t.commission,
      commissionAsset: t.commissionAsset,
      isMaker: t.isMaker,
      time: t.time,
    }));
}

/** Binance's largest myTrades page (its default is 500). */
export const MY_TRADES_PAGE_LIMIT = 1000;

/**
 * An order's trades, oldest first, one page of MY_TRADES_PAGE_LIMIT at a time, until they add up
 * to the executed quantity the exchange reported or a short page says there are no more.
 * Without fromId Binance returns only the most recent `limit` trades, so an order with more
 * fills than one page could never add up. symbol + orderId + fromId is one of myTrades'
 * documented parameter combinations and costs weight 5 per page (20 without orderId): an order
 * with 10,000 fills costs 50 of the 6,000 a minute, and the usual order takes one request.
 */
async function tradesOfOrder(exchange: BinanceSpotClient, logger: Logger, req: SettleFillsRequest): Promise<Trade[]> {
  const trades: Trade[] = [];
  const seen = new Set<number>();
  let filled = dec(0);
  let fromId = 0;
  for (;;) {
    const page = await exchange.myTrades({ symbol: req.symbol, orderId: req.orderId, fromId, limit: MY_TRADES_PAGE_LIMIT });
    let lastId = -1;
    for (const t of page) {
      lastId = Math.max(lastId, t.id);
      if (t.orderId !== req.orderId || seen.has(t.id)) continue;
      seen.add(t.id);
      trades.push(t);
      filled = filled.plus(t.qty);
    }
    if (filled.gte(req.expectedQty) || page.length < MY_TRADES_PAGE_LIMIT) return trades;
    if (lastId < fromId) {
      // A full page that does not move past fromId: paging on would ask for it forever. What was
      // read is returned; the shortfall then fails this attempt as retryable.
      logger.warn({ symbol: req.symbol, orderId: req.orderId, fromId, lastId }, 'myTrades paging does not advance; stopping');
      return trades;
    }
    fromId = lastId + 1;
  }
}

async function observe(logger: Logger, hook: string, fn: () => void | Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    logger.warn({ hook, err: err instanceof Error ? err.message : String(err) }, 'bookkeeping hook failed (ignored)');
  }
}

/**
 * Commission paid in a third asset (BNB) is valued in the quote asset at the current price,
 * read right after the fill (through the worker's mark cache when there is one: at most its
 * 10 s old, one request per pair, not one per order). When the exchange lists no such pair the
 * value stays unknown and the position's fee total leaves it out (logged), rather than
 * inventing a price.
 */
async function pricesOfThirdAssets(
  exchange: BinanceSpotClient,
  logger: Logger,
  fills: FillRecord[],
  base: string,
  quote: string,
  marks?: MarkPriceCache,
): Promise<Record<string, string>> {
  const prices: Record<string, string> = {};
  const assets = new Set(fills.map((f) => f.commissionAsset).filter((a) => a !== base && a !== quote));
  for (const asset of assets) {
    const pair = `${asset}${quote}`;
    try {
      const price = marks ? (await marks.get([pair]))[pair] : (await exchange.tickerPrice(pair)).price;
      if (price === undefined) throw new Error(`${pair} is not listed`);
      prices[asset] = price;
    } catch (err) {
      logger.warn({ asset, quote, err: err instanceof Error ? err.message : String(err) }, 'no price to value commission asset');
    }
  }
  return prices;
}
