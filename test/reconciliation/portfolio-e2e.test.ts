/**
 * The portfolio end to end on the real things (Temporal dev server, Postgres, Redis, the paper
 * exchange over HTTP), driven through the service as users run it: decisions in on
 * `risk_decisions`, the real TradeExecution workflow, the Reconciliation workflow started by its
 * Temporal Schedule and directly.
 *
 *  1. start-up: the scheduled reconciliation seeds the account's BTC and ETH as external inventory;
 *  2. a sequence of trades, one of them a SELL of BNB the service never bought (spot cannot
 *     short: the excess is booked as external inventory instead of failing the settlement);
 *  3. reconciliation confirms the BNB surplus over two runs and books it; afterwards Postgres
 *     balances equal the exchange's account and positions equal each base asset's holding, to
 *     the last unit, and the quote asset is explained by the fills to the last unit;
 *  4. a fill deleted from Postgres is found, re-applied and alerted on;
 *  5. a tiny request budget defers work instead of spending it;
 *  6. the metrics endpoint shows the trades, exchange calls and exposure.
 */
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { Client as PgClient } from 'pg';
import { readAlerts } from '../../src/alerts/alerts';
import { createLogger } from '../../src/logging';
import { startService, type RunningService } from '../../src/operations/service';
import { PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET, startPaperExchange, type PaperExchange } from '../../src/paper-exchange';
import { portfolioReport } from '../../src/portfolio/live';
import type { ReconciliationInput, ReconciliationSummary } from '../../src/reconciliation/types';
import { dec, sum } from '../../src/shared/decimal';
import { bundleWorkflows } from '../../src/worker/worker';
import { freshDatabase, type FreshDatabase } from '../support/fresh-database';
import { testServices } from '../support/services';
import { pushDecision, until, waitForReport } from '../support/streams';

const run = randomBytes(3).toString('hex');
const taskQueue = `portfolio-${run}`;
const scheduleId = `reconciliation-${taskQueue}`;
// settleGraceMs 0: the test deletes a fill seconds after its trade (the default waits a minute,
// leaving a trade that young to its own workflow).
const INPUT: ReconciliationInput = { symbols: ['BTCUSDT', 'ETHUSDT'], outboxAgeMs: 60_000, settleGraceMs: 0 };

let paper: PaperExchange;
let db: FreshDatabase;
let svc: RunningService;
let redis: Redis;
let pg: PgClient;

beforeAll(async () => {
  const env = testServices();
  redis = new Redis(env.redisUrl);
  await redis.flushdb();
  db = await freshDatabase(env.databaseUrl, 'portfolio');
  paper = await startPaperExchange({ port: 0, seed: 11 });
  svc = await startService({
    temporalAddress: env.temporalAddress,
    namespace: env.namespace,
    taskQueue,
    databaseUrl: db.url,
    redisUrl: env.redisUrl,
    exchange: { baseUrl: paper.url, apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET, recvWindowMs: 5000 },
    defaultOrderTimeoutMs: 20_000,
    bridge: { consumer: `portfolio-${run}`, claimIdleMs: 5_000 },
    workflowBundle: await bundleWorkflows(),
    logger: createLogger('portfolio-e2e', 'warn'),
    metrics: { port: 0, host: '127.0.0.1' },
    // Hourly, plus one run right away: the start-up seeding.
    reconciliation: { everyMs: 3600_000, triggerNow: true, input: INPUT },
  });
  pg = new PgClient({ connectionString: db.url });
  await pg.connect();
}, 180_000);

afterAll(async () => {
  await svc?.temporal.schedule
    .getHandle(scheduleId)
    .delete()
    .catch(() => undefined);
  await svc?.stop();
  await pg?.end();
  await paper?.close();
  await db?.drop();
  redis?.disconnect();
});

let reconN = 0;
async function reconcile(input: ReconciliationInput = INPUT): Promise<ReconciliationSummary> {
  reconN++;
  return svc.temporal.workflow.execute('Reconciliation', {
    taskQueue,
    workflowId: `recon-${run}-${reconN}`,
    args: [input],
  }) as Promise<ReconciliationSummary>;
}

async function trade(name: string, symbol: string, signal: 0 | 2, size: string) {
  const decisionId = `pf-${run}-${name}`;
  await pushDecision(redis, {
    decision_id: decisionId,
    timestamp: Date.now(),
    symbol,
    decision: 'approve',
    original_signal: signal,
    approved_size: size,
    reasons: [],
  });
  const { report } = await waitForReport(redis, (r) => r.decision_id === decisionId);
  return report;
}

