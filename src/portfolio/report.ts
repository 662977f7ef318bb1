/**
 * Portfolio report: positions, balances, realized/unrealized PnL at caller-supplied mark
 * prices, exposure and performance, as JSON (exact decimal strings) and as a fixed-width
 * text table (rounded for reading only).
 *
 * `buildPortfolioReport` is pure; `loadPortfolioReport` reads the store and calls it.
 * Totals are kept per quote asset: adding USDT PnL to BTC PnL would be meaningless.
 */
import type { Pool } from 'pg';
import { type Dec, ZERO, dec, toWire } from '../shared/decimal';
import { table } from '../shared/text-table';
import { listBalances } from '../persistence/stores/balances';
import { listPositions } from '../persistence/stores/positions';
import type { BalanceRow, PositionRow } from '../persistence/schemas';

export interface PositionLine {
  symbol: string;
  base_asset: string;
  quote_asset: string;
  direction: 'LONG' | 'SHORT' | 'FLAT';
  quantity: string;
  avg_entry_price: string;
  /** null when no mark price was supplied for the symbol. */
  mark_price: string | null;
  unrealized_pnl: string | null;
  realized_pnl: string;
  /** |quantity| × mark (gross exposure) in quote. */
  exposure_quote: string | null;
  /** quantity × mark (negative for a short) in quote. */
  net_exposure_quote: string | null;
  fees_quote: string;
  /** Fills whose BNB-style commission had no price: fees_quote and realized_pnl leave them out. */
  unvalued_fee_fills: number;
  volume_quote: string;
  trades: number;
  wins: number;
  losses: number;
  /** wins / closing trades, as a decimal fraction; null before any closing trade. */
  win_rate: string | null;
}

/** Summed over a quote asset's positions: the performance figures as a position line has them. */
export interface QuoteTotals extends Pick<PositionLine, 'quote_asset' | 'realized_pnl' | 'fees_quote' | 'unvalued_fee_fills' | 'volume_quote' | 'trades' | 'wins' | 'losses' | 'win_rate'> {
  /** Sum over positions with a mark price; see `missing_marks`. */
  unrealized_pnl: string;
  total_pnl: string;
  exposure_quote: string;
  net_exposure_quote: string;
  /** Average net result of a winning / losing closing trade (losing as a positive magnitude). */
  avg_win: string | null;
  avg_loss: string | null;
  /** gross win / gross loss; null when there was no loss. */
  profit_factor: string | null;
  /** Open positions left out of unrealized PnL and exposure for want of a mark price. */
  missing_marks: string[];
}

export interface BalanceLine {
  asset: string;
  free: string;
  locked: string;
  total: string;
  /** Value in `valuation_asset`; null when no price for it was supplied. */
  value: string | null;
}

export interface PortfolioReport {
  generated_at: string;
  positions: PositionLine[];
  totals: QuoteTotals[];
  balances: BalanceLine[];
  valuation_asset: string | null;
  /** Sum of the valued balances (null without a valuation asset); see `unvalued_assets`. */
  balances_value: string | null;
  /** Non-zero balances left out of `balances_value` for want of a price. */
  unvalued_assets: string[];
}

export interface ReportOptions {
  /** Mark prices by symbol, e.g. { BTCUSDT: "64000.5" }. */
  markPrices: Readonly<Record<string, string>>;
  /**
   * Values balances in this asset using mark prices of `${asset}${valuationAsset}`
   * (e.g. BTC with BTCUSDT when valuing in USDT).
   */
  valuationAsset?: string;
  now?: Date;
}

const ratio = (a: Dec, b: Dec): string | null => (b.isZero() ? null : toWire(a.div(b)));

