/**
 * Position arithmetic, with every expected number worked out by hand in the comments.
 * Asset pair throughout: BTC (base) / USDT (quote), BNB as the third commission asset.
 */
import fc from 'fast-check';
import {
  type ApplyFillContext,
  type Position,
  type PositionFill,
  PositionError,
  applyFill,
  emptyPosition,
  replayFills,
} from '../../src/portfolio/position';
import { dec, toWire } from '../../src/shared/decimal';

const SPOT: ApplyFillContext = { symbol: 'BTCUSDT', baseAsset: 'BTC', quoteAsset: 'USDT' };
const MARGIN: ApplyFillContext = { ...SPOT, allowShort: true };

function fill(side: 'BUY' | 'SELL', qty: string, price: string, commission = '0', commissionAsset = 'USDT'): PositionFill {
  return { side, qty, price, commission, commissionAsset };
}

function pick(p: Position) {
  return {
    quantity: p.quantity,
    avgEntryPrice: p.avgEntryPrice,
    costBasis: p.costBasis,
    realizedPnl: p.realizedPnl,
    feesQuote: p.feesQuote,
  };
}

describe('applyFill: average entry price and realized PnL', () => {
  test('buys at several prices, then partial sells (win, loss, break-even)', () => {
    const steps: Array<[PositionFill, Partial<Position>, string]> = [
      // Buy 1 @ 100: qty 1, cost 100, avg 100.
      [fill('BUY', '1', '100'), { quantity: '1', costBasis: '100', avgEntryPrice: '100' }, '0'],
      // Buy 2 @ 130: qty 3, cost 100 + 260 = 360, avg 360 / 3 = 120.
      [fill('BUY', '2', '130'), { quantity: '3', costBasis: '360', avgEntryPrice: '120' }, '0'],
      // Buy 1 @ 160: qty 4, cost 360 + 160 = 520, avg 520 / 4 = 130.
      [fill('BUY', '1', '160'), { quantity: '4', costBasis: '520', avgEntryPrice: '130' }, '0'],
      // Sell 1.5 @ 150: removes 520 × 1.5/4 = 195 of cost, proceeds 225 → +30 = (150-130) × 1.5.
      // qty 2.5, cost 325, avg stays 130.
      [fill('SELL', '1.5', '150'), { quantity: '2.5', costBasis: '325', avgEntryPrice: '130', realizedPnl: '30' }, '30'],
      // Sell 1 @ 110: (110 - 130) × 1 = -20; qty 1.5, cost 195, realized 30 - 20 = 10.
      [fill('SELL', '1', '110'), { quantity: '1.5', costBasis: '195', avgEntryPrice: '130', realizedPnl: '10' }, '-20'],
      // Sell 1.5 @ 130: break-even (195 proceeds - 195 cost); flat, avg resets to 0.
      [fill('SELL', '1.5', '130'), { quantity: '0', costBasis: '0', avgEntryPrice: '0', realizedPnl: '10' }, '0'],
    ];
    let p = emptyPosition();
    for (const [f, expected, pnl] of steps) {
      const r = applyFill(p, f, SPOT);
      expect(r.position).toMatchObject(expected);
      expect(r.realizedPnl).toBe(pnl);
      p = r.position;
    }
    // 3 closing trades: one win (+30), one loss (-20), one break-even (neither).
    expect(p).toMatchObject({ trades: 3, wins: 1, losses: 1, grossWin: '30', grossLoss: '20', fillCount: 6 });
    // Volume: 100 + 260 + 160 + 225 + 110 + 195 = 1050.
    expect(p.volumeQuote).toBe('1050');
  });

  test('a reduction reports the closed quantity and gross PnL separately from the fee', () => {
    const long = applyFill(emptyPosition(), fill('BUY', '2', '10'), SPOT).position;
    // Sell 0.5 @ 12 with 0.006 USDT fee: gross (12 - 10) × 0.5 = 1, net 1 - 0.006 = 0.994.
    const r = applyFill(long, fill('SELL', '0.5', '12', '0.006', 'USDT'), SPOT);
    expect(r).toMatchObject({ closedQuantity: '0.5', grossPnl: '1', feeQuote: '0.006', realizedPnl: '0.994' });
    expect(r.quantityDelta).toBe('-0.5');
  });

  test('does not mutate its input', () => {
    const p = applyFill(emptyPosition(), fill('BUY', '1', '100'), SPOT).position;
    const copy = { ...p };
    applyFill(p, fill('SELL', '0.5', '120'), SPOT);
    expect(p).toEqual(copy);
  });
});

