/**
 * Portfolio activities: balances from the account endpoint and the live portfolio report, for
 * workflows (and the operator, through Temporal) to call.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from 'pg';
import type { BinanceSpotClient } from '../src/exchange';
import type { ServiceMetrics } from '../src/metrics/metrics';
import { portfolioReport, refreshBalancesFromAccount } from '../src/portfolio/live';
import type { MarkPriceCache } from '../src/portfolio/mark-prices';

export interface PortfolioActivityDeps {
  exchange: BinanceSpotClient;
  pool?: Pool;
  marks?: MarkPriceCache;
  metrics?: ServiceMetrics;
}

export function createPortfolioActivities(deps: PortfolioActivityDeps) {
  const pool = (): Pool => {
    if (!deps.pool) throw ApplicationFailure.nonRetryable('this worker has no Postgres pool configured', 'NotConfigured');
    return deps.pool;
  };
  return {
    /** Saves the account's balances (free and locked) as the complete account. Weight 20. */
    async refreshBalances(): Promise<{ assets: number }> {
      const r = await refreshBalancesFromAccount(pool(), deps.exchange);
      return { assets: r.balances.length };
    },

    /** The portfolio report as JSON and as text; also refreshes the portfolio gauges. */
    async portfolioReport(args: { valuationAsset?: string; refreshBalances?: boolean } = {}) {
      const r = await portfolioReport(pool(), deps.exchange, {
        ...(args.valuationAsset ? { valuationAsset: args.valuationAsset } : {}),
        ...(args.refreshBalances ? { refreshBalances: true } : {}),
        ...(deps.marks ? { marks: deps.marks } : {}),
      });
      deps.metrics?.observePortfolio(r.json);
      return r;
    },
  };
}
