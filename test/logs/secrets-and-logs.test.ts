/**
 * Logs and secrets, end to end. The service runs as `npm start` does (src/operations/main.ts in a
 * child process, Temporal SDK logs routed through pino) against the suite's Temporal, Postgres
 * and Redis and a paper exchange whose only account has a distinctive API key and secret. A
 * scenario with fills, a resting order amended and cancelled through the CLI, an exchange 5xx,
 * an exchange rejection and an invalid decision runs; then every log line the service and the
 * CLI printed, every workflow history on its task queue, every Redis key and every Postgres
 * table is searched for the secret and the key. Nothing may contain either.
 *
 * The service and the CLI run with the logger's value scrubber off (TRADE_EXEC_UNSCRUBBED_LOGS=1,
 * test runs only): with it on, every line is scrubbed of the key and the secret by value, and the
 * log check would only test the scrubber. Off, the check finds any code path that writes either
 * into a line. That it can fail is shown on the same output: a decoy secret, leaked deliberately
 * on a test-only path (main-with-temporal-logging.ts), is found.
 *
 * It also checks the log lines themselves: JSON (pino) everywhere, and every line about a trade
 * names its decision id and workflow id (and the order lines their client order id).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Client as PgClient } from 'pg';
import Redis from 'ioredis';
import { Connection, Client } from '@temporalio/client';
import { startPaperExchange, type PaperExchange } from '../../src/paper-exchange';
import { freshDatabase, type FreshDatabase } from '../support/fresh-database';
import { testServices } from '../support/services';
import { pushDecision, until, waitForReport } from '../support/streams';
import { redisDbUrl, runCliProcess } from '../ui/helpers';
import { approvedDecision } from '../support/decisions';

const hex = randomBytes(12).toString('hex');
const API_KEY = `LeakCanaryKey${hex}`;
const API_SECRET = `LeakCanarySecret${hex}`;
const DECOY = `DeliberateLeakDecoy${hex}`;
const run = randomBytes(3).toString('hex');
const taskQueue = `logs-${run}`;
const id = (name: string) => `logs-${run}-${name}`;

let paper: PaperExchange;
let db: FreshDatabase;
let redis: Redis;
let redisUrl: string;
let service: ChildProcess | undefined;
let serviceExit: Promise<number | null> | undefined;
const output: string[] = [];
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  const s = testServices();
  redisUrl = redisDbUrl(s.redisUrl, 13);
  redis = new Redis(redisUrl);
  await redis.flushdb();
  db = await freshDatabase(s.databaseUrl, 'logs');
  paper = await startPaperExchange({ port: 0, seed: 5, accounts: [{ apiKey: API_KEY, apiSecret: API_SECRET }] });
  env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TEMPORAL_ADDRESS: s.temporalAddress,
    TEMPORAL_NAMESPACE: s.namespace,
    TEMPORAL_TASK_QUEUE: taskQueue,
    DATABASE_URL: db.url,
    REDIS_URL: redisUrl,
    BINANCE_BASE_URL: paper.url,
    BINANCE_WS_API_URL: paper.wsUrl,
    BINANCE_API_KEY: API_KEY,
    BINANCE_API_SECRET: API_SECRET,
    ORDER_TIMEOUT_MS: '600000',
    METRICS_PORT: '0',
    LOG_LEVEL: 'debug',
    // The check below must be able to fail: no value scrubbing of the output it greps.
    TRADE_EXEC_UNSCRUBBED_LOGS: '1',
    NODE_ENV: 'test',
    LOG_TEST_DELIBERATE_LEAK: DECOY,
  };
  // One node process (tsx as a require hook), so SIGTERM reaches main.ts exactly once.
  service = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(__dirname, 'main-with-temporal-logging.ts')], {
    cwd: path.resolve(__dirname, '../..'),
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (stream: NodeJS.ReadableStream, name: string) => {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const l of lines) output.push(`${name}\t${l}`);
    });
    stream.on('end', () => partial && output.push(`${name}\t${partial}`));
  };
  collect(service.stdout!, 'stdout');
  collect(service.stderr!, 'stderr');
  serviceExit = new Promise((resolve) => service!.on('exit', (code) => resolve(code)));
  await until('the service to be ready', async () => {
    if (service!.exitCode !== null) throw new Error(`service exited ${service!.exitCode}:\n${output.slice(-30).join('\n')}`);
    return output.some((l) => l.includes('trade-exec is ready'));
  }, 150_000);
}, 180_000);

afterAll(async () => {
  if (service && service.exitCode === null) {
    service.kill('SIGKILL');
    await serviceExit;
  }
  await paper?.close();
  redis?.disconnect();
  await db?.drop();
});

const decision = (decisionId: string, extra: Record<string, unknown> = {}) => approvedDecision(decisionId, { reasons: ['log test'], ...extra });

/** Every string reachable in `v`; byte arrays (payloads) decoded as UTF-8. */
function strings(v: unknown, out: string[] = []): string[] {
  if (v === null || v === undefined) return out;
  if (typeof v === 'string') out.push(v);
  else if (v instanceof Uint8Array) out.push(Buffer.from(v).toString('utf8'));
  else if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') out.push(String(v));
  else if (Array.isArray(v)) for (const x of v) strings(x, out);
  else if (typeof v === 'object') {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      out.push(k);
      strings(x, out);
    }
  }
  return out;
}

