/**
 * The pre-trade risk check as an activity: gathers what the pure guard needs (the mark from the
 * worker's mark cache, shared with prepareOrder; the position and the account's recent order count
 * from PostgreSQL) and refuses the order with the rule's name and figures. Called by the workflow
 * after prepareOrder and before the order is submitted; a refusal is final (nonRetryable), so
 * the trade ends 'rejected' without anything sent.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from 'pg';
import type { BinanceSpotClient } from '../src/exchange';
import type { Logger } from '../src/logging';
import type { ServiceMetrics } from '../src/metrics/metrics';
import type { MarkPriceCache } from '../src/portfolio/mark-prices';
import { DEFAULT_RISK_LIMITS, preTradeRefusals, type PreTradeInput, type RiskLimits } from '../src/risk/pre-trade-guard';
import { ordersSentWithin, positionQuantity } from '../src/risk/risk-store';
import { checkAge, type IntakeSafetyOptions } from '../src/bridge/intake-safety';
import { isBinanceError } from '../src/exchange/errors';
import { readFailure } from './exchange-activities';
import { createPgSendLog, type SendLog } from '../src/persistence/send-log';

export const RISK_REFUSED = 'RiskRefused';

export interface RiskActivityDeps {
  exchange: Pick<BinanceSpotClient, 'tickerPrice' | 'getOrder'>;
  /** Positions and recent orders; absent on workers without Postgres (the check then fails, never passes). */
  pool?: Pool;
  /** The worker's shared mark cache (`forTrading`, 2 s); without it the ticker is asked every time. */
  marks?: MarkPriceCache;
  riskLimits?: RiskLimits;
  metrics?: ServiceMetrics;
  logger?: Logger;
  /**
   * The decision age limits the bridge applies (DECISION_MAX_AGE_MS, …), applied again just
   * before submission: a workflow started before a worker outage must not trade at today's
   * price hours later.
   */
  intake?: IntakeSafetyOptions;
  /** Which intents were ever sent (default the `order_sends` table of `pool`). */
  sendLog?: SendLog;
}

/** The order as the guard judges it; its notional is prepareOrder's ('0': quantity × price, or × the mark, is used). */
export interface PreTradeRiskRequest extends Pick<PreTradeInput, 'symbol' | 'side' | 'type' | 'quantity' | 'price' | 'stopPrice' | 'notional'> {
  decisionId: string;
  /**
   * The order's client id: an intent that was ever sent is not judged again (after a
   * `temporal workflow reset` the same plan is made again, and refusing it then would leave the
   * order the first run placed with no workflow to manage it).
   */
  clientOrderId?: string;
  /** The send log's key for the intent: the list's client id for an order list's legs. */
  sendLogId?: string;
  /** The decision's own time and order type, for the age limits (absent: no age check, e.g. an operator's amend). */
  decisionTimestamp?: number;
  decisionOrderType?: string;
}

export function createRiskActivities(deps: RiskActivityDeps) {
  const limits = deps.riskLimits ?? DEFAULT_RISK_LIMITS;
  const sendLog = deps.sendLog ?? (deps.pool ? createPgSendLog(deps.pool) : undefined);

  // The worker's one mark cache, at its trading age limit (2 s): prepareOrder just read or
  // refreshed the same mark, so the guard costs no request of its own. Exchange errors are
  // retried by the activity's policy: without a mark there is no check.
  const markOf = async (symbol: string): Promise<string> =>
    deps.marks ? deps.marks.forTrading(symbol) : (await deps.exchange.tickerPrice(symbol)).price;

  return {
    /**
     * Passes (returning the mark it judged against) or throws ApplicationFailure type
     * 'RiskRefused', nonRetryable, message '<rule>: <reason>', details [{ rule, reason }].
     */
    async checkPreTradeRisk(req: PreTradeRiskRequest): Promise<{ markPrice: string }> {
      if (!deps.pool) throw ApplicationFailure.nonRetryable('this worker has no Postgres pool configured: no pre-trade risk check possible', 'NotConfigured');
      if (req.clientOrderId !== undefined && sendLog && (await sendLog.lastSend(req.sendLogId ?? req.clientOrderId)) !== undefined && (await onExchange(req))) {
        // Refusing now would leave the order an earlier run placed with no workflow to follow it.
        deps.logger?.info({ decisionId: req.decisionId, clientOrderId: req.clientOrderId }, 'pre-trade check skipped: the exchange already has this order (a reset or a repeated plan)');
        return { markPrice: '0' };
      }
      if (req.decisionTimestamp !== undefined && req.decisionOrderType !== undefined) {
        const stale = checkAge({ timestamp: req.decisionTimestamp, order_type: req.decisionOrderType }, Date.now(), deps.intake ?? {});
        if (stale) refuse(req, stale.rule, stale.reason.replace(`${stale.rule}: `, '')); // checkAge's reason names its rule already
      }
      const [markPrice, position, recent] = await Promise.all([
        markOf(req.symbol),
        positionQuantity(deps.pool, req.symbol),
        ordersSentWithin(deps.pool, 60_000, req.decisionId),
      ]);
      const refusals = preTradeRefusals(
        {
          symbol: req.symbol,
          side: req.side,
          type: req.type,
          quantity: req.quantity,
          ...(req.price !== undefined ? { price: req.price } : {}),
          ...(req.stopPrice !== undefined ? { stopPrice: req.stopPrice } : {}),
          notional: req.notional,
          markPrice,
          positionQuantity: position,
          ordersLastMinute: recent,
        },
        limits,
      );
      const first = refusals[0];
      if (!first) return { markPrice };
      return refuse(req, first.rule, first.reason, refusals.slice(1).map((r) => r.rule));
    },
  };

  /** Whether the exchange has an order with the request's client id (-2013: no). */
  async function onExchange(req: PreTradeRiskRequest): Promise<boolean> {
    try {
      await deps.exchange.getOrder({ symbol: req.symbol, origClientOrderId: req.clientOrderId! });
      return true;
    } catch (err) {
      if (isBinanceError(err, 'not_found')) return false;
      throw readFailure(err);
    }
  }

  function refuse(req: PreTradeRiskRequest, rule: string, reason: string, others: string[] = []): never {
    deps.metrics?.riskRefusals.inc({ rule });
    deps.logger?.warn({ decisionId: req.decisionId, rule, reason, others }, 'order refused by the pre-trade risk guard');
    throw ApplicationFailure.create({ type: RISK_REFUSED, nonRetryable: true, message: `${rule}: ${reason}`, details: [{ rule, reason }] });
  }
}
