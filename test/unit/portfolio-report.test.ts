/**
 * Portfolio report arithmetic (pure), with hand-computed expectations.
 */
import type { BalanceRow, PositionRow } from '../../src/persistence/schemas';
import { buildPortfolioReport, formatDecimal, renderPortfolioReport } from '../../src/portfolio/report';

const at = new Date('2026-01-02T03:04:05Z');

function position(p: Partial<PositionRow> & Pick<PositionRow, 'symbol' | 'base_asset' | 'quote_asset'>): PositionRow {
  return {
    quantity: '0',
    avg_entry_price: '0',
    cost_basis: '0',
    realized_pnl: '0',
    fees_quote: '0',
    volume_quote: '0',
    trades: 0,
    wins: 0,
    losses: 0,
    gross_win: '0',
    gross_loss: '0',
    fill_count: 0,
    unvalued_fee_fills: 0,
    last_trade_id: null,
    updated_at: at,
    ...p,
  };
}

const positions: PositionRow[] = [
  position({
    symbol: 'BTCUSDT', base_asset: 'BTC', quote_asset: 'USDT',
    quantity: '0.5', avg_entry_price: '30000', cost_basis: '15000', realized_pnl: '120', fees_quote: '6',
    volume_quote: '45000', trades: 2, wins: 1, losses: 1, gross_win: '150', gross_loss: '30',
  }),
  position({
    symbol: 'ETHUSDT', base_asset: 'ETH', quote_asset: 'USDT',
    quantity: '-2', avg_entry_price: '2000', cost_basis: '4000', realized_pnl: '-50', fees_quote: '4',
    volume_quote: '8000', trades: 1, losses: 1, gross_loss: '50',
  }),
  position({
    symbol: 'SOLUSDT', base_asset: 'SOL', quote_asset: 'USDT',
    quantity: '10', avg_entry_price: '100', cost_basis: '1000', volume_quote: '1000', unvalued_fee_fills: 1,
  }),
  position({
    symbol: 'ETHBTC', base_asset: 'ETH', quote_asset: 'BTC',
    realized_pnl: '0.01', volume_quote: '0.2', trades: 1, wins: 1, gross_win: '0.01',
  }),
];

const balances: BalanceRow[] = [
  { asset: 'BTC', free: '0.5', locked: '0.1', updated_at: at },
  { asset: 'USDT', free: '1000', locked: '0', updated_at: at },
  { asset: 'XRP', free: '5', locked: '0', updated_at: at },
];

const report = buildPortfolioReport(positions, balances, {
  markPrices: { BTCUSDT: '32000', ETHUSDT: '1900' },
  valuationAsset: 'USDT',
  now: at,
});

test('per-position unrealized PnL and exposure, long and short', () => {
  const [btc, eth, sol, ethbtc] = report.positions;
  // Long 0.5 bought for 15000, mark 32000: 16000 - 15000 = 1000; exposure 16000.
  expect(btc).toMatchObject({ direction: 'LONG', unrealized_pnl: '1000', exposure_quote: '16000', net_exposure_quote: '16000', win_rate: '0.5' });
  // Short 2 sold for 4000, mark 1900: 4000 - 3800 = +200; exposure 3800, net -3800.
  expect(eth).toMatchObject({ direction: 'SHORT', unrealized_pnl: '200', exposure_quote: '3800', net_exposure_quote: '-3800', win_rate: '0' });
  // No mark: unknown, not zero.
  expect(sol).toMatchObject({ unrealized_pnl: null, exposure_quote: null, win_rate: null });
  // Flat: nothing open, no mark needed.
  expect(ethbtc).toMatchObject({ direction: 'FLAT', unrealized_pnl: '0', exposure_quote: '0' });
});