describe('applyFill: commissions', () => {
  test('commission in the quote asset reduces PnL and is tracked as fees', () => {
    // Buy 2 @ 50, fee 0.1 USDT: qty 2, avg 50, realized -0.1 (fee paid), fees 0.1.
    const a = applyFill(emptyPosition(), fill('BUY', '2', '50', '0.1', 'USDT'), SPOT);
    expect(pick(a.position)).toEqual({
      quantity: '2',
      avgEntryPrice: '50',
      costBasis: '100',
      realizedPnl: '-0.1',
      feesQuote: '0.1',
    });
    expect(a.position.trades).toBe(0); // opening fills are not closing trades
    // Sell 2 @ 55, fee 0.11 USDT: gross (55 - 50) × 2 = 10, net 9.89; realized -0.1 + 9.89 = 9.79.
    const b = applyFill(a.position, fill('SELL', '2', '55', '0.11', 'USDT'), SPOT);
    expect(b.realizedPnl).toBe('9.89');
    expect(pick(b.position)).toEqual({ quantity: '0', avgEntryPrice: '0', costBasis: '0', realizedPnl: '9.79', feesQuote: '0.21' });
    expect(b.position).toMatchObject({ trades: 1, wins: 1, grossWin: '9.89' });
  });

  test('commission in the base asset reduces the quantity held and is valued at the fill price', () => {
    // Buy 1 BTC @ 20000 paying 0.001 BTC: holds 0.999 BTC at 20000 (cost 19980);
    // fee 0.001 × 20000 = 20 USDT, realized -20.
    const a = applyFill(emptyPosition(), fill('BUY', '1', '20000', '0.001', 'BTC'), SPOT);
    expect(pick(a.position)).toEqual({
      quantity: '0.999',
      avgEntryPrice: '20000',
      costBasis: '19980',
      realizedPnl: '-20',
      feesQuote: '20',
    });
    expect(a.quantityDelta).toBe('0.999');
    // Sell all 0.999 @ 21000 paying 0.1% in USDT = 20.979: gross 0.999 × 1000 = 999,
    // net 999 - 20.979 = 978.021; realized -20 + 978.021 = 958.021.
    // Cross-check with cash: paid 20000, received 20979 - 20.979 = 20958.021 → +958.021.
    const b = applyFill(a.position, fill('SELL', '0.999', '21000', '20.979', 'USDT'), SPOT);
    expect(pick(b.position)).toEqual({
      quantity: '0',
      avgEntryPrice: '0',
      costBasis: '0',
      realizedPnl: '958.021',
      feesQuote: '40.979',
    });
  });

  test('commission in the base asset on a SELL takes that much more out of the position', () => {
    const long = applyFill(emptyPosition(), fill('BUY', '2', '100'), SPOT).position;
    // Sell 1 @ 110 paying 0.01 BTC: position falls by 1.01 to 0.99; fee 0.01 × 110 = 1.1;
    // gross on 1.01 units (110 - 100) × 1.01 = 10.1; net 10.1 - 1.1 = 9.
    const r = applyFill(long, fill('SELL', '1', '110', '0.01', 'BTC'), SPOT);
    expect(r).toMatchObject({ quantityDelta: '-1.01', closedQuantity: '1.01', grossPnl: '10.1', feeQuote: '1.1', realizedPnl: '9' });
    expect(r.position.quantity).toBe('0.99');
  });

  test('commission in a third asset (BNB) is valued at the supplied price and counted as a fee', () => {
    // Buy 0.5 BTC @ 30000 paying 0.0225 BNB with BNB at 300 USDT: fee 0.0225 × 300 = 6.75.
    const ctx = { ...SPOT, commissionAssetPrices: { BNB: '300' } };
    const r = applyFill(emptyPosition(), fill('BUY', '0.5', '30000', '0.0225', 'BNB'), ctx);
    expect(r.feeQuote).toBe('6.75');
    expect(pick(r.position)).toEqual({
      quantity: '0.5', // BNB commission does not touch the BTC quantity
      avgEntryPrice: '30000',
      costBasis: '15000',
      realizedPnl: '-6.75',
      feesQuote: '6.75',
    });
  });

  test('a BNB commission without a BNB price is refused, not booked as zero', () => {
    const f = fill('BUY', '0.5', '30000', '0.0225', 'BNB');
    expect(() => applyFill(emptyPosition(), f, SPOT)).toThrow(PositionError);
    expect(() => applyFill(emptyPosition(), f, SPOT)).toThrow(/0\.0225 BNB on BTCUSDT cannot be valued/);
    // A zero commission needs no price.
    expect(applyFill(emptyPosition(), fill('BUY', '0.5', '30000', '0', 'BNB'), SPOT).feeQuote).toBe('0');
  });

  test('a stored quote value for a third-asset commission is used as is (replay without prices)', () => {
    const f = { ...fill('BUY', '1', '100', '0.002', 'BNB'), commissionQuoteValue: '0.61' };
    expect(applyFill(emptyPosition(), f, SPOT).feeQuote).toBe('0.61');
  });
});

