/**
 * `npm run bench`: the whole stack under load, end to end. Not part of the test suite.
 *
 * Brings up a Temporal dev server, Postgres and Redis with the launchers the tests use, a paper
 * exchange in this process, and the service as `npm start` runs it (src/operations/main.ts in a
 * child process: worker + bridge, user data stream on). Then:
 *
 *  1. latency, MARKET orders at a steady BENCH_LATENCY_RATE: from the decision's XADD (its stream
 *     id) to the order accepted by the exchange (the paper order's time) and to the execution
 *     report (its stream id on trade_executions); p50/p90/p99/max;
 *  2. the same orders placed by calling the exchange client directly (no Redis, no Temporal):
 *     to accepted, and to the response; and the ratio;
 *  3. throughput: BENCH_RATES decisions/s for BENCH_STEP_S each, alternating BUY/SELL MARKET;
 *     completed, lost, achieved rate and latency per step, and where p99 starts to climb;
 *  4. exchange REST requests and weight per filled order: MARKET (from phase 1), and LIMIT
 *     orders resting BENCH_LIMIT_REST_S (default 60) before the price crosses them;
 *  5. the service process's memory (RSS) with BENCH_RESTING LIMIT orders resting at once,
 *     sampled at steps on the way up.
 *
 * The paper exchange's rate limits are raised so the service, not Binance's 100 orders/10 s per
 * account, is what is measured (the real limits are in the report). It also caps an account at
 * 1000 open orders (EXCHANGE_MAX_NUM_ORDERS, as Binance does), so BENCH_RESTING above 1000 is
 * capped and the figure for more is extrapolated from the measured slope, and said so.
 *
 * Writes bench/results/stack-bench-<time>.json and .md, and bench/results/stack-bench.md (latest).
 * Sizes: BENCH_LATENCY_N (100), BENCH_LATENCY_RATE (5/s), BENCH_RATES ("5,10,20,40"),
 * BENCH_STEP_S (15), BENCH_LIMIT_N (20), BENCH_LIMIT_REST_S (60), BENCH_RESTING (1000).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { BinanceSpotClient } from '../src/exchange';
import { startEmbeddedPostgres } from '../src/operations/postgres-server';
import { startRedisServer } from '../src/operations/redis-server';
import { ensureTemporalCli } from '../src/operations/temporal-cli';
import { startTemporalDevServer } from '../src/operations/temporal-dev-server';
import { DEFAULT_SYMBOLS, PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET, startPaperExchange, type PaperExchange } from '../src/paper-exchange';
import { Params } from '../src/paper-exchange/params';
import { buildRoutes } from '../src/paper-exchange/routes';
import type { ExecutionReport } from '../src/shared/trade';

const num = (name: string, def: number) => (process.env[name] ? Number(process.env[name]) : def);
const CFG = {
  latencyN: num('BENCH_LATENCY_N', 100),
  latencyRate: num('BENCH_LATENCY_RATE', 5),
  rates: (process.env.BENCH_RATES ?? '5,10,20,40').split(',').map(Number),
  stepS: num('BENCH_STEP_S', 15),
  limitN: num('BENCH_LIMIT_N', 20),
  limitRestS: num('BENCH_LIMIT_REST_S', 60),
  resting: num('BENCH_RESTING', 1000),
  drainS: num('BENCH_DRAIN_S', 90),
};
const ACCOUNT_OPEN_ORDER_CAP = 1000;
const RUN = randomBytes(3).toString('hex');
const t0Bench = Date.now();
const say = (line: string) => process.stdout.write(`[bench +${((Date.now() - t0Bench) / 1000).toFixed(0)}s] ${line}\n`);
/** 1-minute load average per phase: other processes on the machine skew every figure. */
const load: Record<string, number> = {};
const markLoad = (phase: string) => void (load[phase] = Math.round(os.loadavg()[0]! * 100) / 100);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const idMs = (streamId: string) => Number(streamId.split('-')[0]);

interface Stats {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}
function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const pct = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
  return { n: s.length, p50: pct(50), p90: pct(90), p99: pct(99), max: s[s.length - 1] ?? NaN, mean: Math.round((s.reduce((a, b) => a + b, 0) / (s.length || 1)) * 10) / 10 };
}