async function positionsByBase(): Promise<Map<string, string>> {
  const r = await pg.query<{ base_asset: string; qty: string }>('SELECT base_asset, sum(quantity)::text AS qty FROM positions GROUP BY base_asset');
  return new Map(r.rows.map((x) => [x.base_asset, x.qty]));
}

/** Every asset: Postgres balances = exchange account (free and locked), positions = holding. */
async function expectBooksEqualExchange(): Promise<void> {
  const exchange = paper.balances();
  const stored = await pg.query<{ asset: string; free: string; locked: string }>('SELECT asset, free::text, locked::text FROM balances');
  const storedBy = new Map(stored.rows.map((b) => [b.asset, b]));
  expect([...storedBy.keys()].sort()).toEqual(Object.keys(exchange).sort());
  for (const [asset, b] of Object.entries(exchange)) {
    const s = storedBy.get(asset)!;
    expect({ asset, free: dec(s.free).toFixed(), locked: dec(s.locked).toFixed() }).toEqual({
      asset,
      free: dec(b.free).toFixed(),
      locked: dec(b.locked).toFixed(),
    });
  }
  const positions = await positionsByBase();
  for (const asset of ['BTC', 'ETH', 'BNB']) {
    const total = dec(exchange[asset]!.free).plus(exchange[asset]!.locked);
    expect({ asset, position: dec(positions.get(asset) ?? '0').toFixed() }).toEqual({ asset, position: total.toFixed() });
  }
}

test('start-up: the scheduled run seeds the inventory already on the account', async () => {
  const summary = await until('the scheduled reconciliation run', async () => {
    const r = await pg.query<{ detail: ReconciliationSummary }>(
      `SELECT detail FROM reconciliation_runs WHERE kind = 'summary' AND run_id LIKE $1`,
      [`reconciliation-${taskQueue}%`],
    );
    return r.rows[0]?.detail;
  });
  expect(summary.byKind).toEqual({ initial_inventory: 2 });
  expect(summary.unrepaired).toBe(0);
  const positions = await positionsByBase();
  expect(dec(positions.get('BTC')!).toFixed()).toBe('1');
  expect(dec(positions.get('ETH')!).toFixed()).toBe('10');
  const seeds = await pg.query('SELECT symbol, kind, qty::text FROM inventory_adjustments ORDER BY symbol');
  expect(seeds.rows).toEqual([
    { symbol: 'BTCUSDT', kind: 'external_inventory', qty: '1' },
    { symbol: 'ETHUSDT', kind: 'external_inventory', qty: '10' },
  ]);
});