test('a scenario leaves no API key or secret in logs, workflow histories, Redis or Postgres', async () => {
  const cliOutput: string[] = [];
  const cli = async (...args: string[]) => {
    const r = await runCliProcess(args, env);
    cliOutput.push(r.stdout, r.stderr);
    return r;
  };

  // 1. A MARKET buy that fills, and one whose first placement gets a 5xx after the order was placed.
  await pushDecision(redis, decision(id('market')));
  await waitForReport(redis, (r) => r.decision_id === id('market'));
  paper.faults.inject({ kind: 'http5xx', status: 503, method: 'POST', path: '/api/v3/order', afterPlaced: true });
  await pushDecision(redis, decision(id('retry')));
  const retried = await waitForReport(redis, (r) => r.decision_id === id('retry'));
  expect(retried.report.status).toBe('filled');
  // 2. One the exchange rejects (far more than the account holds), and one the bridge refuses.
  await pushDecision(redis, decision(id('too-big'), { approved_size: '500' }));
  const rejected = await waitForReport(redis, (r) => r.decision_id === id('too-big'));
  expect(rejected.report.success).toBe(false);
  await pushDecision(redis, { ...decision(id('invalid')), original_signal: 1 });
  // 3. A resting LIMIT order, amended and cancelled through the CLI (which has the keys in its env too).
  const price = (Math.floor(Number(paper.price('BTCUSDT')) * 0.5 * 100) / 100).toFixed(2);
  expect((await cli('send', '--id', id('limit'), '--type', 'LIMIT', '--price', price)).code).toBe(0);
  await until('the LIMIT order rests', async () => paper.orders('BTCUSDT').some((o) => o.clientOrderId.includes(id('limit')) && o.status === 'NEW'));
  expect((await cli('amend', id('limit'), '--price', (Number(price) - 50).toFixed(2))).code).toBe(0);
  expect((await cli('show', id('limit'))).code).toBe(0);
  expect((await cli('exchange', 'status'))).toMatchObject({ code: 0 });
  expect((await cli('cancel', id('limit'))).code).toBe(0);
  await waitForReport(redis, (r) => r.decision_id === id('limit'));
  expect((await cli('portfolio', '--refresh')).code).toBe(0);

  // Stop the service cleanly so every line is flushed.
  service!.kill('SIGTERM');
  expect(await serviceExit).toBe(0);

  const forms = (secret: string) => [secret, Buffer.from(secret).toString('base64')];
  const needles = [...forms(API_SECRET), ...forms(API_KEY)];
  const leaks = (where: string, texts: string[], search = needles) => {
    const found: string[] = [];
    for (const t of texts) for (const n of search) if (t.includes(n)) found.push(`${where}: ${t.slice(Math.max(0, t.indexOf(n) - 120), t.indexOf(n) + 40)}`);
    return found;
  };

  // The search finds a needle where there is one (in any of its forms).
  expect(leaks('canary', [`x ${API_KEY} y`, Buffer.from(API_SECRET).toString('base64')])).toHaveLength(2);

  // Logs.
  if (process.env.LOG_TEST_DUMP) require('node:fs').writeFileSync(process.env.LOG_TEST_DUMP, output.join('\n'));
  const logText = [...output, ...cliOutput];
  expect(output.length).toBeGreaterThan(50);
  // The check can fail: the deliberate leak of a registered secret is in the output, unscrubbed.
  expect(leaks('log', logText, forms(DECOY))).toHaveLength(1);
  expect(leaks('log', logText)).toEqual([]);

  // Workflow histories: every workflow on the task queue, payloads decoded.
  const s = testServices();
  const connection = await Connection.connect({ address: s.temporalAddress });
  const temporal = new Client({ connection, namespace: s.namespace });
  const workflowIds: string[] = [];
  for await (const wf of temporal.workflow.list({ query: `TaskQueue = '${taskQueue}'` })) workflowIds.push(wf.workflowId);
  expect(workflowIds.sort()).toEqual(expect.arrayContaining([id('market'), id('retry'), id('too-big'), id('limit')].map((x) => `trade-${x}`)));
  const historyTexts: string[] = [];
  for (const wfId of workflowIds) historyTexts.push(strings(await temporal.workflow.getHandle(wfId).fetchHistory()).join('\n'));
  await connection.close();
  expect(historyTexts.join('\n')).toContain(id('limit')); // the search really reads the payloads
  expect(leaks('history', historyTexts)).toEqual([]);

  // Redis: every key of every type.
  const redisTexts: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      let value: unknown;
      if (type === 'string') value = await redis.get(key);
      else if (type === 'hash') value = await redis.hgetall(key);
      else if (type === 'list') value = await redis.lrange(key, 0, -1);
      else if (type === 'set') value = await redis.smembers(key);
      else if (type === 'zset') value = await redis.zrange(key, 0, -1, 'WITHSCORES');
      else if (type === 'stream') value = [await redis.xrange(key, '-', '+'), await redis.xinfo('GROUPS', key).catch(() => [])];
      redisTexts.push(`${key} ${strings(value).join(' ')}`);
    }
  } while (cursor !== '0');
  expect(redisTexts.join('\n')).toContain(id('market'));
  expect(leaks('redis', redisTexts)).toEqual([]);

  // Postgres: every table the service wrote.
  const pg = new PgClient({ connectionString: db.url });
  await pg.connect();
  const tables = (await pg.query(`SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')`)).rows;
  expect(tables.length).toBeGreaterThan(3);
  const pgTexts: string[] = [];
  for (const t of tables) {
    const rows = await pg.query(`SELECT row_to_json(x)::text AS j FROM "${t.table_schema}"."${t.table_name}" x`);
    pgTexts.push(`${t.table_name}: ${rows.rows.map((r) => r.j).join('\n')}`);
  }
  await pg.end();
  expect(pgTexts.join('\n')).toContain(id('market'));
  expect(leaks('postgres', pgTexts)).toEqual([]);

  // The log lines themselves. Apart from the ready banner main.ts prints for people, every line is pino JSON.
  const bannerStart = output.findIndex((l) => l.includes('trade-exec is ready'));
  const bannerEnd = output.findIndex((l, i) => i > bannerStart && l.includes('Press Ctrl-C to stop.'));
  const banner = new Set(output.slice(bannerStart, bannerEnd + 1).filter((l) => !l.split('\t')[1]!.startsWith('{')));
  const nonJson = output.filter((l) => !banner.has(l) && l.split('\t')[1]!.trim() !== '' && !l.split('\t')[1]!.startsWith('{'));
  expect(nonJson).toEqual([]);
  const jsonLines = output.filter((l) => l.split('\t')[1]!.startsWith('{')).map((l) => l.split('\t')[1]!);
  const records = jsonLines.map((l) => JSON.parse(l) as Record<string, unknown>);
  // No key twice on a line (JSON.parse would silently keep the last one).
  for (const l of jsonLines) for (const key of ['msg', 'component', 'workflowId', 'decisionId']) expect([key, l.split(`"${key}":`).length <= 2, l]).toEqual([key, true, l]);
  // The Temporal SDK's worker logs came through pino.
  expect(records.some((r) => r.component === 'temporal' && r.sdkComponent === 'worker')).toBe(true);
  // Every line naming a trade's workflow also names its decision, and vice versa.
  const aboutTrades = records.filter((r) => typeof r.workflowId === 'string' && String(r.workflowId).startsWith('trade-'));
  expect(aboutTrades.length).toBeGreaterThan(0);
  for (const r of aboutTrades) expect([r.msg, r.decisionId]).toEqual([r.msg, String(r.workflowId).slice('trade-'.length)]);
  for (const r of records.filter((x) => typeof x.decisionId === 'string' && x.component !== 'bridge')) {
    expect([r.msg, r.workflowId]).toEqual([r.msg, `trade-${r.decisionId}`]);
  }
  // Every line about an order also names the trade it belongs to.
  const aboutOrders = records.filter((r) => typeof r.clientOrderId === 'string');
  expect(aboutOrders.length).toBeGreaterThan(0);
  for (const r of aboutOrders) {
    expect([r.msg, typeof r.decisionId, typeof r.workflowId]).toEqual([r.msg, 'string', 'string']);
    expect(String(r.clientOrderId)).toContain(String(r.decisionId));
  }
}, 170_000);
