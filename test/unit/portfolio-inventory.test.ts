/**
 * External inventory: a SELL beyond the recorded position on spot, and inventory adjustments.
 * Every expected number is worked out by hand in the comments. BTC (base) / USDT (quote).
 */
import {
  type ApplyFillContext,
  type Position,
  type PositionFill,
  PositionError,
  applyAdjustment,
  applyFill,
  emptyPosition,
} from '../../src/portfolio/position';
import { buildPortfolioReport } from '../../src/portfolio/report';
import type { PositionRow } from '../../src/persistence/schemas';

const SPOT: ApplyFillContext = { symbol: 'BTCUSDT', baseAsset: 'BTC', quoteAsset: 'USDT' };
const LENIENT: ApplyFillContext = { ...SPOT, excessSell: 'external_inventory' };

function fill(side: 'BUY' | 'SELL', qty: string, price: string, commission = '0', commissionAsset = 'USDT'): PositionFill {
  return { side, qty, price, commission, commissionAsset };
}

const long = (quantity: string, costBasis: string, avgEntryPrice: string): Position => ({
  ...emptyPosition(),
  quantity,
  costBasis,
  avgEntryPrice,
});

describe('SELL beyond the position on spot', () => {
  test('is still refused by default (strict)', () => {
    expect(() => applyFill(emptyPosition(), fill('SELL', '2', '100'), SPOT)).toThrow(PositionError);
  });

  test('from flat: the whole SELL is external inventory at the fill price, realizing only the fee', () => {
    // External 2 @ 100 → cost 200; sell 2 @ 100 → proceeds 200, gross 0; fee 0.2 USDT → net -0.2.
    const r = applyFill(emptyPosition(), fill('SELL', '2', '100', '0.2'), LENIENT);
    expect(r.externalQty).toBe('2');
    expect(r.quantityDelta).toBe('0');
    expect(r.grossPnl).toBe('0');
    expect(r.realizedPnl).toBe('-0.2');
    expect(r.position).toMatchObject({ quantity: '0', costBasis: '0', avgEntryPrice: '0', realizedPnl: '-0.2', feesQuote: '0.2' });
    // A closing trade with a fee only: counted, as a loss.
    expect(r.position).toMatchObject({ trades: 1, wins: 0, losses: 1, fillCount: 1, volumeQuote: '200' });
  });

  test('from a long: the recorded part realizes its PnL, the excess none', () => {
    // Long 1 @ 80 (cost 80). SELL 3 @ 100, fee 0.3 USDT.
    // Excess 2 booked @ 100 → qty 3, cost 80 + 200 = 280. Sell 3 @ 100 = 300 → gross 20 = (100 - 80) × 1.
    // Net 20 - 0.3 = 19.7.
    const r = applyFill(long('1', '80', '80'), fill('SELL', '3', '100', '0.3'), LENIENT);
    expect(r.externalQty).toBe('2');
    expect(r.quantityDelta).toBe('-1');
    expect(r.grossPnl).toBe('20');
    expect(r.realizedPnl).toBe('19.7');
    expect(r.closedQuantity).toBe('3');
    expect(r.position).toMatchObject({ quantity: '0', costBasis: '0', realizedPnl: '19.7', trades: 1, wins: 1, grossWin: '19.7' });
  });

  test('a base-asset commission that tips a full close over the edge is covered as well', () => {
    // Long 1 @ 90. SELL 1 @ 100 with 0.001 BTC commission: gives up 1.001 BTC, 0.001 more than recorded.
    // Excess 0.001 @ 100 → qty 1.001, cost 90.1. Closed 1.001 → value 100.1, gross 100.1 - 90.1 = 10.
    // Fee = 0.001 × 100 = 0.1 → net 9.9.
    const r = applyFill(long('1', '90', '90'), fill('SELL', '1', '100', '0.001', 'BTC'), LENIENT);
    expect(r.externalQty).toBe('0.001');
    expect(r.grossPnl).toBe('10');
    expect(r.realizedPnl).toBe('9.9');
    expect(r.position.quantity).toBe('0');
  });

  test('a SELL within the position books nothing external', () => {
    const r = applyFill(long('2', '200', '100'), fill('SELL', '1', '110'), LENIENT);
    expect(r.externalQty).toBe('0');
    expect(r.realizedPnl).toBe('10');
  });
});