describe('applyFill: selling more than the long position', () => {
  const long1 = applyFill(emptyPosition(), fill('BUY', '1', '100'), SPOT).position;

  test('is refused on spot (allowShort false), naming the quantities', () => {
    let error: unknown;
    try {
      applyFill(long1, fill('SELL', '3', '90'), SPOT);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PositionError);
    expect((error as PositionError).code).toBe('WOULD_GO_SHORT');
    expect((error as PositionError).message).toBe(
      'SELL of 3 BTC on BTCUSDT exceeds the long position of 1 BTC by 2 BTC; a spot account cannot sell short (allowShort is false)',
    );
    // Also from flat, and allowShort defaults to false.
    expect(() => applyFill(emptyPosition(), fill('SELL', '0.1', '90'), { baseAsset: 'BTC', quoteAsset: 'USDT' })).toThrow(
      /exceeds the long position of 0 BTC by 0.1 BTC/,
    );
    // Selling exactly the position is fine.
    expect(applyFill(long1, fill('SELL', '1', '90'), SPOT).position.quantity).toBe('0');
  });

  test('flips long → short with correct PnL when allowed', () => {
    // Long 1 @ 100. Sell 3 @ 90 with 0.27 USDT fee: closes 1 → gross (90 - 100) × 1 = -10,
    // net -10.27; the other 2 open a short at 90 (cost basis 180).
    const flip = applyFill(long1, fill('SELL', '3', '90', '0.27', 'USDT'), MARGIN);
    expect(flip).toMatchObject({ closedQuantity: '1', grossPnl: '-10', realizedPnl: '-10.27' });
    expect(pick(flip.position)).toEqual({
      quantity: '-2',
      avgEntryPrice: '90',
      costBasis: '180',
      realizedPnl: '-10.27',
      feesQuote: '0.27',
    });
    // Short 2 @ 90. Buy 1 @ 80: a short gains when price falls: (90 - 80) × 1 = +10.
    const cover = applyFill(flip.position, fill('BUY', '1', '80'), MARGIN);
    expect(cover.realizedPnl).toBe('10');
    expect(pick(cover.position)).toMatchObject({ quantity: '-1', avgEntryPrice: '90', costBasis: '90' });
    // Short 1 @ 90. Buy 3 @ 85: closes 1 → (90 - 85) = +5, opens long 2 @ 85.
    const back = applyFill(cover.position, fill('BUY', '3', '85'), MARGIN);
    expect(back).toMatchObject({ closedQuantity: '1', realizedPnl: '5' });
    expect(pick(back.position)).toEqual({
      quantity: '2',
      avgEntryPrice: '85',
      costBasis: '170',
      realizedPnl: '4.73', // -10.27 + 10 + 5
      feesQuote: '0.27',
    });
    // Closing trades: -10.27 (loss), +10 (win), +5 (win).
    expect(back.position).toMatchObject({ trades: 3, wins: 2, losses: 1, grossWin: '15', grossLoss: '10.27' });
  });

  test('adding to a short averages the entry price', () => {
    // Short 1 @ 100, short 1 more @ 80 → -2 @ 90; buy 2 @ 70 → (90 - 70) × 2 = 40.
    const r = replayFills([fill('SELL', '1', '100'), fill('SELL', '1', '80'), fill('BUY', '2', '70')], MARGIN);
    expect(r.results[1]?.position).toMatchObject({ quantity: '-2', avgEntryPrice: '90' });
    expect(r.position).toMatchObject({ quantity: '0', realizedPnl: '40', wins: 1 });
  });

  test('a short position may still be bought back when allowShort is false', () => {
    const short: Position = { ...emptyPosition(), quantity: '-1', avgEntryPrice: '50', costBasis: '50' };
    expect(applyFill(short, fill('BUY', '1', '40'), SPOT).realizedPnl).toBe('10');
    expect(() => applyFill(short, fill('SELL', '1', '40'), SPOT)).toThrow(/would grow the short position of -1 BTC to -2 BTC/);
  });
});

