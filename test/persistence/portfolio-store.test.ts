/**
 * The store against a real Postgres: idempotent writes, exactly-once fills under retries and
 * concurrency, and all-or-nothing transactions (including a connection killed mid-way).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { Client, type Pool } from 'pg';
import { createPool, withTransaction } from '../../src/persistence/db';
import { migrate } from '../../src/persistence/migrate';
import { listBalances, saveBalances } from '../../src/persistence/stores/balances';
import { getDecision, recordDecision, updateDecisionStatus } from '../../src/persistence/stores/decisions';
import { getExecutionReport, insertExecutionReport, listUnpublishedReports, markReportPublished } from '../../src/persistence/stores/execution-reports';
import { applyFills, applyFillsInTransaction, listFills, listFillsForSymbol } from '../../src/persistence/stores/ledger';
import { getOrder, listOrderEvents, recordOrderTransition, upsertOrder } from '../../src/persistence/stores/orders';
import { fromRow, getPosition, listPositions } from '../../src/persistence/stores/positions';
import { listReconciliationRuns, recordReconciliationRun } from '../../src/persistence/stores/reconciliation-runs';
import { StoreConflictError } from '../../src/persistence/stores/store-conflict-error';
import { type FillInput, ORDER_STATUSES, nextOrderStatus } from '../../src/persistence/schemas';
import { type PositionFill, PositionError, replayFills } from '../../src/portfolio/position';
import { loadPortfolioReport } from '../../src/portfolio/report';
import { fill } from './fills';
import { createScratchDatabase, type ScratchDatabase } from './scratch-db';

let db: ScratchDatabase;
let pool: Pool;
let poolB: Pool; // a second, independent set of connections ("another worker")

beforeAll(async () => {
  db = await createScratchDatabase('store');
  pool = createPool(db.url, { max: 6, applicationName: 'store-test-a' });
  poolB = createPool(db.url, { max: 6, applicationName: 'store-test-b' });
  await migrate(pool);
});

afterAll(async () => {
  await pool?.end();
  await poolB?.end();
  await db?.drop();
});

const BTC = { baseAsset: 'BTC', quoteAsset: 'USDT' };

async function count(sql: string, params: unknown[]): Promise<number> {
  const r = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, params);
  return r.rows[0]!.n;
}

describe('applyFills', () => {
  test('applies fills to a new position and returns what it applied', async () => {
    const S = 'AP1USDT';
    // Buy 1 @ 100 (fee 0.1 USDT), buy 1 @ 200 → 2 @ 150; sell 1 @ 180 (fee 0.18) → +30 - 0.18.
    const r = await applyFills(pool, {
      symbol: S,
      ...BTC,
      fills: [
        fill(S, 3, 'SELL', '1', '180', { commission: '0.18' }),
        fill(S, 1, 'BUY', '1', '100', { commission: '0.1' }),
        fill(S, 2, 'BUY', '1', '200'),
      ],
    });
    // Applied in trade-id order whatever order they were passed in.
    expect(r.applied.map((a) => [a.trade_id, a.realized_pnl, a.fee_quote])).toEqual([
      ['1', '-0.1', '0.1'],
      ['2', '0', '0'],
      ['3', '29.82', '0.18'],
    ]);
    expect(r.duplicates).toEqual([]);
    expect(r.rebuilt).toBe(false);
    expect(r.position).toMatchObject({
      symbol: S,
      quantity: '1',
      avg_entry_price: '150',
      cost_basis: '150',
      realized_pnl: '29.72',
      fees_quote: '0.28',
      volume_quote: '480',
      trades: 1,
      wins: 1,
      fill_count: 3,
      last_trade_id: '3',
    });
    expect(await getPosition(pool, S)).toEqual(r.position);
  });

  test('the same fill applied twice makes one row and leaves the position unchanged', async () => {
    const S = 'DUP1USDT';
    const f = fill(S, 7, 'BUY', '0.5', '40000', { commission: '0.0005', commission_asset: 'BTC' });
    const first = await applyFills(pool, { symbol: S, ...BTC, fills: [f] });
    expect(first.applied).toHaveLength(1);
    const before = await getPosition(pool, S);

    const again = await applyFills(pool, { symbol: S, ...BTC, fills: [f] });
    expect(again.applied).toEqual([]);
    expect(again.duplicates).toEqual(['7']);
    // Also twice within one call.
    const twiceInOne = await applyFills(poolB, { symbol: S, ...BTC, fills: [f, f] });
    expect(twiceInOne.applied).toEqual([]);

    expect(await count('fills WHERE symbol = $1', [S])).toBe(1);
    const after = await getPosition(pool, S);
    expect(after).toEqual(before); // updated_at included: not even touched
    expect(after).toMatchObject({ quantity: '0.4995', fill_count: 1, fees_quote: '20' });
  });

  test('a "duplicate" trade id with different content is refused and changes nothing', async () => {
    const S = 'DUP2USDT';
    await applyFills(pool, { symbol: S, ...BTC, fills: [fill(S, 1, 'BUY', '1', '100')] });
    const before = await getPosition(pool, S);
    await expect(
      applyFills(pool, { symbol: S, ...BTC, fills: [fill(S, 2, 'BUY', '1', '100'), fill(S, 1, 'BUY', '2', '100')] }),
    ).rejects.toThrow(StoreConflictError);
    // Fill 2 was inserted before the conflict was found; the rollback removed it too.
    expect(await count('fills WHERE symbol = $1', [S])).toBe(1);
    expect(await getPosition(pool, S)).toEqual(before);
  });

  test('a later caller fills in the client order id a first (myTrades) caller did not know', async () => {
    const S = 'COID1USDT';
    await applyFills(pool, { symbol: S, ...BTC, fills: [fill(S, 1, 'BUY', '1', '100', { client_order_id: null })] });
    expect(await listFills(pool, `coid-${S}-1`)).toEqual([]);
    await applyFills(pool, { symbol: S, ...BTC, fills: [fill(S, 1, 'BUY', '1', '100')] });
    expect((await listFills(pool, `coid-${S}-1`)).map((f) => f.trade_id)).toEqual(['1']);
  });

  test('concurrent calls with overlapping fills from two pools count every fill exactly once', async () => {
    const S = 'CONCUSDT';
    // Buys and sells (margin semantics, so any subset order is valid), some with BNB
    // commission. Each round brings 8 new trade ids; 4 callers, alternating between the two
    // pools, each get a pseudo-random subset (overlapping or disjoint), then one caller
    // gets all 8 so the round ends complete. After every round the stored position must be
    // exactly the in-order replay of every fill so far: a lost update (two callers applying
    // to the same stale position) or a double count shows up in the round it happens.
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const makeFill = (id: number): FillInput => {
      const side = rand() < 0.55 ? 'BUY' : 'SELL';
      const qty = (1 + Math.floor(rand() * 300)) / 1000; // test data only; sent as text
      const price = 100 + Math.floor(rand() * 2000) / 100;
      const bnb = id % 5 === 0;
      return fill(S, id, side, qty.toFixed(3), price.toFixed(2), {
        commission: bnb ? '0.0001' : (qty * price * 0.001).toFixed(8),
        commission_asset: bnb ? 'BNB' : 'USDT',
      });
    };
    const args = { symbol: S, ...BTC, commissionAssetPrices: { BNB: '300' }, allowShort: true };
    const toPositionFill = (f: FillInput): PositionFill => ({
      side: f.side,
      price: f.price,
      qty: f.qty,
      commission: f.commission,
      commissionAsset: f.commission_asset,
    });
    const all: FillInput[] = [];
    let appliedTotal = 0;
    for (let round = 0; round < 12; round++) {
      const batch = Array.from({ length: 8 }, (_, i) => makeFill(round * 8 + i + 1));
      all.push(...batch);
      const subsets = Array.from({ length: 4 }, () => batch.filter(() => rand() < 0.5));
      const results = await Promise.all(subsets.map((fills, k) => applyFills(k % 2 === 0 ? pool : poolB, { ...args, fills })));
      results.push(await applyFills(poolB, { ...args, fills: batch }));
      appliedTotal += results.reduce((n, r) => n + r.applied.length, 0);

      expect(appliedTotal).toBe(all.length); // every fill applied by exactly one call
      const stored = await getPosition(pool, S);
      expect(fromRow(stored!)).toEqual(replayFills(all.map(toPositionFill), args).position);
    }
    expect(await count('fills WHERE symbol = $1', [S])).toBe(96);
    expect((await getPosition(pool, S))!.fill_count).toBe(96);
  });

  test('fills arriving out of trade-id order give the same position as in order', async () => {
    const A = 'OOO1USDT';
    const B = 'OOO2USDT';
    const fills = (S: string) => [
      fill(S, 1, 'BUY', '1', '100'),
      fill(S, 2, 'BUY', '1', '300'),
      fill(S, 3, 'SELL', '1', '250'),
      fill(S, 4, 'BUY', '2', '150'),
    ];
    await applyFills(pool, { symbol: A, ...BTC, fills: fills(A) });
    // Fills 3, 4 and 1 arrive first (applied as 1, 3, 4: buy 1 @ 100, sell it @ 250, buy 2 @ 150);
    // fill 2 arrives late, below the last applied trade id, so the position is rebuilt.
    const early = await applyFills(pool, { symbol: B, ...BTC, fills: fills(B).slice(2).concat(fills(B).slice(0, 1)) });
    expect(early.rebuilt).toBe(false);
    expect(early.position).toMatchObject({ quantity: '2', realized_pnl: '150' });
    const r = await applyFills(pool, { symbol: B, ...BTC, fills: [fill(B, 2, 'BUY', '1', '300')] });
    expect(r.rebuilt).toBe(true);
    expect(r.applied.map((a) => a.trade_id)).toEqual(['2']);
    const a = await getPosition(pool, A);
    const b = await getPosition(pool, B);
    // In order: 1@100 + 1@300 = 2@200; sell 1@250 → +50; 1@200 + 2@150 = 3 @ 166.67 (cost 500).
    expect(fromRow(b!)).toEqual(fromRow(a!));
    expect(b).toMatchObject({ quantity: '3', cost_basis: '500', realized_pnl: '50', last_trade_id: '4' });
  });

  test('an oversell on spot aborts the whole call: no fill, no position row', async () => {
    const S = 'ABRT1USDT';
    await expect(
      applyFills(pool, { symbol: S, ...BTC, fills: [fill(S, 1, 'BUY', '1', '100'), fill(S, 2, 'SELL', '5', '100')] }),
    ).rejects.toThrow(PositionError);
    expect(await count('fills WHERE symbol = $1', [S])).toBe(0);
    expect(await getPosition(pool, S)).toBeNull();
  });

  test('an error thrown after applyFills inside the same transaction rolls the fills back', async () => {
    const S = 'ABRT2USDT';
    await expect(
      withTransaction(pool, async (client) => {
        const r = await applyFillsInTransaction(client, { symbol: S, ...BTC, fills: [fill(S, 1, 'BUY', '1', '100')] });
        expect(r.applied).toHaveLength(1);
        throw new Error('crash after applying');
      }),
    ).rejects.toThrow('crash after applying');
    expect(await count('fills WHERE symbol = $1', [S])).toBe(0);
    expect(await getPosition(pool, S)).toBeNull();
  });

  test('a connection killed between statements leaves nothing half-applied', async () => {
    const S = 'KILLUSDT';
    const victim = createPool(db.url, { max: 1, applicationName: 'store-test-victim' });
    const blocker = new Client({ connectionString: db.url });
    await blocker.connect();
    try {
      // Another transaction holds trade 2's key uncommitted, so applyFills inserts the position
      // row and fill 1, then waits on fill 2's insert — exactly "between statements".
      await blocker.query('BEGIN');
      await blocker.query(
        `INSERT INTO fills (symbol, trade_id, exchange_order_id, side, price, qty, quote_qty, commission, commission_asset,
                            is_maker, trade_time)
         VALUES ($1, 2, 1002, 'BUY', 100, 1, 100, 0, 'USDT', false, now())`,
        [S],
      );
      const fills = [fill(S, 1, 'BUY', '1', '100'), fill(S, 2, 'BUY', '1', '100')];
      const pending = applyFills(victim, { symbol: S, ...BTC, fills });
      pending.catch(() => undefined); // awaited below

      let pid: number | undefined;
      for (let i = 0; i < 200 && pid === undefined; i++) {
        const r = await pool.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity
            WHERE application_name = 'store-test-victim' AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO fills%'`,
        );
        pid = r.rows[0]?.pid;
        if (pid === undefined) await delay(50);
      }
      expect(pid).toBeDefined();
      // Fill 1 is in the victim's open transaction (not visible outside it), then the crash.
      await pool.query('SELECT pg_terminate_backend($1)', [pid]);
      await expect(pending).rejects.toThrow();
      await blocker.query('ROLLBACK');

      expect(await count('fills WHERE symbol = $1', [S])).toBe(0);
      expect(await getPosition(pool, S)).toBeNull();

      // The retry (what Temporal would do) then applies both, once.
      const retry = await applyFills(pool, { symbol: S, ...BTC, fills });
      expect(retry.applied.map((a) => a.trade_id)).toEqual(['1', '2']);
      expect(await getPosition(pool, S)).toMatchObject({ quantity: '2', fill_count: 2 });
    } finally {
      await blocker.end();
      await victim.end();
    }
  });

  test('BNB commission: refused without a price by default; excluded and counted when asked', async () => {
    const S = 'BNB1USDT';
    const f = fill(S, 1, 'BUY', '1', '100', { commission: '0.001', commission_asset: 'BNB' });
    await expect(applyFills(pool, { symbol: S, ...BTC, fills: [f] })).rejects.toThrow(/no BNB price/);
    expect(await count('fills WHERE symbol = $1', [S])).toBe(0);

    const excluded = await applyFills(pool, { symbol: S, ...BTC, fills: [f], unpricedCommission: 'exclude' });
    expect(excluded.applied[0]).toMatchObject({ fee_valued: false, fee_quote: '0' });
    expect(excluded.position).toMatchObject({ fees_quote: '0', unvalued_fee_fills: 1, quantity: '1' });
    expect((await listFillsForSymbol(pool, S))[0]?.commission_quote_value).toBeNull();
    // A repeat is a duplicate and needs no price even in the default mode.
    expect((await applyFills(pool, { symbol: S, ...BTC, fills: [f] })).duplicates).toEqual(['1']);

    // With a price: 0.001 BNB × 300 = 0.3 USDT, stored with the fill for later rebuilds.
    const S2 = 'BNB2USDT';
    const priced = await applyFills(pool, {
      symbol: S2,
      ...BTC,
      fills: [fill(S2, 1, 'BUY', '1', '100', { commission: '0.001', commission_asset: 'BNB' })],
      commissionAssetPrices: { BNB: '300' },
    });
    expect(priced.position).toMatchObject({ fees_quote: '0.3', realized_pnl: '-0.3' });
    expect((await listFillsForSymbol(pool, S2))[0]?.commission_quote_value).toBe('0.3');
  });

  test('refuses a position whose assets differ from the stored ones', async () => {
    const S = 'ASSETUSDT';
    await applyFills(pool, { symbol: S, ...BTC, fills: [fill(S, 1, 'BUY', '1', '1')] });
    await expect(
      applyFills(pool, { symbol: S, baseAsset: 'ETH', quoteAsset: 'USDT', fills: [fill(S, 2, 'BUY', '1', '1')] }),
    ).rejects.toThrow(/position ASSETUSDT is BTC\/USDT, not ETH\/USDT/);
    await expect(
      applyFills(pool, { symbol: S, ...BTC, fills: [fill('OTHERUSDT', 3, 'BUY', '1', '1')] }),
    ).rejects.toThrow(/is for OTHERUSDT, not ASSETUSDT/);
  });

  test('decimals and ids round-trip exactly (no float, no 2^53 limit)', async () => {
    const S = 'EXACTUSDT';
    const r = await applyFills(pool, {
      symbol: S,
      ...BTC,
      fills: [
        fill(S, 0, 'BUY', '0.1', '0.3', { trade_id: '9007199254740993', exchange_order_id: '9223372036854775807' }),
        fill(S, 0, 'BUY', '0.2', '0.3', { trade_id: '9007199254740994' }),
      ],
    });
    expect(r.position).toMatchObject({ quantity: '0.3', cost_basis: '0.09', last_trade_id: '9007199254740994' });
    const rows = await listFillsForSymbol(pool, S);
    expect(rows.map((f) => [f.trade_id, f.exchange_order_id])).toEqual([
      ['9007199254740993', '9223372036854775807'],
      ['9007199254740994', '1000'],
    ]);
    // A JS number above 2^53 would already be wrong: refused.
    await expect(
      applyFills(pool, { symbol: S, ...BTC, fills: [fill(S, 2 ** 53 + 2, 'BUY', '1', '1')] }),
    ).rejects.toThrow(/safe integer/);
  });
});

describe('decisions', () => {
  const base = {
    decision_id: 'dec-1',
    workflow_id: 'trade-dec-1',
    symbol: 'BTCUSDT',
    decision: 'approve' as const,
    side: 'BUY' as const,
    approved_size: '0.01',
    order_type: 'MARKET',
    reasons: ['ok'],
    payload: { decision_id: 'dec-1', approved_size: '0.01' },
  };

  test('first insert wins for the payload; status only moves forward', async () => {
    expect(await recordDecision(pool, { ...base, status: 'received' })).toEqual({ inserted: true, changed: true, status: 'received' });
    // Redelivered with a different payload: kept as first received.
    expect(await recordDecision(pool, { ...base, status: 'received', payload: { other: true } })).toEqual({
      inserted: false,
      changed: false,
      status: 'received',
    });
    expect(await recordDecision(pool, { ...base, status: 'started' })).toMatchObject({ changed: true, status: 'started' });
    // A stale 'received' after 'started' is a no-op and reports the stored status.
    expect(await recordDecision(pool, { ...base, status: 'received' })).toMatchObject({ changed: false, status: 'started' });
    expect(await updateDecisionStatus(pool, 'dec-1', 'failed', { error: 'exchange down' })).toMatchObject({ changed: true });
    // One terminal outcome only.
    expect(await updateDecisionStatus(pool, 'dec-1', 'completed')).toEqual({ found: true, changed: false, status: 'failed' });
    const row = await getDecision(pool, 'dec-1');
    expect(row).toMatchObject({ status: 'failed', error: 'exchange down', payload: base.payload, approved_size: '0.01' });
    expect(await updateDecisionStatus(pool, 'no-such', 'completed')).toMatchObject({ found: false });
  });

  test("'invalid' is insert-only: a malformed message reusing an id cannot mark a live decision invalid", async () => {
    await recordDecision(pool, { ...base, decision_id: 'dec-live', status: 'started' });
    expect(await recordDecision(pool, { decision_id: 'dec-live', status: 'invalid', payload: 'junk' })).toEqual({
      inserted: false,
      changed: false,
      status: 'started',
    });
    expect(await updateDecisionStatus(pool, 'dec-live', 'invalid')).toMatchObject({ changed: false, status: 'started' });
    expect(await getDecision(pool, 'dec-live')).toMatchObject({ status: 'started', payload: base.payload });
  });

  test('a valid decision takes its id back from a malformed message that got there first; both rows are kept', async () => {
    await recordDecision(pool, { decision_id: 'dec-late', status: 'invalid', reasons: ['approved_size: must be > 0'], payload: { decision_id: 'dec-late' }, stream_entry_id: '5-0' }, { insertOnly: true });
    expect(await recordDecision(pool, { ...base, decision_id: 'dec-late', status: 'received', stream_entry_id: '6-0' })).toMatchObject({ inserted: true, status: 'received' });
    expect(await getDecision(pool, 'dec-late')).toMatchObject({ status: 'received', payload: base.payload, stream_entry_id: '6-0' });
    expect(await getDecision(pool, 'entry:5-0')).toMatchObject({ status: 'invalid', reasons: ['approved_size: must be > 0'], stream_entry_id: '5-0' });
    expect(await updateDecisionStatus(pool, 'dec-late', 'started', { workflowId: 'trade-dec-late' })).toMatchObject({ changed: true, status: 'started' });
  });

  test('an invalid decision may lack fields; a valid one may not', async () => {
    await recordDecision(pool, { decision_id: 'not a valid id!', status: 'invalid', reasons: ['bad json'], payload: 'raw{' });
    expect(await getDecision(pool, 'not a valid id!')).toMatchObject({ status: 'invalid', symbol: null, payload: 'raw{' });
    await expect(recordDecision(pool, { decision_id: 'dec-2', status: 'received', payload: {} })).rejects.toThrow(
      /is required unless status is 'invalid'/,
    );
    // The CHECK constraint backs this up for writers that bypass the TypeScript layer.
    await expect(
      pool.query(`INSERT INTO decisions (decision_id, status, payload) VALUES ('raw', 'received', '{}')`),
    ).rejects.toThrow(/decisions_valid_fields/);
  });
});

describe('orders and transitions', () => {
  const order = {
    client_order_id: 'x-ord-1',
    decision_id: 'dec-o1',
    workflow_id: 'trade-dec-o1',
    symbol: 'BTCUSDT',
    side: 'BUY' as const,
    type: 'LIMIT',
    time_in_force: 'GTC',
    purpose: 'entry',
    price: '50000.00',
    orig_qty: '0.01000000',
    status: 'PENDING_SUBMIT' as const,
  };

  test('updates only move forward', async () => {
    expect((await upsertOrder(pool, order)).inserted).toBe(true);
    const acked = await upsertOrder(pool, { ...order, status: 'NEW', exchange_order_id: 4242, order_list_id: -1 });
    expect(acked.order).toMatchObject({ status: 'NEW', exchange_order_id: '4242', order_list_id: null, price: '50000', orig_qty: '0.01' });
    await upsertOrder(pool, { ...order, status: 'PARTIALLY_FILLED', executed_qty: '0.004', cummulative_quote_qty: '200' });
    // A stale NEW (slow REST response) does not roll status or quantities back.
    const stale = await upsertOrder(pool, { ...order, status: 'NEW', executed_qty: '0' });
    expect(stale.order).toMatchObject({ status: 'PARTIALLY_FILLED', executed_qty: '0.004', exchange_order_id: '4242' });
    await upsertOrder(pool, { ...order, status: 'FILLED', executed_qty: '0.01', cummulative_quote_qty: '500' });
    // Terminal is final.
    const late = await upsertOrder(pool, { ...order, status: 'CANCELED', executed_qty: '0.01' });
    expect(late.order).toMatchObject({ status: 'FILLED', executed_qty: '0.01', cummulative_quote_qty: '500' });
    expect((await getOrder(pool, 'x-ord-1'))?.status).toBe('FILLED');
  });

  test('an order settled as NOT_PLACED that turns up later takes the exchange status (a late order)', async () => {
    const id = 'x-ord-late';
    await upsertOrder(pool, { ...order, client_order_id: id });
    // Reconciliation: the exchange does not know it, long after any recvWindow.
    expect((await upsertOrder(pool, { ...order, client_order_id: id, status: 'NOT_PLACED' })).order.status).toBe('NOT_PLACED');
    // The workflow (or a reset that reused the client order id) then records the venue's view.
    const late = await upsertOrder(pool, {
      ...order,
      client_order_id: id,
      status: 'FILLED',
      exchange_order_id: 777,
      executed_qty: '0.01',
      cummulative_quote_qty: '500',
    });
    expect(late.order).toMatchObject({ status: 'FILLED', executed_qty: '0.01', exchange_order_id: '777' });
    // A resting one turns up as NEW, and then fills as usual.
    const id2 = 'x-ord-late-2';
    await upsertOrder(pool, { ...order, client_order_id: id2, status: 'NOT_PLACED' });
    expect((await upsertOrder(pool, { ...order, client_order_id: id2, status: 'NEW', exchange_order_id: 778 })).order.status).toBe('NEW');
    expect((await upsertOrder(pool, { ...order, client_order_id: id2, status: 'PARTIALLY_FILLED', executed_qty: '0.004' })).order.status).toBe(
      'PARTIALLY_FILLED',
    );
    // A re-recorded intent (PENDING_SUBMIT) says nothing new about an order that moved on.
    const again = await upsertOrder(pool, { ...order, client_order_id: id2 });
    expect(again.order.status).toBe('PARTIALLY_FILLED');
    expect(again.refused).toBeNull();
  });

  test('a move the state machine refuses is returned and logged, and changes no status', async () => {
    const warnings: Array<{ fields: unknown; message: string }> = [];
    const logger = { warn: (fields: unknown, message: string) => void warnings.push({ fields, message }) };
    const id = 'x-ord-refused';
    await upsertOrder(pool, { ...order, client_order_id: id, status: 'FILLED', executed_qty: '0.01' });
    const r = await upsertOrder(pool, { ...order, client_order_id: id, status: 'CANCELED', executed_qty: '0.01' }, { logger });
    expect(r.order.status).toBe('FILLED');
    expect(r.refused).toEqual({
      client_order_id: id,
      stored: 'FILLED',
      incoming: 'CANCELED',
      state: 'filled',
      event: 'cancelled',
      reason: expect.stringMatching(/^filled \+ cancelled: .*final/),
    });
    expect(warnings).toEqual([{ fields: expect.objectContaining({ clientOrderId: id, stored: 'FILLED', incoming: 'CANCELED' }), message: expect.stringMatching(/refused/) }]);
    // A repeat is not a refusal.
    const same = await upsertOrder(pool, { ...order, client_order_id: id, status: 'FILLED', executed_qty: '0.01' }, { logger });
    expect(same.refused).toBeNull();
    expect(warnings).toHaveLength(1);
  });

  test('the status column moves exactly as the state machine says, for every (stored, incoming) pair', async () => {
    const silent = { warn: () => undefined };
    const pairs = ORDER_STATUSES.flatMap((stored) => ORDER_STATUSES.map((incoming) => [stored, incoming] as const));
    const got = await Promise.all(
      pairs.map(async ([stored, incoming], i) => {
        const id = `x-ord-sm-${i}`;
        await upsertOrder(pool, { ...order, client_order_id: id, status: stored });
        const r = await upsertOrder(pool, { ...order, client_order_id: id, status: incoming }, { logger: silent });
        return [stored, incoming, r.order.status, r.refused === null] as const;
      }),
    );
    const expected = pairs.map(([stored, incoming]) => {
      const m = nextOrderStatus(stored, incoming);
      return [stored, incoming, m.status, m.verdict.ok] as const;
    });
    expect(got).toEqual(expected);
    // Spot checks of what that means.
    const at = (stored: string, incoming: string) => got.find(([s, i]) => s === stored && i === incoming)!;
    expect(at('NOT_PLACED', 'FILLED')).toEqual(['NOT_PLACED', 'FILLED', 'FILLED', true]);
    expect(at('PENDING_NEW', 'NEW')).toEqual(['PENDING_NEW', 'NEW', 'NEW', true]);
    expect(at('NEW', 'PENDING_SUBMIT')).toEqual(['NEW', 'PENDING_SUBMIT', 'NEW', true]);
    expect(at('FILLED', 'NEW')).toEqual(['FILLED', 'NEW', 'FILLED', false]);
    expect(at('CANCELED', 'FILLED')).toEqual(['CANCELED', 'FILLED', 'FILLED', true]);
    expect(at('NEW', 'NOT_PLACED')).toEqual(['NEW', 'NOT_PLACED', 'NEW', false]);
  });

  test('concurrent status writes from two pools: the row is locked, each verdict is about the status it replaced', async () => {
    const silent = { warn: () => undefined };
    const id = 'x-ord-race';
    await upsertOrder(pool, { ...order, client_order_id: id });
    const writes = Array.from({ length: 30 }, (_, i) => (['NEW', 'PARTIALLY_FILLED', 'FILLED'] as const)[i % 3]!);
    const results = await Promise.all(
      writes.map((status, i) =>
        upsertOrder(i % 2 === 0 ? pool : poolB, { ...order, client_order_id: id, status, executed_qty: status === 'FILLED' ? '0.01' : '0' }, { logger: silent }),
      ),
    );
    expect((await getOrder(pool, id))?.status).toBe('FILLED');
    // Every refusal names a status the row really held and is the machine's verdict on it (a
    // NEW after PARTIALLY_FILLED or FILLED, a PARTIALLY_FILLED after FILLED); every write that
    // was not refused left the row where the machine says.
    for (const [i, r] of results.entries()) {
      if (r.refused) {
        expect(r.refused.incoming).toBe(writes[i]);
        expect(nextOrderStatus(r.refused.stored, r.refused.incoming).verdict.ok).toBe(false);
        expect(r.order.status).toBe(r.refused.stored);
      } else {
        expect(r.order.status).toBe(writes[i]);
      }
    }
  });

  test('one client order id for two different orders is refused', async () => {
    await upsertOrder(pool, { ...order, client_order_id: 'x-ord-2', exchange_order_id: 1 });
    await expect(upsertOrder(pool, { ...order, client_order_id: 'x-ord-2', side: 'SELL' })).rejects.toThrow(
      /already exists with different side BUY vs SELL/,
    );
    await expect(upsertOrder(pool, { ...order, client_order_id: 'x-ord-2', exchange_order_id: 2 })).rejects.toThrow(
      StoreConflictError,
    );
  });

  test('transitions are idempotent on (client_order_id, seq) and conflicts are refused', async () => {
    const t0 = { client_order_id: 'x-ord-3', seq: 0, from: null, to: 'new', reason: 'created' };
    const t1 = { client_order_id: 'x-ord-3', seq: 1, from: 'new', to: 'submitted', reason: 'acked', at: 1_700_000_000_000 };
    expect(await recordOrderTransition(pool, t0)).toEqual({ inserted: true });
    expect(await recordOrderTransition(pool, t1)).toEqual({ inserted: true });
    expect(await recordOrderTransition(pool, t1)).toEqual({ inserted: false });
    await expect(recordOrderTransition(pool, { ...t1, to: 'rejected' })).rejects.toThrow(
      /transition #1 is already recorded as new → submitted, not new → rejected/,
    );
    const events = await listOrderEvents(pool, 'x-ord-3');
    expect(events.map((e) => [e.seq, e.from_state, e.to_state])).toEqual([
      [0, null, 'new'],
      [1, 'new', 'submitted'],
    ]);
    expect(events[1]?.at.getTime()).toBe(1_700_000_000_000);
  });
});

describe('execution reports (outbox)', () => {
  test('insert once, publish once, first stream id wins', async () => {
    const report = { report_id: 'rep-1', decision_id: 'dec-r', workflow_id: 'trade-dec-r', status: 'FILLED', payload: { a: 1 } };
    expect((await insertExecutionReport(pool, report)).inserted).toBe(true);
    const again = await insertExecutionReport(pool, { ...report, payload: { a: 2 } });
    expect(again).toMatchObject({ inserted: false, report: { payload: { a: 1 }, stream_id: null } });
    expect((await listUnpublishedReports(pool)).map((r) => r.report_id)).toContain('rep-1');

    expect(await markReportPublished(pool, 'rep-1', '1700000000000-0')).toEqual({ updated: true, stream_id: '1700000000000-0' });
    expect(await markReportPublished(pool, 'rep-1', '1700000000001-0')).toEqual({ updated: false, stream_id: '1700000000000-0' });
    expect((await getExecutionReport(pool, 'rep-1'))?.published_at).toBeInstanceOf(Date);
    expect((await listUnpublishedReports(pool)).map((r) => r.report_id)).not.toContain('rep-1');

    await expect(markReportPublished(pool, 'rep-missing', '1-0')).rejects.toThrow(/does not exist/);
    await expect(markReportPublished(pool, 'rep-1', 'nonsense')).rejects.toThrow(/not a Redis stream entry id/);
    await expect(insertExecutionReport(pool, { ...report, decision_id: 'other' })).rejects.toThrow(StoreConflictError);
  });
});

describe('balances', () => {
  test('current balances plus snapshots; an older observation never overwrites a newer one', async () => {
    const t1 = new Date('2026-01-01T00:00:00Z');
    const t0 = new Date('2025-12-31T23:59:00Z');
    const t2 = new Date('2026-01-01T00:01:00Z');
    await saveBalances(pool, [
      { asset: 'BTC', free: '0.5', locked: '0.1' },
      { asset: 'USDT', free: '1000.00', locked: '0' },
    ], { takenAt: t1 });
    // Stale (t0): snapshot kept as history, current row untouched.
    expect(await saveBalances(pool, [{ asset: 'BTC', free: '9', locked: '0' }], { takenAt: t0 })).toEqual({ updated: 0, zeroed: 0 });
    expect((await listBalances(pool)).map((b) => [b.asset, b.free, b.locked])).toEqual([
      ['BTC', '0.5', '0.1'],
      ['USDT', '1000', '0'],
    ]);
    // A complete snapshot at t2 without USDT zeroes it.
    expect(await saveBalances(pool, [{ asset: 'BTC', free: '0.6', locked: '0' }], { takenAt: t2, complete: true })).toEqual({
      updated: 1,
      zeroed: 1,
    });
    expect((await listBalances(pool)).map((b) => [b.asset, b.free])).toEqual([
      ['BTC', '0.6'],
      ['USDT', '0'],
    ]);
    const snaps = await pool.query<{ asset: string; free: string }>(
      'SELECT asset, free FROM balance_snapshots ORDER BY taken_at, asset',
    );
    expect(snaps.rows.map((s) => [s.asset, s.free])).toEqual([
      ['BTC', '9'],
      ['BTC', '0.5'],
      ['USDT', '1000'],
      ['BTC', '0.6'],
      ['USDT', '0'],
    ]);
    await expect(saveBalances(pool, [{ asset: 'BTC', free: '-1', locked: '0' }])).rejects.toThrow(/must be >= 0/);
  });
});

describe('reconciliation runs and the report', () => {
  test('records drift findings', async () => {
    await recordReconciliationRun(pool, { kind: 'balance_drift', detail: { asset: 'BTC', ours: '1', exchange: '0.9' } });
    await recordReconciliationRun(pool, { kind: 'open_orders', repaired: true });
    const runs = await listReconciliationRuns(pool, { kind: 'balance_drift' });
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ kind: 'balance_drift', repaired: false, detail: { asset: 'BTC' } });
  });

  test('the portfolio report reads positions and balances from the store', async () => {
    const S = 'RPTUSDT';
    await applyFills(pool, { symbol: S, ...BTC, fills: [fill(S, 1, 'BUY', '2', '10'), fill(S, 2, 'SELL', '1', '12')] });
    const report = await loadPortfolioReport(pool, { markPrices: { [S]: '11' } });
    const line = report.positions.find((p) => p.symbol === S);
    // Long 1 @ 10, mark 11 → unrealized 1; realized (12 - 10) × 1 = 2; exposure 11.
    expect(line).toMatchObject({ quantity: '1', unrealized_pnl: '1', realized_pnl: '2', exposure_quote: '11' });
    expect(report.positions.map((p) => p.symbol)).toEqual((await listPositions(pool)).map((p) => p.symbol));
  });
});