describe('applyAdjustment', () => {
  test('an inflow averages in at its price and realizes nothing', () => {
    // 1 @ 100 plus 1 @ 120 → qty 2, cost 220, avg 110. Fees, volume and counts untouched.
    const before: Position = { ...long('1', '100', '100'), realizedPnl: '5', volumeQuote: '100', fillCount: 1 };
    const r = applyAdjustment(before, { qty: '1', price: '120' });
    expect(r.costDelta).toBe('120');
    expect(r.position).toEqual({ ...before, quantity: '2', costBasis: '220', avgEntryPrice: '110' });
  });

  test('an outflow takes its share of the cost basis at the average price, realizing nothing', () => {
    // 2 @ 110 (cost 220): out 0.5 → cost 220 × 1.5 / 2 = 165, avg stays 110.
    const r = applyAdjustment(long('2', '220', '110'), { qty: '-0.5', price: '999' });
    expect(r.position).toMatchObject({ quantity: '1.5', costBasis: '165', avgEntryPrice: '110', realizedPnl: '0' });
    expect(r.costDelta).toBe('-55');
    // All of it: flat, no cost left.
    expect(applyAdjustment(long('2', '220', '110'), { qty: '-2', price: '1' }).position).toMatchObject({
      quantity: '0',
      costBasis: '0',
      avgEntryPrice: '0',
    });
  });

  test('refuses what inventory cannot do', () => {
    expect(() => applyAdjustment(long('1', '100', '100'), { qty: '-1.5', price: '100' })).toThrow(/exceeds the position of 1/);
    expect(() => applyAdjustment({ ...emptyPosition(), quantity: '-1', costBasis: '50', avgEntryPrice: '50' }, { qty: '1', price: '50' })).toThrow(
      /short position/,
    );
    expect(() => applyAdjustment(emptyPosition(), { qty: '0', price: '100' })).toThrow(PositionError);
    expect(() => applyAdjustment(emptyPosition(), { qty: '1', price: '0' })).toThrow(/price must be > 0/);
  });

  test('seeded inventory is marked from the price it was booked at', () => {
    // Seed 1 BTC @ 60000; buy 0.5 @ 62000 → qty 1.5, cost 91000. Mark 64000: value 96000 → unrealized 5000.
    let p = applyAdjustment(emptyPosition(), { qty: '1', price: '60000' }).position;
    p = applyFill(p, fill('BUY', '0.5', '62000'), SPOT).position;
    const row: PositionRow = {
      symbol: 'BTCUSDT',
      base_asset: 'BTC',
      quote_asset: 'USDT',
      quantity: p.quantity,
      avg_entry_price: p.avgEntryPrice,
      cost_basis: p.costBasis,
      realized_pnl: p.realizedPnl,
      fees_quote: p.feesQuote,
      volume_quote: p.volumeQuote,
      trades: p.trades,
      wins: p.wins,
      losses: p.losses,
      gross_win: p.grossWin,
      gross_loss: p.grossLoss,
      fill_count: p.fillCount,
      unvalued_fee_fills: p.unvaluedFeeFills,
      last_trade_id: null,
      updated_at: new Date(0),
    };
    const report = buildPortfolioReport([row], [], { markPrices: { BTCUSDT: '64000' } });
    expect(report.positions[0]).toMatchObject({ quantity: '1.5', unrealized_pnl: '5000', exposure_quote: '96000', volume_quote: '31000' });
  });
});