describe('applyFill: exact decimals', () => {
  test('0.1 + 0.2 is 0.3 and sells back to exactly flat', () => {
    // As JS numbers 0.1 + 0.2 = 0.30000000000000004, which would leave dust after selling 0.3.
    const r = replayFills([fill('BUY', '0.1', '3'), fill('BUY', '0.2', '3'), fill('SELL', '0.3', '3')], SPOT);
    expect(r.results[1]?.position.quantity).toBe('0.3');
    expect(r.results[1]?.position.costBasis).toBe('0.9'); // 0.3 + 0.6, not 0.8999999999999999
    expect(r.position).toMatchObject({ quantity: '0', realizedPnl: '0', costBasis: '0' });
  });

  test('prices 0.1 and 0.2 average to exactly 0.15', () => {
    // (1 × 0.1 + 1 × 0.2) / 2 = 0.15; selling 2 @ 0.3 realizes (0.3 - 0.15) × 2 = 0.3.
    const r = replayFills([fill('BUY', '1', '0.1'), fill('BUY', '1', '0.2'), fill('SELL', '2', '0.3')], SPOT);
    expect(r.results[1]?.position.avgEntryPrice).toBe('0.15');
    expect(r.position.realizedPnl).toBe('0.3');
  });

  test('satoshi quantities at 8-decimal prices stay exact', () => {
    // 0.00000001 BTC × 12345.67890123 = 0.0001234567890123 USDT.
    const r = applyFill(emptyPosition(), fill('BUY', '0.00000001', '12345.67890123'), SPOT);
    expect(r.position.costBasis).toBe('0.0001234567890123');
    expect(r.position.volumeQuote).toBe('0.0001234567890123');
  });

  test('a round trip is exact even when the average price is not', () => {
    // Buy 1 @ 1 and 2 @ 2: cost 5, avg 5/3 = 1.666… (rounded to 60 digits).
    // Sell 3 @ 2: proceeds 6 - cost 5 = exactly 1, because closing takes out the whole cost basis.
    const r = replayFills([fill('BUY', '1', '1'), fill('BUY', '2', '2'), fill('SELL', '3', '2')], SPOT);
    expect(r.results[1]?.position.avgEntryPrice).toMatch(/^1\.6{50,}7$/);
    expect(r.position.realizedPnl).toBe('1');
  });

  test('a partial reduction then full close still realizes exactly proceeds - cost', () => {
    // Cost 5 for 3 units. Sell 1 @ 2: removes 5/3 of cost (rounded) → +0.333…;
    // sell 2 @ 2: removes the remaining cost → the two results sum to exactly 6 - 5 = 1.
    const r = replayFills(
      [fill('BUY', '1', '1'), fill('BUY', '2', '2'), fill('SELL', '1', '2'), fill('SELL', '2', '2')],
      SPOT,
    );
    expect(r.results[2]?.realizedPnl).toMatch(/^0\.3{50,}$/);
    expect(r.position.realizedPnl).toBe('1');
  });
});

