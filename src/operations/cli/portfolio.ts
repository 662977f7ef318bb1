/**
 * `portfolio`: positions, balances and PnL from Postgres, marked at the exchange's last prices.
 * With an exchange configured this is the same report the service computes
 * (src/portfolio/live.ts portfolioReport: marks through MarkPriceCache, external inventory);
 * without one, or with --no-marks, the Postgres figures alone, unrealized PnL left out.
 */
import { listBalances } from '../../persistence/stores/balances';
import { listPositions } from '../../persistence/stores/positions';
import { portfolioReport } from '../../portfolio/live';
import { buildPortfolioReport, renderPortfolioReport } from '../../portfolio/report';
import type { CliContext } from './context';
import { CliError, describeError, usageError } from './errors';
import { withProgress } from './trades';

export interface PortfolioOptions {
  valuation: string;
  marks: boolean;
  refresh: boolean;
}

export async function portfolio(ctx: CliContext, o: PortfolioOptions): Promise<void> {
  const valuation = o.valuation.toUpperCase();
  if (!/^[A-Z0-9]{1,12}$/.test(valuation)) throw usageError(`--valuation must be an asset such as USDT, got ${JSON.stringify(o.valuation)}`);
  if (o.refresh && !ctx.hasExchangeKeys()) {
    throw usageError('--refresh reads the account: set BINANCE_API_KEY and BINANCE_API_SECRET (or BINANCE_PRIVATE_KEY_PATH)');
  }
  if (o.refresh && !o.marks) throw usageError('--refresh and --no-marks do not go together');
  const pool = await ctx.pool();
  const notes: string[] = [];

  if (o.marks && ctx.hasExchange()) {
    const exchange = await ctx.exchange();
    try {
      const { json, text } = await withProgress(ctx, o.refresh ? 'reading the account and mark prices from the exchange' : 'reading mark prices from the exchange', () =>
        portfolioReport(pool, exchange, { valuationAsset: valuation, refreshBalances: o.refresh }),
      );
      if (ctx.output.json) ctx.output.out(JSON.stringify({ ...json, notes }, null, 2) + '\n');
      else ctx.output.out(text);
      return;
    } catch (err) {
      throw new CliError(`portfolio report failed: ${describeError(err)}`);
    }
  }

  notes.push(
    o.marks
      ? 'BINANCE_BASE_URL is not set: no mark prices, so unrealized PnL and values are left out'
      : 'mark prices not fetched (--no-marks): unrealized PnL and values are left out',
  );
  const [positions, balances] = await Promise.all([listPositions(pool), listBalances(pool)]);
  const report = buildPortfolioReport(positions, balances, { markPrices: {}, valuationAsset: valuation });
  if (ctx.output.json) ctx.output.out(JSON.stringify({ ...report, notes }, null, 2) + '\n');
  else {
    ctx.output.out(renderPortfolioReport(report));
    for (const n of notes) ctx.output.out(`note: ${n}\n`);
  }
}
