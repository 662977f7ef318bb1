/**
 * The pre-trade risk check as an activity: gathers what the pure guard needs (the mark from the
 * exchange, through the worker's mark cache; the position and the account's recent order count
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
import { DEFAULT_RISK_LIMITS, preTradeRefusals, type RiskLimits } from '../src/risk/pre-trade-guard';
import { ordersSentWithin, positionQuantity } from '../src/risk/risk-store';

export const RISK_REFUSED = 'RiskRefused';

export interface RiskActivityDeps {
  exchange: Pick<BinanceSpotClient, 'tickerPrice'>;
  /** Positions and recent orders; absent on workers without Postgres (the check then fails, never passes). */
  pool?: Pool;
  /** The worker's shared mark cache (10 s); without it the ticker is asked every time. */
  marks?: MarkPriceCache;
  riskLimits?: RiskLimits;
  metrics?: ServiceMetrics;
  logger?: Logger;
}

export interface PreTradeRiskRequest {
  decisionId: string;
  symbol: string;
  side: 'BUY' | 'SELL';
  type: string;
  quantity: string;
  price?: string;
  stopPrice?: string;
  /** prepareOrder's notional. */
  notional: string;
}

export function createRiskActivities(deps: RiskActivityDeps) {
  const limits = deps.riskLimits ?? DEFAULT_RISK_LIMITS;

  const markOf = async (symbol: string): Promise<string> => {
    const cached = deps.marks ? (await deps.marks.get([symbol]))[symbol] : undefined;
    // Exchange errors are retried by the activity's policy: without a mark there is no check.
    return cached ?? (await deps.exchange.tickerPrice(symbol)).price;
  };

  return {
    /**
     * Passes (returning the mark it judged against) or throws ApplicationFailure type
     * 'RiskRefused', nonRetryable, message '<rule>: <reason>', details [{ rule, reason }].
     */
    async checkPreTradeRisk(req: PreTradeRiskRequest): Promise<{ markPrice: string }> {
      if (!deps.pool) throw ApplicationFailure.nonRetryable('this worker has no Postgres pool configured: no pre-trade risk check possible', 'NotConfigured');
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
      deps.metrics?.riskRefusals.inc({ rule: first.rule });
      deps.logger?.warn({ decisionId: req.decisionId, rule: first.rule, reason: first.reason, others: refusals.slice(1).map((r) => r.rule) }, 'order refused by the pre-trade risk guard');
      throw ApplicationFailure.create({
        type: RISK_REFUSED,
        nonRetryable: true,
        message: `${first.rule}: ${first.reason}`,
        details: [{ rule: first.rule, reason: first.reason }],
      });
    },
  };
}
