/** `portfolio`: positions, balances and PnL from Postgres, marked at the exchange's last prices. */
import { listBalances, listPositions, saveBalances } from '../../persistence/portfolio-store';
import { buildPortfolioReport, renderPortfolioReport } from '../../portfolio/report';
import { dec } from '../../shared/decimal';
import type { CliContext } from './context';
import { CliError, describeError, usageError } from './errors';

export interface PortfolioOptions {
  valuation: string;
  marks: boolean;
  refresh: boolean;
}

export async function portfolio(ctx: CliContext, o: PortfolioOptions): Promise<void> {
  const valuation = o.valuation.toUpperCase();
  if (!/^[A-Z0-9]{1,12}$/.test(valuation)) throw usageError(`--valuation must be an asset such as USDT, got ${JSON.stringify(o.valuation)}`);
  const pool = await ctx.pool();
  if (o.refresh) {
    if (!ctx.hasExchangeKeys()) throw usageError('--refresh reads the account: set BINANCE_API_KEY and BINANCE_API_SECRET (or BINANCE_PRIVATE_KEY_PATH)');
    ctx.output.progress('reading balances from the exchange account...');
    const exchange = await ctx.exchange();
    try {
      const account = await exchange.account();
      await saveBalances(pool, account.balances.map((b) => ({ asset: b.asset, free: b.free, locked: b.locked })), { complete: true });
    } catch (err) {
      throw new CliError(`refreshing balances failed: ${describeError(err)}`);
    }
  }
  const [positions, balances] = await Promise.all([listPositions(pool), listBalances(pool)]);

  const markPrices: Record<string, string> = {};
  const notes: string[] = [];
  const wanted = new Set<string>();
  for (const p of positions) if (!dec(p.quantity).isZero()) wanted.add(p.symbol);
  for (const b of balances) if (b.asset !== valuation && !dec(b.free).plus(b.locked).isZero()) wanted.add(`${b.asset}${valuation}`);
  if (!o.marks) notes.push('mark prices not fetched (--no-marks): unrealized PnL and values are left out');
  else if (wanted.size > 0 && !ctx.hasExchange()) notes.push('BINANCE_BASE_URL is not set: no mark prices, unrealized PnL and values are left out');
  else if (wanted.size > 0) {
    const exchange = await ctx.exchange();
    ctx.output.progress(`fetching ${wanted.size} mark price${wanted.size === 1 ? '' : 's'} from the exchange...`);
    const results = await Promise.allSettled([...wanted].map((s) => exchange.tickerPrice(s)));
    for (const r of results) if (r.status === 'fulfilled') markPrices[r.value.symbol] = r.value.price;
    const failed = results.filter((r) => r.status === 'rejected');
    // A missing asset pair (e.g. no BNBUSDT listed) is normal; an unreachable exchange is worth saying.
    if (failed.length === results.length) notes.push(`no mark prices: ${describeError((failed[0] as PromiseRejectedResult).reason)}`);
  }

  const report = buildPortfolioReport(positions, balances, { markPrices, valuationAsset: valuation });
  if (ctx.output.json) ctx.output.out(JSON.stringify({ ...report, notes }, null, 2) + '\n');
  else {
    ctx.output.out(renderPortfolioReport(report));
    for (const n of notes) ctx.output.out(`note: ${n}\n`);
  }
}