test('after a sequence of trades, Postgres equals the exchange account to the last unit', async () => {
  const reports = [
    await trade('buy-btc', 'BTCUSDT', 2, '0.01'),
    await trade('sell-eth', 'ETHUSDT', 0, '0.5'),
    await trade('buy-eth', 'ETHUSDT', 2, '0.2'),
    await trade('sell-btc', 'BTCUSDT', 0, '0.005'),
    // BNB was never bought nor seeded (not a configured symbol): the SELL exceeds the position.
    await trade('sell-bnb', 'BNBUSDT', 0, '1'),
  ];
  for (const r of reports) expect({ id: r.decision_id, status: r.status }).toEqual({ id: r.decision_id, status: 'filled' });

  const bnb = await pg.query("SELECT kind, qty::text FROM inventory_adjustments WHERE symbol = 'BNBUSDT'");
  expect(bnb.rows).toEqual([{ kind: 'sell_excess', qty: '1' }]);

  // First look: 99 BNB on the account, none in the books. One observation is not enough to book it.
  const first = await reconcile();
  expect(first.byKind).toEqual({ balance_drift: 1 });
  expect(first.unrepaired).toBe(1);
  // A single sighting is usually a trade in flight: recorded, not alerted.
  expect((await readAlerts(redis)).filter((a) => a.detail.runId === first.runId)).toEqual([]);
  // Same difference again, nothing traded in between: confirmed and booked at the mark.
  const second = await reconcile();
  expect(second.byKind).toEqual({ balance_drift: 1 });
  expect(second.repaired).toBe(1);
  expect((await readAlerts(redis)).filter((a) => a.detail.runId === second.runId)).toMatchObject([
    { kind: 'reconciliation_drift', severity: 'warning', detail: { drift: 'balance_drift', repaired: 1 } },
  ]);
  const booked = await pg.query("SELECT kind, qty::text FROM inventory_adjustments WHERE symbol = 'BNBUSDT' ORDER BY id");
  expect(booked.rows).toEqual([
    { kind: 'sell_excess', qty: '1' },
    { kind: 'external_inventory', qty: '99' },
  ]);
  const third = await reconcile();
  expect(third.outcome).toBe('clean');

  await expectBooksEqualExchange();

  // The quote asset is explained by the fills alone: start + sells - buys - USDT fees = account.
  const fills = await pg.query<{ side: string; quote_qty: string; commission: string; commission_asset: string }>(
    `SELECT side, quote_qty::text, commission::text, commission_asset FROM fills WHERE symbol LIKE '%USDT'`,
  );
  expect(fills.rows).toHaveLength(paper.trades().filter((t) => t.symbol.endsWith('USDT')).length);
  const usdt = dec('100000')
    .plus(sum(fills.rows.filter((f) => f.side === 'SELL').map((f) => f.quote_qty)))
    .minus(sum(fills.rows.filter((f) => f.side === 'BUY').map((f) => f.quote_qty)))
    .minus(sum(fills.rows.filter((f) => f.commission_asset === 'USDT').map((f) => f.commission)));
  const account = paper.balances().USDT!;
  expect(usdt.toFixed()).toBe(dec(account.free).plus(account.locked).toFixed());

  // The live report: positions with marks, balances, exposure, and the external inventory.
  const { json, text } = await portfolioReport(svc.pool, svc.exchange, { marks: svc.marks });
  const btc = json.positions.find((p) => p.symbol === 'BTCUSDT')!;
  expect(btc.mark_price).not.toBeNull();
  expect(dec(btc.exposure_quote!).toFixed()).toBe(dec(btc.quantity).mul(btc.mark_price!).toFixed());
  expect(json.totals.find((t) => t.quote_asset === 'USDT')).toMatchObject({ trades: 3, missing_marks: [] });
  expect(json.external_inventory.map((e) => e.symbol)).toEqual(['BNBUSDT', 'BTCUSDT', 'ETHUSDT']);
  expect(text).toMatch(/Positions[\s\S]*BTCUSDT[\s\S]*Performance \(USDT\)[\s\S]*Balances[\s\S]*External inventory/);
});

test('a fill deleted from Postgres is found, re-applied once, and alerted on', async () => {
  const victim = await pg.query<{ trade_id: string; client_order_id: string }>(
    `SELECT trade_id::text, client_order_id FROM fills WHERE symbol = 'BTCUSDT' AND side = 'BUY' ORDER BY trade_id LIMIT 1`,
  );
  const { trade_id: tradeId, client_order_id: coid } = victim.rows[0]!;
  const before = await pg.query("SELECT quantity::text, cost_basis::text, realized_pnl::text FROM positions WHERE symbol = 'BTCUSDT'");
  await pg.query("DELETE FROM fills WHERE symbol = 'BTCUSDT' AND trade_id = $1", [tradeId]);

  const summary = await reconcile();
  expect(summary.byKind).toEqual({ missing_fill: 1 });
  expect(summary.repaired).toBe(1);
  const back = await pg.query("SELECT client_order_id FROM fills WHERE symbol = 'BTCUSDT' AND trade_id = $1", [tradeId]);
  expect(back.rows).toEqual([{ client_order_id: coid }]);
  const after = await pg.query("SELECT quantity::text, cost_basis::text, realized_pnl::text FROM positions WHERE symbol = 'BTCUSDT'");
  expect(after.rows).toEqual(before.rows);
  await expectBooksEqualExchange();

  const drift = await pg.query(`SELECT kind, repaired, detail->>'subject' AS subject FROM reconciliation_runs WHERE run_id = $1 AND kind <> 'summary'`, [
    summary.runId,
  ]);
  expect(drift.rows).toEqual([{ kind: 'missing_fill', repaired: true, subject: `BTCUSDT#${tradeId}` }]);
  const alerts = (await readAlerts(redis)).filter((a) => a.detail.runId === summary.runId);
  expect(alerts).toHaveLength(1);
  expect(alerts[0]).toMatchObject({ kind: 'reconciliation_drift', severity: 'warning', detail: { drift: 'missing_fill', repaired: 1 } });

  // Nothing left to repair: the next run is clean and alerts nothing.
  const next = await reconcile();
  expect(next.outcome).toBe('clean');
  expect((await readAlerts(redis)).filter((a) => a.detail.runId === next.runId)).toEqual([]);
});

