/**
 * `npm run bench`: the whole stack under load, end to end. Not part of the test suite.
 *
 * Brings up a Temporal dev server, Postgres and Redis with the launchers the tests use, a paper
 * exchange in this process, and the service as `npm start` runs it (src/operations/main.ts in a
 * child process: worker + bridge, user data stream on). Then, after a warm-up, the phases named in
 * BENCH_PHASES (default all: "latency,baseline,throughput,limit,memory"):
 *
 *  1. latency: MARKET orders at a steady BENCH_LATENCY_RATE: from the decision's XADD (its stream
 *     id) to the order accepted by the exchange (the paper order's time) and to the execution
 *     report (its stream id on trade_executions); p50/p90/p99/max; and the exchange REST
 *     requests and weight per filled MARKET order;
 *  2. baseline: the same orders placed by calling the exchange client directly (no Redis, no
 *     Temporal): to accepted, and to the response; and the ratio;
 *  3. throughput: BENCH_RATES decisions/s for BENCH_STEP_S each, alternating BUY/SELL MARKET;
 *     completed, lost, achieved rate and latency per step, and where p99 starts to climb;
 *  4. limit: exchange REST requests and weight per LIMIT order resting BENCH_LIMIT_REST_S
 *     (default 60) before the price crosses it;
 *  2b. burst: BENCH_BURST_N (100) MARKET decisions XADDed at once (one pipeline, as a rebalance
 *     sends them), at the start of a fresh 10 s ORDERS window: from the first XADD until the
 *     first/median/90th/last order is accepted by the exchange (its own order times) and until
 *     the last trade report is out; then the same orders straight through the exchange client
 *     (all at once) in the next fresh window, and the ratio; REST requests per order; and the CPU
 *     ms per trade of the service (worker + bridge), the Temporal dev server, PostgreSQL
 *     (postmaster and backends), Redis and this driver (paper exchange included), as the latency
 *     phase and each throughput step also report;
 *  5. memory: the service process's memory (RSS) with BENCH_RESTING (default 5000) LIMIT orders
 *     resting at once, sampled at BENCH_RESTING_STEPS (fractions, default 0.2,0.5,1: 1000, 2500,
 *     5000) on the way up and then for BENCH_SETTLE_S (60) with all of them resting, to see the
 *     steady state with polling and pushes; with the running TradeExecution workflows counted in
 *     Temporal and the open orders on the exchange.
 *
 * The paper exchange's rate limits are raised so the service, not Binance's 100 orders/10 s per
 * account, is what is measured (BENCH_EXCHANGE_LIMITS=raised; the default unless the only phase
 * run is burst, which keeps Binance's own limits, =binance, as a burst is legal within them); so are its open-order limits (Binance: 1000 per account,
 * EXCHANGE_MAX_NUM_ORDERS, and 200 per symbol, MAX_NUM_ORDERS), so that thousands of orders can
 * rest on one account. Both are said in the report.
 *
 * Writes bench/results/stack-bench-<time>.json and .md, and bench/results/stack-bench.{json,md}
 * (latest). A run of some phases only keeps the other phases' latest figures in
 * stack-bench.{json,md}, each section saying which run it is from.
 * Sizes: BENCH_LATENCY_N (100), BENCH_LATENCY_RATE (5/s), BENCH_RATES ("5,10,20,40"),
 * BENCH_STEP_S (15), BENCH_LIMIT_N (20), BENCH_LIMIT_REST_S (60), BENCH_RESTING (5000),
 * BENCH_RESTING_STEPS ("0.2,0.5,1"), BENCH_RESTING_RATE (100 decisions/s sent), BENCH_SETTLE_S
 * (60), BENCH_STALL_S (180: give up on reaching BENCH_RESTING when no order opened for that long),
 * BENCH_DRAIN_S (90), BENCH_BURST_N (100). BENCH_SERVICE_NODE_ARGS: node flags for the service
 * (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" for a profile of every thread).
 *
 * The settings are in stack/config.ts, the measures in stack/measure.ts, the report in stack/report.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client as TemporalClient, Connection as TemporalConnection } from '@temporalio/client';
import Redis from 'ioredis';
import { BinanceSpotClient } from '../src/exchange';
import { startEmbeddedPostgres } from '../src/operations/postgres-server';
import { startRedisServer } from '../src/operations/redis-server';
import { ensureTemporalCli } from '../src/operations/temporal-cli';
import { startTemporalDevServer } from '../src/operations/temporal-dev-server';
import { DEFAULT_SYMBOLS, PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET, startPaperExchange, type PaperExchange } from '../src/paper-exchange';
import { PAPER_RATE_LIMITS } from '../src/paper-exchange/limits';
import { RISK_DECISIONS_STREAM } from '../src/shared/streams';
import { CFG, commandLine, EXCHANGE_LIMITS, idMs, latencyFeatures, load, markLoad, MAX_CACHED_WORKFLOWS, OPEN_ORDER_LIMIT, PHASES, round2, RUN, say, sleep } from './stack/config';
import { cpuSeconds, requestCost, rssMb, stats, type Stats } from './stack/measure';
import { createDriver, timesSince } from './stack/driver';
import { writeResults } from './stack/report';

async function main(): Promise<void> {
  const cores = os.cpus().length;
  markLoad('beforeStack');
  say(`stack benchmark on ${cores} cores (${os.cpus()[0]?.model ?? 'cpu'}), node ${process.version}; phases ${[...PHASES].join(',')}; sizes ${JSON.stringify(CFG)}`);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'trade-exec-bench-'));
  fs.chmodSync(root, 0o755);
  const stops: Array<() => Promise<unknown>> = [];
  let service: ChildProcess | undefined;
  try {
    // ---- the stack -------------------------------------------------------------------------
    const cli = await ensureTemporalCli(say);
    const [temporal, pg, redisServer] = await Promise.all([
      startTemporalDevServer({ cliPath: cli, dbFile: path.join(root, 'temporal', 'temporal.db'), fastSqlite: true, ui: false, progress: say }),
      startEmbeddedPostgres({ dataDir: path.join(root, 'postgres'), fast: true }),
      startRedisServer({ dir: root }),
    ]);
    stops.push(() => temporal.stop(), () => pg.stop(), () => redisServer.stop());
    const high = 100_000_000;
    const paper = await startPaperExchange({
      port: 0,
      seed: 3,
      // BTC 2, not more: reconciliation books the account's BTC as the position, and the risk
      // guard's max_position_notional (250,000 USDT) refuses every BUY above ~4 BTC at 60,000
      // (with 1000 BTC, half the MARKET decisions, the BUYs, ended 'rejected' unmeasured).
      accounts: [{ apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET, balances: { USDT: '100000000', BTC: '2', ETH: '10000', BNB: '1000' } }],
      rateLimits:
        EXCHANGE_LIMITS === 'binance'
          ? PAPER_RATE_LIMITS
          : [
              { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: high },
              { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: high },
              { rateLimitType: 'ORDERS', interval: 'DAY', intervalNum: 1, limit: high },
              { rateLimitType: 'RAW_REQUESTS', interval: 'MINUTE', intervalNum: 5, limit: high },
            ],
      // Binance: 1000 open orders per account, 200 per symbol. Raised so thousands can rest at once.
      limits: { maxOpenOrdersPerAccount: OPEN_ORDER_LIMIT, maxNumOrdersPerSymbol: OPEN_ORDER_LIMIT },
    });
    stops.push(() => paper.close());
    const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
    stops.push(async () => redis.disconnect());
    say(`Temporal ${temporal.address}, ${pg.url.replace(/:[^:@/]*@/, ':***@')}, ${redisServer.url}, paper ${paper.url}`);

    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE: `bench-${RUN}`,
      // Passed through so one measure can be switched off for a comparison run.
      ...(process.env.TEMPORAL_EAGER_START ? { TEMPORAL_EAGER_START: process.env.TEMPORAL_EAGER_START } : {}),
      ...(process.env.TEMPORAL_ORDER_TASK_QUEUE ? { TEMPORAL_ORDER_TASK_QUEUE: process.env.TEMPORAL_ORDER_TASK_QUEUE } : {}),
      TEMPORAL_MAX_CACHED_WORKFLOWS: String(MAX_CACHED_WORKFLOWS),
      DATABASE_URL: pg.url,
      REDIS_URL: redisServer.url,
      BINANCE_BASE_URL: paper.url,
      BINANCE_WS_API_URL: paper.wsUrl,
      BINANCE_API_KEY: PAPER_DEFAULT_API_KEY,
      BINANCE_API_SECRET: PAPER_DEFAULT_API_SECRET,
      ORDER_TIMEOUT_MS: String(3600_000),
      METRICS_PORT: '0',
      LOG_LEVEL: 'warn',
      // The phases send 10-20 orders/s and thousands of resting orders: above the risk guard's
      // fat-finger order rate (300/min). Its other rules stay on, so their cost is measured.
      RISK_MAX_ORDERS_PER_MINUTE: '0',
    };
    say('starting the service (src/operations/main.ts: worker + bridge; bundling workflows)...');
    // BENCH_SERVICE_NODE_ARGS: extra node flags for the service, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    const nodeArgs = (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean);
    service = spawn(process.execPath, [...nodeArgs, '--require', 'tsx/cjs', path.resolve(__dirname, '../src/operations/main.ts')], {
      cwd: path.resolve(__dirname, '..'),
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const serviceLog = fs.createWriteStream(path.join(root, 'service.log'));
    service.stdout!.pipe(serviceLog);
    service.stderr!.pipe(serviceLog);
    let ready = false;
    service.stdout!.on('data', (c: Buffer) => void (c.toString().includes('trade-exec is ready') && (ready = true)));
    for (let i = 0; !ready; i++) {
      if (service.exitCode !== null) {
        await sleep(200);
        const tail = fs.readFileSync(path.join(root, 'service.log'), 'utf8').split('\n').slice(-30).join('\n');
        throw new Error(`service exited ${service.exitCode}; its last output:\n${tail}`);
      }
      if (i > 1200) throw new Error('service not ready after 120 s');
      await sleep(100);
    }
    const pid = service.pid!;
    say(`service ready (pid ${pid}, RSS ${rssMb(pid)} MB)`);

    const { cpuNow, perTrade, market, reportsSince, lastReportId, ordersByCid, sendAtRate, waitReports } = createDriver({
      redis,
      paper,
      pids: { service: pid, temporal: temporal.pid, redis: redisServer.pid },
      postgresDataDir: pg.dataDir,
    });
    const phaseResult = (phase: string, body: Record<string, unknown>) => ({ when: new Date().toISOString(), load1m: load[phase], ...body });
    const out: Record<string, any> = {};

    // ---- 0. warm-up --------------------------------------------------------------------------
    {
      const ids = Array.from({ length: 20 }, (_, i) => `b-${RUN}-warm-${i}`);
      const from = await lastReportId();
      await sendAtRate(ids, 10, market);
      await waitReports(from, ids, 60);
      say('warm-up done');
      markLoad('start');
    }

    // ---- 1. latency through the stack ---------------------------------------------------------
    if (PHASES.has('latency')) {
      say(`phase 1: ${CFG.latencyN} MARKET decisions at ${CFG.latencyRate}/s through Redis → bridge → Temporal → exchange`);
      const reqBefore1 = paper.requestCounts();
      const ids1 = Array.from({ length: CFG.latencyN }, (_, i) => `b-${RUN}-lat-${i}`);
      const from1 = await lastReportId();
      const cpuA = cpuNow();
      const sent1 = await sendAtRate(ids1, CFG.latencyRate, market);
      const got1 = await waitReports(from1, ids1, CFG.drainS);
      const cpuB = cpuNow();
      await sleep(2000); // let trailing requests (fills, balances) land in the counts
      const cost1 = requestCost(reqBefore1, paper.requestCounts());
      const orders1 = ordersByCid();
      const { accepted: toAccept1, reported: toReport1 } = timesSince(ids1, got1, orders1, (id) => sent1.get(id)!);
      const filled1 = ids1.filter((id) => got1.get(id)?.report.status === 'filled').length;
      const stack = { accepted: stats(toAccept1), report: stats(toReport1), lost: ids1.length - got1.size };
      markLoad('latency');
      say(`  to accepted ${JSON.stringify(stack.accepted)}\n  to report ${JSON.stringify(stack.report)}`);
      out.latency = phaseResult('latency', {
        n: CFG.latencyN,
        rate: CFG.latencyRate,
        stack,
        cpuPerTradeMs: perTrade(cpuA, cpuB, got1.size),
        cost: { orders: filled1, perOrder: { requests: round2(cost1.requests / Math.max(1, filled1)), weight: round2(cost1.weight / Math.max(1, filled1)) }, byEndpoint: cost1.byEndpoint },
      });
    }

    // ---- 2. baseline: the exchange client directly --------------------------------------------
    if (PHASES.has('baseline')) {
      say(`phase 2: baseline, ${CFG.latencyN} MARKET orders at ${CFG.latencyRate}/s with the exchange client directly`);
      const client = new BinanceSpotClient({ baseUrl: paper.url, apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET });
      stops.push(() => client.close());
      await client.syncTime();
      await client.cachedExchangeInfo();
      const toAccept2: number[] = [];
      const toResponse2: number[] = [];
      const start = Date.now();
      for (let i = 0; i < CFG.latencyN; i++) {
        const due = start + (i * 1000) / CFG.latencyRate;
        if (due > Date.now()) await sleep(due - Date.now());
        const cid = `bl-${RUN}-${i}`;
        const t = Date.now();
        await client.newOrder({ symbol: 'BTCUSDT', side: i % 2 === 0 ? 'BUY' : 'SELL', type: 'MARKET', quantity: '0.0005', newClientOrderId: cid });
        toResponse2.push(Date.now() - t);
        toAccept2.push(paper.findOrder('BTCUSDT', cid)!.time - t);
      }
      const baseline = { accepted: stats(toAccept2), response: stats(toResponse2) };
      markLoad('baseline');
      say(`  baseline to accepted ${JSON.stringify(baseline.accepted)}\n  baseline to response ${JSON.stringify(baseline.response)}`);
      out.baseline = phaseResult('baseline', { n: CFG.latencyN, rate: CFG.latencyRate, ...baseline });
    }

    // ---- 2b. burst: 100 MARKET decisions at once -----------------------------------------------
    if (PHASES.has('burst')) {
      const n = CFG.burstN;
      // Binance counts orders in fixed 10 s windows (aligned to its clock, here the paper
      // exchange's, this process's): start each burst at a fresh one, so the warm-up's orders
      // are not in it and a burst of 100 is within the limit.
      const freshOrdersWindow = async () => {
        const next = Math.ceil((Date.now() + 1) / 10_000) * 10_000;
        await sleep(next - Date.now() + 50);
      };
      say(`phase 2b: burst of ${n} MARKET decisions XADDed at once (exchange rate limits: ${EXCHANGE_LIMITS})`);
      await freshOrdersWindow();
      const ids = Array.from({ length: n }, (_, i) => `b-${RUN}-burst-${i}`);
      const from = await lastReportId();
      const reqBefore = paper.requestCounts();
      const cpu0 = cpuNow();
      const pipe = redis.pipeline();
      for (const id of ids) pipe.xadd(RISK_DECISIONS_STREAM, '*', 'data', JSON.stringify(market(id)));
      const added = (await pipe.exec())!.map(([err, id]) => {
        if (err) throw err;
        return idMs(id as string);
      });
      const firstXadd = Math.min(...added);
      const got = await waitReports(from, ids, CFG.drainS);
      const cpu1 = cpuNow();
      await sleep(1000);
      const cost = requestCost(reqBefore, paper.requestCounts());
      const orders = ordersByCid();
      const { accepted, reported } = timesSince(ids, got, orders, () => firstXadd);
      const filled = ids.filter((id) => got.get(id)?.report.status === 'filled').length;
      const statuses: Record<string, number> = {};
      const errors: Record<string, number> = {};
      for (const r of got.values()) {
        statuses[r.report.status] = (statuses[r.report.status] ?? 0) + 1;
        if (r.report.error) errors[r.report.error.slice(0, 160)] = (errors[r.report.error.slice(0, 160)] ?? 0) + 1;
      }
      const cpuPerTradeMs = perTrade(cpu0, cpu1, got.size);
      const stack = { accepted: stats(accepted), acceptedFirst: Math.min(...accepted), report: stats(reported), lost: n - got.size, filled, statuses, errors, xaddSpreadMs: Math.max(...added) - firstXadd };
      say(`  stack: first XADD → accepted ${JSON.stringify(stack.accepted)}; → reports ${JSON.stringify(stack.report)}; lost ${stack.lost}`);

      // The same orders straight through the exchange client, all at once, in a fresh window.
      const client = new BinanceSpotClient({ baseUrl: paper.url, apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET });
      stops.push(() => client.close());
      await client.syncTime();
      await client.cachedExchangeInfo();
      await freshOrdersWindow();
      const t0 = Date.now();
      const done: number[] = [];
      const cids = ids.map((_, i) => `bd-${RUN}-${i}`);
      await Promise.all(
        cids.map(async (cid, i) => {
          await client.newOrder({ symbol: 'BTCUSDT', side: i % 2 === 0 ? 'BUY' : 'SELL', type: 'MARKET', quantity: '0.0005', newClientOrderId: cid });
          done.push(Date.now() - t0);
        }),
      );
      const directAccepted = cids.map((cid) => paper.findOrder('BTCUSDT', cid)!.time - t0);
      const direct = { accepted: stats(directAccepted), response: stats(done), budgetDelayed: client.usage().delayedRequests, acceptedFirst: Math.min(...directAccepted) };
      markLoad('burst');
      say(`  direct: accepted ${JSON.stringify(direct.accepted)}; responses ${JSON.stringify(direct.response)}`);
      out.burst = phaseResult('burst', {
        n,
        exchangeLimits: EXCHANGE_LIMITS,
        stack,
        direct,
        ratioAllAccepted: round2(stack.accepted.max / Math.max(1, direct.accepted.max)),
        ratioAllAcceptedVsAllResponses: round2(stack.accepted.max / Math.max(1, direct.response.max)),
        cost: { perOrder: { requests: round2(cost.requests / Math.max(1, filled)), weight: round2(cost.weight / Math.max(1, filled)) }, byEndpoint: cost.byEndpoint },
        cpuPerTradeMs,
        exchangeRateLimited: paper.rateLimitStats(),
      });
    }

    // ---- 3. throughput ---------------------------------------------------------------------
    if (PHASES.has('throughput')) {
      const steps: Array<{ offered: number; sent: number; completed: number; lost: number; achieved: number; report: Stats; accepted: Stats; load1m: number | undefined; cpuPerTradeMs: Record<string, number> }> = [];
      for (const rate of CFG.rates) {
        const n = Math.round(rate * CFG.stepS);
        say(`phase 3: ${rate} decisions/s for ${CFG.stepS} s (${n} MARKET)`);
        const ids = Array.from({ length: n }, (_, i) => `b-${RUN}-tp${rate}-${i}`);
        const from = await lastReportId();
        const cpuA = cpuNow();
        const sent = await sendAtRate(ids, rate, market);
        const got = await waitReports(from, ids, CFG.drainS);
        const cpuB = cpuNow();
        const orders = ordersByCid();
        const lat: number[] = [];
        const acc: number[] = [];
        let first = Infinity;
        let last = 0;
        for (const id of ids) {
          const r = got.get(id);
          const s = sent.get(id)!;
          first = Math.min(first, s);
          if (!r) continue;
          last = Math.max(last, idMs(r.id));
          lat.push(idMs(r.id) - s);
          const o = r.report.client_order_id ? orders.get(r.report.client_order_id) : undefined;
          if (o) acc.push(o.time - s);
        }
        const completed = ids.filter((id) => got.has(id)).length;
        const achieved = Math.round((completed / Math.max(0.001, (last - first) / 1000)) * 10) / 10;
        markLoad(`throughput-${rate}`);
        const step = { offered: rate, sent: n, completed, lost: n - completed, achieved, report: stats(lat), accepted: stats(acc), load1m: load[`throughput-${rate}`], cpuPerTradeMs: perTrade(cpuA, cpuB, completed) };
        steps.push(step);
        say(`  completed ${completed}/${n}, achieved ${achieved}/s, report p50 ${step.report.p50} p99 ${step.report.p99} max ${step.report.max} ms`);
        if (step.lost > 0 || achieved < rate * 0.8) {
          say('  saturated: not going higher');
          break;
        }
      }
      const base99 = steps[0]?.report.p99 ?? NaN;
      const climb = steps.find((s) => s.report.p99 > 2 * base99);
      const sustained = steps.filter((s) => s.lost === 0 && s.achieved >= 0.9 * s.offered).reduce((m, s) => Math.max(m, s.achieved), 0);
      out.throughput = phaseResult(`throughput-${steps[steps.length - 1]?.offered}`, { stepS: CFG.stepS, steps, sustainedPerS: sustained, p99ClimbsAt: climb?.offered ?? null });
    }

    // ---- 4. LIMIT orders resting, then filled -------------------------------------------------
    if (PHASES.has('limit')) {
      say(`phase 4: ${CFG.limitN} LIMIT BUY orders resting ${CFG.limitRestS} s, then filled`);
      paper.pausePriceWalk(true);
      const px = Number(paper.price('BTCUSDT'));
      const limitPrice = (Math.floor(px * 0.99 * 100) / 100).toFixed(2);
      const ids4 = Array.from({ length: CFG.limitN }, (_, i) => `b-${RUN}-limit-${i}`);
      const from4 = await lastReportId();
      const reqBefore4 = paper.requestCounts();
      await sendAtRate(ids4, 20, (id) => ({ ...market(id), original_signal: 2, order_type: 'LIMIT', limit_price: limitPrice, approved_size: '0.001' }));
      for (let waited = 0; waited < CFG.limitRestS; waited += 10) {
        await sleep(Math.min(10, CFG.limitRestS - waited) * 1000);
        say(`  resting ${Math.min(CFG.limitRestS, waited + 10)}/${CFG.limitRestS} s`);
      }
      paper.setPrice('BTCUSDT', (Number(limitPrice) * 0.995).toFixed(2));
      const got4 = await waitReports(from4, ids4, CFG.drainS);
      await sleep(2000);
      const cost4 = requestCost(reqBefore4, paper.requestCounts());
      const filled4 = ids4.filter((id) => got4.get(id)?.report.status === 'filled').length;
      markLoad('limit');
      paper.setPrice('BTCUSDT', String(px));
      paper.pausePriceWalk(false);
      say(`  filled ${filled4}/${ids4.length}; ${(cost4.requests / Math.max(1, filled4)).toFixed(1)} requests, weight ${(cost4.weight / Math.max(1, filled4)).toFixed(1)} per order`);
      out.limit = phaseResult('limit', {
        orders: filled4,
        restS: CFG.limitRestS,
        perOrder: { requests: round2(cost4.requests / Math.max(1, filled4)), weight: round2(cost4.weight / Math.max(1, filled4)) },
        byEndpoint: cost4.byEndpoint,
      });
    }

    // ---- 5. memory with many LIMIT orders resting ---------------------------------------------
    if (PHASES.has('memory')) {
      const n = CFG.resting;
      say(`phase 5: ${n} LIMIT orders resting at once (paper account open-order limits raised to ${OPEN_ORDER_LIMIT}; Binance's are 1000 per account, 200 per symbol)`);
      const connection = await TemporalConnection.connect({ address: temporal.address });
      stops.push(() => connection.close());
      const tclient = new TemporalClient({ connection, namespace: temporal.namespace });
      // This phase's trades (workflow id trade-<decision id>); the task queue's, if STARTS_WITH is not supported.
      const queries = [
        `WorkflowId STARTS_WITH "trade-b-${RUN}-rest-" AND ExecutionStatus = "Running"`,
        `TaskQueue = "bench-${RUN}" AND ExecutionStatus = "Running" AND WorkflowType = "TradeExecution"`,
      ];
      const runningWorkflows = async (): Promise<number | null> => {
        while (queries.length) {
          try {
            return (await tclient.workflow.count(queries[0]!)).count;
          } catch (e) {
            say(`  (count of running workflows failed for ${queries[0]}: ${e instanceof Error ? e.message : String(e)})`);
            queries.shift();
          }
        }
        return null;
      };
      const tag = `-${RUN}-rest-`;
      const openNow = () => paper.orders('BTCUSDT').reduce((k, o) => (o.status === 'NEW' && o.clientOrderId.includes(tag) ? k + 1 : k), 0);
      const px = Number(paper.price('BTCUSDT'));
      const restPrice = (Math.floor(px * 0.5 * 100) / 100).toFixed(2);
      const ids5 = Array.from({ length: n }, (_, i) => `b-${RUN}-rest-${i}`);
      const from5 = await lastReportId();
      const t0 = Date.now();
      const atS = () => Math.round((Date.now() - t0) / 100) / 10;
      const sample = async (label: string, target: number) => {
        const s = { label, target, resting: openNow(), runningWorkflows: await runningWorkflows(), rssMb: rssMb(pid), temporalRssMb: rssMb(temporal.pid), atS: atS() };
        say(`  ${label}: ${s.resting} resting on the exchange, ${s.runningWorkflows ?? '?'} TradeExecution workflows running; service RSS ${s.rssMb} MB (Temporal dev server ${s.temporalRssMb} MB) at +${s.atS} s`);
        return s;
      };
      const samples: Array<Awaited<ReturnType<typeof sample>>> = [await sample('before', 0)];
      const targets = [...new Set(CFG.restingSteps.map((f) => Math.round(n * f)).filter((t) => t > 0 && t <= n).concat(n))].sort((a, b) => a - b);
      /** Every 10 s on the way up: orders open vs workflows started, to see which one lags. */
      const ramp: Array<{ atS: number; resting: number; runningWorkflows: number | null; rssMb: number }> = [];
      let sentN = 0;
      let allOpenAtS: number | null = null;
      let stalled: string | null = null;
      for (const target of targets) {
        await sendAtRate(ids5.slice(sentN, target), CFG.restingRate, (id) => ({ ...market(id), original_signal: 2, order_type: 'LIMIT', limit_price: restPrice, approved_size: '0.001' }));
        sentN = target;
        let open = openNow();
        let best = open;
        let lastProgress = Date.now();
        let lastSay = Date.now();
        while (open < target) {
          if (Date.now() - lastProgress > CFG.stallS * 1000) {
            stalled = `no new order opened for ${CFG.stallS} s at ${open}/${target}`;
            say(`  stalled: ${stalled}`);
            break;
          }
          await sleep(2000);
          open = openNow();
          if (open > best) {
            best = open;
            lastProgress = Date.now();
          }
          if (Date.now() - lastSay > 10_000) {
            lastSay = Date.now();
            const point = { atS: atS(), resting: open, runningWorkflows: await runningWorkflows(), rssMb: rssMb(pid) };
            ramp.push(point);
            say(`  ${open}/${target} open, ${point.runningWorkflows ?? '?'} workflows running, service RSS ${point.rssMb} MB, +${point.atS} s`);
          }
        }
        if (open >= n) allOpenAtS = atS();
        await sleep(5000); // let the first polls and pushes settle
        samples.push(await sample(`${target} sent`, target));
        if (stalled) break;
      }
      // Steady state: everything resting for a while, polls backing off and pushes arriving.
      const reqBefore = paper.requestCounts();
      const cpuBefore = cpuSeconds(pid);
      const settleStart = Date.now();
      const settle: Array<{ afterS: number; resting: number; rssMb: number }> = [];
      for (let waited = 0; waited < CFG.settleS; ) {
        const step = Math.min(10, CFG.settleS - waited);
        await sleep(step * 1000);
        waited += step;
        settle.push({ afterS: waited, resting: openNow(), rssMb: rssMb(pid) });
        say(`  resting for ${waited}/${CFG.settleS} s: ${settle[settle.length - 1]!.resting} open, service RSS ${settle[settle.length - 1]!.rssMb} MB`);
      }
      const settleSeconds = (Date.now() - settleStart) / 1000;
      const cpuPct = Math.round(((cpuSeconds(pid) - cpuBefore) / Math.max(1, settleSeconds)) * 1000) / 10;
      const settleCost = requestCost(reqBefore, paper.requestCounts());
      samples.push(await sample(`${CFG.settleS} s later`, samples[samples.length - 1]!.target));
      markLoad('memory');
      const reports = await reportsSince(from5);
      const reportStatuses: Record<string, number> = {};
      for (const id of ids5) {
        const r = reports.get(id);
        if (r) reportStatuses[r.report.status] = (reportStatuses[r.report.status] ?? 0) + 1;
      }
      const byStep = samples.map((s, i) => {
        const prev = samples[i - 1];
        const dn = prev ? s.resting - prev.resting : 0;
        return { ...s, kbPerAddedOrder: prev && dn > 0 ? Math.round(((s.rssMb - prev.rssMb) * 1024) / dn) : null };
      });
      const last = samples[samples.length - 1]!;
      out.memory = phaseResult('memory', {
        asked: n,
        restPrice,
        sendRate: CFG.restingRate,
        openOrderLimit: OPEN_ORDER_LIMIT,
        maxCachedWorkflows: MAX_CACHED_WORKFLOWS,
        runningWorkflowsQuery: queries[0] ?? null,
        samples: byStep,
        allOpen: last.resting >= n,
        timeToAllOpenS: allOpenAtS,
        stalled,
        settle: {
          seconds: Math.round(settleSeconds),
          samples: settle,
          serviceCpuPctOfOneCore: cpuPct,
          requestsPerS: round2(settleCost.requests / Math.max(1, settleSeconds)),
          weightPerMin: Math.round((settleCost.weight / Math.max(1, settleSeconds)) * 60),
          byEndpoint: settleCost.byEndpoint,
        },
        perRestingKb: Math.round(((last.rssMb - samples[0]!.rssMb) * 1024) / Math.max(1, last.resting)),
        reportStatuses,
        exchangeRateLimited: paper.rateLimitStats(),
        ramp,
      });
    }

    // ---- report ------------------------------------------------------------------------------
    const result = {
      when: new Date().toISOString(),
      command: commandLine(),
      phasesRun: [...PHASES],
      machine: { cores, cpu: os.cpus()[0]?.model, memGb: Math.round(os.totalmem() / 2 ** 30), node: process.version },
      sizes: CFG,
      loadAverage1m: load,
      // Which of the latency measures the figures include (the service's configuration as run).
      features: latencyFeatures(),
      note:
        'Everything on one machine: Temporal dev server (SQLite), Postgres, Redis, the service (worker+bridge, one process), the paper exchange and this driver share the cores. Times in ms from Redis/exchange timestamps (1 ms resolution).',
      paperExchange: {
        rateLimits:
          EXCHANGE_LIMITS === 'binance'
            ? "Binance's own: 6000 weight/min, 100 orders/10 s, 200000 orders/day, 300000 raw requests/5 min"
            : `raised to ${high} per interval (Binance: 6000 weight/min, 100 orders/10 s, 200000 orders/day, 300000 raw requests/5 min)`,
        openOrderLimits: `raised to ${OPEN_ORDER_LIMIT} per account and per symbol (Binance: 1000 per account, EXCHANGE_MAX_NUM_ORDERS; 200 per symbol, MAX_NUM_ORDERS)`,
      },
      ...out,
    };
    writeResults(result);
  } finally {
    if (service && service.exitCode === null) {
      service.kill('SIGTERM');
      await Promise.race([new Promise((r) => service!.once('exit', r)), sleep(30_000)]);
      if (service.exitCode === null) service.kill('SIGKILL');
    }
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
