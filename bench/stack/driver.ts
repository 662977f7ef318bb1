/**
 * The bench's side of the conversation with the stack: decisions in (XADD at a steady rate), trade
 * reports out (trade_executions), the paper exchange's orders, and every component's CPU time.
 */
import type Redis from 'ioredis';
import type { PaperExchange } from '../../src/paper-exchange';
import { RISK_DECISIONS_STREAM } from '../../src/shared/streams';
import type { ExecutionReport } from '../../src/shared/trade';
import { idMs, round2, say, sleep } from './config';
import { cpuSeconds, postgresCpuSeconds } from './measure';

export interface DriverOptions {
  redis: Redis;
  paper: PaperExchange;
  pids: { service: number; temporal: number | undefined; redis: number };
  postgresDataDir: string;
}

export function createDriver({ redis, paper, pids, postgresDataDir }: DriverOptions) {
  /**
   * CPU seconds so far of each component: the service (worker + bridge), the Temporal dev
   * server, PostgreSQL (postmaster and its backends), Redis, and this driver with the paper
   * exchange in it. `perTrade(a, b, n)`: ms per trade between two samples.
   */
  const cpuNow = () => {
    const driver = process.cpuUsage();
    return {
      service: cpuSeconds(pids.service),
      temporal: pids.temporal === undefined ? NaN : cpuSeconds(pids.temporal),
      postgres: postgresCpuSeconds(postgresDataDir),
      redis: cpuSeconds(pids.redis),
      driverAndPaperExchange: (driver.user + driver.system) / 1e6,
    };
  };
  type CpuSample = ReturnType<typeof cpuNow>;
  const perTrade = (before: CpuSample, after: CpuSample, trades: number) =>
    Object.fromEntries(
      Object.keys(before).map((component) => {
        const key = component as keyof CpuSample;
        return [component, round2(((after[key] - before[key]) * 1000) / Math.max(1, trades))];
      }),
    );

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
  const xadd = async (decision: Record<string, unknown>) => (await redis.xadd(RISK_DECISIONS_STREAM, '*', 'data', JSON.stringify(decision)))!;
  /** Trade reports (summaries) on trade_executions after `fromId`, by decision id. */
  const reportsSince = async (fromId: string) => {
    const out = new Map<string, { id: string; report: ExecutionReport }>();
    for (const [id, fields] of await redis.xrange('trade_executions', `(${fromId}`, '+')) {
      const raw = JSON.parse(fields[fields.indexOf('data') + 1]!) as { report_type?: string };
      // The trade's summary only, not per-order state transitions (report_type 'order_update').
      if (raw.report_type !== undefined && raw.report_type !== 'trade') continue;
      const r = raw as ExecutionReport;
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
  return { cpuNow, perTrade, market, reportsSince, lastReportId, ordersByCid, sendAtRate, waitReports };
}

/**
 * For each decision that got its trade report: ms from `startOf(id)` to the report (its stream id)
 * and, when its order is on the paper exchange, to that order's acceptance (the order's time).
 */
export function timesSince(
  ids: string[],
  reports: Map<string, { id: string; report: ExecutionReport }>,
  orders: Map<string, { time: number }>,
  startOf: (id: string) => number,
): { accepted: number[]; reported: number[] } {
  const accepted: number[] = [];
  const reported: number[] = [];
  for (const id of ids) {
    const got = reports.get(id);
    if (!got) continue;
    reported.push(idMs(got.id) - startOf(id));
    const order = got.report.client_order_id ? orders.get(got.report.client_order_id) : undefined;
    if (order) accepted.push(order.time - startOf(id));
  }
  return { accepted, reported };
}