describe('applyFill: input validation', () => {
  test.each([
    ['zero qty', fill('BUY', '0', '1'), /qty must be > 0/],
    ['negative price', fill('BUY', '1', '-1'), /price must be > 0/],
    ['exponent text', fill('BUY', '1e3', '1'), /qty must be a decimal string/],
    ['NaN', fill('BUY', 'NaN', '1'), /qty must be a decimal string/],
    ['negative commission', fill('BUY', '1', '1', '-0.1'), /commission must be >= 0/],
    ['base commission above qty', fill('BUY', '1', '1', '2', 'BTC'), /exceeds the bought quantity/],
  ])('refuses %s', (_name, f, message) => {
    expect(() => applyFill(emptyPosition(), f, SPOT)).toThrow(message);
  });

  test('refuses an unknown side', () => {
    const f = { ...fill('BUY', '1', '1'), side: 'HOLD' } as unknown as PositionFill;
    expect(() => applyFill(emptyPosition(), f, SPOT)).toThrow(/side must be BUY or SELL/);
  });
});

describe('applyFill: property — PnL identity', () => {
  // For any sequence of fills (shorts allowed), at any mark price m:
  //   realized + unrealized(m) = cash + quantity × m
  // where cash = Σ sells' proceeds − Σ buys' cost − fees paid in quote or BNB (a base
  // commission is already reflected in `quantity`), and unrealized(m) is market value minus
  // cost basis with the short sign. Equal up to the 60-digit rounding of partial reductions.
  const decimalArb = (min: number, max: number, dp: number) =>
    fc.integer({ min: min * 10 ** dp, max: max * 10 ** dp }).map((n) => toWire(dec(n).div(10 ** dp)));
  const fillArb = fc.record({
    side: fc.constantFrom<'BUY' | 'SELL'>('BUY', 'SELL'),
    qty: decimalArb(1, 5, 3).filter((q) => dec(q).gt(0)),
    price: decimalArb(1, 1000, 2).filter((p) => dec(p).gt(0)),
    commissionAsset: fc.constantFrom('USDT', 'BNB', 'BTC'),
    commissionPermille: fc.integer({ min: 0, max: 2 }),
  });

  test('holds for random fill sequences', () => {
    fc.assert(
      fc.property(fc.array(fillArb, { minLength: 1, maxLength: 25 }), decimalArb(1, 1000, 2), (raw, mark) => {
        const ctx = { ...MARGIN, commissionAssetPrices: { BNB: '250.5' } };
        let p = emptyPosition();
        let cash = dec(0);
        for (const r of raw) {
          // Commission = permille of the received asset's amount, like Binance's rates.
          const commission =
            r.commissionAsset === 'BTC' ? dec(r.qty).mul(r.commissionPermille).div(1000) : dec(r.qty).mul(r.price).mul(r.commissionPermille).div(1000);
          const f: PositionFill = { side: r.side, qty: r.qty, price: r.price, commission: toWire(commission), commissionAsset: r.commissionAsset };
          const res = applyFill(p, f, ctx);
          p = res.position;
          const notional = dec(r.qty).mul(r.price);
          cash = r.side === 'BUY' ? cash.minus(notional) : cash.plus(notional);
          if (r.commissionAsset !== 'BTC') cash = cash.minus(res.feeQuote);
        }
        const q = dec(p.quantity);
        const cost = dec(p.costBasis);
        const unrealized = q.gte(0) ? q.mul(mark).minus(cost) : cost.minus(q.abs().mul(mark));
        const lhs = dec(p.realizedPnl).plus(unrealized);
        const rhs = cash.plus(q.mul(mark));
        expect(lhs.minus(rhs).abs().lt('1e-40')).toBe(true);
        // Stats stay consistent.
        expect(p.wins + p.losses).toBeLessThanOrEqual(p.trades);
        expect(dec(p.feesQuote).gte(0)).toBe(true);
      }),
      { numRuns: 300, seed: 20261125 },
    );
  });
});