/** Weight of the requests the paper exchange counted, by its own route table. */
const ROUTES = buildRoutes();
function requestCost(before: Record<string, number>, after: Record<string, number>) {
  const byEndpoint: Record<string, number> = {};
  let requests = 0;
  let weight = 0;
  for (const [k, v] of Object.entries(after)) {
    const n = v - (before[k] ?? 0);
    if (n <= 0) continue;
    byEndpoint[k] = n;
    requests += n;
    // Representative parameters: per-symbol queries (the service always names the symbol).
    weight += n * (ROUTES.get(k)?.weight(new Params('symbol=BTCUSDT&orderId=1&origClientOrderId=x', '')) ?? 1);
  }
  return { requests, weight, byEndpoint };
}

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return Math.round((kb / 1024) * 10) / 10;
}

async function main(): Promise<void> {
  const cores = os.cpus().length;
  say(`stack benchmark on ${cores} cores (${os.cpus()[0]?.model ?? 'cpu'}), node ${process.version}; sizes ${JSON.stringify(CFG)}`);
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
      symbols: DEFAULT_SYMBOLS.map((s) => (s.symbol === 'BTCUSDT' ? { ...s, maxNumOrders: ACCOUNT_OPEN_ORDER_CAP } : s)),
      accounts: [{ apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET, balances: { USDT: '100000000', BTC: '1000', ETH: '10000', BNB: '1000' } }],
      rateLimits: [
        { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: high },
        { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: high },
        { rateLimitType: 'ORDERS', interval: 'DAY', intervalNum: 1, limit: high },
        { rateLimitType: 'RAW_REQUESTS', interval: 'MINUTE', intervalNum: 5, limit: high },
      ],
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
      DATABASE_URL: pg.url,
      REDIS_URL: redisServer.url,
      BINANCE_BASE_URL: paper.url,
      BINANCE_WS_API_URL: paper.wsUrl,
      BINANCE_API_KEY: PAPER_DEFAULT_API_KEY,
      BINANCE_API_SECRET: PAPER_DEFAULT_API_SECRET,
      ORDER_TIMEOUT_MS: String(3600_000),
      METRICS_PORT: '0',
      LOG_LEVEL: 'warn',
    };
    say('starting the service (src/operations/main.ts: worker + bridge; bundling workflows)...');
    service = spawn(process.execPath, ['--require', 'tsx/cjs', path.resolve(__dirname, '../src/operations/main.ts')], {
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

    // ---- helpers -----------------------------------------------------------------------------
    let side = 0;
    const market = (id: string) => ({
      decision_id: id,
      timestamp: Date.now(),
      symbol: 'BTCUSDT',
      decision: 'approve',
      original_signal: side++ % 2 === 0 ? 2 : 0,
      approved_size: '0.0005',
      reasons: ['bench'],
      order_type: 'MARKET',
    });
    const xadd = async (d: Record<string, unknown>) => (await redis.xadd('risk_decisions', '*', 'data', JSON.stringify(d)))!;
    /** Reports on trade_executions after `fromId`, by decision id. */
    const reportsSince = async (fromId: string) => {
      const out = new Map<string, { id: string; report: ExecutionReport }>();
      for (const [id, fields] of await redis.xrange('trade_executions', `(${fromId}`, '+')) {
        const r = JSON.parse(fields[fields.indexOf('data') + 1]!) as ExecutionReport;
        out.set(r.decision_id, { id, report: r });
      }
      return out;
    };
    const lastReportId = async () => (await redis.xrevrange('trade_executions', '+', '-', 'COUNT', 1))[0]?.[0] ?? '0-0';
    const ordersByCid = () => new Map(paper.orders().map((o) => [o.clientOrderId, o]));
    /** Sends decisions at `rate`/s; returns decision id → XADD ms. */
    const sendAtRate = async (ids: string[], rate: number, make: (id: string) => Record<string, unknown>) => {
      const sent = new Map<string, number>();
      const start = Date.now();
      for (const [i, id] of ids.entries()) {
        const due = start + (i * 1000) / rate;
        if (due > Date.now()) await sleep(due - Date.now());
        sent.set(id, idMs(await xadd(make(id))));
        if (i > 0 && i % Math.max(1, Math.round(rate * 5)) === 0) say(`  sent ${i}/${ids.length}`);
      }
      return sent;
    };
    const waitReports = async (fromId: string, ids: string[], timeoutS: number) => {
      const deadline = Date.now() + timeoutS * 1000;
      let got = await reportsSince(fromId);
      let lastSay = Date.now();
      while (ids.some((id) => !got.has(id)) && Date.now() < deadline) {
        await sleep(250);
        got = await reportsSince(fromId);
        if (Date.now() - lastSay > 5000) {
          lastSay = Date.now();
          say(`  reports ${ids.filter((id) => got.has(id)).length}/${ids.length}`);
        }
      }
      return got;
    };

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
    say(`phase 1: ${CFG.latencyN} MARKET decisions at ${CFG.latencyRate}/s through Redis → bridge → Temporal → exchange`);
    const reqBefore1 = paper.requestCounts();
    const ids1 = Array.from({ length: CFG.latencyN }, (_, i) => `b-${RUN}-lat-${i}`);
    const from1 = await lastReportId();
    const sent1 = await sendAtRate(ids1, CFG.latencyRate, market);
    const got1 = await waitReports(from1, ids1, CFG.drainS);
    await sleep(2000); // let trailing requests (fills, balances) land in the counts
    const cost1 = requestCost(reqBefore1, paper.requestCounts());
    const orders1 = ordersByCid();
    const toAccept1: number[] = [];
    const toReport1: number[] = [];
    for (const id of ids1) {
      const r = got1.get(id);
      if (!r) continue;
      toReport1.push(idMs(r.id) - sent1.get(id)!);
      const o = r.report.client_order_id ? orders1.get(r.report.client_order_id) : undefined;
      if (o) toAccept1.push(o.time - sent1.get(id)!);
    }
    const filled1 = ids1.filter((id) => got1.get(id)?.report.status === 'filled').length;
    const stack = { accepted: stats(toAccept1), report: stats(toReport1), lost: ids1.length - got1.size };
    markLoad('latency');
    say(`  to accepted ${JSON.stringify(stack.accepted)}\n  to report ${JSON.stringify(stack.report)}`);

    // ---- 2. baseline: the exchange client directly --------------------------------------------
    say(`phase 2: baseline, ${CFG.latencyN} MARKET orders at ${CFG.latencyRate}/s with the exchange client directly`);
    const client = new BinanceSpotClient({ baseUrl: paper.url, apiKey: PAPER_DEFAULT_API_KEY, apiSecret: PAPER_DEFAULT_API_SECRET });
    stops.push(() => client.close());
    await client.syncTime();
    await client.cachedExchangeInfo();
    const toAccept2: number[] = [];
    const toResponse2: number[] = [];
    {
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
    }
    const baseline = { accepted: stats(toAccept2), response: stats(toResponse2) };
    markLoad('baseline');
    say(`  baseline to accepted ${JSON.stringify(baseline.accepted)}\n  baseline to response ${JSON.stringify(baseline.response)}`);

    // ---- 3. throughput ---------------------------------------------------------------------
    const steps: Array<{ offered: number; sent: number; completed: number; lost: number; achieved: number; report: Stats; accepted: Stats }> = [];
    for (const rate of CFG.rates) {
      const n = Math.round(rate * CFG.stepS);
      say(`phase 3: ${rate} decisions/s for ${CFG.stepS} s (${n} MARKET)`);
      const ids = Array.from({ length: n }, (_, i) => `b-${RUN}-tp${rate}-${i}`);
      const from = await lastReportId();
      const sent = await sendAtRate(ids, rate, market);
      const got = await waitReports(from, ids, CFG.drainS);
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
      const step = { offered: rate, sent: n, completed, lost: n - completed, achieved, report: stats(lat), accepted: stats(acc) };
      steps.push(step);
      markLoad(`throughput-${rate}`);
      say(`  completed ${completed}/${n}, achieved ${achieved}/s, report p50 ${step.report.p50} p99 ${step.report.p99} max ${step.report.max} ms`);
      if (step.lost > 0 || achieved < rate * 0.8) {
        say('  saturated: not going higher');
        break;
      }
    }
    const base99 = steps[0]?.report.p99 ?? NaN;
    const climb = steps.find((s) => s.report.p99 > 2 * base99);
    const sustained = steps.filter((s) => s.lost === 0 && s.achieved >= 0.9 * s.offered).reduce((m, s) => Math.max(m, s.achieved), 0);

    // ---- 4. LIMIT orders resting, then filled -------------------------------------------------
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

    // ---- 5. memory with many LIMIT orders resting ---------------------------------------------
    const restingN = Math.min(CFG.resting, ACCOUNT_OPEN_ORDER_CAP - 10);
    say(`phase 5: ${restingN} LIMIT orders resting at once${CFG.resting > restingN ? ` (asked ${CFG.resting}; the account cap is ${ACCOUNT_OPEN_ORDER_CAP} open orders)` : ''}`);
    const restPrice = (Math.floor(px * 0.5 * 100) / 100).toFixed(2);
    const memory: Array<{ resting: number; rssMb: number }> = [{ resting: 0, rssMb: rssMb(pid) }];
    const checkpoints = [0.25, 0.5, 1].map((f) => Math.round(restingN * f));
    const ids5 = Array.from({ length: restingN }, (_, i) => `b-${RUN}-rest-${i}`);
    let sentN = 0;
    for (const target of checkpoints) {
      await sendAtRate(ids5.slice(sentN, target), 100, (id) => ({ ...market(id), original_signal: 2, order_type: 'LIMIT', limit_price: restPrice, approved_size: '0.001' }));
      sentN = target;
      const deadline = Date.now() + 180_000;
      let open = 0;
      while (Date.now() < deadline) {
        open = paper.orders('BTCUSDT').filter((o) => o.status === 'NEW' && o.clientOrderId.includes(`-${RUN}-rest-`)).length;
        if (open >= target) break;
        await sleep(1000);
      }
      await sleep(5000); // let the first polls and pushes settle
      memory.push({ resting: open, rssMb: rssMb(pid) });
      say(`  ${open} resting: service RSS ${memory[memory.length - 1]!.rssMb} MB`);
    }
    markLoad('memory');
    const lastMem = memory[memory.length - 1]!;
    const slopeKb = ((lastMem.rssMb - memory[0]!.rssMb) * 1024) / Math.max(1, lastMem.resting);
    // The worker caches at most 2000 workflows (src/worker/worker.ts maxCachedWorkflows); past that
    // they are evicted and replayed when they wake, so memory stops growing with the count.
    const MAX_CACHED = 2000;
    const at5000 = Math.round(memory[0]!.rssMb + (slopeKb * Math.min(5000, MAX_CACHED)) / 1024);

    // ---- report ------------------------------------------------------------------------------
    const result = {
      when: new Date().toISOString(),
      machine: { cores, cpu: os.cpus()[0]?.model, memGb: Math.round(os.totalmem() / 2 ** 30), node: process.version },
      sizes: CFG,
      loadAverage1m: load,
      note:
        'Everything on one machine: Temporal dev server (SQLite), Postgres, Redis, the service (worker+bridge, one process), the paper exchange and this driver share the cores. Times in ms from Redis/exchange timestamps (1 ms resolution).',
      latencyMarket: { stack, baseline, ratio: { accepted: round2(stack.accepted.p50 / Math.max(1, baseline.accepted.p50)), report: round2(stack.report.p50 / Math.max(1, baseline.response.p50)) } },
      throughput: { steps, sustainedPerS: sustained, p99ClimbsAt: climb?.offered ?? null },
      exchangeCost: {
        market: { orders: filled1, perOrder: { requests: round2(cost1.requests / Math.max(1, filled1)), weight: round2(cost1.weight / Math.max(1, filled1)) }, byEndpoint: cost1.byEndpoint },
        limitRested: { orders: filled4, restS: CFG.limitRestS, perOrder: { requests: round2(cost4.requests / Math.max(1, filled4)), weight: round2(cost4.weight / Math.max(1, filled4)) }, byEndpoint: cost4.byEndpoint },
        note: 'REST requests counted by the paper exchange (WebSocket API user-data-stream traffic not included); weight from its route table with per-symbol parameters.',
      },
      memory: { samples: memory, perRestingKb: Math.round(slopeKb), extrapolatedRssMbAt5000: CFG.resting > restingN ? at5000 : null, cappedAt: restingN },
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

const round2 = (x: number) => Math.round(x * 100) / 100;

function writeResults(r: Record<string, any>): void {
  const dir = path.resolve(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const stamp = r.when.replace(/[:.]/g, '-');
  const row = (name: string, s: Stats) => `| ${name} | ${s.n} | ${s.p50} | ${s.p90} | ${s.p99} | ${s.max} |`;
  const L = r.latencyMarket;
  const md = [
    `# Stack benchmark (${r.when})`,
    '',
    `Machine: ${r.machine.cores} cores (${r.machine.cpu}), ${r.machine.memGb} GiB, Node ${r.machine.node}. ${r.note}`,
    `Sizes: \`${JSON.stringify(r.sizes)}\`. Command: \`npm run bench\`.`,
    `1-minute load average at the end of each phase (2.0 = both cores busy; anything else running on the machine counts): \`${JSON.stringify(r.loadAverage1m)}\`.`,
    '',
    `## Latency, MARKET orders at ${r.sizes.latencyRate}/s (ms)`,
    '',
    '| path | n | p50 | p90 | p99 | max |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    row('XADD → order accepted by the exchange', L.stack.accepted),
    row('XADD → execution report on trade_executions', L.stack.report),
    row('baseline: client call → order accepted', L.baseline.accepted),
    row('baseline: client call → response', L.baseline.response),
    '',
    `Ratio (p50, stack / baseline): to accepted ${L.ratio.accepted}×, to report vs response ${L.ratio.report}×. Lost: ${L.stack.lost}.`,
    '',
    `## Throughput (MARKET, ${r.sizes.stepS} s per step)`,
    '',
    '| offered /s | sent | completed | lost | achieved /s | report p50 | p90 | p99 | max |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...r.throughput.steps.map((s: any) => `| ${s.offered} | ${s.sent} | ${s.completed} | ${s.lost} | ${s.achieved} | ${s.report.p50} | ${s.report.p90} | ${s.report.p99} | ${s.report.max} |`),
    '',
    `Sustained with nothing lost: ${r.throughput.sustainedPerS} decisions/s. p99 climbs (> 2× the first step's) at: ${r.throughput.p99ClimbsAt ?? 'not within the steps run'}${r.throughput.p99ClimbsAt ? ' decisions/s' : ''}.`,
    'Binance itself allows an account 100 orders per 10 s (10/s sustained); the paper exchange\'s limits were raised for this run.',
    '',
    '## Exchange cost per filled order',
    '',
    '| order | orders | REST requests / order | weight / order |',
    '| --- | ---: | ---: | ---: |',
    `| MARKET | ${r.exchangeCost.market.orders} | ${r.exchangeCost.market.perOrder.requests} | ${r.exchangeCost.market.perOrder.weight} |`,
    `| LIMIT resting ${r.exchangeCost.limitRested.restS} s | ${r.exchangeCost.limitRested.orders} | ${r.exchangeCost.limitRested.perOrder.requests} | ${r.exchangeCost.limitRested.perOrder.weight} |`,
    '',
    `By endpoint: MARKET \`${JSON.stringify(r.exchangeCost.market.byEndpoint)}\`; LIMIT \`${JSON.stringify(r.exchangeCost.limitRested.byEndpoint)}\`. ${r.exchangeCost.note}`,
    '',
    '## Service memory with LIMIT orders resting',
    '',
    '| resting orders | service RSS (MB) |',
    '| ---: | ---: |',
    ...r.memory.samples.map((m: any) => `| ${m.resting} | ${m.rssMb} |`),
    '',
    `About ${r.memory.perRestingKb} KB per resting trade (worker + bridge process, maxCachedWorkflows 2000).` +
      (r.memory.extrapolatedRssMbAt5000
        ? ` 5,000 resting: about ${r.memory.extrapolatedRssMbAt5000} MB by that slope, since the worker caches at most 2,000 workflows (the other 3,000 are evicted and replayed on each wake-up, costing CPU instead of memory). Extrapolated, not measured: an account can hold 1,000 open orders at most, on Binance (EXCHANGE_MAX_NUM_ORDERS) and on the paper exchange, so 5,000 resting orders need five accounts.`
        : ''),
    '',
  ].join('\n');
  const json = JSON.stringify(r, null, 2) + '\n';
  fs.writeFileSync(path.join(dir, `stack-bench-${stamp}.json`), json);
  fs.writeFileSync(path.join(dir, `stack-bench-${stamp}.md`), md);
  fs.writeFileSync(path.join(dir, 'stack-bench.md'), md);
  fs.writeFileSync(path.join(dir, 'stack-bench.json'), json);
  process.stdout.write(`\n${md}\nwritten: bench/results/stack-bench-${stamp}.{json,md} (and stack-bench.{json,md})\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
