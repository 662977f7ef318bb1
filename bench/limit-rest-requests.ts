/**
 * How many REST requests a LIMIT order costs the exchange when it rests REST_SECONDS (default 60)
 * before filling, with fills pushed by the user data stream and with polling only.
 *
 *   npx tsx bench/limit-rest-requests.ts            # ORDERS=3 REST_SECONDS=60
 *
 * Brings up its own Temporal dev server, Postgres and Redis (as the tests do), runs ORDERS trades
 * per mode against an in-process paper exchange, and counts the requests the paper exchange
 * served for them, by endpoint. Writes bench/results/limit-rest-requests.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../src/logging';
import { startEmbeddedPostgres } from '../src/operations/postgres-server';
import { startRedisServer } from '../src/operations/redis-server';
import { startService } from '../src/operations/service';
import { ensureTemporalCli } from '../src/operations/temporal-cli';
import { startTemporalDevServer } from '../src/operations/temporal-dev-server';
import { PAPER_DEFAULT_API_KEY, PAPER_DEFAULT_API_SECRET, startPaperExchange } from '../src/paper-exchange';
import { RiskDecisionSchema, workflowIdFor } from '../src/shared/decision';
import type { TradeInput, TradeState } from '../src/shared/trade';
import { bundleWorkflows } from '../src/worker/worker';

const ORDERS = Number(process.env.ORDERS ?? 3);
const REST_SECONDS = Number(process.env.REST_SECONDS ?? 60);
const say = (line: string) => process.stdout.write(`[bench] ${line}\n`);

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-rest-'));
  fs.chmodSync(root, 0o755); // embedded Postgres runs as the postgres user
  const cli = await ensureTemporalCli(say);
  const [temporal, pg, redis] = await Promise.all([
    startTemporalDevServer({ cliPath: cli, dbFile: path.join(root, 'temporal.db') }),
    startEmbeddedPostgres({ dataDir: path.join(root, 'pg') }),
    startRedisServer({}),
  ]);
  say(`services up: temporal ${temporal.address}, postgres, redis`);
  const bundle = await bundleWorkflows();
  const results: Record<string, { perOrder: Record<string, number>; totalPerOrder: number }> = {};
  try {
    for (const push of [true, false]) {
      const mode = push ? 'push' : 'poll';
      const paper = await startPaperExchange({ port: 0, priceStepMs: 0 });
      paper.setPrice('BTCUSDT', '60000');
      const svc = await startService({
        temporalAddress: temporal.address,
        namespace: 'default',
        taskQueue: `bench-${mode}`,
        databaseUrl: pg.url,
        redisUrl: redis.url,
        exchange: {
          baseUrl: paper.url,
          apiKey: PAPER_DEFAULT_API_KEY,
          apiSecret: PAPER_DEFAULT_API_SECRET,
          recvWindowMs: 5000,
          wsApiUrl: push ? paper.wsUrl : undefined,
        },
        defaultOrderTimeoutMs: 600_000,
        workflowBundle: bundle,
        logger: createLogger('bench', 'warn'),
      });
      // Let the stream subscribe and the client warm its caches before counting.
      await new Promise((r) => setTimeout(r, 2000));
      const before = paper.requestCounts();
      const handles = [];
      for (let i = 0; i < ORDERS; i++) {
        const decision = RiskDecisionSchema.parse({
          decision_id: `bench-${mode}-${Date.now()}-${i}`,
          timestamp: Date.now(),
          symbol: 'BTCUSDT',
          decision: 'approve',
          original_signal: 2,
          approved_size: '0.001',
          order_type: 'LIMIT',
          limit_price: '59000',
          timeout_ms: 600_000,
        });
        const input: TradeInput = { decision, defaultOrderTimeoutMs: 600_000 };
        handles.push(
          await svc.temporal.workflow.start('TradeExecution', {
            taskQueue: `bench-${mode}`,
            workflowId: workflowIdFor(decision.decision_id),
            args: [input],
          }),
        );
      }
      for (let s = REST_SECONDS; s > 0; s -= 10) {
        say(`${mode}: ${ORDERS} LIMIT orders resting, ${s} s to go`);
        await new Promise((r) => setTimeout(r, Math.min(10, s) * 1000));
      }
      paper.setPrice('BTCUSDT', '58900');
      for (const h of handles) {
        const final = (await h.result()) as TradeState;
        if (final.status !== 'filled') throw new Error(`${h.workflowId} ended ${final.status}`);
      }
      const after = paper.requestCounts();
      const perOrder: Record<string, number> = {};
      for (const [k, v] of Object.entries(after)) {
        const d = v - (before[k] ?? 0);
        if (d > 0) perOrder[k] = d / ORDERS;
      }
      const totalPerOrder = Object.values(perOrder).reduce((a, b) => a + b, 0);
      results[mode] = { perOrder, totalPerOrder };
      say(`${mode}: ${totalPerOrder.toFixed(2)} REST requests per filled order ${JSON.stringify(perOrder)}`);
      await svc.stop();
      await paper.close();
    }
  } finally {
    await Promise.allSettled([temporal.stop(), pg.stop(), redis.stop()]);
    fs.rmSync(root, { recursive: true, force: true });
  }
  const out = { measuredAt: new Date().toISOString(), cores: os.cpus().length, orders: ORDERS, restSeconds: REST_SECONDS, results };
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', 'limit-rest-requests.json'), `${JSON.stringify(out, null, 2)}\n`);
  say(`| mode | REST requests per filled LIMIT order resting ${REST_SECONDS} s |`);
  say('|---|---|');
  for (const [mode, r] of Object.entries(results)) say(`| ${mode} | ${r.totalPerOrder.toFixed(2)} |`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
