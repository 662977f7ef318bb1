/**
 * External inventory in the store, against a real Postgres: SELL excess booked and re-derived on
 * rebuild, explicit adjustments idempotent and replayed at the point they were booked, and the
 * forced rebuild reconciliation uses after a repair.
 */
import type { Pool } from 'pg';
import { createPool } from '../../src/persistence/db';
import { migrate } from '../../src/persistence/migrate';
import { adjustInventory, listInventoryAdjustments } from '../../src/persistence/stores/inventory';
import { applyFills } from '../../src/persistence/stores/ledger';
import { getPosition, listPositionExternals } from '../../src/persistence/stores/positions';
import { PositionError } from '../../src/portfolio/position';
import { fill } from '../persistence/fills';
import { createScratchDatabase, type ScratchDatabase } from '../persistence/scratch-db';

let db: ScratchDatabase;
let pool: Pool;

beforeAll(async () => {
  db = await createScratchDatabase('inventory');
  pool = createPool(db.url, { max: 4 });
  await migrate(pool);
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

const BTC = { baseAsset: 'BTC', quoteAsset: 'USDT' };

test('a SELL beyond the position: refused by default, booked as sell_excess when asked, once', async () => {
  const S = 'XSA1USDT';
  await expect(applyFills(pool, { symbol: S, ...BTC, fills: [fill(S, 1, 'SELL', '2', '100')] })).rejects.toThrow(PositionError);

  const args = { symbol: S, ...BTC, excessSell: 'external_inventory' as const, fills: [fill(S, 1, 'SELL', '2', '100', { commission: '0.2' })] };
  const r = await applyFills(pool, args);
  expect(r.external_inventory).toEqual([{ trade_id: '1', qty: '2', price: '100' }]);
  expect(r.applied[0]).toMatchObject({ external_qty: '2', realized_pnl: '-0.2' });
  expect(r.position).toMatchObject({ quantity: '0', realized_pnl: '-0.2', fees_quote: '0.2' });
  // A retry changes nothing and books nothing twice.
  const again = await applyFills(pool, args);
  expect(again.applied).toEqual([]);
  expect(again.duplicates).toEqual(['1']);
  const adj = await listInventoryAdjustments(pool, S);
  expect(adj.map((a) => [a.kind, a.qty, a.price, a.trade_id])).toEqual([['sell_excess', '2', '100', '1']]);
  expect((await listPositionExternals(pool)).get(S)).toEqual({ external_qty: '2', adjustment_count: 1 });
});

test('a late BUY that precedes the SELL removes the excess on rebuild', async () => {
  // The SELL (#2) settles first and looks like an oversell; the BUY (#1) that funded it arrives late.
  const S = 'XSB1USDT';
  const opts = { symbol: S, ...BTC, excessSell: 'external_inventory' as const };
  await applyFills(pool, { ...opts, fills: [fill(S, 2, 'SELL', '1', '110')] });
  expect((await listInventoryAdjustments(pool, S)).length).toBe(1);
  const r = await applyFills(pool, { ...opts, fills: [fill(S, 1, 'BUY', '1', '100')] });
  expect(r.rebuilt).toBe(true);
  // Buy 1 @ 100, sell 1 @ 110: +10, flat, nothing external.
  expect(r.position).toMatchObject({ quantity: '0', realized_pnl: '10', trades: 1, wins: 1 });
  expect(await listInventoryAdjustments(pool, S)).toEqual([]);
  expect((await listPositionExternals(pool)).get(S)).toEqual({ external_qty: '0', adjustment_count: 0 });
});

test('explicit adjustments: idempotent by key, outflow clamped, replayed where they were booked', async () => {
  const S = 'XSC1USDT';
  const seed = { symbol: S, ...BTC, kind: 'external_inventory' as const, qty: '1', price: '100', idempotencyKey: `seed:${S}`, reason: 'test seed' };
  const first = await adjustInventory(pool, seed);
  expect(first).toMatchObject({ inserted: true, qty: '1' });
  expect(first.position).toMatchObject({ quantity: '1', cost_basis: '100', avg_entry_price: '100', realized_pnl: '0', fill_count: 0 });
  expect((await adjustInventory(pool, { ...seed, qty: '5' })).inserted).toBe(false);

  // BUY #5 1 @ 200 → 2 @ 150 (cost 300).
  await applyFills(pool, { symbol: S, ...BTC, fills: [fill(S, 5, 'BUY', '1', '200')] });
  // A fill older than #5 arrives: SELL #3 0.5 @ 150. Replay: seed (before every fill), #3, #5:
  //   1 @ 100 → sell 0.5 @ 150: +25, cost 50 → buy 1 @ 200: qty 1.5, cost 250.
  const r = await applyFills(pool, { symbol: S, ...BTC, fills: [fill(S, 3, 'SELL', '0.5', '150')] });
  expect(r.rebuilt).toBe(true);
  expect(r.position).toMatchObject({ quantity: '1.5', cost_basis: '250', realized_pnl: '25' });

  // An outflow bigger than the position is clamped to it; nothing left → nothing booked.
  const out = await adjustInventory(pool, { ...seed, kind: 'external_outflow', qty: '9', idempotencyKey: `out:${S}` });
  expect(out).toMatchObject({ inserted: true, qty: '-1.5' });
  expect(out.position).toMatchObject({ quantity: '0', cost_basis: '0', realized_pnl: '25' });
  expect((await adjustInventory(pool, { ...seed, kind: 'external_outflow', idempotencyKey: `out2:${S}` })).inserted).toBe(false);
  expect((await listPositionExternals(pool)).get(S)).toEqual({ external_qty: '-0.5', adjustment_count: 2 });
});

test('rebuild: a position that counted a fill whose row is gone is made whole by re-applying it', async () => {
  const S = 'XSD1USDT';
  const fills = [fill(S, 1, 'BUY', '1', '100'), fill(S, 2, 'BUY', '1', '120'), fill(S, 3, 'SELL', '0.5', '130')];
  const full = (await applyFills(pool, { symbol: S, ...BTC, fills })).position;
  await pool.query('DELETE FROM fills WHERE symbol = $1 AND trade_id = 2', [S]);
  // Without rebuild the fill would be applied on top of a position that already holds it.
  const r = await applyFills(pool, { symbol: S, ...BTC, fills: [fills[1]!], rebuild: true });
  expect(r.applied.map((a) => a.trade_id)).toEqual(['2']);
  expect(r.rebuilt).toBe(true);
  const after = await getPosition(pool, S);
  for (const k of ['quantity', 'cost_basis', 'realized_pnl', 'fees_quote', 'volume_quote', 'trades', 'fill_count', 'last_trade_id'] as const) {
    expect(after?.[k]).toEqual(full[k]);
  }
  expect(after?.quantity).toBe('1.5');
});