test('totals and performance per quote asset', () => {
  const usdt = report.totals.find((t) => t.quote_asset === 'USDT');
  // realized 120 - 50 + 0 = 70; unrealized 1000 + 200 = 1200 (SOL missing); exposure 16000 + 3800;
  // net 16000 - 3800; 3 closing trades, 1 win, 2 losses; avg win 150/1; avg loss (30 + 50)/2 = 40;
  // profit factor 150 / 80 = 1.875.
  expect(usdt).toEqual({
    quote_asset: 'USDT',
    realized_pnl: '70',
    unrealized_pnl: '1200',
    total_pnl: '1270',
    exposure_quote: '19800',
    net_exposure_quote: '12200',
    fees_quote: '10',
    unvalued_fee_fills: 1,
    volume_quote: '54000',
    trades: 3,
    wins: 1,
    losses: 2,
    win_rate: expect.stringMatching(/^0\.3{50,}$/),
    avg_win: '150',
    avg_loss: '40',
    profit_factor: '1.875',
    missing_marks: ['SOLUSDT'],
  });
  const btc = report.totals.find((t) => t.quote_asset === 'BTC');
  expect(btc).toMatchObject({ realized_pnl: '0.01', win_rate: '1', avg_loss: null, profit_factor: null });
  expect(report.totals.map((t) => t.quote_asset)).toEqual(['BTC', 'USDT']);
});

test('balances valued in the valuation asset where a price exists', () => {
  // BTC 0.6 × 32000 = 19200; USDT 1000; XRP has no XRPUSDT mark.
  expect(report.balances).toEqual([
    { asset: 'BTC', free: '0.5', locked: '0.1', total: '0.6', value: '19200' },
    { asset: 'USDT', free: '1000', locked: '0', total: '1000', value: '1000' },
    { asset: 'XRP', free: '5', locked: '0', total: '5', value: null },
  ]);
  expect(report.balances_value).toBe('20200');
  expect(report.unvalued_assets).toEqual(['XRP']);
});

test('text rendering: fixed-width columns, rounded for display only', () => {
  const text = renderPortfolioReport(report);
  const lines = text.split('\n');
  const header = lines.find((l) => l.startsWith('SYMBOL'))!;
  const rule = lines[lines.indexOf(header) + 1]!;
  // Each column's dashes are as wide as the column, and every cell ends at its column's end.
  const rows = lines.slice(lines.indexOf(header) + 2, lines.indexOf(header) + 6);
  const colEnds = [...rule.matchAll(/-+/g)].map((m) => (m.index ?? 0) + m[0].length);
  for (const row of rows) {
    // Right-aligned numeric columns (from QTY on) end exactly at the rule's column ends.
    for (const end of colEnds.slice(2)) expect(row[end - 1]).not.toBe(' ');
  }
  expect(rows[0]).toMatch(/^BTCUSDT\s+LONG\s+0\.5\s+30000\s+32000\s+16000\s+1000\s+120\s+6\s+2\s+50\.0%$/);
  expect(rows[2]).toMatch(/^SOLUSDT\s+LONG\s+10\s+100\s+-\s+-\s+-\s+0\s+0\s+0\s+-$/);
  expect(text).toContain('Win rate');
  expect(text).toMatch(/Win rate\s+33\.3%/);
  expect(text).toMatch(/Profit factor\s+1\.88/);
  expect(text).toMatch(/No mark price \(excluded\)\s+SOLUSDT/);
  expect(text).toMatch(/Fills with unvalued fees\s+1/);
  expect(text).toContain('Balances value: 20200 USDT (without XRP: no price)');
});

test('formatDecimal rounds half-even to the given places and trims zeros', () => {
  expect(formatDecimal('1.123456785')).toBe('1.12345678');
  expect(formatDecimal('1.123456795')).toBe('1.1234568');
  expect(formatDecimal('2.50', 0)).toBe('2');
  expect(formatDecimal(null)).toBe('-');
});

test('an empty portfolio renders', () => {
  const text = renderPortfolioReport(buildPortfolioReport([], [], { markPrices: {}, now: at }));
  expect(text).toBe('Portfolio report 2026-01-02T03:04:05.000Z\n\nPositions\n(none)\n\nBalances\n(none)\n');
});