export function buildPortfolioReport(
  positions: readonly PositionRow[],
  balances: readonly BalanceRow[],
  options: ReportOptions,
): PortfolioReport {
  const mark = (symbol: string): Dec | null => {
    const m = options.markPrices[symbol];
    return m === undefined ? null : dec(m);
  };

  const lines: PositionLine[] = positions.map((p) => {
    const qty = dec(p.quantity);
    const cost = dec(p.cost_basis);
    const m = mark(p.symbol);
    return {
      symbol: p.symbol,
      base_asset: p.base_asset,
      quote_asset: p.quote_asset,
      direction: qty.gt(0) ? 'LONG' : qty.lt(0) ? 'SHORT' : 'FLAT',
      quantity: p.quantity,
      avg_entry_price: p.avg_entry_price,
      mark_price: m === null ? null : toWire(m),
      // Market value minus entry cost; for a short the sign flips (it gains when the mark falls).
      // Uses the exact cost basis rather than the rounded average price.
      unrealized_pnl:
        qty.isZero() ? '0' : m === null ? null : toWire(qty.gt(0) ? qty.mul(m).minus(cost) : cost.minus(qty.abs().mul(m))),
      realized_pnl: p.realized_pnl,
      exposure_quote: qty.isZero() ? '0' : m === null ? null : toWire(qty.abs().mul(m)),
      net_exposure_quote: qty.isZero() ? '0' : m === null ? null : toWire(qty.mul(m)),
      fees_quote: p.fees_quote,
      unvalued_fee_fills: p.unvalued_fee_fills,
      volume_quote: p.volume_quote,
      trades: p.trades,
      wins: p.wins,
      losses: p.losses,
      win_rate: ratio(dec(p.wins), dec(p.trades)),
    };
  });

  const byQuote = new Map<string, PositionRow[]>();
  for (const p of positions) byQuote.set(p.quote_asset, [...(byQuote.get(p.quote_asset) ?? []), p]);
  const totals: QuoteTotals[] = [...byQuote.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([quote, ps]) => {
      const ls = lines.filter((l) => l.quote_asset === quote);
      const add = (xs: Array<string | null>) => xs.reduce<Dec>((acc, x) => (x === null ? acc : acc.plus(x)), ZERO);
      const realized = add(ps.map((p) => p.realized_pnl));
      const unrealized = add(ls.map((l) => l.unrealized_pnl));
      const trades = ps.reduce((a, p) => a + p.trades, 0);
      const wins = ps.reduce((a, p) => a + p.wins, 0);
      const losses = ps.reduce((a, p) => a + p.losses, 0);
      const grossWin = add(ps.map((p) => p.gross_win));
      const grossLoss = add(ps.map((p) => p.gross_loss));
      return {
        quote_asset: quote,
        realized_pnl: toWire(realized),
        unrealized_pnl: toWire(unrealized),
        total_pnl: toWire(realized.plus(unrealized)),
        exposure_quote: toWire(add(ls.map((l) => l.exposure_quote))),
        net_exposure_quote: toWire(add(ls.map((l) => l.net_exposure_quote))),
        fees_quote: toWire(add(ps.map((p) => p.fees_quote))),
        unvalued_fee_fills: ps.reduce((a, p) => a + p.unvalued_fee_fills, 0),
        volume_quote: toWire(add(ps.map((p) => p.volume_quote))),
        trades,
        wins,
        losses,
        win_rate: ratio(dec(wins), dec(trades)),
        avg_win: ratio(grossWin, dec(wins)),
        avg_loss: ratio(grossLoss, dec(losses)),
        profit_factor: ratio(grossWin, grossLoss),
        missing_marks: ls.filter((l) => l.unrealized_pnl === null).map((l) => l.symbol),
      };
    });

  const va = options.valuationAsset ?? null;
  const balanceLines: BalanceLine[] = balances.map((b) => {
    const total = dec(b.free).plus(b.locked);
    let value: string | null = null;
    if (va !== null) {
      if (b.asset === va) value = toWire(total);
      else {
        const m = mark(`${b.asset}${va}`);
        if (m !== null) value = toWire(total.mul(m));
        else if (total.isZero()) value = '0';
      }
    }
    return { asset: b.asset, free: b.free, locked: b.locked, total: toWire(total), value };
  });

  return {
    generated_at: (options.now ?? new Date()).toISOString(),
    positions: lines,
    totals,
    balances: balanceLines,
    valuation_asset: va,
    balances_value:
      va === null ? null : toWire(balanceLines.reduce<Dec>((acc, b) => (b.value === null ? acc : acc.plus(b.value)), ZERO)),
    unvalued_assets: va === null ? [] : balanceLines.filter((b) => b.value === null).map((b) => b.asset),
  };
}

