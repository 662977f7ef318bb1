/**
 * The portfolio report on live data, for the operator CLI and the metrics:
 *
 *   const { json, text } = await portfolioReport(pool, exchange);            // Postgres balances
 *   const r = await portfolioReport(pool, exchange, { refreshBalances: true }); // account() first
 *
 * Positions and balances come from Postgres (balances as last saved from the account endpoint,
 * or refreshed first on request); mark prices from the exchange's ticker through a cache.
 */
import type { Pool } from 'pg';
import type { BinanceSpotClient } from '../exchange';
import { listBalances, saveBalances } from '../persistence/stores/balances';
import { listPositionExternals, listPositions } from '../persistence/stores/positions';
import type { BalanceRow, PositionRow } from '../persistence/schemas';
import { dec } from '../shared/decimal';
import { MarkPriceCache } from './mark-prices';
import { buildPortfolioReport, formatDecimal, renderPortfolioReport, type PortfolioReport } from './report';

export interface ExternalInventoryLine {
  symbol: string;
  /** Net base quantity that entered the position from outside (inventory adjustments). */
  external_qty: string;
  adjustment_count: number;
}

export interface LivePortfolioReport extends PortfolioReport {
  external_inventory: ExternalInventoryLine[];
  /** When the balances were last observed on the exchange (oldest asset), ISO time. */
  balances_as_of: string | null;
}

export interface PortfolioReportOptions {
  /** Asset balances are valued in (default USDT). */
  valuationAsset?: string;
  /** Shared cache (the worker's); a private one otherwise. */
  marks?: MarkPriceCache;
  /** Read the account endpoint and save balances before reporting (weight 20). */
  refreshBalances?: boolean;
  now?: Date;
}

export async function portfolioReport(
  pool: Pool,
  exchange: BinanceSpotClient,
  options: PortfolioReportOptions = {},
): Promise<{ json: LivePortfolioReport; text: string }> {
  if (options.refreshBalances) await refreshBalancesFromAccount(pool, exchange);
  const [positions, balances, externals] = await Promise.all([listPositions(pool), listBalances(pool), listPositionExternals(pool)]);
  const marks = options.marks ?? new MarkPriceCache(exchange);
  const valuationAsset = options.valuationAsset ?? 'USDT';
  const markPrices = await marks.get(markSymbols(positions, balances, valuationAsset));
  const report = buildPortfolioReport(positions, balances, { markPrices, valuationAsset, ...(options.now ? { now: options.now } : {}) });
  const external_inventory = [...externals]
    .filter(([, e]) => e.adjustment_count > 0)
    .map(([symbol, e]) => ({ symbol, ...e }))
    .sort((a, b) => a.symbol.localeCompare(b.symbol));
  const asOf = balances.reduce<Date | null>((min, b) => (min === null || b.updated_at < min ? b.updated_at : min), null);
  const json: LivePortfolioReport = { ...report, external_inventory, balances_as_of: asOf === null ? null : asOf.toISOString() };
  return { json, text: renderLiveReport(json) };
}

/** Symbols whose mark the report needs: open positions, and each held asset against the valuation asset. */
export function markSymbols(positions: readonly PositionRow[], balances: readonly BalanceRow[], valuationAsset: string): string[] {
  const out = new Set<string>();
  for (const p of positions) if (!dec(p.quantity).isZero()) out.add(p.symbol);
  for (const b of balances) {
    if (b.asset !== valuationAsset && !dec(b.free).plus(b.locked).isZero()) out.add(`${b.asset}${valuationAsset}`);
  }
  return [...out].sort();
}

export function renderLiveReport(r: LivePortfolioReport): string {
  let text = renderPortfolioReport(r);
  if (r.balances_as_of) text += `Balances as of ${r.balances_as_of}\n`;
  if (r.external_inventory.length > 0) {
    text += '\nExternal inventory (not bought by this service; booked by reconciliation or a SELL beyond the position)\n';
    for (const e of r.external_inventory) {
      text += `  ${e.symbol.padEnd(12)} ${formatDecimal(e.external_qty).padStart(18)}  (${e.adjustment_count} adjustment${e.adjustment_count === 1 ? '' : 's'})\n`;
    }
  }
  return text;
}

/** Balances from the account endpoint (free and locked), saved as the complete account. */
export async function refreshBalancesFromAccount(
  pool: Pool,
  exchange: Pick<BinanceSpotClient, 'account'>,
): Promise<{ balances: Array<{ asset: string; free: string; locked: string }>; updateTime: number }> {
  const account = await exchange.account();
  const balances = account.balances.map((b) => ({ asset: b.asset, free: b.free, locked: b.locked }));
  await saveBalances(pool, balances, { complete: true });
  return { balances, updateTime: account.updateTime };
}