test('an order someone placed on the account by hand is found, recorded and alerted on', async () => {
  // A resting LIMIT BUY 10 % below the market: open on the exchange, unknown to Postgres.
  const price = dec(paper.price('BTCUSDT')).mul('0.9').toDecimalPlaces(2).toFixed(2);
  const placed = await svc.exchange.newOrder({
    symbol: 'BTCUSDT',
    side: 'BUY',
    type: 'LIMIT',
    timeInForce: 'GTC',
    quantity: '0.001',
    price,
    newClientOrderId: `manual-${run}`,
  });
  const summary = await reconcile();
  expect(summary.byKind).toEqual({ unknown_open_order: 1 });
  expect(summary.repaired).toBe(1);
  const row = await pg.query('SELECT purpose, status, exchange_order_id::text AS id FROM orders WHERE client_order_id = $1', [`manual-${run}`]);
  expect(row.rows).toEqual([{ purpose: 'external', status: 'NEW', id: String(placed.orderId) }]);
  const alerts = (await readAlerts(redis)).filter((a) => a.detail.runId === summary.runId);
  expect(alerts).toMatchObject([{ kind: 'reconciliation_drift', detail: { drift: 'unknown_open_order' } }]);
  // Its locked quote shows in the balances, and the books still equal the account.
  await expectBooksEqualExchange();
  expect(dec(paper.balances().USDT!.locked).gt(0)).toBe(true);
  // Recorded now: the next run finds nothing.
  expect((await reconcile()).outcome).toBe('clean');
});

test('a run that does not fit its request budget defers work instead of spending it', async () => {
  const usedBefore = svc.exchange.usage().budget.find((w) => w.rateLimitType === 'REQUEST_WEIGHT')?.used ?? 0;
  // 30 weight: one symbol (myTrades 20 + openOrders 6) fits, a second one and the account (20) do not.
  const summary = await reconcile({ ...INPUT, maxWeightPerRun: 30 });
  expect(summary.checkedSymbols).toHaveLength(1);
  expect(summary.deferredSymbols.length).toBeGreaterThan(0);
  expect(summary.balancesChecked).toBe(false);
  expect(summary.weight).toBeLessThanOrEqual(30);
  const usedAfter = svc.exchange.usage().budget.find((w) => w.rateLimitType === 'REQUEST_WEIGHT')?.used ?? 0;
  // Same minute window (or a new one): never more than the run's cap was added.
  expect(usedAfter - usedBefore).toBeLessThanOrEqual(30);
  // The next run starts with the symbols this one did not reach.
  const next = await reconcile({ ...INPUT, maxWeightPerRun: 30 });
  expect(next.checkedSymbols[0]).toBe(summary.deferredSymbols[0]);
});

test('metrics: trades by type and outcome, latencies, exchange calls and errors by code, exposure', async () => {
  await svc.exchange.getOrder({ symbol: 'BTCUSDT', origClientOrderId: `no-such-order-${run}` }).catch(() => undefined);
  const res = await fetch(`${svc.metricsServer!.url}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();
  const value = (re: RegExp) => {
    const m = re.exec(text);
    return m ? Number(m[1]) : undefined;
  };
  expect(value(/^trade_orders_total\{order_type="MARKET",outcome="filled"\} (\d+)/m)).toBe(5);
  expect(value(/^trade_fills_total\{symbol="BNBUSDT",side="SELL"\} (\d+)/m)).toBeGreaterThanOrEqual(1);
  expect(value(/^trade_decision_to_submitted_seconds_count (\d+)/m)).toBe(5);
  expect(value(/^trade_duration_seconds_count (\d+)/m)).toBe(5);
  expect(value(/^trade_success_ratio (\S+)/m)).toBe(1);
  expect(value(/^exchange_errors_total\{code="-2013",kind="[a-z_]+",method="getOrder"\} (\d+)/m)).toBe(1);
  expect(value(/^exchange_request_seconds_count\{method="myTrades"\} (\d+)/m)).toBeGreaterThan(0);
  expect(value(/^exchange_rate_limit_limit\{type="REQUEST_WEIGHT",interval="1MINUTE"\} (\d+)/m)).toBeGreaterThan(0);
  expect(value(/^portfolio_exposure_quote\{symbol="BTCUSDT",quote_asset="USDT"\} (\S+)/m)).toBeGreaterThan(0);
  expect(value(/^reconciliation_drift_total\{kind="missing_fill"\} (\d+)/m)).toBe(1);
  expect(value(/^alerts_total\{kind="reconciliation_drift",severity="warning"\} (\d+)/m)).toBeGreaterThanOrEqual(1);
});
