/**
 * What the production-topology tests share: a stack of real processes (startStack), decisions
 * sent the way a risk engine sends them, and checks over what Temporal, the paper exchange (over
 * its admin HTTP API: it is its own process here), PostgreSQL and Redis hold at the end.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import Redis from 'ioredis';
import { Client as PgClient } from 'pg';
import { startStack, type RunningStack, type StackOptions } from '../../src/operations/stack/stack';
import { admin } from '../exchange/admin-http';
import { checkInvariants, formatViolations, workflowIdOf, type ExchangeOrder, type ExchangeTrade, type SentDecision } from '../chaos/invariants';
import { gatherSnapshot } from '../chaos/snapshot';
import { approvedDecision } from '../support/decisions';
import { streamIdMs } from '../support/streams';

export const say = (line: string): void => void process.stderr.write(`[stack-test] ${new Date().toISOString().slice(11, 19)} ${line}\n`);

export interface StackHarness {
  stack: RunningStack;
  temporal: Client;
  connection: Connection;
  redis: Redis;
  pg: PgClient;
  sent: SentDecision[];
  /** The XADD time (ms) of each decision, by decision id. */
  sentAt: Map<string, number>;
  close(): Promise<void>;
}

export async function startStackHarness(o: Partial<StackOptions> = {}): Promise<StackHarness> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trade-exec-stack-'));
  fs.chmodSync(dataDir, 0o755); // the embedded postgres runs as "postgres" and must enter it
  const stack = await startStack({
    dataDir,
    ports: 'free',
    fastPostgres: true,
    // Prices move only when a test says so: resting orders rest until then.
    paperEnv: { PAPER_PRICE_STEP_MS: '0' },
    progress: say,
    ...o,
    serviceEnv: { LOG_LEVEL: 'info', RECONCILE_EVERY_MS: '0', ...(o.serviceEnv ?? {}) },
  });
  for (const line of stack.banner()) say(line);
  const connection = await Connection.connect({ address: stack.temporalAddress });
  const temporal = new Client({ connection, namespace: stack.namespace });
  const redis = new Redis(stack.redisUrl, { maxRetriesPerRequest: null });
  const pg = new PgClient({ connectionString: stack.databaseUrl });
  await pg.connect();
  return {
    stack,
    temporal,
    connection,
    redis,
    pg,
    sent: [],
    sentAt: new Map(),
    async close() {
      redis.disconnect();
      await pg.end().catch(() => undefined);
      await connection.close().catch(() => undefined);
      await stack.stop();
      if (process.env.TEST_SERVICES_KEEP !== '1') fs.rmSync(dataDir, { recursive: true, force: true });
      else say(`kept ${dataDir}`);
    },
  };
}

export const BASE_PRICE = '60000.00';
/** Resting LIMIT BUYs wait here; DIP crosses it. */
export const REST_PRICE = '59700.00';
export const DIP_PRICE = '59650.00';

let sequence = 0;
export function decisionId(tag: string): string {
  sequence += 1;
  return `stack-${tag}-${Date.now().toString(36)}-${sequence}`;
}

export async function sendDecision(
  h: StackHarness,
  kind: 'market' | 'resting',
  tag: string,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const id = decisionId(tag);
  const fields = approvedDecision(id, {
    ...(kind === 'resting' ? { order_type: 'LIMIT', limit_price: REST_PRICE, timeout_ms: 900_000 } : { order_type: 'MARKET' }),
    ...extra,
  });
  const streamId = await h.redis.xadd('risk_decisions', '*', 'data', JSON.stringify(fields));
  h.sentAt.set(id, streamIdMs(streamId!));
  h.sent.push({ decisionId: id, kind, side: 'BUY', symbol: 'BTCUSDT', approvedSize: String(fields.approved_size) });
  return id;
}

export async function setPrice(h: StackHarness, price: string): Promise<void> {
  const r = await admin(h.stack.exchange.baseUrl, 'POST', '/admin/price', { symbol: 'BTCUSDT', price });
  if (r.status !== 200) throw new Error(`set price ${price}: ${r.status} ${JSON.stringify(r.json)}`);
}

export async function ledger(h: StackHarness): Promise<{ orders: Array<ExchangeOrder & { account?: string }>; trades: ExchangeTrade[] }> {
  const r = await admin<{ orders: Array<ExchangeOrder & { account?: string }>; trades: ExchangeTrade[] }>(h.stack.exchange.baseUrl, 'GET', '/admin/ledger');
  return r.json;
}

export async function exchangeState(h: StackHarness): Promise<{ userDataStream: { connections: number; subscriptions: number }; openOrders: ExchangeOrder[] }> {
  return (await admin<{ userDataStream: { connections: number; subscriptions: number }; openOrders: ExchangeOrder[] }>(h.stack.exchange.baseUrl, 'GET', '/admin/state')).json;
}

/** The trade reports on `trade_executions`, by decision id, with the stream time (ms) of each. */
export async function tradeReports(h: StackHarness): Promise<Map<string, { status: string; at: number }>> {
  const out = new Map<string, { status: string; at: number }>();
  for (const [streamId, fields] of await h.redis.xrange('trade_executions', '-', '+')) {
    const i = fields.indexOf('data');
    const r = JSON.parse(fields[i + 1] ?? 'null') as { report_type?: string; decision_id?: string; status?: string };
    if (r?.report_type === 'trade' && r.decision_id) out.set(r.decision_id, { status: String(r.status), at: streamIdMs(streamId) });
  }
  return out;
}

/** Waits until every decision in `ids` has its trade report. */
export async function untilReported(h: StackHarness, ids: readonly string[], timeoutMs: number): Promise<Map<string, { status: string; at: number }>> {
  const deadline = Date.now() + timeoutMs;
  let lastNote = 0;
  for (;;) {
    const reports = await tradeReports(h);
    const missing = ids.filter((id) => !reports.has(id));
    if (missing.length === 0) return reports;
    if (Date.now() > deadline) throw new Error(`${missing.length} of ${ids.length} trades not reported within ${timeoutMs / 1000} s: ${missing.slice(0, 5).join(', ')}`);
    if (Date.now() - lastNote > 15_000) {
      lastNote = Date.now();
      say(`waiting for ${missing.length} of ${ids.length} trade reports`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Every issue-11 invariant over every decision this harness sent (test/chaos/invariants.ts). */
export async function expectInvariants(h: StackHarness): Promise<void> {
  const exchange = await ledger(h);
  const snapshot = await gatherSnapshot({ decisions: h.sent, temporal: h.temporal, exchange, pg: h.pg, redis: h.redis });
  const violations = checkInvariants(snapshot);
  if (violations.length > 0) throw new Error(`invariants broken:\n${formatViolations(violations)}`);
}

/** Exchange orders per decision (by the client order id's decision part). */
export function ordersOfDecision(orders: readonly ExchangeOrder[], id: string): ExchangeOrder[] {
  return orders.filter((o) => o.clientOrderId.startsWith(`te-${id}-`));
}

export { workflowIdOf };

/** p-quantile of `values` (nearest rank). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
