/**
 * The pure comparisons of reconciliation (src/reconciliation/compare.ts): exchange trades
 * against stored fills over a window, and exchange balances against the positions' inventory.
 * No services: run with TEST_SERVICES=none.
 */
import fc from 'fast-check';
import type { Trade } from '../../src/exchange';
import {
  type BalanceComparisonInput,
  type StoredFillView,
  type TradeWindow,
  compareBalances,
  compareTrades,
  judgePreviousSighting,
} from '../../src/reconciliation/compare';
import { dec, toWire } from '../../src/shared/decimal';

const RUNS = 300;
const HOUR = 3_600_000;
const START = 1_750_000_000_000;
const WINDOW: TradeWindow = {
  startTime: START,
  fetchedAt: START + 24 * HOUR,
  complete: true,
  settleGraceMs: 60_000,
  edgeMs: 5_000,
};
/** The latest time a trade can have and still be judged (older than the settle grace period). */
const SETTLED_BY = WINDOW.fetchedAt - WINDOW.settleGraceMs;

/** Binance-shaped decimal text: up to 8 decimals, trailing zeros as Binance writes them. */
const decimalText = fc
  .tuple(fc.integer({ min: 0, max: 99_999 }), fc.integer({ min: 1, max: 99_999_999 }))
  .map(([whole, fraction]) => `${whole}.${String(fraction).padStart(8, '0')}`);

const tradeFields = fc.record({
  orderId: fc.integer({ min: 1, max: 1_000_000 }),
  price: decimalText,
  qty: decimalText,
  commission: decimalText,
  isBuyer: fc.boolean(),
  isMaker: fc.boolean(),
});

/** Trades with distinct increasing ids, all settled (inside the window, older than the grace period). */
const settledTrades = fc
  .uniqueArray(fc.integer({ min: 1, max: 10_000_000 }), { minLength: 0, maxLength: 40 })
  .chain((ids) =>
    fc.tuple(
      fc.constant([...ids].sort((a, b) => a - b)),
      fc.array(tradeFields, { minLength: ids.length, maxLength: ids.length }),
      fc.array(fc.integer({ min: WINDOW.startTime, max: SETTLED_BY }), { minLength: ids.length, maxLength: ids.length }),
    ),
  )
  .map(([ids, fields, times]) => ids.map((id, i) => trade(id, { ...fields[i]!, time: times[i]! })));

function trade(id: number, fields: Partial<Trade> & { time: number }): Trade {
  const price = fields.price ?? '100.00000000';
  const qty = fields.qty ?? '1.00000000';
  return {
    symbol: 'BTCUSDT',
    id,
    orderId: fields.orderId ?? id,
    orderListId: -1,
    price,
    qty,
    quoteQty: toWire(dec(price).mul(qty)),
    commission: fields.commission ?? '0.00000000',
    commissionAsset: 'USDT',
    time: fields.time,
    isBuyer: fields.isBuyer ?? true,
    isMaker: fields.isMaker ?? false,
    isBestMatch: true,
  };
}

/** The fill the ledger stores for a trade (decimals normalised as Postgres returns them). */
function storedFill(t: Trade): StoredFillView {
  return {
    trade_id: String(t.id),
    side: t.isBuyer ? 'BUY' : 'SELL',
    exchange_order_id: String(t.orderId),
    price: toWire(t.price),
    qty: toWire(t.qty),
    commission: toWire(t.commission),
    trade_time: new Date(t.time),
  };
}

const ids = (items: ReadonlyArray<{ id: number } | { trade_id: string }>) =>
  items.map((x) => ('id' in x ? String(x.id) : x.trade_id)).sort();

/** The exchange's list shuffled, with some trades repeated. */
function shuffledWithRepeats(trades: Trade[]) {
  return fc
    .tuple(fc.shuffledSubarray(trades, { minLength: trades.length, maxLength: trades.length }), fc.array(fc.nat(), { maxLength: 10 }))
    .map(([shuffled, repeats]) => (trades.length === 0 ? shuffled : [...shuffled, ...repeats.map((r) => trades[r % trades.length]!)]))
    .chain((list) => fc.shuffledSubarray(list, { minLength: list.length, maxLength: list.length }));
}