export async function loadPortfolioReport(pool: Pool, options: ReportOptions): Promise<PortfolioReport> {
  const [positions, balances] = await Promise.all([listPositions(pool), listBalances(pool)]);
  return buildPortfolioReport(positions, balances, options);
}

// ---------------------------------------------------------------------------------------------
// Text rendering

/** Rounds for display only (half-even at `dp` places, trailing zeros dropped); '-' for null. */
export function formatDecimal(value: string | null, dp = 8): string {
  if (value === null) return '-';
  return toWire(dec(value).toDecimalPlaces(dp));
}

function percent(fraction: string | null): string {
  return fraction === null ? '-' : `${dec(fraction).mul(100).toDecimalPlaces(1).toFixed(1)}%`;
}

/** Names in the first `leftAligned` columns left, figures right, a rule under the headers. */
function reportTable(headers: string[], rows: string[][], leftAligned = 1): string {
  return table(headers, rows, { leftAligned, rule: true });
}

export function renderPortfolioReport(report: PortfolioReport): string {
  const out: string[] = [`Portfolio report ${report.generated_at}`, ''];
  out.push('Positions');
  out.push(
    report.positions.length === 0
      ? '(none)'
      : reportTable(
          ['SYMBOL', 'SIDE', 'QTY', 'AVG ENTRY', 'MARK', 'EXPOSURE', 'UNREALIZED', 'REALIZED', 'FEES', 'TRADES', 'WIN%'],
          report.positions.map((p) => [
            p.symbol,
            p.direction,
            formatDecimal(p.quantity),
            formatDecimal(p.avg_entry_price),
            formatDecimal(p.mark_price),
            formatDecimal(p.exposure_quote),
            formatDecimal(p.unrealized_pnl),
            formatDecimal(p.realized_pnl),
            formatDecimal(p.fees_quote),
            String(p.trades),
            percent(p.win_rate),
          ]),
          2,
        ),
  );
  for (const t of report.totals) {
    out.push('', `Performance (${t.quote_asset})`);
    const rows: Array<[string, string]> = [
      ['Realized PnL (net of fees)', formatDecimal(t.realized_pnl)],
      ['Unrealized PnL', formatDecimal(t.unrealized_pnl)],
      ['Total PnL', formatDecimal(t.total_pnl)],
      ['Exposure (gross)', formatDecimal(t.exposure_quote)],
      ['Exposure (net)', formatDecimal(t.net_exposure_quote)],
      ['Fees', formatDecimal(t.fees_quote)],
      ['Volume', formatDecimal(t.volume_quote)],
      ['Closing trades', String(t.trades)],
      ['Wins / losses', `${t.wins} / ${t.losses}`],
      ['Win rate', percent(t.win_rate)],
      ['Average win', formatDecimal(t.avg_win)],
      ['Average loss', formatDecimal(t.avg_loss)],
      ['Profit factor', formatDecimal(t.profit_factor, 2)],
    ];
    if (t.missing_marks.length > 0) rows.push(['No mark price (excluded)', t.missing_marks.join(', ')]);
    if (t.unvalued_fee_fills > 0) rows.push(['Fills with unvalued fees', `${t.unvalued_fee_fills} (fees/PnL exclude them)`]);
    out.push(reportTable(['METRIC', 'VALUE'], rows));
  }
  out.push('', 'Balances');
  out.push(
    report.balances.length === 0
      ? '(none)'
      : reportTable(
          ['ASSET', 'FREE', 'LOCKED', 'TOTAL', ...(report.valuation_asset ? [`VALUE ${report.valuation_asset}`] : [])],
          report.balances.map((b) => [
            b.asset,
            formatDecimal(b.free),
            formatDecimal(b.locked),
            formatDecimal(b.total),
            ...(report.valuation_asset ? [formatDecimal(b.value)] : []),
          ]),
        ),
  );
  if (report.valuation_asset && report.balances_value !== null) {
    const unvalued = report.unvalued_assets.length > 0 ? ` (without ${report.unvalued_assets.join(', ')}: no price)` : '';
    out.push(`Balances value: ${formatDecimal(report.balances_value)} ${report.valuation_asset}${unvalued}`);
  }
  return out.join('\n') + '\n';
}