describe('compareTrades (exchange trades vs stored fills)', () => {
  it('shuffled or repeated exchange trades never report a stored fill missing, and change nothing', () => {
    fc.assert(
      fc.property(
        settledTrades.chain((trades) => fc.tuple(fc.constant(trades), fc.subarray(trades), shuffledWithRepeats(trades))),
        ([trades, storedSubset, exchangeList]) => {
          const stored = storedSubset.map(storedFill);
          const inOrder = compareTrades(trades, stored, WINDOW);
          const shuffled = compareTrades(exchangeList, stored, WINDOW);
          const storedIds = new Set(stored.map((f) => f.trade_id));
          expect(shuffled.missing.filter((t) => storedIds.has(String(t.id)))).toEqual([]);
          // Each trade id at most once, and the same verdict as for the list in trade-id order.
          expect(new Set(ids(shuffled.missing)).size).toBe(shuffled.missing.length);
          expect(ids(shuffled.missing)).toEqual(ids(inOrder.missing));
          expect(shuffled.mismatched).toEqual([]);
          expect(shuffled.unknown).toEqual([]);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('a stored fill at either edge of the window that the exchange does not list is never unknown', () => {
    const edgeTime = fc.oneof(
      fc.integer({ min: WINDOW.startTime - HOUR, max: WINDOW.startTime + WINDOW.edgeMs - 1 }),
      fc.integer({ min: WINDOW.fetchedAt - WINDOW.edgeMs + 1, max: WINDOW.fetchedAt + HOUR }),
    );
    fc.assert(
      fc.property(settledTrades, fc.array(edgeTime, { minLength: 1, maxLength: 5 }), fc.boolean(), (trades, edgeTimes, complete) => {
        const maxId = trades.reduce((max, t) => Math.max(max, t.id), 0);
        const edgeFills = edgeTimes.map((time, i) => storedFill(trade(maxId + 1 + i, { time })));
        const result = compareTrades(trades, [...trades.map(storedFill), ...edgeFills], { ...WINDOW, complete });
        expect(result.unknown).toEqual([]);
        expect(result.missing).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });

  it('a stored fill well inside the window is unknown only when the exchange answer was complete', () => {
    const inside = fc.integer({ min: WINDOW.startTime + WINDOW.edgeMs, max: WINDOW.fetchedAt - WINDOW.edgeMs });
    fc.assert(
      fc.property(settledTrades, inside, fc.boolean(), (trades, time, complete) => {
        const extra = storedFill(trade(10_000_001, { time }));
        const result = compareTrades(trades, [...trades.map(storedFill), extra], { ...WINDOW, complete });
        expect(result.unknown).toEqual(complete ? [extra] : []);
      }),
      { numRuns: RUNS },
    );
  });

  it('dropped trades are reported missing, exactly those', () => {
    fc.assert(
      fc.property(
        settledTrades.chain((trades) => fc.tuple(fc.constant(trades), fc.subarray(trades), shuffledWithRepeats(trades))),
        ([trades, dropped, exchangeList]) => {
          const droppedIds = new Set(dropped.map((t) => t.id));
          const stored = trades.filter((t) => !droppedIds.has(t.id)).map(storedFill);
          const result = compareTrades(exchangeList, stored, WINDOW);
          expect(ids(result.missing)).toEqual(ids(dropped));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('trades younger than the settle grace period are left to their workflow, not reported missing', () => {
    const young = fc.integer({ min: SETTLED_BY + 1, max: WINDOW.fetchedAt });
    fc.assert(
      fc.property(settledTrades, fc.array(young, { minLength: 1, maxLength: 5 }), (trades, times) => {
        const recent = times.map((time, i) => trade(20_000_000 + i, { time }));
        const result = compareTrades([...trades, ...recent], trades.map(storedFill), WINDOW);
        expect(result.missing).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });

  it('booking the reported missing trades and comparing again finds nothing', () => {
    const young = fc.array(fc.integer({ min: SETTLED_BY + 1, max: WINDOW.fetchedAt }), { maxLength: 3 });
    fc.assert(
      fc.property(
        settledTrades.chain((trades) => fc.tuple(fc.constant(trades), fc.subarray(trades), shuffledWithRepeats(trades), young)),
        ([trades, storedSubset, exchangeList, youngTimes]) => {
          const recent = youngTimes.map((time, i) => trade(20_000_000 + i, { time }));
          const listed = [...exchangeList, ...recent];
          const stored = storedSubset.map(storedFill);
          const first = compareTrades(listed, stored, WINDOW);
          const repaired = [...stored, ...first.missing.map(storedFill)];
          const second = compareTrades(listed, repaired, WINDOW);
          expect(second).toEqual({ missing: [], mismatched: [], unknown: [] });
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('a stored fill whose content differs from the trade is mismatched (field by field), never missing', () => {
    const t = trade(7, { time: START + HOUR, price: '100.10000000', qty: '0.50000000', commission: '0.01000000' });
    const same = storedFill(t);
    const cases: Array<[string, Partial<StoredFillView>, string[]]> = [
      ['identical (decimals written differently)', { price: '100.1', qty: '0.5' }, []],
      ['side', { side: 'SELL' }, ['side']],
      ['order', { exchange_order_id: '8' }, ['order']],
      ['price and qty', { price: '100.2', qty: '0.4' }, ['price', 'qty']],
      ['commission', { commission: '0.02' }, ['commission']],
    ];
    for (const [name, change, fields] of cases) {
      const result = compareTrades([t], [{ ...same, ...change }], WINDOW);
      expect({ name, fields: result.mismatched.map((m) => m.fields)[0] ?? [], missing: result.missing }).toEqual({ name, fields, missing: [] });
    }
  });
});

describe('compareBalances (exchange balances vs booked inventory)', () => {
  const listed = [
    { symbol: 'BTCUSDT', baseAsset: 'BTC', quoteAsset: 'USDT' },
    { symbol: 'BTCEUR', baseAsset: 'BTC', quoteAsset: 'EUR' },
    { symbol: 'ETHUSDT', baseAsset: 'ETH', quoteAsset: 'USDT' },
    { symbol: 'ETHBTC', baseAsset: 'ETH', quoteAsset: 'BTC' },
  ];
  const position = (symbol: string, quantity: string) => {
    const def = listed.find((l) => l.symbol === symbol)!;
    return { symbol, base_asset: def.baseAsset, quote_asset: def.quoteAsset, quantity };
  };
  const balance = (asset: string, free: string, locked = '0') => ({ asset, free, locked });

  const cases: Array<{
    name: string;
    input: Omit<BalanceComparisonInput, 'listed'>;
    drifts: Array<{ asset: string; home: string; exchange: string; positions: string; diff: string }>;
    assetsCompared: number;
  }> = [
    {
      name: 'account equals the positions: no drift',
      input: { balances: [balance('BTC', '0.4', '0.1'), balance('USDT', '1000')], positions: [position('BTCUSDT', '0.5')], symbols: ['BTCUSDT'] },
      drifts: [],
      assetsCompared: 1,
    },
    {
      name: 'surplus (free + locked) on a configured symbol',
      input: { balances: [balance('BTC', '0.6', '0.1')], positions: [position('BTCUSDT', '0.5')], symbols: ['BTCUSDT'] },
      drifts: [{ asset: 'BTC', home: 'BTCUSDT', exchange: '0.7', positions: '0.5', diff: '0.2' }],
      assetsCompared: 1,
    },
    {
      name: 'asset absent on the exchange counts as zero: shortfall',
      input: { balances: [balance('USDT', '10')], positions: [position('BTCUSDT', '0.5')], symbols: ['BTCUSDT'] },
      drifts: [{ asset: 'BTC', home: 'BTCUSDT', exchange: '0', positions: '0.5', diff: '-0.5' }],
      assetsCompared: 1,
    },
    {
      name: 'every position of the base asset counts; the first configured symbol is home',
      input: {
        balances: [balance('BTC', '1')],
        positions: [position('BTCUSDT', '0.2'), position('BTCEUR', '0.5')],
        symbols: ['BTCEUR', 'BTCUSDT'],
      },
      drifts: [{ asset: 'BTC', home: 'BTCEUR', exchange: '1', positions: '0.7', diff: '0.3' }],
      assetsCompared: 1,
    },
    {
      name: 'not configured: the position holding most is home',
      input: {
        balances: [balance('ETH', '3')],
        positions: [position('ETHUSDT', '0.5'), position('ETHBTC', '2')],
        symbols: [],
      },
      drifts: [{ asset: 'ETH', home: 'ETHBTC', exchange: '3', positions: '2.5', diff: '0.5' }],
      assetsCompared: 1,
    },
    {
      name: 'configured symbol without a position: the whole balance is drift (initial inventory)',
      input: { balances: [balance('ETH', '1.5')], positions: [], symbols: ['ETHUSDT'] },
      drifts: [{ asset: 'ETH', home: 'ETHUSDT', exchange: '1.5', positions: '0', diff: '1.5' }],
      assetsCompared: 1,
    },
    {
      name: 'quote assets and assets never traded are not compared; drifts in asset order',
      input: {
        balances: [balance('USDT', '500'), balance('DOGE', '1000'), balance('ETH', '1'), balance('BTC', '2')],
        positions: [position('ETHUSDT', '0'), position('BTCUSDT', '1')],
        symbols: ['ETHUSDT'],
      },
      drifts: [
        { asset: 'BTC', home: 'BTCUSDT', exchange: '2', positions: '1', diff: '1' },
        { asset: 'ETH', home: 'ETHUSDT', exchange: '1', positions: '0', diff: '1' },
      ],
      assetsCompared: 2,
    },
    {
      name: 'a configured symbol the exchange does not list is no home',
      input: { balances: [balance('XYZ', '5')], positions: [], symbols: ['XYZUSDT'] },
      drifts: [],
      assetsCompared: 0,
    },
  ];

  it.each(cases)('$name', ({ input, drifts, assetsCompared }) => {
    const result = compareBalances({ ...input, listed });
    expect(
      result.drifts.map((d) => ({
        asset: d.asset,
        home: d.home.symbol,
        exchange: toWire(d.exchangeTotal),
        positions: toWire(d.positionsTotal),
        diff: toWire(d.diff),
      })),
    ).toEqual(drifts);
    expect(result.assetsCompared).toBe(assetsCompared);
  });

  it('reports a drift exactly when the account and the positions differ', () => {
    fc.assert(
      fc.property(decimalText, decimalText, decimalText, (free, held, other) => {
        const result = compareBalances({
          balances: [balance('BTC', free)],
          positions: [position('BTCUSDT', held), position('BTCEUR', other)],
          symbols: ['BTCUSDT'],
          listed,
        });
        const diff = dec(free).minus(held).minus(other);
        expect(result.drifts.map((d) => toWire(d.diff))).toEqual(diff.isZero() ? [] : [toWire(diff)]);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('judgePreviousSighting (balance drift confirmation)', () => {
  const now = START;
  const within = 2 * HOUR;
  const cases: Array<[string, Parameters<typeof judgePreviousSighting>[0], string, ReturnType<typeof judgePreviousSighting>]> = [
    ['no previous run', undefined, '0.1', { persistent: false }],
    ['previous run saw no drift of the asset', { runId: 'r1' }, '0.1', { persistent: false }],
    ['seen too long ago', { runId: 'r1', drift: { diff: '0.1', seenAt: new Date(now - within - 1) } }, '0.1', { persistent: false }],
    ['seen recently, another amount', { runId: 'r1', drift: { diff: '0.2', seenAt: new Date(now - HOUR) } }, '0.1', { persistent: true }],
    [
      'seen recently, the same amount (written differently)',
      { runId: 'r1', drift: { diff: '0.10', seenAt: new Date(now - HOUR) } },
      '0.1',
      { persistent: true, sameSince: { runId: 'r1', seenAt: new Date(now - HOUR) } },
    ],
  ];
  it.each(cases)('%s', (_name, previous, diff, expected) => {
    expect(judgePreviousSighting(previous, dec(diff), now, within)).toEqual(expected);
  });
});
